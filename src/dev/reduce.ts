/**
 * The dev loop's reducer: `reduce(state, action)` returns the next state and the work that action
 * calls for, as values. It is pure: no I/O, no clock (a time comes in the action), and it never
 * changes the state it is given (a changed collection is copied). `DevEngine` (engine.ts) holds the
 * one `DevState`, dispatches every action through here and performs the effects.
 *
 * Who dispatches what:
 * - the file watcher:          `files-changed` (a coalesced batch)
 * - the pod watcher:           `pod-updated` (new snapshot, started/restarted containers)
 * - the dashboard's keys:      `rebuild-requested` (r), `full-sync-requested` (s), `quit-requested` (q),
 *                              `apply-requested` (a; a line on stdin without a terminal)
 * - the engine's start-up:     `image-target-resolved`, `context-filters-loaded`, `manifests-listed`, `started`
 * - the engine's jobs:         `batch-taken`, `batch-planned`, `config-replaced`, `build-finished`,
 *                              `deploy-started`, `deploy-finished`, `sync-unusable`, `syncs-postponed`,
 *                              `cluster-unreachable` (a call could not reach the API server), `outage-resync-started`
 * - the cluster probe:         `probe-scheduled`, `probe-failed`, `cluster-reachable` (a probe answered)
 * - the engine's teardown:     `stopping`
 *
 * Effects are of two kinds for the engine: immediate ones (`emit`, `reset-image`, `forget-container`,
 * `pods-changed`, `probe-cluster`, `stop`) it performs at once; jobs (`plan-batch`, `replay`,
 * `rebuild`, `full-sync`, `resync-after-outage`) go on the work queue, one at a time; `execute-plan`
 * is returned to the job that dispatched `batch-planned`, which performs it itself.
 */
import path from 'node:path';
import type { Config } from '../config/load.js';
import { toDevloopError } from '../errors.js';
import type { DevloopEvent } from '../events.js';
import type { BuildOptions, BuildResult } from '../build/types.js';
import type { ImageTarget } from '../deploy/types.js';
import type { ContainerRef } from '../kube/types.js';
import type { PodSnapshot, PodUpdate } from '../observe/pods.js';
import { netChanges } from '../watch/changes.js';
import type { ContainerTarget, ContextFilter, FileChange, Plan, SyncOp } from './services.js';
import { targetFor } from './targets.js';

export type ClusterState =
  | { readonly reachable: true }
  | { readonly reachable: false; readonly since: number; readonly message: string; readonly attempt: number; readonly nextRetryAt: number };

/** Where builds go and whether they are pushed, from the deploy's image target (resolved at start-up). */
export interface BuildTarget {
  target: ImageTarget;
  destination: Pick<BuildOptions, 'registry' | 'defaultRepo'>;
  push: boolean;
}

/** The single state of a dev session. Only `reduce` makes the next one. */
export interface DevState {
  readonly config: Config;
  /** Fixed for the session: emit every plan decision (`explain`); the artifacts developed (`watchedImages`; absent: all). */
  readonly settings: { readonly explain: boolean; readonly watchedImages?: ReadonlySet<string> };
  readonly phase: 'starting' | 'running' | 'stopping';
  /** Where builds go; absent until start-up resolved the image target. */
  readonly buildTarget?: BuildTarget;
  /** Last good build per image (the references deployed). */
  readonly builds: ReadonlyMap<string, BuildResult>;
  /** Images whose last build failed or was skipped: rebuilt with the next change. */
  readonly failedImages: ReadonlySet<string>;
  /** A deploy failed or never happened: redeployed with the next change. */
  readonly deployPending: boolean;
  /** Whether anything may have been applied (teardown runs `down` only then). */
  readonly applied: boolean;
  /** Images whose sync is unusable; their syncable changes rebuild. */
  readonly syncDisabled: ReadonlySet<string>;
  /** The project's pods, by `namespace/name`. */
  readonly pods: ReadonlyMap<string, PodSnapshot>;
  /** Absolute paths of the files the manifests are rendered from (for the planner). */
  readonly manifestFiles: ReadonlySet<string>;
  /** Each image's .dockerignore matcher (shared by the watcher and the planner). */
  readonly contextFilters: ReadonlyMap<string, ContextFilter>;
  /** File changes waiting for the next `plan-batch` job (batches arriving meanwhile are planned together). */
  readonly pendingChanges: readonly FileChange[];
  /** Trigger manual: changes seen and not yet applied (net per path), released by `apply-requested`. */
  readonly heldChanges: readonly FileChange[];
  /** Whether the API server answers; `unreachable` from a call that could not reach it until a probe answers. */
  readonly cluster: ClusterState;
  /**
   * Local paths whose sync did not reach the cluster (edited while it was unreachable): synced with
   * their content of that moment once it answers. A set of paths, never contents.
   */
  readonly unsyncedPaths: ReadonlySet<string>;
  /** Containers whose replay could not reach the cluster, by `namespace/pod/container`: replayed once it answers. */
  readonly replaysAfterOutage: ReadonlyMap<string, ContainerTarget>;
}

