/**
 * Reads a Skaffold config (skaffold.yaml, `skaffold/v2beta*` .. `skaffold/v4beta14`) into devloop's
 * normalised `Config`, so every command works from it unchanged.
 *
 * Contract: `parseSkaffoldConfig` either returns a `Config` whose `source` says it came from a
 * Skaffold file (with the keys it ignored, the profiles it activated and why, and every file read),
 * or throws: a `ConfigError` listing every problem at once as file:line:column (unknown keys with a
 * did-you-mean, refused keys with what Skaffold does and what to do instead, values devloop's schema
 * rejects, requires that cannot be read or form a cycle), or a `UsageError` for a version devloop
 * does not read or a -p profile no config defines.
 *
 * As in Skaffold: a file may hold several configs (YAML documents), all of them used; a config may
 * `requires` others by local `path` (a file, or a directory holding skaffold.yaml; no path: this
 * file), narrowed to `configs` by metadata.name, with `activeProfiles`; required configs come
 * first; paths inside each config are relative to its own file; artifacts, manifests and
 * port-forwards of every config are merged. Profiles (activation, -p, -p -name, patches) are
 * applied to each config before it is mapped (skaffold/profiles.ts).
 *
 * The mapping builds a devloop document from the configs and validates it with devloop's own
 * schema and semantic checks; their problems are located at the Skaffold key they came from.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { ConfigError, UsageError, type ConfigProblem } from '../../errors.js';
import { closest } from '../../shared/suggest.js';
import { isPlainObject, issueToProblems } from '../issues.js';
import { byPosition, formatPath, locator, type Locate } from '../locate.js';
import { normalise } from '../normalise.js';
import { ConfigSchema } from '../schema.js';
import { checkSemantics, lenientView } from '../semantics.js';
import { ACTIVE_PROFILE_KEYS, INACTIVE_PROFILE_KEYS, SKAFFOLD_KEYS, type KeySpec } from './keys.js';
import { activationInput, activeProfiles } from '../activation.js';
import { applyProfile } from './profiles.js';
import type { Config, LoadOptions } from '../types.js';

export const SKAFFOLD_FILE_NAMES = ['skaffold.yaml'];

/** The next step under every problem in a Skaffold config. */
const SKAFFOLD_HINT = 'Fix the lines above (or write a devloop.config.yaml, which takes precedence) and run the command again.';

/** Skaffold's default manifests when a config names none. */
const DEFAULT_MANIFESTS = ['k8s/*.yaml'];

