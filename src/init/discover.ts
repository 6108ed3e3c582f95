/**
 * `devloop init` without a Skaffold config: finds the Dockerfiles and Kubernetes manifests in a
 * project tree and pairs each Dockerfile with the image its manifests deploy.
 *
 * Contract: `scanProject(root)` only reads files. It skips `.git`, `node_modules`, `.devloop` and
 * what the root `.gitignore` excludes (read with `.dockerignore` rules, each pattern without a `/`
 * matching at any depth as in git), at most `MAX_DEPTH` levels and `MAX_ENTRIES` entries deep.
 * `pairImages(scan)` is pure: a Dockerfile pairs with the image references whose last path segment
 * is its name (the context directory's name, or `NAME` of `Dockerfile.NAME` / `NAME.Dockerfile`);
 * one Dockerfile with exactly one image name (and that image with no other Dockerfile) is an
 * artifact; everything else becomes a `Question` for the user.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createFileFilter, parseDockerignore, type ContextFileFilter } from '../build/dockerignore.js';
import { imagesIn, parseImageRef } from '../deploy/images.js';
import { parseManifests } from '../deploy/manifests.js';
import { describeObject } from '../kube/types.js';
import { STATE_DIR_NAME, toPosix } from '../shared/paths.js';

/** Directories never scanned, whatever .gitignore says. */
const SKIP_DIRS = new Set(['.git', 'node_modules', STATE_DIR_NAME]);
const MAX_DEPTH = 12;
const MAX_ENTRIES = 50_000;

export interface FoundDockerfile {
  /** Relative to the root, `/`-separated. */
  file: string;
  /** Its directory, the build context: `.` for the root. */
  context: string;
  /** The image name it most likely builds: the context's name, or NAME of Dockerfile.NAME / NAME.Dockerfile. */
  name: string;
  /** Build args a FROM line needs that the Dockerfile gives no default (`ARG BASE` + `FROM ${BASE}`). */
  fromArgs: string[];
}

export interface ImageUse {
  /** The image name as written, without tag or digest (`shop/api`, `localhost:5000/web`). */
  image: string;
  /** Where it is used: `deploy/api.yaml: Deployment api`. */
  usedBy: string[];
}

export interface ProjectScan {
  root: string;
  dockerfiles: FoundDockerfile[];
  /** Manifest files (relative, sorted) holding Kubernetes objects. */
  manifests: string[];
  /** Every YAML file scanned (relative), manifests or not. */
  yamlFiles: string[];
  /** Every image the manifests refer to. */
  images: ImageUse[];
  /**
   * Directories holding a Helm chart (Chart.yaml) or a kustomization, whose YAML files are not taken
   * as manifests (a kustomization's objects still count for `images`).
   */
  charts: string[];
  kustomizations: string[];
  /** The kustomizations no other kustomization found here uses (overlays, not bases). */
  topKustomizations: string[];
}

export interface Artifact {
  image: string;
  context: string;
  dockerfile: string;
  /** See FoundDockerfile.fromArgs. */
  fromArgs: string[];
  usedBy: string[];
}

/** Something init could not decide alone. */
export interface Question {
  dockerfile: FoundDockerfile;
  /** Image names it may build, best first (may be empty): those matching its name, then the images no Dockerfile claims. */
  candidates: string[];
  /** The image name to propose when none is chosen: the first name-matching candidate, else its own name. */
  suggested: string;
  /** Why it was not decided. */
  why: string;
}

export interface Pairing {
  artifacts: Artifact[];
  questions: Question[];
  /** Images the manifests deploy that no Dockerfile here builds: deployed as written. */
  external: ImageUse[];
}