export type DevAction =
  | { type: 'files-changed'; changes: FileChange[] }
  | { type: 'apply-requested' }
  | { type: 'pod-updated'; update: PodUpdate }
  | { type: 'rebuild-requested'; images: string[] }
  | { type: 'full-sync-requested'; image: string }
  | { type: 'quit-requested' }
  | { type: 'image-target-resolved'; buildTarget: BuildTarget }
  | { type: 'context-filters-loaded'; contextFilters: ReadonlyMap<string, ContextFilter> }
  | { type: 'manifests-listed'; files: ReadonlySet<string> }
  | { type: 'started' }
  /** The `plan-batch` job starts: it plans the pending changes it read with this dispatch. */
  | { type: 'batch-taken' }
  /** A batch was planned and, when the plan said so, the config reloaded (`configReload`: its outcome). */
  | { type: 'batch-planned'; plan: Plan; configReload?: { file: string } | { error: unknown } }
  | { type: 'config-replaced'; config: Config; contextFilters: ReadonlyMap<string, ContextFilter> }
  | { type: 'build-finished'; results: BuildResult[] }
  | { type: 'deploy-started' }
  /** `ok: false`: the deploy failed, was postponed or could not run (an image never built). */
  | { type: 'deploy-finished'; ok: boolean }
  /** Workloads of the last deploy were deleted outside devloop: the next rebuild redeploys. */
  | { type: 'workloads-vanished' }
  | { type: 'sync-unusable'; image: string }
  /** Syncs not tried because the cluster is unreachable: their paths are synced when it answers. */
  | { type: 'syncs-postponed'; paths: string[] }
  /** A call could not reach the cluster; the paths it could not sync and the containers it could not replay into, if any. */
  | { type: 'cluster-unreachable'; message: string; at: number; unsyncedPaths?: readonly string[]; replays?: readonly ContainerTarget[] }
  | { type: 'probe-scheduled'; attempt: number; at: number; delayMs: number }
  | { type: 'probe-failed'; message: string }
  | { type: 'cluster-reachable' }
  /** The `resync-after-outage` job took the remembered replays and paths (read with this dispatch). */
  | { type: 'outage-resync-started' }
  | { type: 'stopping' };

export type DevEffect =
  | { type: 'emit'; event: DevloopEvent }
  | { type: 'plan-batch' }
  | { type: 'execute-plan'; syncs: SyncOp[]; rebuild: string[]; redeploy: boolean; syncedPaths: ReadonlyMap<string, string[]> }
  | { type: 'replay'; target: ContainerTarget }
  | { type: 'rebuild'; images: string[] }
  | { type: 'full-sync'; image: string }
  | { type: 'resync-after-outage' }
  | { type: 'reset-image'; image: string }
  | { type: 'forget-container'; container: ContainerRef }
  | { type: 'pods-changed' }
  | { type: 'probe-cluster' }
  | { type: 'stop' };

export interface Reduction {
  state: DevState;
  effects: DevEffect[];
}

/** The state a session starts with. */
export function initialState(config: Config, settings: DevState['settings']): DevState {
  return {
    config,
    settings,
    phase: 'starting',
    builds: new Map(),
    failedImages: new Set(),
    deployPending: true,
    applied: false,
    syncDisabled: new Set(),
    pods: new Map(),
    manifestFiles: new Set(),
    contextFilters: new Map(),
    pendingChanges: [],
    heldChanges: [],
    cluster: { reachable: true },
    unsyncedPaths: new Set(),
    replaysAfterOutage: new Map(),
  };
}

/** A failure shown in full, with the next step, as the loop goes on (a `message` warning's text). */
export function failureText(error: unknown, what?: string): string {
  const e = toDevloopError(error);
  const lines = [`${what ? `${what}: ` : ''}${e.message}`, ...e.details.map((d) => `  ${d}`)];
  if (e.hint) lines.push(`  next: ${e.hint}`);
  lines.push('  devloop keeps watching: the next change retries.');
  return lines.join('\n');
}

const unchanged = (state: DevState): Reduction => ({ state, effects: [] });

