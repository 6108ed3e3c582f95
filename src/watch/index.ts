/**
 * The dev loop's file watcher: chokidar over every artifact context, the manifests and the config
 * file, with ignored trees pruned before chokidar descends into them (`.git`, what each context's
 * .dockerignore excludes, `watch.ignore`). Changes are coalesced into batches (coalesce.ts: a
 * change after a quiet period at once, the rest of a burst after the quiet window).
 *
 * `watch.trigger: polling` makes chokidar stat every watched file each `watch.pollIntervalMs`
 * instead of listening to file-system events (which do not arrive on WSL2 mounts, network file
 * systems, some Docker Desktop volumes); `manual` watches like `notify` (the dev loop holds the
 * batches until asked). With `watchedImages`, only those artifacts' contexts are watched (the
 * manifests and the config file always are): `devloop dev IMAGE...`.
 *
 * Contract: `startWatcher` resolves once the initial scan is done (emitting `watch` ready, and
 * `large-tree` when more than LARGE_TREE_FILES files are watched). From then on `onBatch` is called
 * with the net changes (per path: created then removed vanishes, removed then re-created is a
 * change, so an editor's write-to-temp-and-rename save comes out as one `change` of the real file)
 * at the leading edge of a burst, then once `config.watch.debounceMs` passed without a new event, or
 * MAX_BATCH_WAIT_MS after the first event of a batch under a constant stream. `onBatch` is never called concurrently with itself and
 * must not throw. Aborting `signal` closes the watcher.
 */
