/**
 * Content hashes of files, cached by path, size, mtime and inode in
 * `<rootDir>/.devloop/cache/file-hashes.json`, so checking an unchanged large context reads no
 * file contents. A file modified within the last two seconds is hashed but not cached (its mtime
 * could still change within the same clock tick).
 *
 * Contract: one instance per run; `hash` may be called concurrently; `save` writes the file
 * atomically (temp file + rename); entries not used in the run are dropped only with `prune`.
 * A missing or corrupt cache file is treated as empty.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContextEntry } from './context.js';
import { stateDirOf } from '../shared/paths.js';

interface CachedHash {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

const FILE_VERSION = 1;
const RACY_MS = 2000;

export function cacheDir(rootDir: string): string {
  return path.join(stateDirOf(rootDir), 'cache');
}

/** Writes `data` to `file` atomically, creating `.devloop/` with a `.gitignore` that ignores it. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** Makes `<rootDir>/.devloop` ignored by git even when the project's .gitignore does not say so. */
export async function ensureDevloopDir(rootDir: string): Promise<void> {
  const dir = stateDirOf(rootDir);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, '.gitignore'), '# Written by devloop: local state, never committed.\n*\n', { flag: 'wx' }).catch(() => undefined);
}

export class FileHashCache {
  private readonly entries = new Map<string, CachedHash>();
  private readonly used = new Set<string>();
  private dirty = false;
  /** Files hashed from their contents in this run (cache misses), for tests and --verbose. */
  misses = 0;

  private constructor(private readonly file: string, private readonly now: () => number) {}

  static async load(rootDir: string, now: () => number = Date.now): Promise<FileHashCache> {
    const cache = new FileHashCache(path.join(cacheDir(rootDir), 'file-hashes.json'), now);
    try {
      const data = JSON.parse(await readFile(cache.file, 'utf8')) as { version?: number; files?: Record<string, CachedHash> };
      if (data.version === FILE_VERSION && data.files) for (const [k, v] of Object.entries(data.files)) cache.entries.set(k, v);
    } catch {
      // missing or corrupt: start empty
    }
    return cache;
  }

  /** The sha256 (hex) of a regular file's contents. */
  async hash(entry: Pick<ContextEntry, 'absPath' | 'size' | 'mtimeMs' | 'ino'>): Promise<string> {
    this.used.add(entry.absPath);
    const cached = this.entries.get(entry.absPath);
    if (cached && cached.size === entry.size && cached.mtimeMs === entry.mtimeMs && cached.ino === entry.ino) return cached.sha256;
    this.misses++;
    const digest = createHash('sha256');
    for await (const chunk of createReadStream(entry.absPath)) digest.update(chunk as Buffer);
    const sha256 = digest.digest('hex');
    if (this.now() - entry.mtimeMs > RACY_MS) {
      this.entries.set(entry.absPath, { size: entry.size, mtimeMs: entry.mtimeMs, ino: entry.ino, sha256 });
      this.dirty = true;
    } else if (cached) {
      this.entries.delete(entry.absPath);
      this.dirty = true;
    }
    return sha256;
  }

  /**
   * Writes the cache if it changed. With `prune` (the run hashed every context), entries not used
   * in this run (deleted or now ignored files) are dropped. Never throws: a cache that cannot be
   * written only costs time.
   */
  async save(options: { prune?: boolean } = {}): Promise<void> {
    if (options.prune) {
      for (const key of [...this.entries.keys()]) {
        if (!this.used.has(key)) {
          this.entries.delete(key);
          this.dirty = true;
        }
      }
    }
    if (!this.dirty) return;
    try {
      await ensureDevloopDir(path.dirname(path.dirname(path.dirname(this.file))));
      await writeFileAtomic(this.file, JSON.stringify({ version: FILE_VERSION, files: Object.fromEntries(this.entries) }));
      this.dirty = false;
    } catch {
      // ignored: see the contract
    }
  }
}