export function scanProject(root: string): ProjectScan {
  const ignored = gitignoreFilter(root);
  const dockerfiles: FoundDockerfile[] = [];
  const manifests: string[] = [];
  const yamlFiles: string[] = [];
  const uses = new Map<string, string[]>();
  const charts: string[] = [];
  const kustomizations: string[] = [];
  let entries = 0;

  const visit = (dir: string, depth: number) => {
    if (depth > MAX_DEPTH || entries > MAX_ENTRIES) return;
    let list;
    try {
      list = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    } catch {
      return;
    }
    const relDir = toPosix(path.relative(root, dir));
    const names = new Set(list.map((e) => e.name));
    const isChart = names.has('Chart.yaml');
    const isKustomization = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((n) => names.has(n));
    if (isChart) charts.push(relDir || '.');
    if (isKustomization) kustomizations.push(relDir || '.');
    for (const e of list) {
      entries++;
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name) && !ignored.isExcluded(rel, true) && !(isChart && e.name === 'templates')) visit(path.join(dir, e.name), depth + 1);
        continue;
      }
      if (!e.isFile() || ignored.isExcluded(rel, false)) continue;
      const name = dockerfileName(e.name, relDir);
      if (name !== undefined) {
        dockerfiles.push({ file: rel, context: relDir || '.', name, fromArgs: argsWithoutDefaultInFrom(path.join(dir, e.name)) });
      } else if (/\.ya?ml$/i.test(e.name) && !isChart) {
        // A kustomization's resources are not raw manifests (the header names the kustomization),
        // but the images they use still pair with Dockerfiles.
        if (!isKustomization) yamlFiles.push(rel);
        const objects = kubernetesObjects(path.join(dir, e.name));
        if (objects.length > 0) {
          if (!isKustomization) manifests.push(rel);
          for (const obj of objects) {
            for (const { image } of imagesIn(obj)) {
              const name = imageName(image);
              uses.set(name, [...(uses.get(name) ?? []), `${rel}: ${describeObject({ kind: obj.kind, name: obj.metadata.name ?? '', namespace: obj.metadata.namespace ?? '' })}`]);
            }
          }
        }
      }
    }
  };
  visit(root, 0);
  const used = new Set(kustomizations.flatMap((k) => kustomizationReferences(root, k)));
  return {
    root,
    dockerfiles,
    manifests: manifests.sort(),
    yamlFiles,
    images: [...uses].map(([image, usedBy]) => ({ image, usedBy: [...new Set(usedBy)] })).sort((a, b) => a.image.localeCompare(b.image)),
    charts,
    kustomizations,
    topKustomizations: kustomizations.filter((k) => !used.has(k)),
  };
}

/** The directories (relative to root) a kustomization names in resources, bases or components. */
function kustomizationReferences(root: string, dir: string): string[] {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    let data: unknown;
    try {
      data = parseYaml(readFileSync(path.join(root, dir, name), 'utf8'));
    } catch {
      continue;
    }
    const record = (data ?? {}) as Record<string, unknown>;
    return ['resources', 'bases', 'components']
      .flatMap((k) => (Array.isArray(record[k]) ? (record[k] as unknown[]) : []))
      .filter((r): r is string => typeof r === 'string')
      .map((r) => toPosix(path.relative(root, path.resolve(root, dir, r))) || '.');
  }
  return [];
}

/** The root .gitignore as a filter (git's "no slash: any depth" made explicit). */
function gitignoreFilter(root: string): ContextFileFilter {
  let lines: string[] = [];
  try {
    lines = parseDockerignore(readFileSync(path.join(root, '.gitignore'), 'utf8'));
  } catch {
    /* no .gitignore */
  }
  return createFileFilter(
    lines.map((line) => {
      const negated = line.startsWith('!');
      const body = (negated ? line.slice(1) : line).replace(/\/+$/, '');
      const anchored = body.includes('/');
      return `${negated ? '!' : ''}${anchored ? body.replace(/^\/+/, '') : `**/${body}`}`;
    }),
  );
}

/** For a Dockerfile, the image name it suggests; undefined for any other file. */
function dockerfileName(file: string, relDir: string): string | undefined {
  const dirName = relDir ? path.posix.basename(relDir) : '';
  if (file === 'Dockerfile' || file === 'Containerfile') return dirName;
  const suffixed = /^(?:Dockerfile|Containerfile)\.([\w.-]+)$/.exec(file);
  if (suffixed) return ['dev', 'local', 'debug'].includes(suffixed[1]) ? dirName : suffixed[1];
  const prefixed = /^([\w.-]+)\.(?:Dockerfile|dockerfile)$/.exec(file);
  if (prefixed) return prefixed[1];
  return undefined;
}

/**
 * The ARGs declared before the first FROM without a default and used in a FROM line: the build
 * fails unless they are given (in devloop, by a required image's alias or by buildArgs).
 */