import path from 'node:path';
import { lstatSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import chokidar, { type FSWatcher } from 'chokidar';
import micromatch from 'micromatch';
import type { Config } from '../config/load.js';
import type { EventSink } from '../events.js';
import type { ContextFilter, LiveContextFilter } from '../shared/context-filter.js';
import { GLOB_OPTIONS, globMatcher, normalizeGlob } from '../shared/globs.js';
import { relativeInside, stateDirOf } from '../shared/paths.js';
import { mapLimit } from '../shared/concurrency.js';
import { BatchCoalescer } from './coalesce.js';

export type { FileChange } from './changes.js';
import type { FileChange } from './changes.js';

export interface Watcher {
  close(): Promise<void>;
  /** Files watched (initial scan, plus additions, minus removals). */
  readonly fileCount: number;
}

export interface WatcherOptions {
  signal: AbortSignal;
  sink: EventSink;
  onBatch(changes: FileChange[]): void;
  /**
   * Each image's .dockerignore matcher (src/build's `loadContextFilters`). A live one (with
   * `refresh`) is re-read when its .dockerignore changes, before the change is batched.
   */
  contextFilters: ReadonlyMap<string, ContextFilter | LiveContextFilter>;
  /** Overrides the large-tree thresholds (tests). */
  largeTreeFiles?: number;
  largePolledTreeFiles?: number;
  /**
   * The artifacts (images) whose contexts are watched; absent: all. The others are reported in the
   * `watch` ready event (`unwatched`) and nothing in their contexts is watched (unless it lies in
   * a watched context too).
   */
  watchedImages?: ReadonlySet<string>;
  /**
   * When the caller started reading the tree (epoch ms; a build running while the watcher scans):
   * what changes while the watcher is not yet ready is reported once it is: every `change` and
   * `unlink` chokidar sees during its initial scan, and every file it finds whose mtime is at or
   * after this time (less CHANGED_SINCE_SLACK_MS). Absent: the scan reports nothing, except, with
   * trigger polling, a file whose mtime or size changed after the scan listed it (see `scanned`).
   */
  changedSince?: number;
}

/**
 * A file's mtime comes from the kernel's coarse clock, which can trail Date.now() by a tick: an
 * edit just after `changedSince` must not look older than it. A file saved this shortly before is
 * reported too (a needless sync or rebuild at worst).
 */
export const CHANGED_SINCE_SLACK_MS = 100;

/** chokidar 5 `_emit`: a `change` of a path within this many ms of the previous one is dropped. */
const CHOKIDAR_CHANGE_THROTTLE_MS = 50;

/** Above this many watched files, the watcher announces the tree and how to ignore its bulk. */
export const LARGE_TREE_FILES = 20_000;
/** With polling, above this many watched files the watcher says what the polling costs. */
export const LARGE_POLLED_TREE_FILES = 5_000;
/** When a directory that appeared after ready is listed again (see `recheckNewDir`), in ms after it appeared. */
export const NEW_DIR_RECHECKS_MS = [250, 1_500];
/** How long one copy of chokidar's watched tree serves the new-directory checks. */
const WATCHED_SNAPSHOT_MS = 100;
/** Under a constant stream of events, a batch is flushed at the latest this long after its first event. */
export const MAX_BATCH_WAIT_MS = 1_000;

/** The artifacts whose contexts are watched: `watchedImages`, or all. */
function watchedArtifacts(config: Config, watchedImages: ReadonlySet<string> | undefined): Config['build']['artifacts'] {
  return watchedImages ? config.build.artifacts.filter((a) => watchedImages.has(a.image)) : config.build.artifacts;
}

/** The directories and files chokidar is pointed at: no root inside another. */
export function watchRoots(config: Config, watchedImages?: ReadonlySet<string>): string[] {
  const candidates = new Set<string>();
  for (const a of watchedArtifacts(config, watchedImages)) candidates.add(a.contextDir);
  for (const glob of config.deploy.kubectl.manifests) {
    candidates.add(path.resolve(config.rootDir, micromatch.scan(glob).base || '.'));
  }
  for (const k of config.deploy.kustomize.paths) candidates.add(path.resolve(config.rootDir, k));
  for (const r of config.deploy.helm.releases) {
    candidates.add(path.resolve(config.rootDir, r.chart));
    for (const v of r.valuesFiles) candidates.add(path.resolve(config.rootDir, v));
  }
  candidates.add(config.file);
  // the Skaffold configs the file requires: a change reloads the config like one of the file itself
  for (const f of config.source?.files ?? []) candidates.add(f);
  const sorted = [...candidates].sort((a, b) => a.length - b.length);
  const roots: string[] = [];
  for (const c of sorted) {
    if (!roots.some((r) => relativeInside(r, c) !== undefined)) roots.push(c);
  }
  return roots;
}

/**
 * The `ignored` predicate given to chokidar. A path is pruned when it is under `.git` or devloop's
 * state directory (`<config dir>/.devloop`, written on every run), matches a
 * `watch.ignore` glob, or is excluded by the .dockerignore of every context that contains it.
 * Manifests and the config file are never pruned. Without stats (chokidar asks first without),
 * a path is pruned only when it is excluded both as a file and as a directory.
 */
export function createIgnoredPredicate(
  config: Config,
  filters: ReadonlyMap<string, ContextFilter>,
  /** Told about each path pruned because every context containing it dockerignores it. */
  onPrunedByDockerignore?: (dir: string) => void,
  /** Only these artifacts' contexts are watched (absent: all); the rest of an unwatched context is pruned. */
  watchedImages?: ReadonlySet<string>,
): (p: string, stats?: Stats) => boolean {
  const artifacts = watchedArtifacts(config, watchedImages);
  // Called for every path chokidar meets (100k+ in a big tree): string prefixes, no path.relative.
  const ignoreMatchers = config.watch.ignore.map((g) => globMatcher(g));
  const manifestMatchers = config.deploy.kubectl.manifests.map((g) => globMatcher(g));
  const prefixOf = (dir: string) => (dir.endsWith(path.sep) ? dir : dir + path.sep);
  const rootPrefix = prefixOf(config.rootDir);
  const stateDir = stateDirOf(config.rootDir);
  const contexts = artifacts.map((a) => ({ prefix: prefixOf(a.contextDir), filter: filters.get(a.image) }));
  const posix = path.sep === '/' ? (p: string) => p : (p: string) => p.split(path.sep).join('/');
  // Outside every context, only what leads to something deployed or built is watched: directories
  // watched whole (kustomize paths, helm charts), and the way to contexts, values files and files
  // the manifest globs can match. So a manifest glob at the root (`*.yaml`) does not watch the
  // whole repository.
  const wholeDirs = [...config.deploy.kustomize.paths, ...config.deploy.helm.releases.map((r) => r.chart)].map((d) => prefixOf(path.resolve(config.rootDir, d)));
  const leadTo = [
    ...artifacts.map((a) => a.contextDir),
    ...wholeDirs.map((d) => d.slice(0, -1)),
    ...config.deploy.helm.releases.flatMap((r) => r.valuesFiles.map((v) => path.resolve(config.rootDir, v))),
  ];
  const globSegments = config.deploy.kubectl.manifests.map((g) => normalizeGlob(g).split('/').map((seg) => (seg === '**' ? null : micromatch.matcher(seg, GLOB_OPTIONS))));
  /** Whether some manifest glob can match a path below the directory `rel` (segment by segment). */
  const globCanMatchBelow = (rel: string) => {
    const segs = rel === '' ? [] : rel.split('/');
    return globSegments.some((glob) => {
      for (let i = 0; i < segs.length; i++) {
        const m = glob[i];
        if (m === null) return true; // ** matches any depth
        if (m === undefined || !m(segs[i])) return false;
      }
      return segs.length < glob.length;
    });
  };
  return (p, stats) => {
    const abs = path.isAbsolute(p) ? p : path.resolve(p);
    if (abs.endsWith(`${path.sep}.git`)) return true;
    if (abs === stateDir || abs.startsWith(`${stateDir}${path.sep}`)) return true;
    if (abs === config.file || config.source?.files?.includes(abs)) return false;
    const rootRel = abs.startsWith(rootPrefix) ? posix(abs.slice(rootPrefix.length)) : abs === config.rootDir ? '' : undefined;
    if (rootRel) {
      if (ignoreMatchers.length > 0 && ignoreMatchers.some((m) => m(rootRel))) return true;
      if (manifestMatchers.length > 0 && manifestMatchers.some((m) => m(rootRel))) return false;
    }
    let containing = 0;
    for (const { prefix, filter } of contexts) {
      if (!abs.startsWith(prefix)) continue;
      containing++;
      if (!filter) return false;
      const rel = posix(abs.slice(prefix.length));
      const excluded = stats ? filter.isExcluded(rel, stats.isDirectory()) : filter.isExcluded(rel, false) && filter.isExcluded(rel, true);
      if (!excluded) return false;
    }
    if (containing > 0) {
      onPrunedByDockerignore?.(abs);
      return true;
    }
    // Outside every context.
    if (wholeDirs.some((d) => abs.startsWith(d))) return false;
    const absPrefix = prefixOf(abs);
    if (leadTo.some((t) => t === abs || t.startsWith(absPrefix))) return false;
    if (!stats || rootRel === undefined) return false; // not known to be a file or a directory yet
    if (!stats.isDirectory()) return true; // manifests matched above
    return !globCanMatchBelow(rootRel);
  };
}

/** `20 node_modules directories (100000 files, e.g. services/a/node_modules: 5000)`, or the top 3 by size. */
export function summariseSubtrees(subtrees: ReadonlyArray<{ dir: string; files: number }>): string {
  const top = subtrees[0];
  if (!top) return '';
  const name = path.posix.basename(top.dir);
  const sameName = subtrees.filter((s) => path.posix.basename(s.dir) === name);
  if (sameName.length > 1) {
    const total = sameName.reduce((sum, s) => sum + s.files, 0);
    return `${sameName.length} ${name} directories (${total} files, e.g. ${top.dir}: ${top.files})`;
  }
  return subtrees.slice(0, 3).map((s) => `${s.dir} (${s.files} files)`).join(', ');
}

/** Files below each directory (up to rootDir, or the filesystem root for one outside it). */
export function subtreeCounts(directFiles: ReadonlyMap<string, number>, rootDir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [start, files] of directFiles) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      counts.set(dir, (counts.get(dir) ?? 0) + files);
      if (dir === rootDir || dir === path.dirname(dir)) break;
    }
  }
  return counts;
}