/** True when the text's first document declares `apiVersion: skaffold/...`. */
export function isSkaffoldText(text: string): boolean {
  return /^apiVersion:\s*["']?skaffold\//m.test(text);
}

/** `undefined` when devloop reads this apiVersion, else why not. */
export function unsupportedVersion(apiVersion: string): string | undefined {
  const m = /^skaffold\/(v\d+)(alpha|beta)?(\d+)?$/.exec(apiVersion);
  if (!m) return `"${apiVersion}" is not a Skaffold schema version devloop knows (it reads skaffold/v2beta1 up to skaffold/v4beta14)`;
  const [, major, stage, n] = m;
  const number = Number(n ?? 0);
  if (major === 'v1' || (major === 'v2' && stage !== 'beta')) {
    return `${apiVersion} is older than devloop reads (skaffold/v2beta1 up to skaffold/v4beta14): run \`skaffold fix --overwrite\` to upgrade the file`;
  }
  if (major === 'v2' || (major === 'v3' && (stage === undefined || stage === 'alpha'))) return undefined;
  if (major === 'v4' && stage === 'beta' && number >= 1 && number <= 14) return undefined;
  return `${apiVersion} is newer than devloop reads (up to skaffold/v4beta14)`;
}

export type SkaffoldOptions = Omit<LoadOptions, 'cwd' | 'file'>;

/**
 * Skaffold's command names for a devloop command, for `activation.command`: `devloop deploy` does
 * what `skaffold run` does (build, then deploy), `devloop down` what `skaffold delete` does.
 */
export const SKAFFOLD_COMMANDS: Readonly<Record<string, readonly string[]>> = {
  dev: ['dev'],
  build: ['build'],
  deploy: ['run', 'deploy'],
  render: ['render'],
  down: ['delete'],
  init: ['init'],
};

/** One config (a YAML document) read from a file, with its profiles applied. */
interface LoadedConfig {
  file: string;
  dir: string;
  /** `name (file)` or the file, relative to the root config's directory, for messages. */
  label: string;
  apiVersion: string;
  data: Record<string, unknown>;
  locate: Locate;
  /** True for the configs of the file devloop was pointed at. */
  root: boolean;
}

interface ParsedDoc {
  data: unknown;
  locate: Locate;
  index: number;
}

/** Parses Skaffold config text that came from `file`, with every config it requires. */
export function parseSkaffoldConfig(text: string, file: string, options: SkaffoldOptions = {}): Config {
  const rootDir = path.dirname(file);
  const problems: ConfigProblem[] = [];
  const ignored: string[] = [];
  const activations: Array<{ name: string; why: string; config: string }> = [];
  const files = new Map<string, ParsedDoc[]>();
  const configs: LoadedConfig[] = [];
  const done = new Set<string>();
  const defined = new Set<string>();
  const requested = options.profiles ?? [];
  const input = activationInput(options, SKAFFOLD_COMMANDS[options.command ?? ''] ?? (options.command ? [options.command] : []));
  const rel = (f: string) => path.relative(rootDir, f) || path.basename(f);

  /** The documents of a file, parsed once; YAML errors become problems. */
  const parseFile = (f: string, fileText: string | undefined, at?: { locate: Locate; segments: PropertyKey[] }): ParsedDoc[] | undefined => {
    const cached = files.get(f);
    if (cached) return cached;
    let content = fileText;
    if (content === undefined) {
      try {
        content = readFileSync(f, 'utf8');
      } catch (error) {
        if (at) problems.push({ ...at.locate(at.segments), path: formatPath(at.segments), message: `cannot read ${f}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, fix: 'path is relative to the file that requires it' });
        return undefined;
      }
    }
    const lineCounter = new LineCounter();
    const all = parseAllDocuments(content, { lineCounter, prettyErrors: false, uniqueKeys: true });
    const docs = Array.isArray(all) ? all : [all];
    const yamlErrors = docs.flatMap((d) => d.errors);
    if (yamlErrors.length > 0) {
      for (const e of yamlErrors) {
        const pos = lineCounter.linePos(e.pos[0]);
        problems.push({ file: f, line: pos.line, column: pos.col, path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` });
      }
      files.set(f, []);
      return [];
    }
    const parsed = docs
      .map((d, index) => ({ d, index }))
      .filter(({ d }) => d.contents !== null)
      .map(({ d, index }) => ({ data: (d as Document).toJS() as unknown, locate: locator(d as Document, lineCounter, f), index }));
    if (parsed.length === 0) problems.push({ file: f, line: 1, column: 1, path: '', message: 'the file holds no Skaffold config' });
    files.set(f, parsed);
    return parsed;
  };

  const visitFile = (
    f: string,
    fileText: string | undefined,
    names: string[] | undefined,
    inherited: Array<{ name: string; why: string }>,
    chain: string[],
    at?: { locate: Locate; segments: PropertyKey[] },
  ): void => {
    const docs = parseFile(f, fileText, at);
    if (!docs) return;
    const root = at === undefined;
    if (names) {
      const present = new Set(docs.map((d) => (isPlainObject(d.data) && isPlainObject(d.data.metadata) ? d.data.metadata.name : undefined)));
      for (const name of names.filter((n) => !present.has(n))) {
        const known = [...present].filter((n): n is string => typeof n === 'string');
        const suggestion = closest(name, known);
        problems.push({
          ...at!.locate([...at!.segments, 'configs']),
          path: formatPath([...at!.segments, 'configs']),
          message: `${rel(f)} holds no config named "${name}"`,
          fix: suggestion ? `did you mean "${suggestion}"?` : known.length ? `its configs: ${known.join(', ')}` : 'give that config metadata.name',
        });
      }
    }
    for (const doc of docs) {
      const data = doc.data;
      const name = isPlainObject(data) && isPlainObject(data.metadata) && typeof data.metadata.name === 'string' ? data.metadata.name : undefined;
      if (names && (name === undefined || !names.includes(name))) continue;
      const key = `${f}#${doc.index}`;
      const label = name ? `${name} in ${rel(f)}` : rel(f);
      const short = name ?? rel(f);
      if (chain.some((c) => c.startsWith(`${key}|`))) {
        const cycle = [...chain.slice(chain.findIndex((c) => c.startsWith(`${key}|`))).map((c) => c.split('|')[1]), label];
        problems.push({ ...at!.locate(at!.segments), path: formatPath(at!.segments), message: `requires form a cycle: ${cycle.join(' -> ')}`, fix: 'remove one of these requires' });
        continue;
      }
      if (done.has(key)) continue;
      done.add(key);
      const locate = doc.locate;
      if (!isPlainObject(data)) {
        problems.push({ ...locate([]), path: '', message: 'a Skaffold config must be a YAML mapping' });
        continue;
      }
      const apiVersion = String(data.apiVersion ?? '');
      const versionProblem = unsupportedVersion(apiVersion);
      if (versionProblem) {
        const where = locate(['apiVersion']);
        if (root && configs.length === 0 && doc === docs[0]) {
          throw new UsageError(`${f}:${where.line}:${where.column}: ${versionProblem}`, {
            hint: 'devloop reads Skaffold configs from skaffold/v2beta1 to skaffold/v4beta14; `skaffold fix` upgrades older ones.',
          });
        }
        problems.push({ ...where, path: 'apiVersion', message: versionProblem });
        continue;
      }
      if (data.kind !== 'Config') {
        problems.push({ ...locate(['kind']), path: 'kind', message: 'a Skaffold config has kind: Config', fix: 'set kind: Config' });
      }
      // Profiles: which, then applied in order.
      const profiles = Array.isArray(data.profiles) ? data.profiles : [];
      for (const p of profiles) if (isPlainObject(p) && typeof p.name === 'string') defined.add(p.name);
      const { active, problems: activationProblems } = activeProfiles(profiles, input, requested, inherited);
      for (const p of activationProblems) problems.push({ ...locate(p.path), path: formatPath(p.path), message: p.message, fix: 'write env: NAME=REGEX' });

      // Keys: the config, then each profile (the sections of one that is not active change nothing).
      const before = ignored.length;
      const { profiles: _profiles, ...withoutProfiles } = data;
      walk(withoutProfiles, SKAFFOLD_KEYS, [], locate, problems, ignored);
      profiles.forEach((p, i) => {
        const spec = active.some((a) => a.index === i) ? ACTIVE_PROFILE_KEYS : INACTIVE_PROFILE_KEYS;
        walk(p, spec, ['profiles', i], locate, problems, ignored);
      });

      let patched: Record<string, unknown> = data;
      for (const profile of active) {
        activations.push({ name: profile.name, why: profile.why, config: short });
        const { config: next, problem } = applyProfile(patched, profiles[profile.index] as Record<string, unknown>);
        if (problem) {
          const segments = ['profiles', profile.index, 'patches', problem.patch];
          problems.push({ ...locate(segments), path: formatPath(segments), message: `profile ${profile.name}: ${problem.message}`, fix: 'fix the path (a JSON Pointer into the config, e.g. /build/artifacts/0/image)' });
        }
        patched = next;
      }
      if (active.some((a) => Array.isArray((profiles[a.index] as Record<string, unknown>).patches))) {
        // What the patches brought in is checked too (located at the nearest key the file has);
        // what the profiles' own sections hold was checked above.
        const keyProblems = (config: Record<string, unknown>) => {
          const { profiles: _p, ...rest } = config;
          const found: ConfigProblem[] = [];
          walk(rest, SKAFFOLD_KEYS, [], locate, found, []);
          return found;
        };
        const unpatched = active.reduce((c, a) => applyProfile(c, { ...(profiles[a.index] as Record<string, unknown>), patches: [] }).config, data);
        const known = new Set(keyProblems(unpatched).map((p) => p.path));
        problems.push(...keyProblems(patched).filter((p) => !known.has(p.path)));
      }
      if (!root) for (let i = before; i < ignored.length; i++) ignored[i] = `${rel(f)}: ${ignored[i]}`;

      // Required configs first.
      const requires = Array.isArray(patched.requires) ? patched.requires : [];
      requires.forEach((req, j) => {
        if (!isPlainObject(req) || req.git !== undefined || req.googleCloudStorage !== undefined || req.googleCloudBuildRepoV2 !== undefined) return;
        const segments: PropertyKey[] = ['requires', j];
        let target = f;
        if (typeof req.path === 'string' && req.path !== '') {
          target = path.resolve(path.dirname(f), req.path);
          if (existsSync(target) && statSync(target).isDirectory()) target = path.join(target, 'skaffold.yaml');
          if (!existsSync(target)) {
            problems.push({ ...locate([...segments, 'path']), path: formatPath([...segments, 'path']), message: `${target} does not exist`, fix: 'path is relative to this file: a skaffold.yaml, or a directory holding one' });
            return;
          }
        } else if (!Array.isArray(req.configs) || req.configs.length === 0) {
          problems.push({ ...locate(segments), path: formatPath(segments), message: 'a require names neither a path nor configs', fix: 'add path: DIR, or configs: [NAME] for a config in this file' });
          return;
        }
        const activeNames = new Set(active.map((a) => a.name));
        const passed = (Array.isArray(req.activeProfiles) ? req.activeProfiles : [])
          .filter(isPlainObject)
          .filter((ap) => typeof ap.name === 'string')
          .filter((ap) => !Array.isArray(ap.activatedBy) || ap.activatedBy.length === 0 || ap.activatedBy.some((b) => activeNames.has(String(b))))
          .map((ap) => ({ name: ap.name as string, why: `activeProfiles of ${short}` }));
        const selected = Array.isArray(req.configs) ? req.configs.map(String) : undefined;
        visitFile(target, undefined, selected, passed, [...chain, `${key}|${label}`], { locate, segments });
      });

      configs.push({ file: f, dir: path.dirname(f), label, apiVersion, data: patched, locate, root });
    }
  };

  visitFile(file, text, undefined, [], []);

  const unknownProfiles = requested.filter((n) => !n.startsWith('-') && !defined.has(n));
  if (unknownProfiles.length > 0 && problems.length === 0) {
    const suggestion = closest(unknownProfiles[0], [...defined]);
    throw new UsageError(`profile "${unknownProfiles[0]}" is not defined in ${configs.length > 1 ? 'any of the Skaffold configs read' : rel(file)}`, {
      hint: suggestion ? `Did you mean -p ${suggestion}?` : defined.size ? `Defined profiles: ${[...defined].join(', ')}.` : 'The config defines no profiles.',
    });
  }
  if (configs.length === 0 || problems.length > 0) {
    throw new ConfigError(dedupe(problems).sort(byFileAndPosition(file)), undefined, SKAFFOLD_HINT);
  }

  const { document, origin } = mergeConfigs(configs, rootDir);
  const pathTexts = new Map<string, string>();
  const translate = (segments: PropertyKey[]) => {
    const o = origin(segments);
    pathTexts.set(formatPath(segments), formatPath(o.segments));
    return o;
  };
  const translatedLocate: Locate = (segments, key) => {
    const o = translate(segments);
    return o.config.locate(o.segments, key);
  };
  const parsed = ConfigSchema.safeParse(document);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const o = translate(issue.path as PropertyKey[]);
      problems.push(...issueToProblems({ ...issue, path: o.segments } as typeof issue, o.config.data, o.config.locate).map(withSkaffoldFix));
    }
  }
  const semantic = checkSemantics(parsed.success ? parsed.data : lenientView(document), rootDir, translatedLocate, options.skipFileChecks ?? false);
  problems.push(...semantic.map((p) => ({ ...p, path: pathTexts.get(p.path) ?? p.path })));
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(dedupe(problems).sort(byFileAndPosition(file)), undefined, SKAFFOLD_HINT);
  }

  const rootConfig = configs.find((c) => c.root) ?? configs[0];
  const config = normalise(parsed.data, file, [...new Set(activations.map((a) => a.name))], {
    format: 'skaffold',
    apiVersion: rootConfig.apiVersion,
    ignored,
    files: [...new Set(configs.map((c) => c.file))],
  });
  return { ...config, activatedProfiles: activations.map((a) => `${a.name}${configs.length > 1 ? ` of ${a.config}` : ''} (${a.why})`) };
}

