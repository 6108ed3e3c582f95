/**
 * Finds, parses, validates and normalises the config file.
 *
 * Contract: `loadConfig` either returns a fully resolved `Config` (absolute paths, defaults filled,
 * profiles applied) or throws a `ConfigError` listing every problem at once, each located as
 * file:line:column. It reads files but writes nothing and starts no process.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, UsageError, type ConfigProblem } from '../errors.js';
import { closest } from '../shared/suggest.js';
import {
  ConfigSchema,
  type ArtifactConfig,
  type DeployConfig,
  type PortForwardConfig,
  type RawConfig,
} from './schema.js';

/** The next step under every config problem. */
const CONFIG_HINT = 'Fix the lines above and run the command again. Every field is documented in devloop.config.example.yaml.';

export const CONFIG_FILE_NAMES = ['devloop.config.yaml', 'devloop.config.yml', 'devloop.yaml', 'devloop.yml'];

/** An artifact with its paths resolved. */
export interface Artifact extends ArtifactConfig {
  /** Absolute build context directory. */
  contextDir: string;
  /** Absolute Dockerfile path. */
  dockerfilePath: string;
}

/** The normalised config every phase works from. */
export interface Config {
  /** Absolute path of the config file. */
  file: string;
  /** Directory of the config file: every relative path in the config is relative to it. */
  rootDir: string;
  /** metadata.name: scopes labels and the inventory. */
  name: string;
  profiles: string[];
  build: {
    tagPolicy: RawConfig['build']['tagPolicy'];
    concurrency: number;
    push: 'auto' | boolean;
    artifacts: Artifact[];
  };
  deploy: DeployConfig & {
    kubectl: { manifests: string[] };
    kustomize: { paths: string[] };
    helm: { releases: NonNullable<DeployConfig['helm']>['releases'] };
  };
  portForward: PortForwardConfig[];
  watch: RawConfig['watch'];
}

export interface LoadOptions {
  /** Directory to start the search from (the -C flag, else the process cwd). */
  cwd: string;
  /** Explicit config file (the -f flag), relative to cwd. */
  file?: string;
  /** Profiles to activate, in order (-p). */
  profiles?: string[];
  /** Skip checks that touch the filesystem beyond the config file (contexts, Dockerfiles). */
  skipFileChecks?: boolean;
}

