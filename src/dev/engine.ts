/**
 * The dev loop: one state, actions dispatched into it, and one queue of work so that only one plan
 * executes at a time while new file batches accumulate and coalesce.
 *
 * Who dispatches what (the one `dispatch` switch below handles each):
 * - the file watcher:         `files-changed` (a coalesced batch)
 * - the pod watcher:          `pod-updated` (new snapshot, started/restarted containers)
 * - the work queue itself:    `build-finished`, `deploy-finished`
 * - sync and deploy failures: `cluster-unreachable` (the call could not reach the API server)
 * - the cluster probe:         `cluster-reachable` (a probe answered after an outage)
 * - the dashboard's keys:     `rebuild-requested` (r), `full-sync-requested` (s), `quit-requested` (q),
 *                             `apply-requested` (a; a line on stdin without a terminal)
 *
 * Triggers (`watch.trigger`): with `manual`, `files-changed` batches are held (net per path, listed
 * in a `watch` `held` event each time the set grows) until `apply-requested` releases them as one
 * batch; `notify` and `polling` plan every batch as it comes. With `watchedImages` (`devloop dev
 * IMAGE...`) only those artifacts are watched, synced and rebuilt on a change; the others are built
 * (or taken from cache) and deployed once.
 *
 * Start-up: watch files (changes made during start-up are queued, not lost), build every artifact
 * (for the registry the cluster pulls from), watch pods and stream logs (so nothing is muted during
 * the first rollout), deploy and wait, then port-forwards. A failed build or deploy does not end the
 * loop: the error is shown in full and the next change retries what failed.
 *
 * Cluster outages: a sync or deploy that cannot reach the cluster (ClusterUnreachableError,
 * classified in src/kube) is a state, not a failure: nothing rebuilds. The paths of the files it
 * could not sync, and of every file edited while the cluster is unreachable, are kept as a set
 * (their content is read when it answers, so memory does not grow with the number of edits); a
 * deploy due meanwhile stays pending. A probe (`probeCluster`) runs on the shared backoff (250 ms
 * doubling to 4 s) until it answers; then the pending deploy runs (if any) and the remembered files
 * are synced with their latest content (deleted ones deleted) into every container of the current
 * build. A sync or deploy call with no answer for 2 s emits `cluster` `waiting` events.
 *
 * Teardown (on `signal` or `q`): every started part registered its stop; they run in reverse, each
 * failure reported and skipped, new work refused from the first moment; then `down` deletes what was
 * applied unless `cleanup` is false. Returns 0, or 130 when interrupted during start-up.
 */