/** Problems of the root file first, then by file, line and column. */
function byFileAndPosition(rootFile: string): (a: ConfigProblem, b: ConfigProblem) => number {
  return (a, b) => {
    if (a.file === b.file) return byPosition(a, b);
    if (a.file === rootFile || b.file === rootFile) return a.file === rootFile ? -1 : 1;
    return a.file < b.file ? -1 : 1;
  };
}

/** Checks every key against the table: unknown and refused keys become problems, ignored ones are listed. */
function walk(value: unknown, spec: KeySpec, at: PropertyKey[], locate: Locate, problems: ConfigProblem[], ignored: string[]): void {
  const add = (segments: PropertyKey[], message: string, fix?: string, key = false) =>
    problems.push({ ...locate(segments, key), path: formatPath(segments), message, fix });
  if (spec.t === 'skipped') return;
  if (typeof value === 'string' && value.includes('{{')) {
    add(at, 'Skaffold expands {{...}} templates in this field; devloop does not', 'write the value out literally');
    return;
  }
  if (spec.t === 'free' || spec.t === 'value') {
    for (const [segments, s] of stringsIn(value, at)) {
      if (s.includes('{{')) add(segments, 'Skaffold expands {{...}} templates in this field; devloop does not', 'write the value out literally');
    }
    return;
  }
  if (spec.t === 'ignored') {
    ignored.push(formatPath(at));
    return;
  }
  if (spec.t === 'refused') {
    add(at, `Skaffold ${spec.does}; devloop does not support this`, spec.instead, true);
    return;
  }
  if (spec.t === 'list') {
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, spec.item, [...at, i], locate, problems, ignored));
    return;
  }
  if (!isPlainObject(value)) return; // the schema reports the wrong type after mapping
  const known = Object.keys(spec.keys);
  for (const [k, v] of Object.entries(value)) {
    const child = spec.keys[k];
    if (child) {
      walk(v, child, [...at, k], locate, problems, ignored);
      continue;
    }
    const suggestion = closest(k, known);
    add([...at, k], `unknown key "${k}"`, suggestion ? `did you mean "${suggestion}"?` : `known keys: ${known.join(', ')}`, true);
  }
}