/** The config file for cwd: -f if given, else the nearest of CONFIG_FILE_NAMES in cwd or a parent. */
export function findConfigFile(cwd: string, file?: string): string {
  if (file) {
    const resolved = path.resolve(cwd, file);
    if (!existsSync(resolved)) {
      throw new UsageError(`config file ${resolved} does not exist`, { hint: 'Check the path given to -f/--config.' });
    }
    return resolved;
  }
  let dir = path.resolve(cwd);
  for (;;) {
    for (const name of CONFIG_FILE_NAMES) {
      const candidate = path.join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new UsageError(`no devloop.config.yaml in ${path.resolve(cwd)} or any parent directory`, {
    hint: 'Run devloop in your project, pass -f FILE, or start from devloop.config.example.yaml.',
  });
}

export function loadConfig(options: LoadOptions): Config {
  const file = findConfigFile(options.cwd, options.file);
  const text = readFileSync(file, 'utf8');
  return parseConfig(text, file, options);
}

/** Parses config text that came from `file`. Exposed for tests and for the dev loop's reload. */
export function parseConfig(text: string, file: string, options: Omit<LoadOptions, 'cwd' | 'file'> = {}): Config {
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

  const merged = applyProfiles(parsed.data, data as Record<string, unknown>, options.profiles ?? [], locate);
  const problems = checkSemantics(merged, path.dirname(file), locate, options.skipFileChecks ?? false);
  if (problems.length > 0) throw new ConfigError(problems, undefined, CONFIG_HINT);
  return normalise(merged, file, options.profiles ?? []);
}

type Locate = (segments: PropertyKey[], key?: boolean) => { file: string; line: number; column: number };

/** Maps a path into the document to the line and column of its node (or its nearest ancestor). */
function locator(doc: Document, lineCounter: LineCounter, file: string): Locate {
  return (segments, key = false) => {
    let node: unknown = doc.contents;
    let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const last = i === segments.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
        if (!pair) break;
        const keyNode = pair.key as YamlNode | null;
        const valueNode = pair.value as YamlNode | null;
        if (last && key && keyNode?.range) {
          offset = keyNode.range[0];
          break;
        }
        offset = valueNode?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
        node = valueNode;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as YamlNode | undefined;
        if (!item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else {
        break;
      }
    }
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col };
  };
}

export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function issueToProblems(issue: z.core.$ZodIssue, data: unknown, locate: Locate): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const base = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(base);
    for (const k of issue.keys) {
      const where = locate([...base, k], true);
      const suggestion = closest(k, known);
      problems.push({
        ...where,
        path: formatPath([...base, k]),
        message: `unknown key "${k}"`,
        fix: suggestion ? `did you mean "${suggestion}"?` : known.length ? `known keys: ${known.join(', ')}` : undefined,
      });
    }
  } else {
    const present = valueAt(data, base) !== undefined;
    const where = locate(present ? base : base.slice(0, -1));
    problems.push({
      ...where,
      path: formatPath(base),
      message: present ? describeIssue(issue, valueAt(data, base)) : `missing required key "${String(base[base.length - 1] ?? '')}"`,
      fix: fixFor(issue, base),
    });
  }
  return problems;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type') return `expected ${issue.expected}, got ${describeValue(value)}`;
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'invalid_union') return 'has the wrong type';
  return issue.message;
}

function fixFor(issue: z.core.$ZodIssue, segments: PropertyKey[]): string | undefined {
  const last = segments[segments.length - 1];
  if (last === 'apiVersion') return 'set apiVersion: devloop/v1';
  if (last === 'kind') return 'set kind: Config';
  if (last === 'push' && issue.code === 'invalid_union') return 'use auto, true or false';
  return undefined;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(data: unknown, segments: PropertyKey[]): unknown {
  let cur: unknown = data;
  for (const seg of segments) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** The keys the schema allows at a path of the raw document, for "did you mean". */
export function knownKeysAt(segments: PropertyKey[]): string[] {
  let schema: unknown = ConfigSchema;
  const unwrap = (s: unknown): unknown => {
    let cur = s as { _zod?: { def: Record<string, unknown> } };
    for (let i = 0; i < 10 && cur?._zod; i++) {
      const def = cur._zod.def;
      if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') {
        cur = def.innerType as typeof cur;
      } else break;
    }
    return cur;
  };
  for (const seg of segments) {
    const s = unwrap(schema) as { _zod: { def: Record<string, unknown> } };
    const def = s?._zod?.def;
    if (!def) return [];
    if (def.type === 'object') schema = (def.shape as Record<string, unknown>)[String(seg)];
    else if (def.type === 'array') schema = def.element;
    else return [];
  }
  const s = unwrap(schema) as { _zod?: { def: Record<string, unknown> } };
  if (s?._zod?.def.type !== 'object') return [];
  return Object.keys(s._zod.def.shape as Record<string, unknown>);
}


function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Objects merge key by key; lists and scalars from the override replace the base. */
export function mergeOverride<T>(base: T, override: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(override)) return (override === undefined ? base : override) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (v === undefined) continue;
    out[k] = mergeOverride(out[k], v);
  }
  return out as T;
}

/**
 * Merges the named profiles, in order, into the document as written (before defaults, so a profile
 * that sets one key does not reset its siblings to their defaults), then validates the result.
 */
