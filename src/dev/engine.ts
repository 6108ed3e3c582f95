/**
 * The dev loop's shell: it holds the one `DevState`, runs every action through the pure reducer
 * (reduce.ts, which lists who dispatches what) and performs the effects through `DevServices`:
 * events to the sink, jobs on the work queue (queue.ts: one at a time; file batches that arrive
 * while one runs accumulate in `DevState.pendingChanges` and are planned together), the cluster
 * probe. The jobs are here: plan a batch and execute the plan (sync with its hooks, rebuild,
 * redeploy), replay into a (re)started container, rebuild on request, full sync, re-sync after an
 * outage. They read the state afresh after every wait and change it only by dispatching.
 *
 * Triggers (`watch.trigger`): with `manual`, `files-changed` batches are held (net per path, listed
 * in a `watch` `held` event each time the set grows) until `apply-requested` releases them as one
 * batch; `notify` and `polling` plan every batch as it comes. With `watchedImages` (`devloop dev
 * IMAGE...`) only those artifacts are watched, synced and rebuilt on a change; the others are built
 * (or taken from cache) and deployed once.
 *
 * Start-up (`startUp`), one step after the other, each started part pushing its stop on the
 * lifecycle stack (lifecycle.ts): ask for the image target (one API read, awaited later); watch
 * files (changes made during start-up are queued, not lost); register the sync channels' close;
 * list the manifest files; take the image target; then, as
 * the queue's first job: watch pods and stream logs (so nothing is muted during the first rollout),
 * build every artifact (for the registry the cluster pulls from), deploy and wait, with the
 * port-forwards listening as soon as every object is applied. A failed build or deploy does not
 * end the loop: the error is shown in full and the next change retries what failed.
 *
 * Full sync (`s`): the files a build of the image sends (build/context.ts's listing with its
 * .dockerignore) go through the planner, which decides what the sync rules take.
 *
 * Cluster outages: a sync, replay or deploy that cannot reach the cluster (ClusterUnreachableError,
 * classified in src/kube) is a state, not a failure: nothing rebuilds. The paths of the files it
 * could not sync, and of every file edited while the cluster is unreachable, are kept as a set
 * (their content is read when it answers, so memory does not grow with the number of edits); a
 * deploy due meanwhile stays pending. A probe (`probeCluster`) runs on the shared backoff (250 ms
 * doubling to 4 s) until it answers; then the pending deploy runs (if any), the containers whose
 * replay failed are replayed, and the remembered files are synced with their latest content
 * (deleted ones deleted) into every container of the current build. A sync or deploy call with no
 * answer for 2 s emits `cluster` `waiting` events.
 *
 * Teardown (on `signal` or `q`): the queue refuses new work from the first moment and the running
 * job unwinds (bounded); the lifecycle stack stops every started part in reverse, each failure
 * reported and skipped; then `down` deletes what was applied unless `cleanup` is false. Returns 0,
 * or 130 when interrupted during start-up.
 */
import { setMaxListeners } from 'node:events';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { listContext } from '../build/context.js';
import { contextFileFilter } from '../build/dockerignore.js';
import type { Config } from '../config/load.js';
import type { Artifact } from '../config/types.js';
import { BugError, toDevloopError } from '../errors.js';
import { timePhase, type EventSink } from '../events.js';
import { buildDestination, shouldPush } from '../deploy/image-target.js';
import type { ImageTarget } from '../deploy/types.js';
import { describeOutcome, hookLabel, syncHookEnv, type HookOutcome, type HookRef } from '../hooks/types.js';
import { isClusterUnreachable, isNotFound } from '../kube/errors.js';
import { createLogStreamer } from '../observe/logs.js';
import type { PodWatcher } from '../observe/pods.js';
import { startPortForwards, type PortForwarder } from '../observe/portforward.js';
import { hooksTriggeredBy } from '../plan/index.js';
import { backoffMs } from '../shared/backoff.js';
import { sleep } from '../shared/abort.js';
import { SyncUnusableError } from '../sync/index.js';
import { LifecycleStack } from './lifecycle.js';
import { WorkQueue } from './queue.js';
import { failureText, initialState, reduce, type DevAction, type DevEffect, type DevState } from './reduce.js';
import type { ContainerTarget, ContextFilter, DevServices, FileChange, PlanState, SyncOp, Watcher } from './services.js';
import { targetsOf, unwatchedImages } from './targets.js';