export function reduce(state: DevState, action: DevAction): Reduction {
  const stopping = state.phase === 'stopping';
  switch (action.type) {
    case 'files-changed':
      if (stopping) return unchanged(state);
      if (state.config.watch.trigger === 'manual') return hold(state, action.changes);
      return { state: { ...state, pendingChanges: [...state.pendingChanges, ...action.changes] }, effects: [{ type: 'plan-batch' }] };
    case 'apply-requested': {
      if (stopping) return unchanged(state);
      const held = state.heldChanges;
      const effects: DevEffect[] = [
        {
          type: 'emit',
          event: {
            type: 'watch',
            status: 'held',
            held: [],
            applied: held.length > 0,
            message: held.length > 0 ? `applying ${held.length} held change(s)` : 'no change is waiting to be applied',
          },
        },
      ];
      if (held.length === 0) return { state, effects };
      return { state: { ...state, heldChanges: [], pendingChanges: [...state.pendingChanges, ...held] }, effects: [...effects, { type: 'plan-batch' }] };
    }
    case 'pod-updated':
      return podUpdated(state, action.update);
    case 'rebuild-requested':
      return stopping ? unchanged(state) : { state, effects: [{ type: 'rebuild', images: action.images }] };
    case 'full-sync-requested':
      return stopping ? unchanged(state) : { state, effects: [{ type: 'full-sync', image: action.image }] };
    case 'quit-requested':
      return { state, effects: [{ type: 'stop' }] };
    case 'image-target-resolved':
      return { state: { ...state, buildTarget: action.buildTarget }, effects: [] };
    case 'context-filters-loaded':
      return { state: { ...state, contextFilters: action.contextFilters }, effects: [] };
    case 'manifests-listed':
      return { state: { ...state, manifestFiles: action.files }, effects: [] };
    case 'started':
      return stopping ? unchanged(state) : { state: { ...state, phase: 'running' }, effects: [] };
    case 'batch-taken':
      return { state: { ...state, pendingChanges: [] }, effects: [] };
    case 'batch-planned':
      return batchPlanned(state, action.plan, action.configReload);
    case 'config-replaced':
      return { state: { ...state, config: action.config, contextFilters: action.contextFilters }, effects: [] };
    case 'build-finished':
      return buildFinished(state, action.results);
    case 'deploy-started':
      return { state: { ...state, applied: true }, effects: [] };
    case 'deploy-finished':
      return { state: { ...state, deployPending: !action.ok }, effects: [] };
    case 'workloads-vanished':
      return { state: { ...state, deployPending: true }, effects: [] };
    case 'sync-unusable':
      return { state: { ...state, syncDisabled: new Set([...state.syncDisabled, action.image]) }, effects: [] };
    case 'syncs-postponed': {
      const unsyncedPaths = new Set([...state.unsyncedPaths, ...action.paths]);
      return {
        state: { ...state, unsyncedPaths },
        effects: [{ type: 'emit', event: { type: 'message', level: 'info', text: `cluster unreachable: ${unsyncedPaths.size} edited file(s) will be synced when it answers` } }],
      };
    }
    case 'cluster-unreachable': {
      // what could not reach the cluster is kept whatever the phase; the probe starts once per outage
      const unsyncedPaths = action.unsyncedPaths?.length ? new Set([...state.unsyncedPaths, ...action.unsyncedPaths]) : state.unsyncedPaths;
      const replaysAfterOutage = action.replays?.length
        ? new Map([...state.replaysAfterOutage, ...action.replays.map((t) => [containerKey(t), t] as const)])
        : state.replaysAfterOutage;
      const next = { ...state, unsyncedPaths, replaysAfterOutage };
      if (stopping || !state.cluster.reachable) return { state: next, effects: [] };
      return {
        state: { ...next, cluster: { reachable: false, since: action.at, message: action.message, attempt: 0, nextRetryAt: action.at } },
        effects: [{ type: 'probe-cluster' }],
      };
    }
    case 'probe-scheduled': {
      if (state.cluster.reachable) return unchanged(state);
      const cluster = { ...state.cluster, attempt: action.attempt, nextRetryAt: action.at + action.delayMs };
      return {
        state: { ...state, cluster },
        effects: [
          {
            type: 'emit',
            event: {
              type: 'cluster',
              status: 'unreachable',
              since: new Date(cluster.since).toISOString(),
              nextRetry: new Date(cluster.nextRetryAt).toISOString(),
              attempt: action.attempt,
              pendingFiles: state.unsyncedPaths.size,
              message: cluster.message,
            },
          },
        ],
      };
    }
    case 'probe-failed':
      if (state.cluster.reachable) return unchanged(state);
      return { state: { ...state, cluster: { ...state.cluster, message: action.message } }, effects: [] };
    case 'cluster-reachable': {
      if (state.cluster.reachable) return unchanged(state);
      const since = state.cluster.since;
      const next: DevState = { ...state, cluster: { reachable: true } };
      if (stopping) return { state: next, effects: [] };
      return {
        state: next,
        effects: [
          {
            type: 'emit',
            event: { type: 'cluster', status: 'reachable', since: new Date(since).toISOString(), pendingFiles: state.unsyncedPaths.size, redeploy: state.deployPending },
          },
          { type: 'resync-after-outage' },
        ],
      };
    }
    case 'outage-resync-started':
      return { state: { ...state, unsyncedPaths: new Set(), replaysAfterOutage: new Map() }, effects: [] };
    case 'stopping':
      return { state: { ...state, phase: 'stopping' }, effects: [] };
  }
}