function applyProfiles(parsed: RawConfig, document: Record<string, unknown>, names: string[], locate: Locate): RawConfig {
  if (names.length === 0) return parsed;
  const rawProfiles = (document.profiles ?? []) as Array<Record<string, unknown>>;
  let merged: Record<string, unknown> = document;
  for (const name of names) {
    const profile = rawProfiles.find((p) => p.name === name);
    if (!profile) {
      const known = parsed.profiles.map((p) => p.name);
      const suggestion = closest(name, known);
      throw new UsageError(`profile "${name}" is not defined`, {
        hint: suggestion
          ? `Did you mean -p ${suggestion}?`
          : known.length
            ? `Defined profiles: ${known.join(', ')}.`
            : `The config defines no profiles (see line ${locate([]).line} of ${locate([]).file}).`,
      });
    }
    const { name: _name, ...override } = profile;
    merged = mergeOverride(merged, override);
  }
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((issue) => issueToProblems(issue, merged, locate)), undefined, CONFIG_HINT);
  }
  return result.data;
}

/** The part of the config the semantic checks read. `unreadable` entries keep the indexes aligned. */
interface SemanticView {
  build: {
    artifacts: Array<Pick<ArtifactConfig, 'image' | 'context' | 'dockerfile' | 'requires' | 'sync'> & { unreadable?: boolean; skipFileChecks?: boolean }>;
  };
}

function byPosition(a: ConfigProblem, b: ConfigProblem): number {
  return a.line - b.line || a.column - b.column;
}

/**
 * The artifacts of a document that failed schema validation, read defensively: fields of the wrong
 * type are left out (the schema already reported them), defaults filled as the schema would.
 */
function lenientView(data: unknown): SemanticView {
  const str = (v: unknown, fallback: string) => (typeof v === 'string' ? v : fallback);
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const build = isPlainObject(data) && isPlainObject(data.build) ? data.build : {};
  const artifacts = list(build.artifacts).map((entry, i) => {
    const a = isPlainObject(entry) ? entry : {};
    const sync = isPlainObject(a.sync) ? a.sync : {};
    return {
      unreadable: !isPlainObject(entry),
      // Without a readable context (e.g. the key is misspelt) the default "." would give false alarms.
      skipFileChecks: typeof a.context !== 'string',
      image: str(a.image, `#${i}`),
      context: str(a.context, '.'),
      dockerfile: str(a.dockerfile, 'Dockerfile'),
      requires: list(a.requires)
        .filter(isPlainObject)
        .filter((r) => typeof r.image === 'string')
        .map((r) => ({ image: r.image as string, alias: str(r.alias, '') })),
      sync: {
        manual: list(sync.manual)
          .filter(isPlainObject)
          .filter((r) => typeof r.src === 'string' && typeof r.dest === 'string')
          .map((r) => ({ src: r.src as string, dest: r.dest as string })),
      },
    };
  });
  return { build: { artifacts } };
}

