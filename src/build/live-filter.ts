/**
 * A context's .dockerignore matcher that follows edits of the file while `devloop dev` runs: the
 * build's own `contextFileFilter` is rebuilt when the file's mtime or size changed, checked at
 * most every CHECK_INTERVAL_MS (the matcher is asked about every path the watcher meets) or at once
 * through `refresh()`. The watcher prunes with it directly; the planner gets `current()` values
 * (`filtersForPlan`), so planning reads no file.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Artifact, Config } from '../config/load.js';
import type { ContextFilter, LiveContextFilter } from '../shared/context-filter.js';
import { contextFileFilter } from './dockerignore.js';

export type { LiveContextFilter } from '../shared/context-filter.js';

const CHECK_INTERVAL_MS = 500;

export function liveContextFilter(artifact: Pick<Artifact, 'contextDir' | 'dockerfilePath'> & Partial<Pick<Artifact, 'stateDir'>>, now: () => number = Date.now): LiveContextFilter {
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
    current: () => current,
    isExcluded: (rel, isDir) => fresh().isExcluded(rel, isDir),
    excludedBy: (rel, isDir) => fresh().excludedBy(rel, isDir),
  };
}

/** Each image's live .dockerignore matcher (shared by the watcher and, through `filtersForPlan`, the planner). */
export function loadContextFilters(config: Config): Map<string, LiveContextFilter> {
  return new Map(config.build.artifacts.map((a) => [a.image, liveContextFilter(a)]));
}

function isLive(filter: ContextFilter): filter is LiveContextFilter {
  return typeof (filter as Partial<LiveContextFilter>).current === 'function' && typeof (filter as Partial<LiveContextFilter>).refresh === 'function';
}

/**
 * The matchers the planner decides a batch with, as values: a live filter whose .dockerignore is in
 * the batch is re-read first (so the batch is decided by the new rules), then every live filter is
 * replaced by its current, unchanging matcher. Other filters are passed as they are.
 */
export function filtersForPlan(
  changedPaths: readonly string[],
  config: Pick<Config, 'build'>,
  filters: ReadonlyMap<string, ContextFilter> | undefined,
): ReadonlyMap<string, ContextFilter> | undefined {
  if (!filters) return undefined;
  const changed = new Set(changedPaths);
  const values = new Map<string, ContextFilter>();
  for (const [image, filter] of filters) {
    if (!isLive(filter)) {
      values.set(image, filter);
      continue;
    }
    const artifact = config.build.artifacts.find((a) => a.image === image);
    if (artifact && changed.has(path.join(artifact.contextDir, '.dockerignore'))) filter.refresh();
    values.set(image, filter.current());
  }
  return values;
}