function stringsIn(value: unknown, at: PropertyKey[]): Array<[PropertyKey[], string]> {
  if (typeof value === 'string') return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringsIn(v, [...at, i]));
  if (isPlainObject(value)) return Object.entries(value).flatMap(([k, v]) => stringsIn(v, [...at, k]));
  return [];
}

/** Where a key of the merged devloop document came from: a config and a path in it. */
interface Origin {
  config: LoadedConfig;
  segments: PropertyKey[];
}

/**
 * The devloop document of every config merged (unvalidated; supported keys only): lists
 * concatenated in load order (required configs first), paths rebased onto `rootDir`, settings
 * (tag policy, push, kube context, namespace...) from the first config setting them, the root
 * file's configs first. `origin` maps a path of the document back to the Skaffold key.
 */
function mergeConfigs(configs: LoadedConfig[], rootDir: string): { document: Record<string, unknown>; origin: (segments: PropertyKey[]) => Origin } {
  const obj = (v: unknown): Record<string, unknown> => (isPlainObject(v) ? v : {});
  const defined = <T extends Record<string, unknown>>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  const lists = {
    artifacts: [] as Array<{ value: unknown; origin: Origin }>,
    manifests: [] as Array<{ value: unknown; origin: Origin }>,
    kustomize: [] as Array<{ value: unknown; origin: Origin }>,
    helm: [] as Array<{ value: unknown; origin: Origin }>,
    portForward: [] as Array<{ value: unknown; origin: Origin }>,
  };
  const settings = new Map<string, { value: unknown; origin: Origin }>();
  const byPriority = [...configs.filter((c) => c.root), ...configs.filter((c) => !c.root)];
  const setting = (key: string, value: unknown, origin: Origin) => {
    if (value !== undefined && !settings.has(key)) settings.set(key, { value, origin });
  };

  for (const config of configs) {
    const { data } = config;
    const at = (...segments: PropertyKey[]): Origin => ({ config, segments });
    /** A path of this config (relative to its file) as a path relative to rootDir. */
    const rebase = (p: unknown) => (typeof p === 'string' ? path.relative(rootDir, path.resolve(config.dir, p)) || '.' : p);
    const build = obj(data.build);
    const deploy = obj(data.deploy);
    const kubectl = obj(deploy.kubectl);
    const manifests = obj(data.manifests);

    // Skaffold runs host hooks in its own working directory (the config's), `dir` relative to it;
    // devloop's sync and build hooks take `dir` relative to the artifact context.
    const hookDirFor = (entry: Record<string, unknown>) => (dir: unknown) =>
      path.relative(path.resolve(config.dir, typeof entry.context === 'string' ? entry.context : '.'), path.resolve(config.dir, typeof dir === 'string' ? dir : '.')) || '.';

    if (Array.isArray(build.artifacts)) {
      build.artifacts.forEach((entry, i) => {
        if (!isPlainObject(entry)) return lists.artifacts.push({ value: entry, origin: at('build', 'artifacts', i) });
        const docker = obj(entry.docker);
        const sync = obj(entry.sync);
        lists.artifacts.push({
          value: defined({
            image: entry.image,
            context: rebase(entry.context ?? '.'),
            dockerfile: docker.dockerfile,
            target: docker.target,
            buildArgs: docker.buildArgs,
            requires: entry.requires,
            // Skaffold copies a file for every manual rule it matches.
            sync: sync.manual === undefined && sync.hooks === undefined ? undefined : defined({ manual: sync.manual, everyMatch: sync.manual === undefined ? undefined : true, hooks: syncHooksOf(sync.hooks, hookDirFor(entry)) }),
            hooks: buildHooksOf(entry.hooks, hookDirFor(entry)),
          }),
          origin: at('build', 'artifacts', i),
        });
      });
    }

    const globsBefore = lists.manifests.length;
    const collect = (v: unknown, segments: PropertyKey[]) => {
      if (Array.isArray(v)) v.forEach((g, i) => lists.manifests.push({ value: rebase(g), origin: at(...segments, i) }));
      else if (v !== undefined) lists.manifests.push({ value: v, origin: at(...segments) });
    };
    collect(manifests.rawYaml, ['manifests', 'rawYaml']);
    collect(kubectl.manifests, ['deploy', 'kubectl', 'manifests']);

    const kustomizeForms: Array<[Record<string, unknown>, PropertyKey[]]> = [
      [obj(manifests.kustomize), ['manifests', 'kustomize']],
      [obj(deploy.kustomize), ['deploy', 'kustomize']],
    ];
    for (const [k, segments] of kustomizeForms) {
      if (!isPlainObject(k) || Object.keys(k).length === 0) continue;
      // Skaffold's default kustomization is the config's own directory.
      const paths = Array.isArray(k.paths) ? k.paths : ['.'];
      paths.forEach((p, i) => lists.kustomize.push({ value: rebase(p), origin: Array.isArray(k.paths) ? at(...segments, 'paths', i) : at(...segments) }));
    }

    const helmForms: Array<[Record<string, unknown>, PropertyKey[]]> = [
      [obj(manifests.helm), ['manifests', 'helm']],
      [obj(deploy.helm), ['deploy', 'helm']],
    ];
    for (const [h, segments] of helmForms) {
      if (!Array.isArray(h.releases)) continue;
      h.releases.forEach((release, i) => {
        const origin = at(...segments, 'releases', i);
        if (!isPlainObject(release)) return lists.helm.push({ value: release, origin });
        const overrides = obj(release.artifactOverrides);
        const setValues = release.setValues === undefined && Object.keys(overrides).length === 0 ? undefined : { ...obj(release.setValues), ...overrides };
        lists.helm.push({
          value: defined({
            name: release.name,
            chart: rebase(release.chartPath),
            namespace: release.namespace,
            valuesFiles: Array.isArray(release.valuesFiles) ? release.valuesFiles.map(rebase) : release.valuesFiles,
            setValues: setValues === undefined ? undefined : Object.fromEntries(Object.entries(setValues).map(([k, v]) => [k, typeof v === 'string' ? v : String(v)])),
          }),
          origin,
        });
      });
    }

    const anyDeployer = lists.kustomize.some((k) => k.origin.config === config) || lists.helm.some((h) => h.origin.config === config) || manifests.kpt !== undefined || deploy.kpt !== undefined;
    if (lists.manifests.length === globsBefore && !anyDeployer) {
      // Skaffold's default; for a required config only when it names files (a base-image config
      // usually has no manifests at all).
      const glob = rebase(DEFAULT_MANIFESTS[0]) as string;
      const matches = existsSync(path.join(config.dir, 'k8s'));
      if (config.root || matches) lists.manifests.push({ value: glob, origin: at('manifests') });
    }

    if (Array.isArray(data.portForward)) {
      data.portForward.forEach((pf, i) =>
        lists.portForward.push({
          value: isPlainObject(pf) ? defined({ ...pf, resourceType: typeof pf.resourceType === 'string' ? pf.resourceType.toLowerCase() : pf.resourceType }) : pf,
          origin: at('portForward', i),
        }),
      );
    }
  }

  for (const config of byPriority) {
    const at = (...segments: PropertyKey[]): Origin => ({ config, segments });
    const build = obj(config.data.build);
    const local = obj(build.local);
    const deploy = obj(config.data.deploy);
    setting('build.tagPolicy', tagPolicyOf(build.tagPolicy), at('build', 'tagPolicy'));
    setting('build.push', local.push, at('build', 'local', 'push'));
    setting('build.concurrency', local.concurrency === 0 ? 64 : local.concurrency, at('build', 'local', 'concurrency'));
    // useBuildkit true/false picks the builder; unset keeps devloop's default (auto), as Skaffold then follows the engine.
    setting('build.builder', local.useBuildkit === true ? 'buildkit' : local.useBuildkit === false ? 'classic' : local.useBuildkit, at('build', 'local', 'useBuildkit'));
    setting('deploy.kubeContext', deploy.kubeContext, at('deploy', 'kubeContext'));
    setting('deploy.statusCheckDeadlineSeconds', deploy.statusCheckDeadlineSeconds, at('deploy', 'statusCheckDeadlineSeconds'));
    setting('deploy.namespace', obj(deploy.kubectl).defaultNamespace, at('deploy', 'kubectl', 'defaultNamespace'));
    setting('deploy.hooks', deployHooksOf(obj(deploy.kubectl).hooks), at('deploy', 'kubectl', 'hooks'));
    setting('deploy.namespace', obj(deploy.kustomize).defaultNamespace, at('deploy', 'kustomize', 'defaultNamespace'));
    const metadata = obj(config.data.metadata);
    setting('metadata.name', metadata.name, at('metadata', 'name'));
  }
  const rootConfig = byPriority[0];
  const value = (key: string) => settings.get(key)?.value;
  const document = defined({
    apiVersion: 'devloop/v1',
    kind: 'Config',
    metadata: { name: value('metadata.name') ?? projectNameFrom(rootDir) },
    build: defined({
      tagPolicy: value('build.tagPolicy'),
      push: value('build.push'),
      concurrency: value('build.concurrency'),
      builder: value('build.builder'),
      artifacts: lists.artifacts.map((a) => a.value),
    }),
    deploy: defined({
      kubeContext: value('deploy.kubeContext'),
      namespace: value('deploy.namespace'),
      statusCheckDeadlineSeconds: value('deploy.statusCheckDeadlineSeconds'),
      kubectl: { manifests: lists.manifests.map((m) => m.value) },
      kustomize: lists.kustomize.length ? { paths: lists.kustomize.map((k) => k.value) } : undefined,
      helm: lists.helm.length ? { releases: lists.helm.map((h) => h.value) } : undefined,
      hooks: value('deploy.hooks'),
    }),
    portForward: lists.portForward.length ? lists.portForward.map((p) => p.value) : undefined,
  });

  const within = (item: { origin: Origin } | undefined, rest: PropertyKey[], rename: Record<string, PropertyKey[]> = {}): Origin | undefined => {
    if (!item) return undefined;
    const [first, ...tail] = rest;
    const renamed = typeof first === 'string' && rename[first] ? [...rename[first], ...tail] : rest;
    return { config: item.origin.config, segments: [...item.origin.segments, ...renamed] };
  };
  const origin = (segments: PropertyKey[]): Origin => {
    const [a, b, c, d, ...rest] = segments;
    const key = `${String(a)}.${String(b)}`;
    let found: Origin | undefined;
    if (a === 'build' && b === 'artifacts' && typeof c === 'number') {
      // a build hook is written without the `host` wrapper devloop's schema puts around it
      const tail = d === 'hooks' && rest[2] === 'host' ? [d, rest[0], rest[1], ...rest.slice(3)] : d === undefined ? [] : [d, ...rest];
      found = within(lists.artifacts[c], tail, { dockerfile: ['docker', 'dockerfile'], target: ['docker', 'target'], buildArgs: ['docker', 'buildArgs'] });
    } else if (a === 'deploy' && b === 'kubectl' && c === 'manifests') {
      found = typeof d === 'number' ? lists.manifests[d]?.origin : undefined;
    } else if (a === 'deploy' && b === 'kustomize' && c === 'paths' && typeof d === 'number') {
      found = lists.kustomize[d]?.origin;
    } else if (a === 'deploy' && b === 'helm' && c === 'releases' && typeof d === 'number') {
      found = within(lists.helm[d], rest, { chart: ['chartPath'] });
    } else if (a === 'deploy' && b === 'hooks' && settings.has('deploy.hooks')) {
      found = within(settings.get('deploy.hooks'), [c, d, ...rest].filter((s) => s !== undefined));
    } else if (a === 'portForward' && typeof b === 'number') {
      found = within(lists.portForward[b], c === undefined ? [] : [c, d, ...rest].filter((s) => s !== undefined));
    } else if (settings.has(key)) {
      found = settings.get(key)!.origin;
    }
    return found ?? { config: rootConfig, segments: toSkaffoldPath(segments) };
  };
  return { document, origin };
}

