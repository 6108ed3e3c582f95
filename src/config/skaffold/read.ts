/**
 * Reads a Skaffold config (skaffold.yaml, `skaffold/v2beta*` .. `skaffold/v4beta14`) into devloop's
 * normalised `Config`, so every command works from it unchanged.
 *
 * Contract: `parseSkaffoldConfig` either returns a `Config` whose `source` says it came from a
 * Skaffold file (with the keys it ignored), or throws: a `ConfigError` listing every problem at once
 * as file:line:column (unknown keys with a did-you-mean, refused keys with what Skaffold does and
 * what to do instead, values devloop's schema rejects), or a `UsageError` for a version devloop does
 * not read. Paths in the file are relative to the file's directory, as in Skaffold.
 *
 * The mapping builds a devloop document from the Skaffold one and validates it with devloop's own
 * schema and semantic checks; their problems are located at the Skaffold key they came from.
 */
import path from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { ConfigError, UsageError, type ConfigProblem } from '../../errors.js';
import { closest } from '../../shared/suggest.js';
import { isPlainObject, issueToProblems } from '../issues.js';
import { byPosition, formatPath, locator, type Locate } from '../locate.js';
import { normalise } from '../normalise.js';
import { ConfigSchema } from '../schema.js';
import { checkSemantics, lenientView } from '../semantics.js';
import { SKAFFOLD_KEYS, type KeySpec } from './keys.js';
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