/**
 * The directories holding most of a large tree, and the `watch.ignore` line that would drop them.
 * From the root down: a directory whose heavy children (at least `minFiles` files each) hold at
 * least half of its files is a wrapper, and the search descends into those children; otherwise the
 * files are spread thin below it (a `node_modules` of many small packages) and it is reported.
 * Reported directories sharing a name (every service's `node_modules`) give one `**` glob.
 */
export function describeLargeTree(dirCounts: ReadonlyMap<string, number>, rootDir: string, minFiles: number): { subtrees: Array<{ dir: string; files: number }>; ignoreLine: string } {
  const children = new Map<string, string[]>();
  for (const dir of dirCounts.keys()) {
    const parent = path.dirname(dir);
    if (parent !== dir) children.set(parent, [...(children.get(parent) ?? []), dir]);
  }
  const subtrees: Array<{ dir: string; files: number }> = [];
  const visit = (dir: string, depth: number) => {
    const count = dirCounts.get(dir) ?? 0;
    const heavy = (children.get(dir) ?? []).filter((c) => (dirCounts.get(c) ?? 0) >= minFiles);
    const heavyFiles = heavy.reduce((sum, c) => sum + (dirCounts.get(c) ?? 0), 0);
    if (heavy.length > 0 && heavyFiles >= count / 2 && depth < 64) {
      for (const c of heavy) visit(c, depth + 1);
    } else if (dir !== rootDir && count >= minFiles) {
      subtrees.push({ dir: relativeInside(rootDir, dir) ?? dir, files: count });
    }
  };
  visit(rootDir, 0);
  subtrees.sort((a, b) => b.files - a.files);
  const byName = new Map<string, number>();
  for (const s of subtrees) byName.set(path.posix.basename(s.dir), (byName.get(path.posix.basename(s.dir)) ?? 0) + 1);
  const top = subtrees[0];
  let ignoreLine = '';
  if (top) {
    const name = path.posix.basename(top.dir);
    ignoreLine = (byName.get(name) ?? 0) > 1 ? `"**/${name}"` : `"${top.dir}"`;
  }
  return { subtrees, ignoreLine };
}

