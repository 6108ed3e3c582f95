/**
 * The one way devloop matches the config's globs (deploy.kubectl.manifests, watch.ignore, sync
 * `src`): micromatch with GLOB_OPTIONS, paths relative to the glob's base with `/` separators.
 * `dot: true`: names starting with a dot match `*` and `**` like any other, so a manifest under
 * `.k8s/` is rendered by the deploy, watched by the watcher and planned as a redeploy alike.
 */
import micromatch from 'micromatch';

export const GLOB_OPTIONS: Readonly<micromatch.Options> = Object.freeze({ dot: true });

/** The glob as matched: a leading `./` means the base itself and is dropped. */
export function normalizeGlob(glob: string): string {
  return glob.replace(/^\.\//, '');
}

/** A compiled matcher for one glob of the config (normalized, GLOB_OPTIONS). */
export function globMatcher(glob: string): (relPath: string) => boolean {
  return micromatch.matcher(normalizeGlob(glob), GLOB_OPTIONS);
}
