/**
 * Reads the manifests a config names: kubectl globs (multi-document files, `kind: List`),
 * kustomizations (`kubectl kustomize`) and Helm releases (`helm template`).
 *
 * Contract: resolves with every object and where it came from (file, document number, line), in a
 * stable order (sources in config order, files sorted). A document that is not valid YAML or not a
 * Kubernetes object throws ConfigError located at file:line:column. Reads files and runs kubectl or
 * helm; writes nothing.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import micromatch from 'micromatch';
import { globMatcher, normalizeGlob } from '../shared/globs.js';
import { runTool } from '../shared/subprocess.js';
import { isMap, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { Config } from '../config/load.js';
import { ConfigError, EnvironmentError, FailureError, type ConfigProblem } from '../errors.js';
import type { KubeObject } from '../kube/types.js';
import { STATE_DIR_NAME } from '../shared/paths.js';

export interface ManifestSource {
  /** File path (absolute), or `kustomize:<dir>` / `helm:<release>` for generated output. */
  file: string;
  /** 1-based document number within the file. */
  document: number;
  /** 1-based line of the object's start. */
  line: number;
}

export interface SourcedObject {
  object: KubeObject;
  source: ManifestSource;
}

export function formatSource(s: ManifestSource): string {
  return `${s.file}:${s.line} (document ${s.document})`;
}

/** Directories never descended into while expanding manifest globs. */
const SKIP_DIRS = new Set(['node_modules', '.git', STATE_DIR_NAME]);

/** Files under rootDir matching `patterns` (relative globs), sorted, each once. */
export function expandGlobs(rootDir: string, patterns: string[]): { files: string[]; unmatched: string[] } {
  const files = new Set<string>();
  const unmatched: string[] = [];
  for (const pattern of patterns) {
    const normalized = normalizeGlob(pattern);
    const scan = micromatch.scan(normalized);
    const before = files.size;
    if (!scan.isGlob) {
      const file = path.resolve(rootDir, normalized);
      try {
        readFileSync(file);
        files.add(file);
      } catch {
        /* reported as unmatched */
      }
    } else {
      const base = path.resolve(rootDir, scan.base || '.');
      const matcher = globMatcher(normalized);
      walk(base, (file) => {
        const rel = path.relative(rootDir, file).split(path.sep).join('/');
        if (matcher(rel)) files.add(file);
      });
    }
    if (files.size === before) unmatched.push(pattern);
  }
  return { files: [...files].sort(), unmatched };
}

function walk(dir: string, onFile: (file: string) => void, depth = 0): void {
  if (depth > 32) return;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) walk(full, onFile, depth + 1);
    } else if (e.isFile() && /\.(ya?ml|json)$/i.test(e.name)) onFile(full);
  }
}

/**
 * Parses a (multi-document) YAML text into objects. `kind: List` (and `*List` with items) is
 * expanded into its items. Throws ConfigError naming file, document and line for every problem.
 */
export function parseManifests(text: string, file: string): SourcedObject[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false }) as Document[] | { errors: unknown[] };
  const out: SourcedObject[] = [];
  const problems: ConfigProblem[] = [];
  const at = (offset: number | undefined) => lineCounter.linePos(offset ?? 0);
  if (!Array.isArray(docs)) {
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: 'invalid YAML stream' }]);
  }
  docs.forEach((doc, index) => {
    const document = index + 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = at(e.pos[0]);
        problems.push({ file, line: pos.line, column: pos.col, path: `document ${document}`, message: `invalid YAML: ${e.message.split('\n')[0]}` });
      }
      return;
    }
    if (doc.contents === null) return; // empty document (e.g. a trailing ---)
    const start = at(doc.contents?.range?.[0]);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return;
    if (!isMap(doc.contents)) {
      problems.push({ file, line: start.line, column: start.col, path: `document ${document}`, message: 'a manifest document must be a mapping (a Kubernetes object)' });
      return;
    }
    const obj = value as Record<string, unknown>;
    if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
      const itemsNode = doc.contents.get('items', true);
      (obj.items as unknown[]).forEach((item, i) => {
        const node = isSeq(itemsNode) ? (itemsNode.items[i] as { range?: [number, number, number] } | undefined) : undefined;
        const pos = at(node?.range?.[0] ?? doc.contents?.range?.[0]);
        const problem = checkObject(item);
        if (problem) problems.push({ file, line: pos.line, column: pos.col, path: `document ${document}, items[${i}]`, message: problem });
        else out.push({ object: item as KubeObject, source: { file, document, line: pos.line } });
      });
      return;
    }
    const problem = checkObject(obj);
    if (problem) {
      problems.push({ file, line: start.line, column: start.col, path: `document ${document}`, message: problem });
      return;
    }
    out.push({ object: obj as KubeObject, source: { file, document, line: start.line } });
  });
  if (problems.length > 0) throw new ConfigError(problems, `invalid manifest ${file}`);
  return out;
}

