import path from 'node:path';

/** Forward slashes, so globs and container paths are the same on every platform. */
export function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** `child` relative to `dir` (with `/` separators) when inside it, '' when equal, else undefined. */
export function relativeInside(dir: string, child: string): string | undefined {
  const rel = path.relative(dir, child);
  if (rel === '') return '';
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return toPosix(rel);
}
