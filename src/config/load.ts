/**
 * Finds, parses, validates and normalises the config file.
 *
 * Contract: `loadConfig` either returns a fully resolved `Config` (absolute paths, defaults filled,
 * profiles applied) or throws a `ConfigError` listing every problem at once, each located as
 * file:line:column. It reads files but writes nothing and starts no process.
 *
 * The pieces: locate.ts (YAML positions), issues.ts (zod issues as problems), known-keys.ts
 * (did-you-mean), profiles.ts, semantics.ts (checks beyond the schema); the requires-cycle check is
 * the artifact graph's (src/shared/artifact-graph.ts). Defaults live only in schema.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, UsageError } from '../errors.js';
import { CONFIG_HINT, issueToProblems } from './issues.js';
import { activationInput, activeProfiles } from './activation.js';
import { byPosition, formatPath, locator } from './locate.js';
import { applyProfiles } from './profiles.js';
import { ConfigSchema, type RawConfig } from './schema.js';
import { CONFIG_FILE_NAMES, nearestFile, writeCachedConfig } from './cache.js';
import type { Config, LoadOptions } from './types.js';
import { normalise } from './normalise.js';
import { withDefaultRepo } from './default-repo.js';
import { checkSemantics, lenientView } from './semantics.js';
import { isSkaffoldText, parseSkaffoldConfig, SKAFFOLD_FILE_NAMES } from './skaffold/read.js';


export { CONFIG_FILE_NAMES };

export type { Artifact, Config, LoadOptions } from './types.js';

/** The config file for cwd: -f if given, else the nearest of CONFIG_FILE_NAMES in cwd or a parent. */
export function findConfigFile(cwd: string, file?: string): string {
  if (file) {
    const resolved = path.resolve(cwd, file);
    if (!existsSync(resolved)) {
      throw new UsageError(`config file ${resolved} does not exist`, { hint: 'Check the path given to -f/--config.' });
    }
    return resolved;
  }
  // A devloop config anywhere up the tree wins over a skaffold.yaml, even a nearer one.
  const found = nearestFile(cwd, CONFIG_FILE_NAMES) ?? nearestFile(cwd, SKAFFOLD_FILE_NAMES);
  if (found) return found;
  throw new UsageError(`no devloop.config.yaml (or skaffold.yaml) in ${path.resolve(cwd)} or any parent directory`, {
    hint: 'Run devloop in your project, pass -f FILE, or start from devloop.config.example.yaml.',
  });
}

export function loadConfig(options: LoadOptions): Config {
  const file = findConfigFile(options.cwd, options.file);
  const text = readFileSync(file, 'utf8');
  if (isSkaffoldText(text)) return withDefaultRepo(parseSkaffoldConfig(text, file, options), options);
  const validated = validateConfig(text, file, options);
  // The next run with the same file, profiles and schema skips the schema library (config/cache.ts).
  // A config with profiles that activate themselves depends on the environment, the kube context and
  // the command, which the cache key does not hold: it is never cached.
  if (!validated.automaticActivation) writeCachedConfig(file, text, options.profiles ?? [], validated.merged);
  return withDefaultRepo(fromValidated(validated, file), options);
}

/** Parses config text that came from `file`. Exposed for tests and for the dev loop's reload. */
export function parseConfig(text: string, file: string, options: Omit<LoadOptions, 'cwd' | 'file'> = {}): Config {
  return fromValidated(validateConfig(text, file, options), file);
}

type Validated = { merged: RawConfig; names: string[]; active: Array<{ name: string; why: string }>; automaticActivation: boolean };

/** The normalised config, naming the profiles that activated themselves (and why). */
function fromValidated({ merged, names, active }: Validated, file: string): Config {
  const config = normalise(merged, file, names);
  const automatic = active.filter((a) => a.why !== '-p');
  return automatic.length > 0 ? { ...config, activatedProfiles: active.map((a) => `${a.name} (${a.why})`) } : config;
}

/** The config of `text`, validated, with defaults and profiles applied, before paths are resolved. Throws ConfigError. */
function validateConfig(text: string, file: string, options: Omit<LoadOptions, 'cwd' | 'file'>): Validated {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const locate = locator(doc, lineCounter, file);

  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { file, line: pos.line, column: pos.col, path: '', message: `invalid YAML: ${firstLine(e.message)}` };
      }),
      undefined,
      CONFIG_HINT,
    );
  }

  const data = doc.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: 'the config must be a YAML mapping', fix: 'start from devloop.config.example.yaml' }], undefined, CONFIG_HINT);
  }

  const parsed = ConfigSchema.safeParse(data);
  if (!parsed.success) {
    // Report the schema's problems together with the semantic ones it did not hide, so one run
    // shows everything to fix.
    const schemaProblems = parsed.error.issues.flatMap((issue) => issueToProblems(issue, data, locate));
    const seen = new Set(schemaProblems.map((p) => p.path));
    const semantic = checkSemantics(lenientView(data), path.dirname(file), locate, options.skipFileChecks ?? false);
    throw new ConfigError([...schemaProblems, ...semantic.filter((p) => !seen.has(p.path))].sort(byPosition), undefined, CONFIG_HINT);
  }

  // Profiles: those whose activation holds, then -p NAME added and -p -NAME removed.
  const requested = options.profiles ?? [];
  const { active, problems: activationProblems } = activeProfiles(parsed.data.profiles, activationInput(options, options.command ? [options.command] : []), requested, []);
  if (activationProblems.length > 0) {
    throw new ConfigError(
      activationProblems.map((p) => ({ ...locate(p.path), path: formatPath(p.path), message: p.message, fix: 'write env: NAME=REGEX' })),
      undefined,
      CONFIG_HINT,
    );
  }
  const names = [...active.map((a) => a.name), ...requested.filter((n) => !n.startsWith('-') && !active.some((a) => a.name === n))];
  const merged = applyProfiles(parsed.data, data as Record<string, unknown>, names, locate);
  const problems = checkSemantics(merged, path.dirname(file), locate, options.skipFileChecks ?? false);
  if (problems.length > 0) throw new ConfigError(problems, undefined, CONFIG_HINT);
  return { merged, names, active, automaticActivation: (parsed.data.profiles ?? []).some((p) => p.activation !== undefined) };
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}