export async function startWatcher(config: Config, options: WatcherOptions): Promise<Watcher> {
  const { signal, sink, onBatch } = options;
  const started = performance.now();
  const filters = options.contextFilters;
  const roots = watchRoots(config, options.watchedImages);
  const polling = config.watch.trigger === 'polling';
  /** Paths pruned by a .dockerignore: watched again if an edit of it stops excluding them. */
  const prunedByDockerignore = new Set<string>();
  const ignored = createIgnoredPredicate(
    config,
    filters,
    (dir) => {
      if (prunedByDockerignore.size < 100_000) prunedByDockerignore.add(dir);
    },
    options.watchedImages,
  );
  const largeTree = options.largeTreeFiles ?? LARGE_TREE_FILES;

  let ready = false;
  let fileCount = 0;
  /** Files directly in each directory, during the initial scan (subtree sizes are derived at ready). */
  const directFiles = new Map<string, number>();
  const batches = new BatchCoalescer({ quietMs: config.watch.debounceMs, maxWaitMs: MAX_BATCH_WAIT_MS, onBatch });
  let closed = false;

  const watcher: FSWatcher = chokidar.watch(roots, {
    ignored,
    ignoreInitial: false,
    persistent: true,
    followSymlinks: false,
    alwaysStat: false,
    usePolling: polling,
    ...(polling ? { interval: config.watch.pollIntervalMs, binaryInterval: config.watch.pollIntervalMs } : {}),
  });

  /**
   * chokidar emits at most one `change` per path per 50 ms and drops the rest (no trailing event):
   * a second save within 50 ms would go unseen, and with a quiet window under 50 ms the file could
   * be read before that save. So each add/change is checked again once the throttle is over, and a
   * file whose mtime or size moved since the event is reported as changed.
   */
  const trailingChecks = new Map<string, NodeJS.Timeout>();
  const recheckAfterThrottle = (abs: string, stats: Stats | undefined) => {
    const seen = stats ?? lstatSync(abs, { throwIfNoEntry: false });
    if (!seen) return;
    clearTimeout(trailingChecks.get(abs));
    trailingChecks.set(
      abs,
      setTimeout(() => {
        trailingChecks.delete(abs);
        if (closed) return;
        const now = lstatSync(abs, { throwIfNoEntry: false });
        if (now && (now.mtimeMs !== seen.mtimeMs || now.size !== seen.size)) onEvent('change', abs, now);
      }, CHOKIDAR_CHANGE_THROTTLE_MS + 15),
    );
  };

  watcher.on('all', (event, p, stats) => onEvent(event as FileChange['kind'], path.isAbsolute(p) ? p : path.resolve(p), stats));

  /**
   * chokidar 5 lists a new directory, then starts watching it (handler.js `_handleDir`): a file
   * written between the two is never reported, and a burst into a new directory can lose hundreds
   * (seen once: 664 of 1,000 in bench/dev.mjs, with the event loop busy). So a directory that
   * appears after ready is listed again NEW_DIR_RECHECKS_MS after it appeared: an entry chokidar
   * does not know is reported as an `add` (a file) or handed to chokidar (a directory, whose files
   * it then reports). An entry it knows is left to it, so nothing is reported twice.
   */
  const newDirChecks = new Set<NodeJS.Timeout>();
  // getWatched() copies chokidar's whole tree: a checkout creating many directories shares one copy
  // per WATCHED_SNAPSHOT_MS. A stale copy can only miss what chokidar learned since, reported again.
  let snapshot: { at: number; watched: Record<string, string[]> } | undefined;
  const watchedNow = () => {
    if (!snapshot || performance.now() - snapshot.at > WATCHED_SNAPSHOT_MS) snapshot = { at: performance.now(), watched: watcher.getWatched() };
    return snapshot.watched;
  };
  const recheckNewDir = (dir: string) => {
    for (const delay of NEW_DIR_RECHECKS_MS) {
      const timer = setTimeout(() => {
        newDirChecks.delete(timer);
        if (closed) return;
        const known = new Set(watchedNow()[dir] ?? []);
        let entries: Dirent[];
        try {
          entries = readdirSync(dir, { withFileTypes: true });
        } catch {
          return; // gone again
        }
        for (const entry of entries) {
          if (known.has(entry.name)) continue;
          const abs = path.join(dir, entry.name);
          const stats = lstatSync(abs, { throwIfNoEntry: false });
          if (!stats || ignored(abs, stats)) continue;
          if (stats.isDirectory()) watcher.add(abs);
          else onEvent('add', abs, stats);
        }
      }, delay);
      newDirChecks.add(timer);
    }
  };

  /** What changed while the initial scan ran (`options.changedSince`), batched once ready. */
  const changedDuringScan: FileChange[] = [];
  /**
   * Polling only: each file's mtime and size as the scan saw them. fs.watchFile compares with its own
   * first stat, taken a moment after chokidar lists the file and possibly after ready: an edit in
   * between would be its baseline and never reported. So once ready, every file is read once more
   * (queued after those first stats) and what differs from the scan is reported.
   */
  const scanned = polling ? new Map<string, { mtimeMs: number; size: number }>() : undefined;
  const changedAfter = options.changedSince === undefined ? undefined : options.changedSince - CHANGED_SINCE_SLACK_MS;
  /** One event from chokidar (or from the trailing check): counted, followed up, batched. */
  const onEvent = (kind: FileChange['kind'], abs: string, stats: Stats | undefined) => {
    if (!ready) {
      if (kind === 'add') {
        fileCount++;
        const dir = path.dirname(abs);
        directFiles.set(dir, (directFiles.get(dir) ?? 0) + 1);
      }
      // a directory found by the scan is not a change (its new files are, by their own mtime)
      if ((changedAfter !== undefined || scanned) && kind !== 'addDir') {
        const seen = kind === 'add' ? (stats ?? lstatSync(abs, { throwIfNoEntry: false })) : undefined;
        if (scanned && seen) scanned.set(abs, { mtimeMs: seen.mtimeMs, size: seen.size });
        if (changedAfter !== undefined && (kind !== 'add' || (seen !== undefined && seen.mtimeMs >= changedAfter))) changedDuringScan.push({ path: abs, kind });
      }
      return;
    }
    if (kind === 'add') fileCount++;
    else if (kind === 'unlink') fileCount = Math.max(0, fileCount - 1);
    else if (kind === 'addDir') recheckNewDir(abs);
    if (path.basename(abs) === '.dockerignore') rewatchAfterDockerignoreEdit(abs);
    if (kind === 'add' || kind === 'change') recheckAfterThrottle(abs, stats);
    batches.push({ path: abs, kind });
  };

  /** An edited .dockerignore may re-include paths pruned so far: chokidar is told to add them. */
  const rewatchAfterDockerignoreEdit = (file: string) => {
    for (const artifact of config.build.artifacts) {
      const filter = filters.get(artifact.image) as Partial<LiveContextFilter> | undefined;
      if (path.join(artifact.contextDir, '.dockerignore') !== file || !filter?.refresh) continue;
      filter.refresh();
      const inside = artifact.contextDir + path.sep;
      for (const dir of [...prunedByDockerignore]) {
        if (!dir.startsWith(inside) || ignored(dir)) continue;
        prunedByDockerignore.delete(dir);
        watcher.add(dir);
      }
    }
  };
  watcher.on('error', (error) => {
    sink.emit({ type: 'watch', status: 'error', message: error instanceof Error ? error.message : String(error) });
  });

  const close = async () => {
    if (closed) return;
    closed = true;
    batches.close();
    for (const timer of trailingChecks.values()) clearTimeout(timer);
    trailingChecks.clear();
    for (const timer of newDirChecks) clearTimeout(timer);
    newDirChecks.clear();
    signal.removeEventListener('abort', onAbort);
    await watcher.close();
  };
  const onAbort = () => void close();
  signal.addEventListener('abort', onAbort, { once: true });

  await new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    watcher.once('ready', () => resolve());
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  ready = true;
  if (!signal.aborted) for (const change of changedDuringScan.splice(0)) batches.push(change);
  // chokidar's own events during this pass are live ones (ready is set): none is lost meanwhile
  if (scanned && !signal.aborted) for (const change of await changedSinceScan(scanned)) batches.push(change);
  scanned?.clear();
  const durationMs = Math.round(performance.now() - started);
  if (!signal.aborted) {
    const unwatched = config.build.artifacts.filter((a) => options.watchedImages && !options.watchedImages.has(a.image)).map((a) => a.image);
    const how = polling ? `, polling every ${config.watch.pollIntervalMs} ms` : config.watch.trigger === 'manual' ? ', changes applied on request' : '';
    sink.emit({
      type: 'watch',
      status: 'ready',
      root: config.rootDir,
      fileCount,
      durationMs,
      trigger: config.watch.trigger,
      ...(unwatched.length > 0 ? { unwatched } : {}),
      message: `watching ${fileCount} files under ${roots.length} root(s)${how}${unwatched.length > 0 ? `; not watched: ${unwatched.join(', ')}` : ''}`,
    });
    if (polling && fileCount > (options.largePolledTreeFiles ?? LARGE_POLLED_TREE_FILES)) {
      sink.emit({
        type: 'watch',
        status: 'large-tree',
        root: config.rootDir,
        fileCount,
        message: `polling ${fileCount} files every ${config.watch.pollIntervalMs} ms keeps a core busy; raise --watch-poll-interval (watch.pollIntervalMs), add what devloop needs not see to watch.ignore, or use --trigger notify where file events arrive`,
      });
    }
    if (fileCount > largeTree) {
      const { subtrees, ignoreLine } = describeLargeTree(subtreeCounts(directFiles, config.rootDir), config.rootDir, Math.max(1, Math.floor(largeTree / 10)));
      const list = summariseSubtrees(subtrees);
      sink.emit({
        type: 'watch',
        status: 'large-tree',
        root: config.rootDir,
        fileCount,
        message:
          `watching ${fileCount} files, which slows the watcher and costs memory` +
          (list ? `; most are in ${list}. If devloop needs none of them, add to ${path.basename(config.file)}: watch: { ignore: [${ignoreLine}] }` : ''),
      });
    }
  }
  directFiles.clear();

  return {
    close,
    get fileCount() {
      return fileCount;
    },
  };
}

/** The files whose mtime or size differs from what the scan saw (`change`), or that are gone (`unlink`). */
async function changedSinceScan(scanned: ReadonlyMap<string, { mtimeMs: number; size: number }>): Promise<FileChange[]> {
  const changes: FileChange[] = [];
  await mapLimit([...scanned], 64, async ([file, before]) => {
    const now = await lstat(file).catch(() => undefined);
    if (!now) changes.push({ path: file, kind: 'unlink' });
    else if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) changes.push({ path: file, kind: 'change' });
  });
  return changes;
}
