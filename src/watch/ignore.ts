/**
 * `watch.ignore` matching, shared by the watcher (prunes directories before descending) and the
 * planner (records why a change was ignored). Pure.
 */
import micromatch from 'micromatch';
import { GLOB_OPTIONS } from '../shared/globs.js';

/**
 * The first `watch.ignore` glob (relative to config.rootDir) matching `relPath` or one of the
 * directories above it, else undefined. `relPath` uses `/` separators.
 */
export function matchingIgnoreGlob(
  relPath: string,
  globs: readonly string[],
  match: (glob: string, subject: string) => boolean = (glob, subject) => micromatch.isMatch(subject, glob, GLOB_OPTIONS),
): string | undefined {
  if (globs.length === 0 || relPath === '') return undefined;
  const segments = relPath.split('/');
  for (let i = 1; i <= segments.length; i++) {
    const candidate = segments.slice(0, i).join('/');
    const glob = globs.find((g) => match(g, candidate));
    if (glob !== undefined) return glob;
  }
  return undefined;
}
