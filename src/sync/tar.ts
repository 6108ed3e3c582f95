/**
 * Builds the tar stream of one sync batch from the working tree, read at the time of the call
 * (the working tree is the truth). Files keep their mode bits (executable included) and mtime;
 * symlinks are stored as links, never followed; names with spaces and unicode are kept (non-ASCII
 * or long names go into PAX headers).
 */
import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import tar from 'tar-stream';

export interface TarEntry {
  localPath: string;
  /** Absolute path in the container. */
  containerPath: string;
}

export interface BuiltTar {
  tar: Buffer;
  /** containerPaths written into the tar. */
  written: string[];
  /** containerPaths whose local file no longer exists: the caller deletes them instead. */
  missing: string[];
}

type Loaded =
  | { kind: 'file'; stats: Stats; body: Buffer }
  | { kind: 'symlink'; stats: Stats; target: string }
  | { kind: 'directory'; stats: Stats }
  | { kind: 'missing' }
  | { kind: 'skip' };

/**
 * Reads synchronously: for the many small files of a sync batch, the thread-pool round trips of
 * fs/promises cost several times the reads themselves (1,000 files: ~170 ms vs ~25 ms).
 */
function load(localPath: string): Loaded {
  try {
    const stats = lstatSync(localPath);
    if (stats.isSymbolicLink()) return { kind: 'symlink', stats, target: readlinkSync(localPath) };
    if (stats.isDirectory()) return { kind: 'directory', stats };
    if (stats.isFile()) return { kind: 'file', stats, body: readFileSync(localPath) };
    return { kind: 'skip' }; // sockets, fifos, devices are never synced
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    throw error;
  }
}

/** An empty result (`tar` of length 0) when nothing is to be written. */
export async function buildTar(entries: readonly TarEntry[]): Promise<BuiltTar> {
  const loaded = entries.map((e) => load(e.localPath));

  const written: string[] = [];
  const missing: string[] = [];
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  entries.forEach((entry, i) => {
    const item = loaded[i];
    if (item.kind === 'missing') {
      missing.push(entry.containerPath);
      return;
    }
    if (item.kind === 'skip') return;
    const name = entry.containerPath.replace(/^\/+/, '');
    const common = { name, mode: item.stats.mode & 0o7777, mtime: item.stats.mtime, uid: 0, gid: 0 };
    // Entries with a buffer are encoded at once; the pack buffers them until read.
    if (item.kind === 'symlink') pack.entry({ ...common, type: 'symlink', linkname: item.target });
    else if (item.kind === 'directory') pack.entry({ ...common, type: 'directory' });
    else pack.entry({ ...common, type: 'file', size: item.body.length }, item.body);
    written.push(entry.containerPath);
  });
  if (written.length === 0) {
    pack.destroy();
    return { tar: Buffer.alloc(0), written, missing };
  }
  pack.finalize();
  await done;
  return { tar: Buffer.concat(chunks), written, missing };
}