export type { ClusterState, DevAction, DevState } from './reduce.js';

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

/** A sync or apply with no answer for this long shows "waiting for the cluster". */
export const WAITING_NOTICE_MS = 2_000;

/** How long after "watching" the builder warms up (DockerClient.warmUp). */
export const WARM_UP_AFTER_MS = 2_000;

type ExecutePlan = Extract<DevEffect, { type: 'execute-plan' }>;

export class DevEngine {
  private current: DevState;
  /** Aborts every stream, watch, channel and job of the session (Ctrl-C, SIGTERM, `q`). */
  private readonly loop = new AbortController();
  private readonly queue: WorkQueue;
  private readonly lifecycle: LifecycleStack;
  // handles of started parts (their stops are on the lifecycle stack)
  private watcher?: Watcher;
  private podWatcher?: PodWatcher;
  private forwards?: PortForwarder;

  constructor(
    config: Config,
    private readonly services: DevServices,
    private readonly options: DevOptions,
  ) {
    // every stream, watch and channel of the session listens to this one signal
    setMaxListeners(0, this.loop.signal);
    this.current = initialState(config, { explain: options.explain, ...(options.watchedImages ? { watchedImages: options.watchedImages } : {}) });
    this.queue = new WorkQueue((error) => {
      if (!this.signal.aborted) this.sink.emit({ type: 'message', level: 'warn', text: failureText(error) });
    });
    this.lifecycle = new LifecycleStack({
      onStopFailed: (name, error) => this.sink.emit({ type: 'message', level: 'warn', text: `stopping ${name} failed: ${error.message}` }),
    });
  }

  /** The session's state as of now (a new value after every action; never changed in place). */
  get state(): DevState {
    return this.current;
  }

  private get signal(): AbortSignal {
    return this.loop.signal;
  }

  private get sink(): EventSink {
    return this.options.sink;
  }

  /** Runs `action` through the reducer and performs its effects. Never throws. */
  dispatch(action: DevAction): void {
    this.perform(this.step(action));
  }

  /** Runs `action` through the reducer; returns the effects, not yet performed. */
  private step(action: DevAction): DevEffect[] {
    const { state, effects } = reduce(this.current, action);
    this.current = state;
    return effects;
  }