/** Trigger manual: keeps `changes` (net per path) until `apply-requested`, and lists what waits. */
function hold(state: DevState, changes: readonly FileChange[]): Reduction {
  const heldChanges = netChanges([...state.heldChanges, ...changes]);
  const held = heldChanges.map((c) => `${c.kind} ${path.relative(state.config.rootDir, c.path) || c.path}`);
  return {
    state: { ...state, heldChanges },
    effects: [
      {
        type: 'emit',
        event: {
          type: 'watch',
          status: 'held',
          held,
          message: `${held.length} change(s) waiting (trigger manual): press a in the dashboard, or send a line on stdin, to apply them`,
        },
      },
    ],
  };
}

function podUpdated(state: DevState, update: PodUpdate): Reduction {
  const { snapshot } = update;
  const id = `${snapshot.namespace}/${snapshot.name}`;
  const pods = new Map(state.pods);
  const effects: DevEffect[] = [];
  if (update.deleted) {
    pods.delete(id);
    for (const c of snapshot.containers) effects.push({ type: 'forget-container', container: { namespace: snapshot.namespace, pod: snapshot.name, container: c.name } });
  } else {
    pods.set(id, snapshot);
  }
  effects.push({ type: 'pods-changed' });
  const next = { ...state, pods };
  if (state.phase === 'stopping') return { state: next, effects };
  for (const transition of update.transitions) {
    // a (re)started container runs the image as built: bring it up to the working tree
    const target = targetFor(next, snapshot, transition.container.name);
    if (target) effects.push({ type: 'replay', target });
  }
  return { state: next, effects };
}

function buildFinished(state: DevState, results: readonly BuildResult[]): Reduction {
  const builds = new Map(state.builds);
  const failedImages = new Set(state.failedImages);
  const effects: DevEffect[] = [];
  for (const result of results) {
    if (result.status === 'built' || result.status === 'cached') {
      const before = builds.get(result.image);
      builds.set(result.image, result);
      failedImages.delete(result.image);
      // the new image carries the working tree: earlier syncs must not be replayed into it
      if (before && before.tag !== result.tag) effects.push({ type: 'reset-image', image: result.image });
    } else if (result.status === 'failed' || result.status === 'skipped') {
      failedImages.add(result.image);
    }
  }
  return { state: { ...state, builds, failedImages }, effects };
}

/**
 * What a planned batch does: its decisions are shown (with `explain`); a reloaded config rebuilds
 * every artifact and redeploys (no sync: the new images carry the files); otherwise the plan's
 * syncs (never for an image it rebuilds), rebuilds and redeploy. An invalid config is shown and the
 * rest of the plan runs with the old one.
 */
function batchPlanned(state: DevState, plan: Plan, configReload: { file: string } | { error: unknown } | undefined): Reduction {
  const effects: DevEffect[] = state.settings.explain ? plan.decisions.map((event) => ({ type: 'emit', event })) : [];
  const reloaded = configReload !== undefined && 'file' in configReload;
  if (configReload && 'file' in configReload) {
    effects.push({ type: 'emit', event: { type: 'message', level: 'info', text: `config reloaded from ${configReload.file}` } });
  } else if (configReload) {
    effects.push({ type: 'emit', event: { type: 'message', level: 'warn', text: failureText(configReload.error, 'the changed config is invalid; the previous one keeps running') } });
  }
  const rebuild = reloaded ? state.config.build.artifacts.map((a) => a.image) : plan.rebuild;
  const syncs = reloaded ? [] : plan.syncs.filter((op) => !rebuild.includes(op.image));
  const syncedPaths = new Map(syncs.map((op) => [op.image, plan.decisions.filter((d) => d.action === 'sync' && d.artifact === op.image).map((d) => d.path)]));
  effects.push({ type: 'execute-plan', syncs, rebuild, redeploy: reloaded || plan.redeploy, syncedPaths });
  return { state, effects };
}

export function containerKey(target: ContainerRef): string {
  return `${target.namespace}/${target.pod}/${target.container}`;
}