/** A devloop path with no more specific origin, as the Skaffold key it corresponds to. */
function toSkaffoldPath(segments: PropertyKey[]): PropertyKey[] {
  const [a, b] = segments;
  if (a === 'build' && (b === 'push' || b === 'concurrency')) return ['build', 'local', b, ...segments.slice(2)];
  if (a === 'deploy' && b === 'namespace') return ['deploy', 'kubectl', 'defaultNamespace'];
  if (a === 'deploy' && (b === 'kubectl' || b === 'kustomize' || b === 'helm')) return ['manifests'];
  return segments;
}

// ---- Hooks: Skaffold's lifecycle hooks onto devloop's (sync.hooks, build hooks, deploy hooks). ----
// Skaffold's shapes: sync hooks `{host: {command, os, dir}} | {container: {command}}`; build hooks
// `{command, os, dir}` (host only, no wrapper); deploy hooks under deploy.kubectl.hooks,
// `{host} | {container: {command, podName, containerName}}`. A host hook whose `os` list leaves out
// this platform is dropped here, as Skaffold skips it. Schema problems are located at the Skaffold
// key (toSkaffoldPath) by position: after a dropped hook, the later ones of that list point one early.

/** Skaffold's `os` names for this platform. */
const SKAFFOLD_OS = process.platform === 'win32' ? 'windows' : process.platform;