function checkSemantics(config: SemanticView, rootDir: string, locate: Locate, skipFileChecks: boolean): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (segments: PropertyKey[], message: string, fix?: string) =>
    problems.push({ ...locate(segments), path: formatPath(segments), message, fix });

  const artifacts = config.build.artifacts;
  const byImage = new Map<string, number>();
  artifacts.forEach((a, i) => {
    const first = byImage.get(a.image);
    if (first !== undefined) {
      add(['build', 'artifacts', i, 'image'], `duplicate image "${a.image}" (also at build.artifacts[${first}])`, 'give each artifact its own image name');
    } else {
      byImage.set(a.image, i);
    }
  });

  artifacts.forEach((a, i) => {
    if ('unreadable' in a && a.unreadable) return;
    const contextDir = path.resolve(rootDir, a.context);
    if (!skipFileChecks && !('skipFileChecks' in a && a.skipFileChecks)) {
      if (!existsSync(contextDir) || !statSync(contextDir).isDirectory()) {
        add(['build', 'artifacts', i, 'context'], `context directory ${contextDir} does not exist`, 'the path is relative to the config file');
      } else {
        const dockerfile = path.resolve(contextDir, a.dockerfile);
        if (!existsSync(dockerfile)) {
          add(
            ['build', 'artifacts', i, existsInRaw(a, 'dockerfile') ? 'dockerfile' : 'context'],
            `Dockerfile ${dockerfile} does not exist`,
            'dockerfile is relative to the context',
          );
        }
      }
    }
    a.requires.forEach((r, j) => {
      if (r.image === a.image) add(['build', 'artifacts', i, 'requires', j, 'image'], `"${a.image}" requires itself`);
      else if (!byImage.has(r.image)) {
        const suggestion = closest(r.image, [...byImage.keys()]);
        add(
          ['build', 'artifacts', i, 'requires', j, 'image'],
          `requires "${r.image}", which is not an artifact`,
          suggestion ? `did you mean "${suggestion}"?` : 'add it to build.artifacts',
        );
      }
    });
    (a.sync?.manual ?? []).forEach((rule, j) => {
      if (rule.dest.split(/[\\/]+/).includes('..')) {
        add(['build', 'artifacts', i, 'sync', 'manual', j, 'dest'], `dest "${rule.dest}" escapes with ".."`, 'use an absolute path in the container, e.g. /app/src');
      }
      if (path.isAbsolute(rule.src) || rule.src.split('/').includes('..')) {
        add(['build', 'artifacts', i, 'sync', 'manual', j, 'src'], `src "${rule.src}" must be a glob relative to the context`, 'remove the leading "/" or ".."');
      }
    });
  });

  const cycle = findRequiresCycle(artifacts);
  if (cycle) {
    const i = byImage.get(cycle[0]) ?? 0;
    add(['build', 'artifacts', i, 'requires'], `requires form a cycle: ${cycle.join(' -> ')}`, 'remove one of these requires');
  }
  return problems;
}

function existsInRaw(a: Pick<ArtifactConfig, 'dockerfile'>, key: 'dockerfile'): boolean {
  return key === 'dockerfile' ? a.dockerfile !== 'Dockerfile' : true;
}

/** A cycle in `requires` as a list of images ending where it started, or undefined. */
export function findRequiresCycle(artifacts: Pick<ArtifactConfig, 'image' | 'requires'>[]): string[] | undefined {
  const edges = new Map(artifacts.map((a) => [a.image, a.requires.map((r) => r.image)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (image: string): string[] | undefined => {
    if (state.get(image) === 'done') return undefined;
    if (state.get(image) === 'visiting') return [...stack.slice(stack.indexOf(image)), image];
    state.set(image, 'visiting');
    stack.push(image);
    for (const next of edges.get(image) ?? []) {
      if (next === image || !edges.has(next)) continue;
      const found = visit(next);
      if (found) return found;
    }
    stack.pop();
    state.set(image, 'done');
    return undefined;
  };
  for (const image of edges.keys()) {
    const found = visit(image);
    if (found) return found;
  }
  return undefined;
}

function normalise(raw: RawConfig, file: string, profiles: string[]): Config {
  const rootDir = path.dirname(file);
  return {
    file,
    rootDir,
    name: raw.metadata.name,
    profiles,
    build: {
      tagPolicy: raw.build.tagPolicy,
      concurrency: raw.build.concurrency,
      push: raw.build.push,
      artifacts: raw.build.artifacts.map((a) => {
        const contextDir = path.resolve(rootDir, a.context);
        return { ...a, contextDir, dockerfilePath: path.resolve(contextDir, a.dockerfile) };
      }),
    },
    deploy: {
      statusCheckDeadlineSeconds: 120,
      ...raw.deploy,
      kubectl: { manifests: raw.deploy?.kubectl?.manifests ?? [] },
      kustomize: { paths: raw.deploy?.kustomize?.paths ?? [] },
      helm: { releases: raw.deploy?.helm?.releases ?? [] },
    },
    portForward: raw.portForward,
    watch: raw.watch,
  };
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}
