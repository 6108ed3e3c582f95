/**
 * Builds the tar stream of one sync batch from the working tree, read at the time of the call
 * (the working tree is the truth). Files keep their mode bits (executable included) and mtime;
 * symlinks are stored as links, never followed; names with spaces and unicode are kept (non-ASCII
 * or long names go into PAX headers).
 */
import { lstat, readFile, readlink } from 'node:fs/promises';
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

/** An empty result (`tar` of length 0) when nothing is to be written. */
export async function buildTar(entries: readonly TarEntry[]): Promise<BuiltTar> {
  const written: string[] = [];
  const missing: string[] = [];
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  type EntryHeader = Parameters<typeof pack.entry>[0];
  const add = (header: EntryHeader, body?: Buffer): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null) => (error ? reject(error) : resolve());
      if (body) pack.entry(header, body, callback);
      else pack.entry(header, callback);
    });

  for (const entry of entries) {
    const name = entry.containerPath.replace(/^\/+/, '');
    let stats;
    try {
      stats = await lstat(entry.localPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') {
        missing.push(entry.containerPath);
        continue;
      }
      throw error;
    }
    const common = { name, mode: stats.mode & 0o7777, mtime: stats.mtime, uid: 0, gid: 0 };
    if (stats.isSymbolicLink()) {
      await add({ ...common, type: 'symlink', linkname: await readlink(entry.localPath) });
    } else if (stats.isDirectory()) {
      await add({ ...common, type: 'directory' });
    } else if (stats.isFile()) {
      let body: Buffer;
      try {
        body = await readFile(entry.localPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          missing.push(entry.containerPath);
          continue;
        }
        throw error;
      }
      await add({ ...common, type: 'file', size: body.length }, body);
    } else {
      continue; // sockets, fifos, devices are never synced
    }
    written.push(entry.containerPath);
  }
  if (written.length === 0) {
    pack.destroy();
    return { tar: Buffer.alloc(0), written, missing };
  }
  pack.finalize();
  await done;
  return { tar: Buffer.concat(chunks), written, missing };
}