/** Why a parsed value is not a Kubernetes object, or undefined when it is one. */
function checkObject(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'expected a Kubernetes object (a mapping)';
  const obj = value as Record<string, any>;
  if (typeof obj.apiVersion !== 'string' || !obj.apiVersion) return 'missing apiVersion';
  if (typeof obj.kind !== 'string' || !obj.kind) return 'missing kind';
  if (!obj.metadata || typeof obj.metadata !== 'object') return `${obj.kind} has no metadata`;
  if (typeof obj.metadata.name !== 'string' || !obj.metadata.name) {
    return obj.metadata.generateName ? `${obj.kind} uses generateName, which devloop cannot track: give it a metadata.name` : `${obj.kind} has no metadata.name`;
  }
  return undefined;
}

/** The kubectl used for `kubectl kustomize`: $DEVLOOP_KUBECTL, else `kubectl` on PATH. */
export function kubectlCommand(): string {
  return process.env.DEVLOOP_KUBECTL || 'kubectl';
}

/** The helm used for `helm template`: $DEVLOOP_HELM, else `helm` on PATH. */
export function helmCommand(): string {
  return process.env.DEVLOOP_HELM || 'helm';
}

async function run(command: string, args: string[], cwd: string, signal: AbortSignal, missing: EnvironmentError): Promise<string> {
  const result = await runTool(command, args, { cwd, signal, missing, stripFinalNewline: false });
  if (result.exitCode !== 0) {
    throw new FailureError(`${command} ${args.join(' ')} failed (exit ${result.exitCode})`, {
      details: result.stderr.trim().split('\n').slice(-15),
      hint: 'Fix the error above (it comes from the tool, run in ' + cwd + ').',
    });
  }
  return result.stdout;
}

/** Reads every manifest source of the config, in config order. */
export async function readManifests(config: Config, signal: AbortSignal): Promise<{ objects: SourcedObject[]; warnings: string[] }> {
  const objects: SourcedObject[] = [];
  const warnings: string[] = [];
  const { files, unmatched } = expandGlobs(config.rootDir, config.deploy.kubectl.manifests);
  for (const pattern of unmatched) warnings.push(`deploy.kubectl.manifests: "${pattern}" matches no file in ${config.rootDir}`);
  const problems: ConfigProblem[] = [];
  for (const file of files) {
    try {
      objects.push(...parseManifests(readFileSync(file, 'utf8'), file));
    } catch (error) {
      if (error instanceof ConfigError) problems.push(...error.problems);
      else throw error;
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(problems, `${problems.length} problem${problems.length === 1 ? '' : 's'} in the manifests (${[...new Set(problems.map((p) => path.relative(config.rootDir, p.file)))].join(', ')})`);
  }

  for (const dir of config.deploy.kustomize.paths) {
    const abs = path.resolve(config.rootDir, dir);
    const kubectl = kubectlCommand();
    const text = await run(kubectl, ['kustomize', abs], config.rootDir, signal, new EnvironmentError(`deploy.kustomize needs kubectl, and "${kubectl}" is not on PATH`, {
      hint: 'Install kubectl (or set DEVLOOP_KUBECTL to its path).',
    }));
    objects.push(...parseManifests(text, `kustomize:${dir}`));
  }

  for (const release of config.deploy.helm.releases) {
    const namespace = release.namespace ?? config.deploy.namespace;
    const args = ['template', release.name, path.resolve(config.rootDir, release.chart)];
    if (namespace) args.push('--namespace', namespace);
    for (const f of release.valuesFiles) args.push('--values', path.resolve(config.rootDir, f));
    for (const [k, v] of Object.entries(release.setValues)) args.push('--set', `${k}=${v}`);
    const helm = helmCommand();
    const text = await run(helm, args, config.rootDir, signal, new EnvironmentError(`deploy.helm.releases (Skaffold: manifests.helm.releases) needs helm, and "${helm}" is not on PATH`, {
      hint: 'Install helm 3 (https://helm.sh/docs/intro/install/, or `go install helm.sh/helm/v3/cmd/helm@latest`), or set DEVLOOP_HELM to its path.',
    }));
    for (const item of parseManifests(text, `helm:${release.name}`)) {
      // helm template leaves namespace out of most objects: they belong to the release's namespace.
      if (namespace && !item.object.metadata.namespace) item.object.metadata.namespace = namespace;
      objects.push(item);
    }
  }
  return { objects, warnings };
}

/** Every file under `dir` (kustomize directories, Helm charts); `dir` itself when it is a file. */
function filesUnder(dir: string): string[] {
  try {
    if (!statSync(dir).isDirectory()) return [dir];
    return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<{ name: string; parentPath?: string; path?: string; isFile(): boolean }>)
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath ?? e.path ?? dir, e.name));
  } catch {
    return [];
  }
}

/**
 * Absolute paths of every file the deploy renders from: manifest glob matches, kustomize
 * directories, Helm charts and values files. The dev loop re-deploys when one of them changes.
 */
export function manifestFiles(config: Config): Set<string> {
  const files = new Set(expandGlobs(config.rootDir, config.deploy.kubectl.manifests).files);
  for (const dir of config.deploy.kustomize.paths) for (const f of filesUnder(path.resolve(config.rootDir, dir))) files.add(f);
  for (const release of config.deploy.helm.releases) {
    for (const f of filesUnder(path.resolve(config.rootDir, release.chart))) files.add(f);
    for (const v of release.valuesFiles) files.add(path.resolve(config.rootDir, v));
  }
  return files;
}