/** Parses Skaffold config text that came from `file`. */
export function parseSkaffoldConfig(text: string, file: string, options: SkaffoldOptions = {}): Config {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const all = Array.isArray(docs) ? docs : [docs];
  const yamlErrors = all.flatMap((d) => d.errors);
  if (yamlErrors.length > 0) {
    throw new ConfigError(
      yamlErrors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { file, line: pos.line, column: pos.col, path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` };
      }),
      undefined,
      SKAFFOLD_HINT,
    );
  }
  const documents = all.filter((d) => d.contents !== null);
  if (documents.length === 0) {
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: 'the file holds no Skaffold config' }], undefined, SKAFFOLD_HINT);
  }
  const doc = documents[0] as Document;
  const locate = locator(doc, lineCounter, file);
  const data: unknown = doc.toJS();
  if (!isPlainObject(data)) {
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: 'a Skaffold config must be a YAML mapping' }], undefined, SKAFFOLD_HINT);
  }
  const apiVersion = String(data.apiVersion ?? '');
  const versionProblem = unsupportedVersion(apiVersion);
  if (versionProblem) {
    const at = locate(['apiVersion']);
    throw new UsageError(`${file}:${at.line}:${at.column}: ${versionProblem}`, {
      hint: 'devloop reads Skaffold configs from skaffold/v2beta1 to skaffold/v4beta14; `skaffold fix` upgrades older ones.',
    });
  }

  const problems: ConfigProblem[] = [];
  const ignored: string[] = [];
  walk(data, SKAFFOLD_KEYS, [], locate, problems, ignored);

  if (documents.length > 1) {
    const second = documents[1] as Document;
    const at = locator(second, lineCounter, file)([]);
    problems.push({
      ...at,
      path: '',
      message: `the file holds ${documents.length} Skaffold configs; devloop reads one config per file for now`,
      fix: 'keep one config in the file, or write devloop.config.yaml',
    });
  }
  if (data.kind !== 'Config') {
    problems.push({ ...locate(['kind']), path: 'kind', message: 'a Skaffold config has kind: Config', fix: 'set kind: Config' });
  }
  problems.push(...profileProblems(data, options.profiles ?? [], locate, ignored));

  const { document, origins } = toDevloopDocument(data, path.dirname(file));
  const translate = (segments: PropertyKey[]) => toSkaffoldPath(segments, origins);
  const translatedLocate: Locate = (segments, key) => locate(translate(segments), key);
  const rootDir = path.dirname(file);
  const parsed = ConfigSchema.safeParse(document);
  if (!parsed.success) {
    problems.push(
      ...parsed.error.issues
        .flatMap((issue) => issueToProblems({ ...issue, path: translate(issue.path as PropertyKey[]) } as typeof issue, data, locate))
        .map(withSkaffoldFix),
    );
  }
  const semantic = checkSemantics(parsed.success ? parsed.data : lenientView(document), rootDir, translatedLocate, options.skipFileChecks ?? false);
  problems.push(...semantic.map((p) => ({ ...p, path: skaffoldPathText(p.path) })));
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(dedupe(problems).sort(byPosition), undefined, SKAFFOLD_HINT);
  }

  return normalise(parsed.data, file, [], { format: 'skaffold', apiVersion, ignored });
}

/** Checks every key against the table: unknown and refused keys become problems, ignored ones are listed. */
function walk(value: unknown, spec: KeySpec, at: PropertyKey[], locate: Locate, problems: ConfigProblem[], ignored: string[]): void {
  const add = (segments: PropertyKey[], message: string, fix?: string, key = false) =>
    problems.push({ ...locate(segments, key), path: formatPath(segments), message, fix });
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

/**
 * Skaffold profiles are not applied yet: activated ones (by rule or by -p) are refused; the rest,
 * which only -p would apply, are listed as ignored (`profiles[0]`).
 */
function profileProblems(data: Record<string, unknown>, requested: string[], locate: Locate, ignored: string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const profiles = Array.isArray(data.profiles) ? data.profiles : [];
  profiles.forEach((p, i) => {
    if (isPlainObject(p) && p.activation !== undefined) {
      problems.push({
        ...locate(['profiles', i, 'activation'], true),
        path: formatPath(['profiles', i, 'activation']),
        message: 'Skaffold activates this profile automatically; devloop does not read Skaffold profiles yet',
        fix: 'fold the profile into the config, or remove it',
      });
    } else {
      ignored.push(formatPath(['profiles', i]));
    }
  });
  if (requested.length > 0) {
    const at = data.profiles === undefined ? locate([]) : locate(['profiles'], true);
    problems.push({
      ...at,
      path: 'profiles',
      message: `-p ${requested.join(',')}: devloop does not read Skaffold profiles yet`,
      fix: 'run without -p, or write devloop.config.yaml with profiles',
    });
  }
  return problems;
}

/** Where each mapped manifest glob came from in the Skaffold file. */
interface Origins {
  manifests: PropertyKey[][];
}

/** The devloop document equivalent to the Skaffold one (unvalidated; supported keys only). */
function toDevloopDocument(data: Record<string, unknown>, rootDir: string): { document: Record<string, unknown>; origins: Origins } {
  const obj = (v: unknown): Record<string, unknown> => (isPlainObject(v) ? v : {});
  const defined = <T extends Record<string, unknown>>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  const metadata = obj(data.metadata);
  const build = obj(data.build);
  const local = obj(build.local);
  const deploy = obj(data.deploy);
  const kubectl = obj(deploy.kubectl);
  const manifests = obj(data.manifests);

  // Skaffold runs host hooks in its own working directory (the config's), `dir` relative to it;
  // devloop's sync and build hooks take `dir` relative to the artifact context.
  const contextDirOf = (entry: Record<string, unknown>) => (dir: unknown) =>
    path.relative(path.resolve(rootDir, typeof entry.context === 'string' ? entry.context : '.'), path.resolve(rootDir, typeof dir === 'string' ? dir : '.')) || '.';
  const artifacts = Array.isArray(build.artifacts)
    ? build.artifacts.map((entry) => {
        if (!isPlainObject(entry)) return entry;
        const docker = obj(entry.docker);
        const sync = obj(entry.sync);
        return defined({
          image: entry.image,
          context: entry.context,
          dockerfile: docker.dockerfile,
          target: docker.target,
          buildArgs: docker.buildArgs,
          requires: entry.requires,
          sync: sync.manual === undefined && sync.hooks === undefined ? undefined : defined({ manual: sync.manual, hooks: syncHooksOf(sync.hooks, contextDirOf(entry)) }),
          hooks: buildHooksOf(entry.hooks, contextDirOf(entry)),
        });
      })
    : build.artifacts;

  const origins: Origins = { manifests: [] };
  const globs: unknown[] = [];
  const collect = (v: unknown, at: PropertyKey[]) => {
    if (Array.isArray(v)) {
      v.forEach((g, i) => {
        globs.push(g);
        origins.manifests.push([...at, i]);
      });
    } else if (v !== undefined) {
      globs.push(v);
      origins.manifests.push(at);
    }
  };
  collect(manifests.rawYaml, ['manifests', 'rawYaml']);
  collect(kubectl.manifests, ['deploy', 'kubectl', 'manifests']);
  const anyDeployer = ['kustomize', 'helm', 'kpt'].some((k) => manifests[k] !== undefined || deploy[k] !== undefined);
  if (globs.length === 0 && !anyDeployer) globs.push(...DEFAULT_MANIFESTS);

  const portForward = Array.isArray(data.portForward)
    ? data.portForward.map((pf) =>
        isPlainObject(pf) ? defined({ ...pf, resourceType: typeof pf.resourceType === 'string' ? pf.resourceType.toLowerCase() : pf.resourceType }) : pf,
      )
    : data.portForward;

  const document = {
    apiVersion: 'devloop/v1',
    kind: 'Config',
    metadata: { name: metadata.name ?? projectNameFrom(rootDir) },
    build: defined({
      tagPolicy: tagPolicyOf(build.tagPolicy),
      push: local.push,
      concurrency: local.concurrency === 0 ? 64 : local.concurrency,
      artifacts,
    }),
    deploy: defined({
      kubeContext: deploy.kubeContext,
      namespace: kubectl.defaultNamespace,
      statusCheckDeadlineSeconds: deploy.statusCheckDeadlineSeconds,
      kubectl: { manifests: globs },
      hooks: deployHooksOf(kubectl.hooks),
    }),
    portForward,
  };
  return { document: defined(document), origins };
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

/** A path of the devloop document mapped to the Skaffold key it came from. */
function toSkaffoldPath(segments: PropertyKey[], origins: Origins): PropertyKey[] {
  const [a, b, c, d, ...rest] = segments;
  if (a === 'build' && b === 'artifacts' && typeof c === 'number' && (d === 'dockerfile' || d === 'target' || d === 'buildArgs')) {
    return ['build', 'artifacts', c, 'docker', d, ...rest];
  }
  if (a === 'build' && (b === 'push' || b === 'concurrency')) return ['build', 'local', b, ...segments.slice(2)];
  if (a === 'deploy' && b === 'namespace') return ['deploy', 'kubectl', 'defaultNamespace'];
  if (a === 'deploy' && b === 'hooks') return ['deploy', 'kubectl', ...segments.slice(1)];
  if (a === 'build' && b === 'artifacts' && typeof c === 'number' && d === 'hooks' && rest[2] === 'host') {
    return ['build', 'artifacts', c, 'hooks', rest[0], rest[1], ...rest.slice(3)];
  }
  if (a === 'deploy' && b === 'kubectl' && c === 'manifests') {
    return typeof d === 'number' ? (origins.manifests[d] ?? ['manifests']) : (origins.manifests[0]?.slice(0, 2) ?? ['manifests']);
  }
  return segments;
}

/** A devloop path as written in a message, rewritten to the Skaffold key (`...docker.dockerfile`). */
function skaffoldPathText(text: string): string {
  return text
    .replace(/^(build\.artifacts\[\d+\])\.(dockerfile|target|buildArgs)/, '$1.docker.$2')
    .replace(/^build\.(push|concurrency)/, 'build.local.$1')
    .replace(/^deploy\.namespace/, 'deploy.kubectl.defaultNamespace')
    .replace(/^deploy\.hooks/, 'deploy.kubectl.hooks')
    .replace(/^(build\.artifacts\[\d+\]\.hooks\.(?:before|after)\[\d+\])\.host/, '$1');
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
  if (/^portForward\[\d+\]\.port$/.test(problem.path) && problem.message.includes('got string')) {
    return { ...problem, message: `${problem.message}: named ports are not read yet`, fix: 'use the port number' };
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
