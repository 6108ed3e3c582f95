/**
 * The events every phase emits and every renderer consumes (plain lines, JSON lines, the Ink
 * dashboard). One discriminated union on `type`; renderers switch on it.
 *
 * Who emits what:
 * - build (build/):             `build`
 * - deploy (deploy/):           `deploy`, `prune`
 * - watch and plan (watch/, plan/): `watch`, `change`
 * - sync (sync/):               `sync`, `restart` (a container's main process restarted after a sync)
 * - hooks (hooks/, run by build/, deploy/ and dev/): `hook`; a container hook's output is `log` with `hook`
 * - observe (observe/):         `pod`, `log`, `portForward`
 * - teardown (teardown/):       `teardown`
 * - the dev loop (dev/):        `cluster` (reachability of the API server)
 * - anyone:                     `message`, `phase` (through `timePhase`)
 * - cli/main.ts only:           `error`
 *
 * Contract: events are plain data (JSON-serialisable); emitting never blocks and never throws.
 */
import type { DevloopError } from './errors.js';

/** Stages of a build as events report them (not `BuildResult['status']`, the outcome). */
export type BuildEventStatus =
  | 'planned' // --dry-run: would build
  | 'cached' // tag already present; nothing to do
  | 'building'
  | 'step' // progress inside a build: `step` holds e.g. "Step 2/5 : COPY . /app" (classic) or "CACHED [base 1/1] COPY rootfs/ /" (BuildKit)
  | 'built'
  | 'pushing'
  | 'pushed'
  | 'failed';

export interface BuildEvent {
  type: 'build';
  image: string;
  status: BuildEventStatus;
  /** Full reference, `name:tag`. */
  tag?: string;
  durationMs?: number;
  /** Why it builds (cache miss cause) or why it failed. */
  reason?: string;
  step?: string;
  /** On failure, what to do about it when the failure is a known one. */
  hint?: string;
  /** Build output lines, on failure: the failing step's output. */
  output?: string[];
  /** With `failed`: the image was not attempted because an image it requires failed (or work stopped). */
  skipped?: boolean;
  /** With `building`: the builder used, and why (src/build/builder-choice.ts). */
  builder?: 'buildkit' | 'classic';
  builderReason?: string;
}

export interface DeployEvent {
  type: 'deploy';
  /** `replaced`: an object deleted and created again because a field it changes cannot change in place. */
  status: 'rendering' | 'applying' | 'applied' | 'replaced' | 'waiting' | 'ready' | 'failed';
  /** `kind/name` or `kind/namespace/name` of the object, when the event is about one object. */
  object?: string;
  message?: string;
  durationMs?: number;
  /** Number of objects, for `applied`. */
  count?: number;
}

export interface PruneEvent {
  type: 'prune';
  object: string;
  /** `kept`: a Namespace no longer rendered, not deleted because it holds objects devloop did not apply (`heldBy`); it stays in the inventory. */
  status: 'deleting' | 'deleted' | 'failed' | 'planned' | 'kept';
  message?: string;
  /** With `kept`: the objects (`Kind/namespace/name`) that kept the namespace. */
  heldBy?: string[];
}

export interface WatchEvent {
  type: 'watch';
  status: 'ready' | 'large-tree' | 'error' | 'held';
  root?: string;
  fileCount?: number;
  durationMs?: number;
  /** ready: how changes reach the loop (`watch.trigger`, or --trigger). */
  trigger?: 'notify' | 'polling' | 'manual';
  /** ready: artifacts not watched (`devloop dev IMAGE...` named others): built once, deployed, never rebuilt or synced. */
  unwatched?: string[];
  /**
   * held (trigger manual): every change waiting to be applied (net per path, relative to the config's
   * directory, `kind path`), emitted when it grows; `applied` lists what was just released.
   */
  held?: string[];
  applied?: boolean;
  message?: string;
}

/** One decision of the planner, for --explain and the dashboard. */
export interface ChangeEvent {
  type: 'change';
  path: string;
  artifact?: string;
  action: 'sync' | 'rebuild' | 'redeploy' | 'reload-config' | 'ignore';
  /** Which rule matched and why this action was chosen. */
  reason: string;
}

export interface SyncEvent {
  type: 'sync';
  artifact: string;
  status: 'synced' | 'replayed' | 'failed';
  pod?: string;
  container?: string;
  copied: string[];
  deleted: string[];
  durationMs?: number;
  message?: string;
}

export interface PodEvent {
  type: 'pod';
  pod: string;
  namespace: string;
  /** Workload that owns it, e.g. `deployment/posts`. */
  owner?: string;
  phase: string;
  /** Human state: Pending, ContainerCreating, Running, CrashLoopBackOff, Terminating, Deleted... */
  state: string;
  ready: number;
  total: number;
  restarts: number;
  message?: string;
  /** Image references of the pod's containers, in spec order (lets renderers map pods to artifacts). */
  images?: string[];
}

export interface LogEvent {
  type: 'log';
  pod: string;
  container: string;
  namespace: string;
  line: string;
  /** Marks a synthetic line (container restarted with exit code ...). */
  marker?: boolean;
  /** Set on output of a container hook run by devloop (not the container's own log): `sync/after #1`. */
  hook?: string;
}

/**
 * A hook (sync, build or deploy; before or after; host or container), one event when it starts and
 * one when it ends. `output` (with `failed`, `timed-out`): the last lines it printed. Host hooks'
 * lines also arrive one by one as `output` events; container hooks' as `log` events with `hook`.
 */
