/**
 * What the dev loop engine needs from the other phases, as small structural interfaces. The real
 * implementations are wired in `cli/dev.ts` (build, deploy, watch, plan, sync, teardown, observe);
 * unit tests pass fakes. Keeping the engine to these interfaces is what lets it be tested without a
 * cluster.
 */
import type { Config } from '../config/load.js';
import type { ChangeEvent, EventSink } from '../events.js';
import type { Builder } from '../build/types.js';
import type { Deployer, ImageTarget } from '../deploy/types.js';
import type { FollowLog } from '../observe/logs.js';
import type { PodUpdate, PodWatcher } from '../observe/pods.js';
import type { PortForwardDeps } from '../observe/portforward.js';

// The phases' own types: the engine depends on their shapes only (type imports load nothing).
export type { FileChange, Watcher } from '../watch/index.js';
export type { Plan, PlanState, SyncOp, ContextFilterLike as ContextFilter } from '../plan/index.js';
export type { ContainerTarget, Syncer } from '../sync/index.js';
import type { FileChange, Watcher } from '../watch/index.js';
import type { Plan, PlanState, ContextFilterLike as ContextFilter } from '../plan/index.js';
import type { ContainerTarget, Syncer } from '../sync/index.js';
import type { HookOutcome, HookRef } from '../hooks/types.js';
import type { ContainerRef } from '../kube/types.js';

/** Runs one hook (src/hooks/): on this machine, or in one container. */
export interface HookRunner {
  host(ref: HookRef, hook: { command: string[]; cwd: string; env: Record<string, string>; timeoutMs: number }, options: { signal: AbortSignal; sink: EventSink }): Promise<HookOutcome>;
  /** Rejects when the container cannot be reached (ClusterUnreachableError, or 404 when its pod is gone). */
  container(ref: HookRef, target: ContainerRef, hook: { command: string[]; timeoutMs: number }, options: { signal: AbortSignal; sink: EventSink }): Promise<HookOutcome>;
}

export interface DevServices {
  builder: Builder;
  deployer: Deployer;
  syncer: Syncer;
  /** Sync hooks (`sync.hooks`), run around each batch and after a replay. */
  hooks: HookRunner;
  /** `contextFilters`: the planner's .dockerignore matchers, shared so both follow one reading of each file. */
  startWatcher(
    config: Config,
    options: { signal: AbortSignal; sink: EventSink; onBatch(changes: FileChange[]): void; contextFilters?: ReadonlyMap<string, ContextFilter>; watchedImages?: ReadonlySet<string>; changedSince?: number },
  ): Promise<Watcher>;
  planChanges(changes: FileChange[], config: Config, state: PlanState): Plan;
  /** Images that depend on these (transitively), the given ones excluded or included: both accepted. */
  dependentsOf(config: Config, images: string[]): string[];
  /** Absolute paths of every file the manifests are rendered from (kubectl globs, kustomize dirs, charts). */
  manifestFiles(config: Config): Promise<Set<string>>;
  /** Each artifact's .dockerignore matcher, by image. */
  contextFilters(config: Config): Promise<ReadonlyMap<string, ContextFilter>>;
  /** Makes built references available to the cluster (`kind load`...; nothing for a registry). */
  loadImages(target: ImageTarget, refs: readonly string[], signal: AbortSignal, sink: EventSink): Promise<void>;
  /** Reads the config file again; throws ConfigError when it is invalid. */
  reloadConfig(): Promise<Config>;
  /** Deletes everything in the project's inventory, with `teardown` events. */
  down(config: Config, options: { signal: AbortSignal; sink: EventSink }): Promise<void>;
  startPodWatcher(options: { project: string; signal: AbortSignal; sink: EventSink; onUpdate(update: PodUpdate): void }): PodWatcher;
  followLog: FollowLog;
  /**
   * A cheap call that tells whether the API server serves again (GET /readyz with a short timeout).
   * Rejects with ClusterUnreachableError when it does not.
   */
  probeCluster(signal: AbortSignal): Promise<void>;
  /** How long the oldest REST call in flight has waited for an answer, in ms (0: none waits). */
  clusterNoAnswerMs(): number;
  portForward: Pick<PortForwardDeps, 'readService' | 'forward' | 'prepare'>;
}