function forThisOs(host: unknown): boolean {
  if (!isPlainObject(host) || !Array.isArray(host.os)) return true;
  return host.os.includes(SKAFFOLD_OS);
}

/**
 * A Skaffold host hook as devloop's `host` (os dropped: the hook is kept only when it runs here);
 * `dirFor` turns Skaffold's `dir` (relative to the config's directory) into devloop's.
 */
function hostHookOf(host: Record<string, unknown>, dirFor?: (dir: unknown) => string): Record<string, unknown> {
  const { os: _os, ...rest } = host;
  return dirFor ? { ...rest, dir: dirFor(host.dir) } : rest;
}

function hookListsOf(value: unknown, item: (hook: unknown) => unknown | undefined): unknown {
  if (!isPlainObject(value)) return value;
  const mapList = (list: unknown) => (Array.isArray(list) ? list.map(item).filter((h) => h !== undefined) : list);
  return Object.fromEntries(Object.entries(value).map(([when, list]) => [when, mapList(list)]));
}

function syncHooksOf(value: unknown, dirFor: (dir: unknown) => string): unknown {
  return hookListsOf(value, (hook) => {
    if (!isPlainObject(hook)) return hook;
    if (isPlainObject(hook.host)) return forThisOs(hook.host) ? { host: hostHookOf(hook.host, dirFor) } : undefined;
    return hook;
  });
}

