/**
 * A context's .dockerignore matcher that follows edits of the file while `devloop dev` runs: the
 * build helper's `contextFileFilter` is rebuilt when the file's mtime or size changed, checked at
 * most every CHECK_INTERVAL_MS (the matcher is asked about every path the watcher meets) or at once
 * through `refresh()`. Shared by the watcher (pruning) and the planner (ignore decisions), so both
 * follow the same rules as the build context.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { contextFileFilter } from '../build/dockerignore.js';
import type { Artifact } from '../config/load.js';
import type { ContextFilterLike } from '../plan/index.js';

const CHECK_INTERVAL_MS = 500;

export interface LiveContextFilter extends ContextFilterLike {
  /** Re-reads the .dockerignore now if it changed; returns whether the rules changed. */
  refresh(): boolean;
  /** Absolute path of the .dockerignore this filter follows. */
  readonly file: string;
}

export function liveContextFilter(artifact: Pick<Artifact, 'contextDir' | 'dockerfilePath'>, now: () => number = Date.now): LiveContextFilter {
  const file = path.join(artifact.contextDir, '.dockerignore');
  const signature = () => {
    const stats = statSync(file, { throwIfNoEntry: false });
    return stats ? `${stats.mtimeMs}:${stats.size}` : 'absent';
  };
  let current = contextFileFilter(artifact);
  let seen = signature();
  let checkedAt = now();
  const refresh = () => {
    checkedAt = now();
    const next = signature();
    if (next === seen) return false;
    seen = next;
    current = contextFileFilter(artifact);
    return true;
  };
  const fresh = () => {
    if (now() - checkedAt >= CHECK_INTERVAL_MS) refresh();
    return current;
  };
  return {
    file,
    refresh,
    isExcluded: (rel, isDir) => fresh().isExcluded(rel, isDir),
    excludedBy: (rel, isDir) => fresh().excludedBy(rel, isDir),
  };
}