  private perform(effects: readonly DevEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'emit':
          this.sink.emit(effect.event);
          break;
        case 'plan-batch':
          this.queue.push(() => this.planBatch(), 'plan-batch');
          break;
        case 'replay':
          this.queue.push(() => this.replay(effect.target));
          break;
        case 'rebuild':
          this.queue.push(() => this.rebuildAndDeploy(effect.images, false));
          break;
        case 'full-sync':
          this.queue.push(() => this.fullSync(effect.image));
          break;
        case 'resync-after-outage':
          this.queue.push(() => this.resyncAfterOutage());
          break;
        case 'reset-image':
          this.services.syncer.resetImage(effect.image);
          break;
        case 'forget-container':
          this.services.syncer.forget(effect.container);
          break;
        case 'pods-changed':
          this.forwards?.podsChanged();
          break;
        case 'probe-cluster':
          void this.probeUntilReachable();
          break;
        case 'stop':
          this.loop.abort(new Error('quit'));
          break;
        case 'execute-plan':
          // only `batch-planned` returns it, to the job that dispatched it (planBatch)
          throw new BugError('execute-plan reached the effect loop');
      }
    }
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
      this.dispatch({ type: 'started' });
      const onExit = this.options.cleanup ? 'stop and delete what was deployed' : 'stop (--cleanup=false: what was deployed stays)';
      this.sink.emit({ type: 'message', level: 'info', text: `devloop dev: watching for changes. Press Ctrl-C to ${onExit}.` });
      // With cached images nothing loaded the Docker library yet: load it before the first rebuild
      // needs it, once start-up's own work (port-forwards' first answers) is likely over, since
      // loading holds the event loop for ~110 ms.
      const warmUp = setTimeout(() => this.services.builder.warmUp(), WARM_UP_AFTER_MS);
      await new Promise<void>((resolve) => this.signal.addEventListener('abort', () => resolve(), { once: true }));
      clearTimeout(warmUp);
    }
    this.options.signal.removeEventListener('abort', onAbort);
    await this.tearDown();
    if (startupError !== undefined) throw startupError;
    return interruptedDuringStartup ? 130 : 0;
  }

  /** Start-up as a sequence of steps; each started part registers its stop on the lifecycle stack. */
  private async startUp(): Promise<void> {
    const config = this.state.config;
    // the image target (one API read) is asked for while the watcher starts; awaited below
    const targetRead = timePhase(this.sink, 'dev/image-target', () => this.services.deployer.imageTarget(this.signal, this.sink));
    targetRead.catch(() => undefined);
    // The watcher's initial scan (seconds on a large tree) runs while the images are checked, built
    // and deployed: what changes meanwhile is reported once it is ready (`changedSince`), so no
    // edit made during start-up is lost. Start-up ends when the watcher is ready too.
    const stopWatching = new AbortController();
    const watching = timePhase(this.sink, 'dev/watch-files', () => this.watchFiles(config, AbortSignal.any([this.signal, stopWatching.signal]), Date.now()));
    watching.catch(() => undefined);
    this.lifecycle.push('file watcher', async () => {
      stopWatching.abort();
      await (await watching.catch(() => undefined))?.close();
    });
    this.lifecycle.push('sync channels', () => this.services.syncer.close());
    this.dispatch({ type: 'manifests-listed', files: await this.services.manifestFiles(config) });
    if (this.signal.aborted) return;
    this.resolveImageTarget(config, await targetRead);
    // start-up is the first job of the queue: batches arriving meanwhile wait and coalesce
    await this.queue.run(async () => {
      try {
        // the pod watch lists while the build runs, so the rollout wait knows every pod at once
        this.watchPods();
        await this.build(config.build.artifacts.map((a) => a.image));
        if (this.signal.aborted) return;
        // Port-forwards listen as soon as the objects are applied (a Service must exist to be
        // read); a connection waits for a ready pod, so they need not wait for the rollout.
        let forwarding: Promise<void> | undefined;
        const startForwarding = () => {
          if (this.options.portForward && config.portForward.length > 0 && !this.signal.aborted) forwarding ??= this.forwardPorts();
        };
        await this.deploy(startForwarding);
        if (this.signal.aborted) return;
        startForwarding();
        await forwarding;
      } catch (error) {
        // what escapes start-up ends the session (see run): the batches queued meanwhile (an edit
        // made during start-up) are dropped before they can build, sync or deploy
        this.queue.close();
        throw error;
      }
    });
    await watching;
  }

  /**
   * Loads the .dockerignore matchers and starts the file watcher with them; resolves with it once
   * it is ready. The caller registers its stop. `changedSince`: see WatcherOptions.
   */
  private async watchFiles(config: Config, signal: AbortSignal, changedSince: number): Promise<Watcher> {
    const contextFilters = await this.services.contextFilters(config);
    this.dispatch({ type: 'context-filters-loaded', contextFilters });
    const watcher = await this.startWatcher(config, contextFilters, signal, changedSince);
    this.watcher = watcher;
    return watcher;
  }

  private startWatcher(config: Config, contextFilters: ReadonlyMap<string, ContextFilter>, signal = this.signal, changedSince?: number): Promise<Watcher> {
    return this.services.startWatcher(config, {
      signal,
      sink: this.sink,
      onBatch: (changes) => this.dispatch({ type: 'files-changed', changes }),
      contextFilters,
      ...(this.options.watchedImages ? { watchedImages: this.options.watchedImages } : {}),
      ...(changedSince !== undefined ? { changedSince } : {}),
    });
  }

  /** Where builds go (the registry or default repo of the image target) and whether they are pushed. */
  private resolveImageTarget(config: Config, target: ImageTarget): void {
    this.dispatch({ type: 'image-target-resolved', buildTarget: { target, destination: buildDestination(target), push: shouldPush(config, target, this.options.push) } });
  }

  private watchPods(): void {
    if (this.podWatcher) return;
    const logs = createLogStreamer(this.services.followLog, this.sink);
    const podWatcher = this.services.startPodWatcher({
      project: this.state.config.name,
      signal: this.signal,
      sink: this.sink,
      onUpdate: (update) => {
        logs.update(update);
        this.dispatch({ type: 'pod-updated', update });
      },
    });
    this.podWatcher = podWatcher;
    this.lifecycle.push('pod watcher', () => podWatcher.stop());
    this.lifecycle.push('log streams', () => logs.stop());
  }

  private async forwardPorts(): Promise<void> {
    const config = this.state.config;
    const forwards = await timePhase(this.sink, 'dev/port-forwards', () => startPortForwards(config.portForward, {
      ...this.services.portForward,
      pods: () => this.state.pods.values(),
      sink: this.sink,
      defaultNamespace: config.deploy.namespace ?? 'default',
    }));
    this.forwards = forwards;
    this.lifecycle.push('port-forwards', () => forwards.stop());
  }

  /** What the planner needs besides the config, from the state. */
  private planState(): PlanState {
    const state = this.state;
    return { manifestFiles: state.manifestFiles, syncDisabled: state.syncDisabled, contextFilters: state.contextFilters, unwatched: unwatchedImages(state) };
  }

  /** The `plan-batch` job: plans every pending change together, reloads the config when the plan says so, executes the plan. */
  private async planBatch(): Promise<void> {
    const changes = this.state.pendingChanges;
    this.dispatch({ type: 'batch-taken' });
    if (changes.length === 0) return;
    const plan = this.services.planChanges([...changes], this.state.config, this.planState());
    let configReload: { file: string } | { error: unknown } | undefined;
    if (plan.reloadConfig) {
      try {
        const next = await this.services.reloadConfig();
        await this.replaceConfig(next);
        configReload = { file: next.file };
      } catch (error) {
        configReload = { error };
      }
    }
    const effects = this.step({ type: 'batch-planned', plan, ...(configReload ? { configReload } : {}) });
    this.perform(effects.filter((e) => e.type !== 'execute-plan'));
    for (const effect of effects) if (effect.type === 'execute-plan') await this.executePlan(effect);
  }

  /** Syncs (an image whose sync fails rebuilds instead), then rebuilds and redeploys as planned. */
  private async executePlan(work: ExecutePlan): Promise<void> {
    if (work.redeploy) this.dispatch({ type: 'manifests-listed', files: await this.services.manifestFiles(this.state.config) });
    const fallbacks = await this.runSyncs(work.syncs, (image) => work.syncedPaths.get(image) ?? []);
    await this.rebuildAndDeploy([...new Set([...work.rebuild, ...fallbacks])], work.redeploy);
  }

  /**
   * Applies syncs in parallel; returns the images whose sync failed and must rebuild instead. A sync
   * that cannot reach the cluster (or is not tried because it is unreachable) rebuilds nothing: the
   * local paths behind it (`pathsOf(image)`) are remembered and synced when the cluster answers.
   */
  private async runSyncs(ops: SyncOp[], pathsOf: (image: string) => string[]): Promise<string[]> {
    const failed: string[] = [];
    if (!this.state.cluster.reachable) {
      if (ops.length > 0) this.dispatch({ type: 'syncs-postponed', paths: ops.flatMap((op) => pathsOf(op.image)) });
      return failed;
    }
    const started = Date.now();
    const stopNotice = this.noticeSilence(() => Date.now() - started);
    await Promise.all(
      ops.map(async (op) => {
        try {
          const targets = targetsOf(this.state, op.image);
          if (targets.length === 0) {
            // No container runs the image. When that is because a workload running it was deleted
            // outside devloop, nothing would ever start one: rebuild (the change is in the image)
            // and apply the manifests again.
            const built = this.state.builds.get(op.image)?.tag;
            const vanished = built ? await this.services.deployer.vanishedWorkloads?.(built, this.signal).catch(() => []) : undefined;
            if (vanished && vanished.length > 0) {
              this.dispatch({ type: 'workloads-vanished' });
              this.sink.emit({
                type: 'message',
                level: 'warn',
                text: `${vanished.join(', ')}, which ${vanished.length === 1 ? 'runs' : 'run'} ${op.image}, ${vanished.length === 1 ? 'was' : 'were'} deleted outside devloop: rebuilding ${op.image} with the change and applying the manifests again`,
              });
              failed.push(op.image);
              return;
            }
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
            this.dispatch({ type: 'cluster-unreachable', message: error.message, at: Date.now(), unsyncedPaths: pathsOf(op.image) });
            return;
          }
          const e = toDevloopError(error);
          // the Syncer already emitted a failed `sync` event per container; a container that cannot
          // take syncs at all (no sh/tar, read-only, permissions) disables sync for the image
          const unusable = error instanceof SyncUnusableError;
          if (unusable) this.dispatch({ type: 'sync-unusable', image: op.image });
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

  /** The `replay` job: brings a (re)started container of the current build up to the working tree. */
  private async replay(target: ContainerTarget): Promise<void> {
    const pod = this.state.pods.get(`${target.namespace}/${target.pod}`);
    const container = pod?.containers.find((c) => c.name === target.container);
    if (!container || container.state !== 'running' || pod?.terminating) return;
    try {
      const replayed = await this.services.syncer.replay(target, this.signal);
      if (replayed) await this.afterReplay(replayed, target);
    } catch (error) {
      // the ledger stays: the replay runs again once the cluster answers
      if (!isClusterUnreachable(error)) throw error;
      this.dispatch({ type: 'cluster-unreachable', message: error.message, at: Date.now(), replays: [target] });
    }
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
          this.sink.emit({ type: 'message', level: 'warn', text: failureText(error, `${artifact.image}: sync.restart`) });
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
   * `cluster-reachable`) or the session stops. Each wait is announced by `probe-scheduled` (a
   * `cluster` `unreachable` event).
   */
  private async probeUntilReachable(): Promise<void> {
    const signal = this.signal;
    for (let attempt = 0; !signal.aborted && !this.state.cluster.reachable; attempt++) {
      const delayMs = backoffMs(attempt);
      this.dispatch({ type: 'probe-scheduled', attempt, at: Date.now(), delayMs });
      await sleep(delayMs, signal);
      if (signal.aborted) return;
      try {
        await this.services.probeCluster(signal);
        this.dispatch({ type: 'cluster-reachable' });
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.dispatch({ type: 'probe-failed', message: toDevloopError(error).message });
      }
    }
  }

  /**
   * The `resync-after-outage` job: runs the deploy that failed or was postponed (with any build that
   * failed), replays into the containers whose replay could not reach the cluster, then syncs the
   * latest content of every remembered path (a path gone from disk is deleted) into every container
   * of the current build. Nothing is rebuilt for these files.
   */
  private async resyncAfterOutage(): Promise<void> {
    if (!this.state.cluster.reachable) return;
    if (this.state.deployPending || this.state.failedImages.size > 0) await this.rebuildAndDeploy([], false);
    if (!this.state.cluster.reachable || this.signal.aborted) return;
    const replays = [...this.state.replaysAfterOutage.values()];
    const paths = [...this.state.unsyncedPaths];
    this.dispatch({ type: 'outage-resync-started' });
    for (const [index, target] of replays.entries()) {
      const pod = this.state.pods.get(`${target.namespace}/${target.pod}`);
      if (!pod || !targetsOf(this.state, target.image).some((t) => t.pod === target.pod && t.container === target.container)) continue;
      try {
        await this.services.syncer.replay(target, this.signal);
      } catch (error) {
        if (!isClusterUnreachable(error)) throw error;
        // down again: what is left waits for the next answer
        this.dispatch({ type: 'cluster-unreachable', message: error.message, at: Date.now(), replays: replays.slice(index), unsyncedPaths: paths });
        return;
      }
    }
    if (paths.length === 0) return;
    const changes: FileChange[] = await Promise.all(
      paths.map(async (p) => ({ path: p, kind: (await stat(p).then(() => true, () => false)) ? ('change' as const) : ('unlink' as const) })),
    );
    const plan = this.services.planChanges(changes, this.state.config, this.planState());
    const fallbacks = await this.runSyncs(plan.syncs, (image) => syncedPaths(plan.decisions, image));
    if (fallbacks.length > 0) await this.rebuildAndDeploy(fallbacks, false);
  }

  /**
   * Rebuilds `images` (with their dependents and whatever failed before), then redeploys when a
   * reference changed, when asked, or when an earlier deploy failed.
   */
  private async rebuildAndDeploy(images: string[], redeploy: boolean): Promise<void> {
    const wanted = new Set([...images, ...this.state.failedImages]);
    let changed = false;
    if (wanted.size > 0) {
      const withDependents = new Set([...wanted, ...this.services.dependentsOf(this.state.config, [...wanted])]);
      changed = await this.build([...withDependents]);
    }
    if (this.signal.aborted) return;
    if (changed || redeploy || this.state.deployPending) await this.deploy();
  }

  /** Builds `images`; resolves whether any deployed reference changed. Failures are shown, not thrown. */
  private async build(images: string[]): Promise<boolean> {
    const { config, builds: previous, buildTarget } = this.state;
    const known = new Set(config.build.artifacts.map((a) => a.image));
    const selected = images.filter((i) => known.has(i));
    if (selected.length === 0) return false;
    const before = new Map([...previous].map(([k, v]) => [k, v.tag]));
    const results = await timePhase(this.sink, 'dev/build', () =>
      this.services.builder.build(config, {
        images: selected,
        push: buildTarget?.push ?? false,
        ...buildTarget?.destination,
        previous,
        signal: this.signal,
        sink: this.sink,
      }),
    );
    this.dispatch({ type: 'build-finished', results });
    const fresh = results.filter((r) => (r.status === 'built' || r.status === 'cached') && before.get(r.image) !== r.tag).map((r) => r.tag);
    if (buildTarget && fresh.length > 0) await timePhase(this.sink, 'dev/load-images', () => this.services.loadImages(buildTarget.target, fresh, this.signal, this.sink));
    return fresh.length > 0;
  }

  /** `onApplied`: called once every object is applied, before the rollout wait. */
  private async deploy(onApplied?: () => void): Promise<void> {
    const { config, builds } = this.state;
    const missing = config.build.artifacts.filter((a) => !builds.has(a.image)).map((a) => a.image);
    if (missing.length > 0) {
      this.dispatch({ type: 'deploy-finished', ok: false });
      this.sink.emit({
        type: 'message',
        level: 'warn',
        text: `not deploying: ${missing.join(', ')} ${missing.length === 1 ? 'has' : 'have'} never built. Fix the build; the next change retries.`,
      });
      return;
    }
    if (!this.state.cluster.reachable) {
      this.dispatch({ type: 'deploy-finished', ok: false });
      this.sink.emit({ type: 'message', level: 'info', text: 'cluster unreachable: the deploy runs when it answers' });
      return;
    }
    const images = new Map([...builds].map(([image, result]) => [image, result.tag]));
    this.dispatch({ type: 'deploy-started' });
    const stopNotice = this.noticeSilence(() => this.services.clusterNoAnswerMs());
    try {
      // the rollout wait reads the session's pod watcher (one pod watch, which also reports the pods)
      const pods = this.podWatcher?.feed;
      await this.services.deployer.deploy(config, { images, wait: true, adopt: this.options.adopt === true, signal: this.signal, sink: this.sink, ...(pods ? { pods } : {}), ...(onApplied ? { onApplied } : {}) });
      this.dispatch({ type: 'deploy-finished', ok: true });
    } catch (error) {
      this.dispatch({ type: 'deploy-finished', ok: false });
      if (this.signal.aborted) return;
      if (isClusterUnreachable(error)) {
        this.sink.emit({ type: 'message', level: 'warn', text: `deploy postponed: ${error.message}; it runs when the cluster answers` });
        this.dispatch({ type: 'cluster-unreachable', message: error.message, at: Date.now() });
        return;
      }
      this.sink.emit({ type: 'message', level: 'warn', text: failureText(error, 'deploy failed') });
    } finally {
      stopNotice();
    }
  }

  /** A valid changed config: a watcher for it replaces the old one (in its place on the lifecycle stack). */
  private async replaceConfig(next: Config): Promise<void> {
    const previous = this.watcher;
    const contextFilters = await this.services.contextFilters(next);
    const watcher = await this.startWatcher(next, contextFilters);
    this.watcher = watcher;
    this.lifecycle.replace('file watcher', () => watcher.close());
    this.dispatch({ type: 'config-replaced', config: next, contextFilters });
    await previous?.close().catch(() => undefined);
  }

  /**
   * The `full-sync` job (dashboard key `s`): syncs every file of `image`'s build context that its
   * sync rules take into its containers. The files are those a build sends (build/context.ts's
   * listing with the image's .dockerignore); the planner decides which its sync rules take, with
   * every other image left out (an enclosing context must not turn the sync into a rebuild).
   */
  private async fullSync(image: string): Promise<void> {
    const artifact = this.artifactOf(image);
    if (!artifact) return;
    const entries = await listContext(artifact.contextDir, contextFileFilter(artifact), this.signal);
    const files = entries.filter((e) => e.type !== 'directory').map((e) => e.absPath);
    const planState: PlanState = {
      manifestFiles: new Set(),
      syncDisabled: new Set(),
      contextFilters: this.state.contextFilters,
      unwatched: new Set(this.state.config.build.artifacts.map((a) => a.image).filter((i) => i !== image)),
    };
    const asChanges = (paths: readonly string[]): FileChange[] => paths.map((p) => ({ path: p, kind: 'change' }));
    // a file no rule takes plans a rebuild of the image, which drops its syncs: the files the
    // first plan syncs are planned again on their own
    const syncable = syncedPaths(this.services.planChanges(asChanges(files), this.state.config, planState).decisions, image);
    const op = syncable.length > 0 ? this.services.planChanges(asChanges(syncable), this.state.config, planState).syncs.find((s) => s.image === image) : undefined;
    if (!op || (op.copy.length === 0 && op.delete.length === 0)) {
      this.sink.emit({ type: 'message', level: 'info', text: `${image}: no file matches its sync rules` });
      return;
    }
    const failed = await this.runSyncs([op], () => syncable);
    if (failed.length) await this.rebuildAndDeploy(failed, false);
  }

  private async tearDown(): Promise<void> {
    this.dispatch({ type: 'stopping' });
    this.queue.close();
    this.sink.emit({ type: 'message', level: 'info', text: 'stopping: closing watchers, log streams and port-forwards' });
    // the running job saw the abort; wait for it to unwind, but never forever
    await this.queue.settled(10_000);
    await this.lifecycle.tearDown();
    if (!this.state.applied) return;
    if (!this.options.cleanup) {
      this.sink.emit({ type: 'teardown', status: 'skipped', message: '--cleanup=false: everything stays deployed; delete it with `devloop down`' });
      return;
    }
    // the run's signal has fired: teardown gets its own, which only a second Ctrl-C (process exit) ends
    await this.services.down(this.state.config, { signal: new AbortController().signal, sink: this.sink });
  }
}

/** The local paths a plan syncs into `image` (copied or deleted), from its decisions. */
function syncedPaths(decisions: readonly { path: string; artifact?: string; action: string }[], image: string): string[] {
  return decisions.filter((d) => d.action === 'sync' && d.artifact === image).map((d) => d.path);
}