import type { Config } from '../config/load.js';
import { toDevloopError, type DevloopError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { BuildResult } from '../build/types.js';
import { buildDestination, shouldPush } from '../deploy/image-target.js';
import type { ImageTarget } from '../deploy/types.js';
import { SyncUnusableError } from '../sync/index.js';
import { createLogStreamer, type LogStreamer } from '../observe/logs.js';
import { artifactOfImage, type PodSnapshot, type PodUpdate, type PodWatcher } from '../observe/pods.js';
import { startPortForwards, type PortForwarder } from '../observe/portforward.js';
import { setMaxListeners } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { backoffMs } from '../shared/backoff.js';
import { isClusterUnreachable, isNotFound, type ClusterUnreachableError } from '../kube/errors.js';
import path from 'node:path';
import micromatch from 'micromatch';
import { describeOutcome, hookLabel, syncHookEnv, type HookOutcome, type HookRef } from '../hooks/types.js';
import { hooksTriggeredBy } from '../plan/index.js';
import type { Artifact } from '../config/types.js';
import type { ContainerTarget, ContextFilter, DevServices, FileChange, SyncOp, Watcher } from './services.js';
import { netChanges } from '../watch/changes.js';

export type DevAction =
  | { type: 'files-changed'; changes: FileChange[] }
  | { type: 'pod-updated'; update: PodUpdate }
  | { type: 'build-finished'; results: BuildResult[] }
  | { type: 'deploy-finished'; ok: boolean }
  | { type: 'cluster-unreachable'; error: ClusterUnreachableError }
  | { type: 'cluster-reachable' }
  | { type: 'rebuild-requested'; images: string[] }
  | { type: 'full-sync-requested'; image: string }
  | { type: 'apply-requested' }
  | { type: 'quit-requested' };

export interface DevOptions {
  /** Delete what was applied on exit (`--cleanup=false` turns it off). */
  cleanup: boolean;
  /** Emit a `change` event for every planned change (--explain, JSON output, dashboard). */
  explain: boolean;
  portForward: boolean;
  /** --push: push even to a local cluster. */
  push: boolean;
  /** --adopt: take over existing objects of the same names that devloop did not create. */
  adopt?: boolean;
  signal: AbortSignal;
  sink: EventSink;
  /** `devloop dev IMAGE...`: the only artifacts watched, synced and rebuilt on a change; absent: all. */
  watchedImages?: ReadonlySet<string>;
}

/**
 * The single state of a dev session. Only `dispatch` and the queued work change it (and the cluster
 * probe its own retry bookkeeping in `cluster` while unreachable).
 */
export interface DevState {
  config: Config;
  phase: 'starting' | 'running' | 'stopping';
  /** Last good build per image (the references deployed). */
  builds: Map<string, BuildResult>;
  /** Images whose last build failed or was skipped: rebuilt with the next change. */
  failedImages: Set<string>;
  /** A deploy failed or never happened: redeployed with the next change. */
  deployPending: boolean;
  /** Whether anything may have been applied (teardown runs `down` only then). */
  applied: boolean;
  /** Images whose sync is unusable; their syncable changes rebuild. */
  syncDisabled: Set<string>;
  pods: Map<string, PodSnapshot>;
  pendingChanges: FileChange[];
  /** Trigger manual: changes seen and not yet applied (net per path), released by `apply-requested`. */
  heldChanges: FileChange[];
  /** Whether the API server answers; `unreachable` from a call that could not reach it until a probe answers. */
  cluster: ClusterState;
  /**
   * Local paths whose sync did not reach the cluster (edited while it was unreachable): synced with
   * their content of that moment once it answers. A set of paths, never contents.
   */
  unsyncedPaths: Set<string>;
}

export type ClusterState =
  | { reachable: true }
  | { reachable: false; since: number; message: string; attempt: number; nextRetryAt: number };

/** A sync or apply with no answer for this long shows "waiting for the cluster". */
export const WAITING_NOTICE_MS = 2_000;

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

export class DevEngine {
  readonly state: DevState;
  private readonly stops: Stoppable[] = [];
  private readonly loop = new AbortController();
  private queue: Promise<void> = Promise.resolve();
  private batchQueued = false;
  /** Where builds go (the registry or default repo of the image target). */
  private destination: ReturnType<typeof buildDestination> = {};
  private target?: ImageTarget;
  private push = false;
  private manifestFiles: ReadonlySet<string> = new Set();
  private contextFilters: ReadonlyMap<string, ContextFilter> = new Map();
  private watcher?: Watcher;
  private podWatcher?: PodWatcher;
  private logs?: LogStreamer;
  private forwards?: PortForwarder;
  /** Containers whose replay could not reach the cluster, by `namespace/pod/container`: replayed once it answers. */
  private readonly replaysAfterOutage = new Map<string, ContainerTarget>();

  constructor(
    config: Config,
    private readonly services: DevServices,
    private readonly options: DevOptions,
  ) {
    // every stream, watch and channel of the session listens to this one signal
    setMaxListeners(0, this.loop.signal);
    this.state = {
      config,
      phase: 'starting',
      builds: new Map(),
      failedImages: new Set(),
      deployPending: true,
      applied: false,
      syncDisabled: new Set(),
      pods: new Map(),
      pendingChanges: [],
      heldChanges: [],
      cluster: { reachable: true },
      unsyncedPaths: new Set(),
    };
  }

  private get signal(): AbortSignal {
    return this.loop.signal;
  }

  private get sink(): EventSink {
    return this.options.sink;
  }

  /** The one place where actions change the state or schedule work. Never throws. */
  dispatch(action: DevAction): void {
    const state = this.state;
    switch (action.type) {
      case 'files-changed':
        if (state.phase === 'stopping') return;
        if (state.config.watch.trigger === 'manual') {
          this.hold(action.changes);
          return;
        }
        this.planSoon(action.changes);
        return;
      case 'apply-requested': {
        if (state.phase === 'stopping') return;
        const held = state.heldChanges.splice(0);
        this.sink.emit({
          type: 'watch',
          status: 'held',
          held: [],
          applied: held.length > 0,
          message: held.length > 0 ? `applying ${held.length} held change(s)` : 'no change is waiting to be applied',
        });
        if (held.length > 0) this.planSoon(held);
        return;
      }
      case 'pod-updated':
        this.onPodUpdated(action.update);
        return;
      case 'build-finished':
        for (const result of action.results) {
          if (result.status === 'built' || result.status === 'cached') {
            const before = state.builds.get(result.image);
            state.builds.set(result.image, result);
            state.failedImages.delete(result.image);
            // the new image carries the working tree: earlier syncs must not be replayed into it
            if (before && before.tag !== result.tag) this.services.syncer.resetImage(result.image);
          } else if (result.status === 'failed' || result.status === 'skipped') {
            state.failedImages.add(result.image);
          }
        }
        return;
      case 'deploy-finished':
        state.deployPending = !action.ok;
        return;
      case 'cluster-unreachable':
        if (state.phase === 'stopping' || !state.cluster.reachable) return;
        state.cluster = { reachable: false, since: Date.now(), message: action.error.message, attempt: 0, nextRetryAt: Date.now() };
        void this.probeUntilReachable();
        return;
      case 'cluster-reachable': {
        if (state.cluster.reachable) return;
        const since = state.cluster.since;
        state.cluster = { reachable: true };
        if (state.phase === 'stopping') return;
        this.sink.emit({
          type: 'cluster',
          status: 'reachable',
          since: new Date(since).toISOString(),
          pendingFiles: state.unsyncedPaths.size,
          redeploy: state.deployPending,
        });
        this.enqueue(() => this.resyncAfterOutage());
        return;
      }
      case 'rebuild-requested':
        if (state.phase === 'stopping') return;
        this.enqueue(() => this.rebuildAndDeploy(action.images, false));
        return;
      case 'full-sync-requested':
        if (state.phase === 'stopping') return;
        this.enqueue(() => this.fullSync(action.image));
        return;
      case 'quit-requested':
        this.loop.abort(new Error('quit'));
        return;
    }
  }

  /** Queues `changes` to be planned with whatever else is pending, after the running job. */
  private planSoon(changes: FileChange[]): void {
    const state = this.state;
    state.pendingChanges.push(...changes);
    if (this.batchQueued) return;
    this.batchQueued = true;
    this.enqueue(async () => {
      this.batchQueued = false;
      await this.applyChanges(state.pendingChanges.splice(0));
    });
  }

  /** Trigger manual: keeps `changes` (net per path) until `apply-requested`, and lists what waits. */
  private hold(changes: FileChange[]): void {
    const state = this.state;
    state.heldChanges = netChanges([...state.heldChanges, ...changes]);
    const held = state.heldChanges.map((c) => `${c.kind} ${path.relative(state.config.rootDir, c.path) || c.path}`);
    this.sink.emit({
      type: 'watch',
      status: 'held',
      held,
      message: `${held.length} change(s) waiting (trigger manual): press a in the dashboard, or send a line on stdin, to apply them`,
    });
  }

  /** Runs `work` after everything queued before it; failures are shown and the loop goes on. */
  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (this.state.phase === 'stopping') return;
      try {
        await work();
      } catch (error) {
        if (!this.signal.aborted) this.reportFailure(error);
      }
    });
  }

  private reportFailure(error: unknown, what?: string): void {
    const e: DevloopError = toDevloopError(error);
    const lines = [`${what ? `${what}: ` : ''}${e.message}`, ...e.details.map((d) => `  ${d}`)];
    if (e.hint) lines.push(`  next: ${e.hint}`);
    lines.push('  devloop keeps watching: the next change retries.');
    this.sink.emit({ type: 'message', level: 'warn', text: lines.join('\n') });
  }

  /**
   * Runs the session until `signal` aborts or `q`; tears down; resolves with the exit code.
   * Throws (after tearing down) when start-up hit an environment error, or when `down` fails.
   */
  async run(): Promise<number> {
    const onAbort = () => this.loop.abort(this.options.signal.reason);
    this.options.signal.addEventListener('abort', onAbort, { once: true });
    if (this.options.signal.aborted) onAbort();
    let startupError: unknown;
    try {
      await this.startUp();
    } catch (error) {
      // build and deploy failures never get here (they are shown and retried); what does is an
      // environment problem (cluster or Docker unreachable) that no file change can fix
      if (!this.signal.aborted) startupError = error;
    }
    const interruptedDuringStartup = this.signal.aborted && this.state.phase === 'starting';
    if (!this.signal.aborted && startupError === undefined) {
      this.state.phase = 'running';
      const onExit = this.options.cleanup ? 'stop and delete what was deployed' : 'stop (--cleanup=false: what was deployed stays)';
      this.sink.emit({ type: 'message', level: 'info', text: `devloop dev: watching for changes. Press Ctrl-C to ${onExit}.` });
      await new Promise<void>((resolve) => this.signal.addEventListener('abort', () => resolve(), { once: true }));
    }
    this.options.signal.removeEventListener('abort', onAbort);
    await this.tearDown();
    if (startupError !== undefined) throw startupError;
    return interruptedDuringStartup ? 130 : 0;
  }

  private register(name: string, stop: () => Promise<void>): void {
    this.stops.push({ name, stop });
  }

  private async startUp(): Promise<void> {
    const { services, state } = this;
    const config = state.config;
    // The image target (one API read) is asked for while the watcher starts; awaited below.
    const targetRead = services.deployer.imageTarget(this.signal, this.sink);
    targetRead.catch(() => undefined);
    this.contextFilters = await services.contextFilters(config);
    this.watcher = await services.startWatcher(config, {
      signal: this.signal,
      sink: this.sink,
      onBatch: (changes) => this.dispatch({ type: 'files-changed', changes }),
      contextFilters: this.contextFilters,
      ...(this.options.watchedImages ? { watchedImages: this.options.watchedImages } : {}),
    });
    const watcher = this.watcher;
    this.register('file watcher', () => watcher.close());
    this.register('sync channels', () => services.syncer.close());
    this.manifestFiles = await services.manifestFiles(config);
    if (this.signal.aborted) return;

    const target = await targetRead;
    this.target = target;
    this.destination = buildDestination(target);
    this.push = shouldPush(config, target, this.options.push);

    // start-up is the first job of the queue: batches arriving meanwhile wait and coalesce
    const startup = new Promise<void>((resolve, reject) => {
      this.enqueueStrict(async () => {
        // The pod watch lists while the build runs, so the rollout wait knows every pod at once.
        this.startObserving();
        await this.build(config.build.artifacts.map((a) => a.image));
        if (this.signal.aborted) return;
        // Port-forwards listen as soon as the objects are applied (a Service must exist to be
        // read); a connection waits for a ready pod, so they need not wait for the rollout.
        let forwarding: Promise<void> | undefined;
        const startForwarding = () => {
          if (this.options.portForward && config.portForward.length > 0 && !this.signal.aborted) forwarding ??= this.startForwarding();
        };
        await this.deploy(startForwarding);
        if (this.signal.aborted) return;
        startForwarding();
        await forwarding;
      }, resolve, reject);
    });
    await startup;
  }

  /** Like `enqueue`, but hands the outcome to the caller instead of reporting it. */
  private enqueueStrict(work: () => Promise<void>, resolve: () => void, reject: (e: unknown) => void): void {
    this.queue = this.queue.then(() => work().then(resolve, reject));
  }

  private startObserving(): void {
    const { services, state } = this;
    if (this.podWatcher) return;
    this.logs = createLogStreamer(services.followLog, this.sink);
    const logs = this.logs;
    this.podWatcher = services.startPodWatcher({
      project: state.config.name,
      signal: this.signal,
      sink: this.sink,
      onUpdate: (update) => {
        logs.update(update);
        this.dispatch({ type: 'pod-updated', update });
      },
    });
    const podWatcher = this.podWatcher;
    this.register('pod watcher', () => podWatcher.stop());
    this.register('log streams', () => logs.stop());
  }

  private async startForwarding(): Promise<void> {
    const config = this.state.config;
    this.forwards = await startPortForwards(config.portForward, {
      ...this.services.portForward,
      pods: () => this.state.pods.values(),
      sink: this.sink,
      defaultNamespace: config.deploy.namespace ?? 'default',
    });
    const forwards = this.forwards;
    this.register('port-forwards', () => forwards.stop());
  }

  private onPodUpdated(update: PodUpdate): void {
    const { state } = this;
    const id = `${update.snapshot.namespace}/${update.snapshot.name}`;
    if (update.deleted) {
      state.pods.delete(id);
      for (const c of update.snapshot.containers) {
        this.services.syncer.forget({ namespace: update.snapshot.namespace, pod: update.snapshot.name, container: c.name });
      }
    } else {
      state.pods.set(id, update.snapshot);
    }
    this.forwards?.podsChanged();
    if (state.phase === 'stopping') return;
    for (const transition of update.transitions) {
      const target = this.targetFor(update.snapshot, transition.container.name);
      if (!target) continue;
      // a (re)started container runs the image as built: bring it up to the working tree
      this.enqueue(async () => {
        const pod = state.pods.get(id);
        const container = pod?.containers.find((c) => c.name === target.container);
        if (!container || container.state !== 'running' || pod?.terminating) return;
        try {
          const replayed = await this.services.syncer.replay(target, this.signal);
          if (replayed) await this.afterReplay(replayed, target);
        } catch (error) {
          // the ledger stays: the replay runs again once the cluster answers
          if (!isClusterUnreachable(error)) throw error;
          this.replaysAfterOutage.set(`${id}/${target.container}`, target);
          this.dispatch({ type: 'cluster-unreachable', error });
        }
      });
    }
  }

  /** The artifacts not developed in this session (`devloop dev IMAGE...` named others). */
  private unwatched(): Set<string> {
    const watched = this.options.watchedImages;
    return new Set(watched ? this.state.config.build.artifacts.map((a) => a.image).filter((i) => !watched.has(i)) : []);
  }

  /** The sync target of a container when it runs the current build of an artifact. */
  private targetFor(pod: PodSnapshot, containerName: string): ContainerTarget | undefined {
    const container = pod.containers.find((c) => c.name === containerName);
    if (!container || pod.terminating) return undefined;
    // A reference built in this session names its artifact exactly (a default repo renames
    // images: reg/app -> registry.example.com/reg_app); otherwise match by name.
    const built = [...this.state.builds].find(([, result]) => result.tag === container.image)?.[0];
    const image = built ?? artifactOfImage(container.image, this.state.config.build.artifacts.map((a) => a.image));
    if (!image) return undefined;
    const current = this.state.builds.get(image)?.tag;
    if (current && current !== container.image) return undefined;
    return {
      namespace: pod.namespace,
      pod: pod.name,
      container: container.name,
      image,
      ...(container.workingDir ? { workdir: container.workingDir } : {}),
    };
  }

  /** Every running container of the current build of `image`, in every replica. */
  private targetsOf(image: string): ContainerTarget[] {
    const targets: ContainerTarget[] = [];
    for (const pod of this.state.pods.values()) {
      for (const container of pod.containers) {
        if (container.state !== 'running') continue;
        const target = this.targetFor(pod, container.name);
        if (target?.image === image) targets.push(target);
      }
    }
    return targets;
  }

  /** Plans a batch and executes the plan: reload, syncs, rebuilds, redeploy. */
  private async applyChanges(changes: FileChange[]): Promise<void> {
    if (changes.length === 0) return;
    const { services, state } = this;
    const plan = services.planChanges(changes, state.config, {
      manifestFiles: this.manifestFiles,
      syncDisabled: state.syncDisabled,
      contextFilters: this.contextFilters,
      unwatched: this.unwatched(),
    });
    if (this.options.explain) for (const decision of plan.decisions) this.sink.emit(decision);
    let rebuildAll = false;
    let redeploy = plan.redeploy;
    if (plan.reloadConfig) {
      try {
        const next = await services.reloadConfig();
        await this.replaceConfig(next);
        rebuildAll = true;
        redeploy = true;
        this.sink.emit({ type: 'message', level: 'info', text: `config reloaded from ${next.file}` });
      } catch (error) {
        this.reportFailure(error, 'the changed config is invalid; the previous one keeps running');
      }
    }
    if (redeploy) this.manifestFiles = await services.manifestFiles(state.config);

    const rebuild = new Set(rebuildAll ? state.config.build.artifacts.map((a) => a.image) : plan.rebuild);
    const syncs = rebuildAll ? [] : plan.syncs.filter((op) => !rebuild.has(op.image));
    const fallbacks = await this.runSyncs(syncs, (image) => syncedPaths(plan.decisions, image));
    for (const image of fallbacks) rebuild.add(image);
    await this.rebuildAndDeploy([...rebuild], redeploy);
  }

  /**
   * Applies syncs in parallel; returns the images whose sync failed and must rebuild instead. A sync
   * that cannot reach the cluster (or is not tried because it is unreachable) rebuilds nothing: the
   * local paths behind it (`pathsOf(image)`) are remembered and synced when the cluster answers.
   */
  private async runSyncs(ops: SyncOp[], pathsOf: (image: string) => string[]): Promise<string[]> {
    const failed: string[] = [];
    const remember = (op: SyncOp) => {
      for (const p of pathsOf(op.image)) this.state.unsyncedPaths.add(p);
    };
    if (!this.state.cluster.reachable) {
      if (ops.length === 0) return failed;
      for (const op of ops) remember(op);
      this.sink.emit({
        type: 'message',
        level: 'info',
        text: `cluster unreachable: ${this.state.unsyncedPaths.size} edited file(s) will be synced when it answers`,
      });
      return failed;
    }
    const started = Date.now();
    const stopNotice = this.noticeSilence(() => Date.now() - started);
    await Promise.all(
      ops.map(async (op) => {
        try {
          const targets = this.targetsOf(op.image);
          if (targets.length === 0) {
            // not silent: the files are recorded and replayed into the next container of the image
            this.sink.emit({
              type: 'message',
              level: 'warn',
              text: `${op.image}: no running container runs its current build; ${op.copy.length + op.delete.length} change(s) will be replayed when one starts`,
            });
          }
          const artifact = this.artifactOf(op.image);
          let rebuildAfterHook = false;
          if (artifact && op.hooks?.before.length) rebuildAfterHook = await this.runSyncHooks('before', op, artifact, targets);
          await this.services.syncer.sync(op, targets, this.signal);
          if (artifact && op.hooks?.after.length) rebuildAfterHook = (await this.runSyncHooks('after', op, artifact, targets)) || rebuildAfterHook;
          if (artifact?.sync?.restart && op.restart) await this.restartMainProcesses(artifact, targets);
          if (rebuildAfterHook && !this.signal.aborted) failed.push(op.image);
        } catch (error) {
          if (this.signal.aborted) return;
          if (isClusterUnreachable(error)) {
            remember(op);
            this.dispatch({ type: 'cluster-unreachable', error });
            return;
          }
          const e = toDevloopError(error);
          // the Syncer already emitted a failed `sync` event per container; a container that cannot
          // take syncs at all (no sh/tar, read-only, permissions) disables sync for the image
          const unusable = error instanceof SyncUnusableError;
          if (unusable) this.state.syncDisabled.add(op.image);
          this.sink.emit({
            type: 'message',
            level: 'warn',
            text: `${e.message}${unusable ? '' : `; rebuilding ${op.image} so the change is not lost`}${e.hint ? `\n  next: ${e.hint}` : ''}`,
          });
          failed.push(op.image);
        }
      }),
    ).finally(stopNotice);
    return failed;
  }

  private artifactOf(image: string): Artifact | undefined {
    return this.state.config.build.artifacts.find((a) => a.image === image);
  }

  /**
   * Runs the `when` sync hooks a batch triggered (`op.hooks`), in list order: a host hook once, with
   * the batch's file lists; a container hook in every target (or one, `where: one`), in parallel.
   * A failure is shown (the `hook` event carries the output) and never stops the loop; resolves
   * whether a failed hook asked for a rebuild (`onFailure: rebuild`). Rejects only when the cluster
   * cannot be reached (the caller remembers the batch).
   */
  private async runSyncHooks(when: 'before' | 'after', op: SyncOp, artifact: Artifact, targets: readonly ContainerTarget[]): Promise<boolean> {
    const list = artifact.sync?.hooks?.[when] ?? [];
    let rebuild = false;
    for (const index of op.hooks?.[when] ?? []) {
      const hook = list[index];
      if (!hook || this.signal.aborted) continue;
      const ref: HookRef = { phase: 'sync', when, index: index + 1, artifact: artifact.image };
      const timeoutMs = hook.timeoutSeconds * 1000;
      const failures: Array<{ outcome: HookOutcome; where: string }> = [];
      if (hook.host) {
        const env = syncHookEnv({
          imageRef: this.state.builds.get(artifact.image)?.tag ?? artifact.image,
          contextDir: artifact.contextDir,
          added: op.copy.map((c) => c.localPath),
          deleted: op.deletedLocal ?? [],
          ...(this.state.config.deploy.kubeContext ? { kubeContext: this.state.config.deploy.kubeContext } : {}),
          namespaces: [...new Set(targets.map((t) => t.namespace))],
        });
        const cwd = path.resolve(artifact.contextDir, hook.host.dir ?? '.');
        const outcome = await this.services.hooks.host(ref, { command: hook.host.command, cwd, env, timeoutMs }, { signal: this.signal, sink: this.sink });
        if (outcome.status === 'failed' || outcome.status === 'timed-out') failures.push({ outcome, where: 'on this machine' });
      } else if (hook.container) {
        const chosen = hook.container.where === 'one' ? targets.slice(0, 1) : targets;
        const command = hook.container.command;
        await Promise.all(
          chosen.map(async (target) => {
            const outcome = await this.runContainerHook(ref, target, command, timeoutMs);
            if (outcome && (outcome.status === 'failed' || outcome.status === 'timed-out')) failures.push({ outcome, where: `in ${target.pod}/${target.container}` });
          }),
        );
      }
      if (failures.length === 0 || this.signal.aborted) continue;
      const fallback = hook.onFailure === 'rebuild';
      if (fallback) rebuild = true;
      this.sink.emit({
        type: 'message',
        level: 'warn',
        text: [
          ...failures.map((f) => `${artifact.image}: ${hookLabel(ref)} hook (${hook.host ? 'host' : 'container'}) ${describeOutcome(f.outcome)} ${f.where}`),
          fallback ? `  onFailure: rebuild: rebuilding ${artifact.image}` : '  next: fix the command (its output is above); the next sync runs it again',
        ].join('\n'),
      });
    }
    return rebuild;
  }

  /** One container hook in one container; undefined when the container is gone (its replacement runs it after the replay). */
  private async runContainerHook(ref: HookRef, target: ContainerTarget, command: string[], timeoutMs: number): Promise<HookOutcome | undefined> {
    try {
      return await this.services.hooks.container(ref, target, { command, timeoutMs }, { signal: this.signal, sink: this.sink });
    } catch (error) {
      if (isNotFound(error)) {
        this.sink.emit({ type: 'message', level: 'debug', text: `${target.namespace}/${target.pod}/${target.container} is gone: ${hookLabel(ref)} runs in its replacement after the replay` });
        return undefined;
      }
      throw error;
    }
  }

  /** Restarts the main process of each target (sync.restart), one container after another's files are written. */
  private async restartMainProcesses(artifact: Artifact, targets: readonly ContainerTarget[]): Promise<void> {
    const timeoutSeconds = artifact.sync?.restart?.timeoutSeconds ?? 10;
    await Promise.all(
      targets.map(async (target) => {
        try {
          await this.services.syncer.restart(target, timeoutSeconds, this.signal);
        } catch (error) {
          if (this.signal.aborted || isClusterUnreachable(error)) throw error;
          this.reportFailure(error, `${artifact.image}: sync.restart`);
        }
      }),
    );
  }

  /**
   * After files were replayed into a (re)started container: the `after` container hooks those files
   * trigger run again in it (host hooks already ran for their batch), then sync.restart when they
   * trigger it, so the container runs what was synced.
   */
  private async afterReplay(op: SyncOp, target: ContainerTarget): Promise<void> {
    const artifact = this.artifactOf(op.image);
    if (!artifact || this.signal.aborted) return;
    const triggered = hooksTriggeredBy(artifact, op.copy.map((c) => c.localPath));
    const after = triggered.hooks.after.filter((i) => artifact.sync?.hooks?.after[i]?.container);
    if (after.length > 0) {
      const replayOp: SyncOp = { ...op, hooks: { before: [], after } };
      if (await this.runSyncHooks('after', replayOp, artifact, [target])) {
        await this.rebuildAndDeploy([artifact.image], false);
        return;
      }
    }
    if (triggered.restart) await this.restartMainProcesses(artifact, [target]);
  }

  /**
   * While a call runs: once `noAnswerMs()` reaches 2 s, emits a `cluster` `waiting` event about
   * every second, and a `reachable` one (with the time waited) when the call ends after that.
   * Returns the function that ends the watch.
   */
  private noticeSilence(noAnswerMs: () => number): () => void {
    let longest = 0;
    const timer = setInterval(() => {
      const waited = noAnswerMs();
      if (waited < WAITING_NOTICE_MS || !this.state.cluster.reachable || this.signal.aborted) return;
      longest = Math.max(longest, waited);
      this.sink.emit({ type: 'cluster', status: 'waiting', noAnswerMs: waited });
    }, 1_000);
    timer.unref();
    return () => {
      clearInterval(timer);
      if (longest > 0 && this.state.cluster.reachable && !this.signal.aborted) {
        this.sink.emit({ type: 'cluster', status: 'reachable', noAnswerMs: longest, message: 'the cluster answered' });
      }
    };
  }

  /**
   * Probes the API server on the shared backoff until it answers (then dispatches
   * `cluster-reachable`) or the session stops. Emits `cluster` `unreachable` before each wait.
   */
  private async probeUntilReachable(): Promise<void> {
    const { state, signal } = this;
    for (let attempt = 0; !signal.aborted && !state.cluster.reachable; attempt++) {
      const delay = backoffMs(attempt);
      const cluster = state.cluster;
      cluster.attempt = attempt;
      cluster.nextRetryAt = Date.now() + delay;
      this.sink.emit({
        type: 'cluster',
        status: 'unreachable',
        since: new Date(cluster.since).toISOString(),
        nextRetry: new Date(cluster.nextRetryAt).toISOString(),
        attempt,
        pendingFiles: state.unsyncedPaths.size,
        message: cluster.message,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
      if (signal.aborted) return;
      try {
        await this.services.probeCluster(signal);
        this.dispatch({ type: 'cluster-reachable' });
        return;
      } catch (error) {
        if (signal.aborted) return;
        if (!state.cluster.reachable) state.cluster.message = toDevloopError(error).message;
      }
    }
  }

  /**
   * After an outage: runs the deploy that failed or was postponed (with any build that failed), then
   * syncs the latest content of every remembered path (a path gone from disk is deleted) into every
   * container of the current build. Nothing is rebuilt for these files.
   */
  private async resyncAfterOutage(): Promise<void> {
    const { state, services } = this;
    if (!state.cluster.reachable) return;
    if (state.deployPending || state.failedImages.size > 0) await this.rebuildAndDeploy([], false);
    if (!state.cluster.reachable || this.signal.aborted) return;
    const replays = [...this.replaysAfterOutage.values()];
    this.replaysAfterOutage.clear();
    for (const target of replays) {
      const pod = state.pods.get(`${target.namespace}/${target.pod}`);
      if (!pod || !this.targetsOf(target.image).some((t) => t.pod === target.pod && t.container === target.container)) continue;
      try {
        await this.services.syncer.replay(target, this.signal);
      } catch (error) {
        if (!isClusterUnreachable(error)) throw error;
        this.replaysAfterOutage.set(`${target.namespace}/${target.pod}/${target.container}`, target);
        this.dispatch({ type: 'cluster-unreachable', error });
        return;
      }
    }
    const paths = [...state.unsyncedPaths];
    state.unsyncedPaths.clear();
    if (paths.length === 0) return;
    const changes: FileChange[] = await Promise.all(
      paths.map(async (p) => ({ path: p, kind: (await stat(p).then(() => true, () => false)) ? ('change' as const) : ('unlink' as const) })),
    );
    const plan = services.planChanges(changes, state.config, {
      manifestFiles: this.manifestFiles,
      syncDisabled: state.syncDisabled,
      contextFilters: this.contextFilters,
      unwatched: this.unwatched(),
    });
    const fallbacks = await this.runSyncs(plan.syncs, (image) => syncedPaths(plan.decisions, image));
    if (fallbacks.length > 0) await this.rebuildAndDeploy(fallbacks, false);
  }

  /**
   * Rebuilds `images` (with their dependents and whatever failed before), then redeploys when a
   * reference changed, when asked, or when an earlier deploy failed.
   */
  private async rebuildAndDeploy(images: string[], redeploy: boolean): Promise<void> {
    const { state, services } = this;
    const wanted = new Set([...images, ...state.failedImages]);
    let changed = false;
    if (wanted.size > 0) {
      const withDependents = new Set([...wanted, ...services.dependentsOf(state.config, [...wanted])]);
      changed = await this.build([...withDependents]);
    }
    if (this.signal.aborted) return;
    if (changed || redeploy || state.deployPending) await this.deploy();
  }

  /** Builds `images`; resolves whether any deployed reference changed. Failures are shown, not thrown. */
  private async build(images: string[]): Promise<boolean> {
    const { state, services } = this;
    const known = new Set(state.config.build.artifacts.map((a) => a.image));
    const selected = images.filter((i) => known.has(i));
    if (selected.length === 0) return false;
    const before = new Map([...state.builds].map(([k, v]) => [k, v.tag]));
    const results = await services.builder.build(state.config, {
      images: selected,
      push: this.push,
      ...this.destination,
      previous: state.builds,
      signal: this.signal,
      sink: this.sink,
    });
    this.dispatch({ type: 'build-finished', results });
    const fresh = results.filter((r) => (r.status === 'built' || r.status === 'cached') && before.get(r.image) !== r.tag).map((r) => r.tag);
    if (this.target && fresh.length > 0) await services.loadImages(this.target, fresh, this.signal, this.sink);
    return results.some((r) => (r.status === 'built' || r.status === 'cached') && before.get(r.image) !== r.tag);
  }

  /** `onApplied`: called once every object is applied, before the rollout wait. */
  private async deploy(onApplied?: () => void): Promise<void> {
    const { state, services } = this;
    const missing = state.config.build.artifacts.filter((a) => !state.builds.has(a.image)).map((a) => a.image);
    if (missing.length > 0) {
      state.deployPending = true;
      this.sink.emit({
        type: 'message',
        level: 'warn',
        text: `not deploying: ${missing.join(', ')} ${missing.length === 1 ? 'has' : 'have'} never built. Fix the build; the next change retries.`,
      });
      return;
    }
    if (!state.cluster.reachable) {
      state.deployPending = true;
      this.sink.emit({ type: 'message', level: 'info', text: 'cluster unreachable: the deploy runs when it answers' });
      return;
    }
    const images = new Map([...state.builds].map(([image, result]) => [image, result.tag]));
    state.applied = true;
    const stopNotice = this.noticeSilence(() => services.clusterNoAnswerMs());
    try {
      // the rollout wait reads the session's pod watcher (one pod watch, which also reports the pods)
      const pods = this.podWatcher?.feed;
      await services.deployer.deploy(state.config, { images, wait: true, adopt: this.options.adopt === true, signal: this.signal, sink: this.sink, ...(pods ? { pods } : {}), ...(onApplied ? { onApplied } : {}) });
      this.dispatch({ type: 'deploy-finished', ok: true });
    } catch (error) {
      this.dispatch({ type: 'deploy-finished', ok: false });
      if (this.signal.aborted) return;
      if (isClusterUnreachable(error)) {
        this.sink.emit({ type: 'message', level: 'warn', text: `deploy postponed: ${error.message}; it runs when the cluster answers` });
        this.dispatch({ type: 'cluster-unreachable', error });
        return;
      }
      this.reportFailure(error, 'deploy failed');
    } finally {
      stopNotice();
    }
  }

  private async replaceConfig(next: Config): Promise<void> {
    const previous = this.watcher;
    const contextFilters = await this.services.contextFilters(next);
    this.watcher = await this.services.startWatcher(next, {
      signal: this.signal,
      sink: this.sink,
      onBatch: (changes) => this.dispatch({ type: 'files-changed', changes }),
      contextFilters,
      ...(this.options.watchedImages ? { watchedImages: this.options.watchedImages } : {}),
    });
    const index = this.stops.findIndex((s) => s.name === 'file watcher');
    const watcher = this.watcher;
    if (index >= 0) this.stops[index] = { name: 'file watcher', stop: () => watcher.close() };
    this.state.config = next;
    this.contextFilters = contextFilters;
    await previous?.close().catch(() => undefined);
  }

  /** Copies every syncable file of `image`'s context into its containers (dashboard key `s`). */
  private async fullSync(image: string): Promise<void> {
    const { services, state } = this;
    const artifact = state.config.build.artifacts.find((a) => a.image === image);
    if (!artifact) return;
    // only files its sync rules match: any other file would make the plan rebuild the image instead
    const rules = (artifact.sync?.manual ?? []).map((r) => r.src);
    const files = (await contextFiles(artifact.contextDir, this.contextFilters.get(image))).filter((file) =>
      micromatch.isMatch(path.relative(artifact.contextDir, file).split(path.sep).join('/'), rules, { dot: true }),
    );
    const plan = services.planChanges(
      files.map((file) => ({ path: file, kind: 'change' as const })),
      state.config,
      { manifestFiles: new Set(), syncDisabled: new Set(), contextFilters: this.contextFilters },
    );
    const op = plan.syncs.find((s) => s.image === image);
    if (!op || (op.copy.length === 0 && op.delete.length === 0)) {
      this.sink.emit({ type: 'message', level: 'info', text: `${image}: no file matches its sync rules` });
      return;
    }
    const failed = await this.runSyncs([op], () => files);
    if (failed.length) await this.rebuildAndDeploy(failed, false);
  }

  private async tearDown(): Promise<void> {
    const { state } = this;
    state.phase = 'stopping';
    this.sink.emit({ type: 'message', level: 'info', text: 'stopping: closing watchers, log streams and port-forwards' });
    // the running job saw the abort; wait for it to unwind, but never forever
    await Promise.race([this.queue, new Promise((r) => setTimeout(r, 10_000).unref())]);
    for (const part of this.stops.splice(0).reverse()) {
      try {
        await Promise.race([part.stop(), new Promise((r) => setTimeout(r, 5_000).unref())]);
      } catch (error) {
        this.sink.emit({ type: 'message', level: 'warn', text: `stopping ${part.name} failed: ${(error as Error).message}` });
      }
    }
    if (!state.applied) return;
    if (!this.options.cleanup) {
      this.sink.emit({ type: 'teardown', status: 'skipped', message: '--cleanup=false: everything stays deployed; delete it with `devloop down`' });
      return;
    }
    // the run's signal has fired: teardown gets its own, which only a second Ctrl-C (process exit) ends
    await this.services.down(state.config, { signal: new AbortController().signal, sink: this.sink });
  }
}

/** The local paths a plan syncs into `image` (copied or deleted), from its decisions. */
function syncedPaths(decisions: readonly { path: string; artifact?: string; action: string }[], image: string): string[] {
  return decisions.filter((d) => d.action === 'sync' && d.artifact === image).map((d) => d.path);
}

/** Files of a build context that a build would send (.dockerignore applied; ignored trees pruned). */
export async function contextFiles(contextDir: string, filter: ContextFilter | undefined): Promise<string[]> {
  const files: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const absolute = path.join(dir, entry.name);
      const rel = path.relative(contextDir, absolute).split(path.sep).join('/');
      const isDir = entry.isDirectory();
      if (entry.name === '.git' || filter?.isExcluded(rel, isDir)) continue;
      if (isDir) await walk(absolute);
      else files.push(absolute);
    }
  }
  await walk(contextDir);
  return files;
}