function argsWithoutDefaultInFrom(file: string): string[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim());
  const undefaulted = new Set<string>();
  const used = new Set<string>();
  let seenFrom = false;
  for (const line of lines) {
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(=.*)?$/i.exec(line);
    if (arg && !seenFrom && arg[2] === undefined) undefaulted.add(arg[1]);
    const from = /^FROM\s+(.*)$/i.exec(line);
    if (from) {
      seenFrom = true;
      for (const m of from[1].matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) used.add(m[1]);
    }
  }
  return [...used].filter((a) => undefaulted.has(a));
}

/** The Kubernetes objects of a YAML file; none when it is not (only) manifests, or is a devloop/Skaffold config. */
function kubernetesObjects(file: string) {
  try {
    const objects = parseManifests(readFileSync(file, 'utf8'), file).map((o) => o.object);
    return objects.some((o) => /^(skaffold|devloop)\//.test(o.apiVersion)) ? [] : objects;
  } catch {
    return [];
  }
}

/** The image name of a reference: registry and path, without tag or digest. */
export function imageName(ref: string): string {
  const r = parseImageRef(ref);
  return r.registry ? `${r.registry}/${r.path}` : r.path;
}

/** The last path segment of an image name (`shop/api` -> `api`). */
function lastSegment(image: string): string {
  return parseImageRef(image).path.split('/').pop() ?? image;
}

/**
 * Whether an image's last segment and a Dockerfile's name name the same thing: equal ignoring case,
 * `-`, `_` and `.`, and a trailing service/svc/server/app word (`posts-service` is `posts`).
 */
export function sameName(a: string, b: string): boolean {
  const norm = (s: string) => {
    const lower = s.toLowerCase();
    const stripped = lower.replace(/[-_.]?(service|svc|server|app)$/, '');
    return (stripped || lower).replace(/[-_.]/g, '');
  };
  return norm(a) === norm(b);
}

/** Pairs Dockerfiles with the images the manifests use. Pure. */
export function pairImages(scan: ProjectScan, projectName: string): Pairing {
  const nameOf = (d: FoundDockerfile) => (d.name || projectName).toLowerCase();
  const candidatesOf = (d: FoundDockerfile) => scan.images.filter((u) => sameName(lastSegment(u.image), nameOf(d))).map((u) => u.image);
  const claims = new Map<string, FoundDockerfile[]>();
  for (const d of scan.dockerfiles) for (const image of candidatesOf(d)) claims.set(image, [...(claims.get(image) ?? []), d]);

  const artifacts: Artifact[] = [];
  const questions: Question[] = [];
  for (const d of scan.dockerfiles) {
    const candidates = candidatesOf(d);
    if (candidates.length === 1 && claims.get(candidates[0])!.length === 1) {
      const use = scan.images.find((u) => u.image === candidates[0])!;
      artifacts.push({ image: candidates[0], context: d.context, dockerfile: path.posix.basename(d.file), fromArgs: d.fromArgs, usedBy: use.usedBy });
      continue;
    }
    const unclaimed = scan.images.filter((u) => !claims.has(u.image)).map((u) => u.image);
    const why =
      candidates.length === 0
        ? `no manifest uses an image named "${nameOf(d)}"`
        : candidates.length > 1
          ? `the manifests use several images named "${nameOf(d)}": ${candidates.join(', ')}`
          : `${candidates[0]} could also be built by ${claims.get(candidates[0])!.filter((o) => o !== d).map((o) => o.file).join(', ')}`;
    questions.push({ dockerfile: d, candidates: [...candidates, ...unclaimed.filter((i) => !candidates.includes(i))], suggested: candidates[0] ?? nameOf(d), why });
  }
  const built = new Set(artifacts.map((a) => a.image));
  const claimed = new Set(claims.keys());
  const external = scan.images.filter((u) => !built.has(u.image) && !claimed.has(u.image));
  return { artifacts, questions, external };
}

/** The artifact for a Dockerfile whose image the user named. */
export function artifactFor(d: FoundDockerfile, image: string, scan: ProjectScan): Artifact {
  const name = imageName(image);
  return { image: name, context: d.context, dockerfile: path.posix.basename(d.file), fromArgs: d.fromArgs, usedBy: scan.images.find((u) => u.image === name)?.usedBy ?? [] };
}
