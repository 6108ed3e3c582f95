/**
 * The build context: the files of an artifact's context directory that `.dockerignore` lets
 * through, listed in the order Docker sends them (lexical walk, directories before their
 * contents), and streamed as a tar without holding it in memory.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { throwIfAborted } from '../errors.js';
import type { ContextFileFilter } from './dockerignore.js';

export interface ContextEntry {
  /** Path relative to the context, `/`-separated. */
  relPath: string;
  absPath: string;
  type: 'file' | 'directory' | 'symlink';
  /** Permission bits (incl. executable), `mode & 0o7777`. */
  mode: number;
  size: number;
  mtimeMs: number;
  ino: number;
  /** For a symlink: its target, as written. */
  linkTarget?: string;
}

/**
 * Walks `contextDir`, pruning directories the filter excludes, and returns the entries Docker
 * would send. Entries of other types (sockets, fifos) are skipped. Throws on unreadable files.
 */
export async function listContext(contextDir: string, filter: ContextFileFilter, signal?: AbortSignal): Promise<ContextEntry[]> {
  const entries: ContextEntry[] = [];
  const walk = async (relDir: string) => {
    throwIfAborted(signal);
    const absDir = relDir ? path.join(contextDir, relDir) : contextDir;
    const names = (await readdir(absDir)).sort(compareGo);
    const stats = await Promise.all(names.map((name) => lstat(path.join(absDir, name))));
    // Symlink targets read together too (a busybox rootfs has hundreds of links in one directory).
    const targets = await Promise.all(names.map((name, i) => (stats[i].isSymbolicLink() ? readlink(path.join(absDir, name)) : undefined)));
    for (let i = 0; i < names.length; i++) {
      const relPath = relDir ? `${relDir}/${names[i]}` : names[i];
      const absPath = path.join(absDir, names[i]);
      const st = stats[i];
      const isDir = st.isDirectory();
      if (filter.isExcluded(relPath, isDir)) continue;
      const base = { relPath, absPath, mode: st.mode & 0o7777, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
      if (isDir) {
        // An excluded directory that is still walked (an exception may re-include something below
        // it) is not sent itself, exactly like Docker; its kept children still are.
        if (!filter.isExcluded(relPath, false)) entries.push({ ...base, type: 'directory', size: 0 });
        await walk(relPath);
      } else if (st.isSymbolicLink()) {
        if (!filter.isExcluded(relPath, false)) entries.push({ ...base, type: 'symlink', size: 0, linkTarget: targets[i] });
      } else if (st.isFile()) {
        if (!filter.isExcluded(relPath, false)) entries.push({ ...base, type: 'file' });
      }
    }
  };
  await walk('');
  return entries;
}

/** Go sorts file names by bytes; so do we (localeCompare would not). */
function compareGo(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

/**
 * A tar stream of the entries, fed one file at a time as the consumer reads (a large context is
 * never buffered whole). Owner is root, as `docker build` sends it. Errors (a file vanished or
 * changed size mid-build) destroy the stream with the error.
 */
export async function tarContext(entries: readonly ContextEntry[], signal?: AbortSignal): Promise<Readable> {
  // Loaded here, not at the top: a no-op build (everything cached) never needs it.
  const { default: tar } = await import('tar-stream');
  const pack = tar.pack();
  const feed = async () => {
    for (const e of entries) {
      throwIfAborted(signal);
      const header = { name: e.relPath, mode: e.mode, mtime: new Date(e.mtimeMs), uid: 0, gid: 0, uname: '', gname: '' };
      if (e.type === 'directory') {
        await new Promise<void>((resolve, reject) => pack.entry({ ...header, type: 'directory' }, (err) => (err ? reject(err) : resolve())));
      } else if (e.type === 'symlink') {
        await new Promise<void>((resolve, reject) =>
          pack.entry({ ...header, type: 'symlink', linkname: e.linkTarget ?? '' }, (err) => (err ? reject(err) : resolve())),
        );
      } else {
        const { size } = await lstat(e.absPath);
        const sink = pack.entry({ ...header, type: 'file', size });
        await pipeline(createReadStream(e.absPath), sink);
      }
    }
    pack.finalize();
  };
  feed().catch((error: unknown) => pack.destroy(error as Error));
  return pack as unknown as Readable;
}
