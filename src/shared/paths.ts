import path from 'node:path';

/**
 * devloop's own state beside the config file (`<config dir>/.devloop`: caches, the inventory
 * journal). Never part of a build context, never watched: a context of `.` holds it, and files
 * devloop writes there on every run would otherwise change every image's inputs and wake the
 * watcher after each build and deploy.
 */
export const STATE_DIR_NAME = '.devloop';

export function stateDirOf(rootDir: string): string {
  return path.join(rootDir, STATE_DIR_NAME);
}

/** Forward slashes, so globs and container paths are the same on every platform. */
export function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** A POSIX absolute path already in path.normalize's form: no `//`, `.` or `..` segment, no trailing `/`. */
const NOT_NORMAL = /\/\/|\/\.\.?(?:\/|$)/;
const isNormalAbsolute = (p: string) => p.charCodeAt(0) === 47 /* / */ && (p.length === 1 || p.charCodeAt(p.length - 1) !== 47) && !NOT_NORMAL.test(p);

/** `child` relative to `dir` (with `/` separators) when inside it, '' when equal, else undefined. */
export function relativeInside(dir: string, child: string): string | undefined {
  // Fast path (called per changed file and per context: a 1,000-file burst makes thousands of
  // calls): normalized absolute POSIX paths compare as strings, with path.relative's result.
  if (path.sep === '/' && isNormalAbsolute(dir) && isNormalAbsolute(child)) {
    if (child === dir) return '';
    const base = dir === '/' ? 0 : dir.length;
    if (!child.startsWith(dir) || child.charCodeAt(base) !== 47) return undefined;
    const rel = child.slice(base + 1);
    return rel.startsWith('..') ? undefined : rel;
  }
  const rel = path.relative(dir, child);
  if (rel === '') return '';
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return toPosix(rel);
}