function buildHooksOf(value: unknown, dirFor: (dir: unknown) => string): unknown {
  return hookListsOf(value, (hook) => (isPlainObject(hook) ? (forThisOs(hook) ? { host: hostHookOf(hook, dirFor) } : undefined) : hook));
}

function deployHooksOf(value: unknown): unknown {
  return hookListsOf(value, (hook) => {
    if (!isPlainObject(hook)) return hook;
    if (hook.action !== undefined) return undefined; // refused by the key table, reported there
    if (isPlainObject(hook.host)) return forThisOs(hook.host) ? { host: hostHookOf(hook.host) } : undefined;
    return hook;
  });
}

/**
 * devloop's tag policy for Skaffold's: gitCommit, inputDigest and dateTime map by name; sha256
 * (Skaffold tags `latest` and deploys by digest) maps to inputDigest, which likewise names each
 * distinct image content. Unset keeps devloop's default. Other policies are refused by the key table.
 */
function tagPolicyOf(tagPolicy: unknown): string | undefined {
  if (!isPlainObject(tagPolicy)) return tagPolicy === undefined ? undefined : String(tagPolicy);
  if ('gitCommit' in tagPolicy) return 'gitCommit';
  if ('dateTime' in tagPolicy) return 'dateTime';
  if ('inputDigest' in tagPolicy || 'sha256' in tagPolicy) return 'inputDigest';
  return undefined;
}

/** The project name devloop uses when metadata.name is absent: the directory name as a DNS label. */
export function projectNameFrom(dir: string): string {
  const label = path
    .basename(path.resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label || 'project';
}


/** The fix for schema problems whose cause is a Skaffold feature devloop reads differently. */
function withSkaffoldFix(problem: ConfigProblem): ConfigProblem {
  if (/^build\.artifacts\[\d+\]\.requires\[\d+\]\.alias$/.test(problem.path) && problem.message.startsWith('missing')) {
    return {
      ...problem,
      message: 'a required image without alias only orders the builds in Skaffold; devloop passes every required image as a build arg',
      fix: 'add alias: NAME and use it in the Dockerfile as FROM ${NAME}',
    };
  }
  return problem;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}:${p.column}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