export interface HookEvent {
  type: 'hook';
  phase: 'sync' | 'build' | 'deploy';
  when: 'before' | 'after';
  /** 1-based position in its list, as `sync/after #2` names it. */
  index: number;
  kind: 'host' | 'container';
  status: 'running' | 'output' | 'succeeded' | 'failed' | 'timed-out' | 'interrupted';
  command: string[];
  /** The artifact image (sync and build hooks). */
  artifact?: string;
  namespace?: string;
  pod?: string;
  container?: string;
  exitCode?: number;
  durationMs?: number;
  /** With `output`: one line the host hook printed. */
  line?: string;
  output?: string[];
  message?: string;
}

/**
 * A container's main process restarted by devloop after a sync (`sync.restart`): `restarting` once
 * the files are written, `restarted` when the new process runs, `failed` with the reason.
 */
export interface RestartEvent {
  type: 'restart';
  artifact: string;
  namespace: string;
  pod: string;
  container: string;
  status: 'restarting' | 'restarted' | 'failed';
  durationMs?: number;
  message?: string;
}

export interface PortForwardEvent {
  type: 'portForward';
  status: 'listening' | 'connected' | 'reconnecting' | 'failed' | 'stopped';
  resource: string;
  address: string;
  localPort: number;
  remotePort: number;
  pod?: string;
  message?: string;
}

export interface TeardownEvent {
  type: 'teardown';
  /**
   * `planned`: --dry-run, would delete `object`. `kept`: a Namespace devloop created, not deleted
   * because it holds objects devloop did not apply (`heldBy`) or cannot be listed in full; a warning,
   * not a failure: it stays in the inventory so a later down deletes it once it holds only devloop's.
   */
  status: 'started' | 'planned' | 'deleting' | 'deleted' | 'waiting' | 'done' | 'failed' | 'skipped' | 'kept';
  object?: string;
  message?: string;
  remaining?: number;
  /** With `kept`: the objects (`Kind/namespace/name`) that kept the namespace. */
  heldBy?: string[];
}

/**
 * The API server's reachability, as the dev loop sees it:
 * - `waiting`: a sync or apply has had no answer for `noAnswerMs` (emitted about every second from 2 s on);
 * - `unreachable`: a call failed because the cluster cannot be reached; syncs are remembered and
 *   nothing rebuilds. Emitted when it became unreachable and after each failed probe (`attempt`);
 * - `reachable`: a probe got an answer after an outage; `resync` files are synced again.
 */
export interface ClusterEvent {
  type: 'cluster';
  status: 'waiting' | 'unreachable' | 'reachable';
  /** API server URL. */
  server?: string;
  /** unreachable, reachable: when the outage began (ISO 8601). */
  since?: string;
  /** unreachable: when the next probe runs (ISO 8601). */
  nextRetry?: string;
  /** unreachable: failed probes so far (0 when it just became unreachable). */
  attempt?: number;
  /** waiting: how long the oldest call has waited for an answer. */
  noAnswerMs?: number;
  /** unreachable: files edited since, to sync when it answers; reachable: files being re-synced. */
  pendingFiles?: number;
  /** reachable: whether a redeploy follows (a deploy failed or is pending). */
  redeploy?: boolean;
  message?: string;
}

export interface MessageEvent {
  type: 'message';
  level: 'info' | 'warn' | 'debug';
  text: string;
}

/**
 * One timed step of a command (`deploy/render`, `deploy/apply/namespaces`,
 * `deploy/wait/deployment/blog/posts`...), emitted by `timePhase` when it starts and when it ends:
 * the timeline `-v` prints and `--output json` carries. Phases nest by name (`deploy/apply` holds
 * `deploy/apply/namespaces`) and may overlap (waits per workload run in parallel).
 */
export interface PhaseEvent {
  type: 'phase';
  /** Slash-separated, outermost first: `deploy/wait/deployment/blog/posts`. */
  name: string;
  status: 'started' | 'finished' | 'failed';
  /** Milliseconds since the process started (performance.now()), so start-up cost shows too. */
  atMs: number;
  /** With `finished` and `failed`: how long the phase took. */
  durationMs?: number;
}

export interface ErrorEvent {
  type: 'error';
  error: ReturnType<DevloopError['toJSON']>;
}

export type DevloopEvent =
  | BuildEvent
  | DeployEvent
  | PruneEvent
  | WatchEvent
  | ChangeEvent
  | SyncEvent
  | PodEvent
  | LogEvent
  | HookEvent
  | RestartEvent
  | PortForwardEvent
  | TeardownEvent
  | ClusterEvent
  | MessageEvent
  | PhaseEvent
  | ErrorEvent;

/** Where phases send their events. Implementations must not throw and must not block. */
export interface EventSink {
  emit(event: DevloopEvent): void;
}

/** A sink that collects events, for tests and for commands that summarise at the end. */
export class CollectingSink implements EventSink {
  readonly events: DevloopEvent[] = [];
  emit(event: DevloopEvent): void {
    this.events.push(event);
  }
  ofType<T extends DevloopEvent['type']>(type: T): Extract<DevloopEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<DevloopEvent, { type: T }> => e.type === type);
  }
}

/**
 * Runs `work` as phase `name`: emits `phase` started, then finished (or failed, when `work` throws;
 * the error propagates unchanged) with its duration. Adds no waiting of its own.
 */
export async function timePhase<T>(sink: EventSink, name: string, work: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  sink.emit({ type: 'phase', name, status: 'started', atMs: Math.round(start) });
  let status: PhaseEvent['status'] = 'failed';
  try {
    const result = await work();
    status = 'finished';
    return result;
  } finally {
    const end = performance.now();
    sink.emit({ type: 'phase', name, status, atMs: Math.round(end), durationMs: Math.round(end - start) });
  }
}
