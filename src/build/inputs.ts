/**
 * What goes into an image, as a manifest: every context entry after `.dockerignore` (path, type,
 * mode incl. the executable bit, symlink target, content hash), the Dockerfile, the target, the
 * build args and the tags of the required images. Its digest is the `inputDigest` tag; the
 * manifest of the last successful build is kept in `.devloop/cache/builds/` so a cache miss can
 * name the input that changed.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Artifact } from '../config/load.js';
import { throwIfAborted } from '../errors.js';
import { listContext, type ContextEntry } from './context.js';
import { contextFileFilter } from './dockerignore.js';
import { cacheDir, ensureDevloopDir, writeFileAtomic, type FileHashCache } from './hash-cache.js';

export interface InputManifest {
  version: 1;
  image: string;
  /** `relPath` -> `"<type> <octal mode> <sha256 | link target>"`. */
  files: Record<string, string>;
  /** Dockerfile path relative to the context and the sha256 of its contents. */
  dockerfile: { path: string; sha256: string };
  target: string | null;
  buildArgs: Record<string, string>;
  /** Required image -> its tag in this build. */
  requires: Record<string, string>;
}

export interface InputsResult {
  manifest: InputManifest;
  /** The context entries the manifest lists, in the order they are sent. */
  entries: ContextEntry[];
  /** sha256 of the canonical manifest, hex. */
  digest: string;
}

/**
 * Lists and hashes the artifact's inputs. `requiredTags` maps each required image to the tag it
 * was built with in this run. Reads files (through `hashes`); writes nothing.
 */
export async function computeInputs(
  artifact: Artifact,
  requiredTags: Record<string, string>,
  hashes: FileHashCache,
  signal?: AbortSignal,
): Promise<InputsResult> {
  const entries = await listContext(artifact.contextDir, contextFileFilter(artifact), signal);
  throwIfAborted(signal);
  const files: Record<string, string> = {};
  // Hash a bounded number of files at once: enough to overlap I/O, few enough for file handles.
  const queue = [...entries];
  const workers = Array.from({ length: Math.min(16, queue.length) }, async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      const mode = e.mode.toString(8).padStart(4, '0');
      if (e.type === 'file') files[e.relPath] = `file ${mode} ${await hashes.hash(e)}`;
      else if (e.type === 'symlink') files[e.relPath] = `symlink ${mode} ${e.linkTarget}`;
      else files[e.relPath] = `dir ${mode}`;
    }
  });
  await Promise.all(workers);
  const dockerfileText = await readFile(artifact.dockerfilePath);
  const manifest: InputManifest = {
    version: 1,
    image: artifact.image,
    files: Object.fromEntries(Object.keys(files).sort().map((k) => [k, files[k]])),
    dockerfile: {
      path: path.relative(artifact.contextDir, artifact.dockerfilePath).split(path.sep).join('/'),
      sha256: createHash('sha256').update(dockerfileText).digest('hex'),
    },
    target: artifact.target ?? null,
    buildArgs: sortedRecord(artifact.buildArgs),
    requires: sortedRecord(Object.fromEntries(artifact.requires.map((r) => [`${r.alias}=${r.image}`, requiredTags[r.image] ?? '']))),
  };
  return { manifest, entries, digest: digestOf(manifest) };
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(record).sort().map((k) => [k, record[k]]));
}

/** The digest of a manifest: stable under key order (keys are sorted when built). */
export function digestOf(manifest: InputManifest): string {
  return createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
}

/** The tag for an inputDigest: the first 16 hex digits of the digest. */
export function inputDigestTag(digest: string): string {
  return digest.slice(0, 16);
}

function manifestFile(rootDir: string, image: string): string {
  return path.join(cacheDir(rootDir), 'builds', `${image.replace(/[^a-zA-Z0-9._-]/g, '_')}.json`);
}

/** The manifest of the last successful build of `image`, or undefined. Never throws. */
export async function readLastManifest(rootDir: string, image: string): Promise<(InputManifest & { tag?: string }) | undefined> {
  try {
    return JSON.parse(await readFile(manifestFile(rootDir, image), 'utf8')) as InputManifest & { tag?: string };
  } catch {
    return undefined;
  }
}

/** Records `manifest` as the last successful build of its image (atomically). Never throws. */
export async function writeLastManifest(rootDir: string, manifest: InputManifest, tag: string): Promise<void> {
  try {
    await ensureDevloopDir(rootDir);
    await writeFileAtomic(manifestFile(rootDir, manifest.image), JSON.stringify({ ...manifest, tag }, null, 1));
  } catch {
    // Only the explanation of the next cache miss is lost.
  }
}

/**
 * Why `current` differs from `previous`, one short phrase per changed input, most telling first
 * (at most `limit`, with "and N more"). `prefix` is put before file paths (the context relative
 * to the config's root) so the user sees e.g. "services/posts/public/index.html changed".
 */
export function explainChange(previous: InputManifest | undefined, current: InputManifest, prefix = '', limit = 3): string[] {
  if (!previous || previous.version !== current.version) return ['no earlier build recorded'];
  const reasons: string[] = [];
  const shown = (p: string) => (prefix ? `${prefix}/${p}` : p);
  for (const [key, tag] of Object.entries(current.requires)) {
    const image = key.slice(key.indexOf('=') + 1);
    if (previous.requires[key] === undefined) reasons.push(`required image ${image} added`);
    else if (previous.requires[key] !== tag) reasons.push(`required image ${image} changed`);
  }
  for (const key of Object.keys(previous.requires)) {
    if (current.requires[key] === undefined) reasons.push(`required image ${key.slice(key.indexOf('=') + 1)} removed`);
  }
  if (previous.dockerfile.path !== current.dockerfile.path) reasons.push(`dockerfile changed to ${current.dockerfile.path}`);
  else if (previous.dockerfile.sha256 !== current.dockerfile.sha256) reasons.push(`${shown(current.dockerfile.path)} changed`);
  if (previous.target !== current.target) reasons.push(`target changed to ${current.target ?? '(none)'}`);
  const args = new Set([...Object.keys(previous.buildArgs), ...Object.keys(current.buildArgs)]);
  for (const arg of [...args].sort()) {
    if (previous.buildArgs[arg] === undefined) reasons.push(`build arg ${arg} added`);
    else if (current.buildArgs[arg] === undefined) reasons.push(`build arg ${arg} removed`);
    else if (previous.buildArgs[arg] !== current.buildArgs[arg]) reasons.push(`build arg ${arg} changed`);
  }
  for (const [file, now] of Object.entries(current.files)) {
    if (file === current.dockerfile.path && previous.dockerfile.sha256 !== current.dockerfile.sha256) continue;
    const before = previous.files[file];
    if (before === undefined) reasons.push(`${shown(file)} added`);
    else if (before !== now) {
      const [typeA, modeA, restA] = before.split(' ');
      const [typeB, modeB, restB] = now.split(' ');
      if (typeA !== typeB) reasons.push(`${shown(file)} is now a ${typeB === 'dir' ? 'directory' : typeB}`);
      else if (modeA !== modeB && restA === restB) reasons.push(`mode of ${shown(file)} changed (${modeA} -> ${modeB})`);
      else reasons.push(`${shown(file)} changed`);
    }
  }
  for (const file of Object.keys(previous.files)) {
    if (current.files[file] === undefined) reasons.push(`${shown(file)} removed`);
  }
  if (reasons.length === 0) return [];
  return reasons.length > limit ? [...reasons.slice(0, limit), `and ${reasons.length - limit} more`] : reasons;
}
