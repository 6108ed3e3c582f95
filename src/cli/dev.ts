/**
 * `devloop dev [IMAGE...]`: parses the flags, wires the phases into the dev loop engine (src/dev)
 * and picks the renderer: the Ink dashboard when stdout is a TTY and the output is text (imported
 * dynamically, so runs without a TTY never load ink), else the run's sink (plain lines or JSON lines).
 * With `--trigger manual` and no dashboard, each line read on stdin applies the held changes.
 */
import { createInterface } from 'node:readline';
import { UsageError } from '../errors.js';
import { timePhase, type EventSink } from '../events.js';
import type { Config } from '../config/load.js';
import { DevEngine } from '../dev/engine.js';
import { acquireSessionLock } from '../dev/session-lock.js';
import { stateDirOf } from '../shared/paths.js';
import type { DevServices } from '../dev/services.js';
import { createKubeClient, type KubeClient } from '../kube/client.js';
import { followContainerLog } from '../kube/logs.js';
import { forwardSocket } from '../kube/portforward.js';
import { startPodWatcher } from '../observe/pods.js';
import { readService } from '../observe/portforward.js';
import type { CommandContext } from './context.js';

/** `--flag=false` / `--flag=true` / absent. */
function booleanFlag(ctx: CommandContext, name: string, fallback: boolean): boolean {
  const value = ctx.flags[name];
  if (value === undefined) return fallback;
  if (value === 'false') return false;
  if (value === 'true') return true;
  throw new UsageError(`--${name} must be true or false, not "${String(value)}"`, { hint: `Write --${name}=false to turn it off.` });
}

/**
 * The config with `--trigger` and `--watch-poll-interval` applied over `watch.trigger` and
 * `watch.pollIntervalMs` (a new object; the loaded one is not changed), checked against the same
 * schema fields. Applied to every reload too.
 */
async function watchFlagsOver(ctx: CommandContext): Promise<(config: Config) => Config> {
  const triggerFlag = ctx.flags.trigger;
  if (triggerFlag === undefined && ctx.flags['watch-poll-interval'] === undefined) return (config) => config;
  // only these flags need the schema (and its library, zod): a cached config needs neither
  const { WatchSchema } = await import('../config/schema.js');
  const triggers = WatchSchema.shape.trigger.unwrap().options;
  const trigger = triggers.find((t) => t === triggerFlag);
  if (triggerFlag !== undefined && trigger === undefined) {
    throw new UsageError(`--trigger must be one of ${triggers.join(', ')}, not "${String(triggerFlag)}"`, { hint: 'See devloop dev --help.' });
  }
  const interval = ctx.flags['watch-poll-interval'];
  const parsedInterval = interval === undefined ? undefined : WatchSchema.shape.pollIntervalMs.safeParse(Number(interval));
  if (parsedInterval && !parsedInterval.success) {
    const bounds = WatchSchema.shape.pollIntervalMs.unwrap();
    throw new UsageError(`--watch-poll-interval must be a whole number of milliseconds from ${bounds.minValue} to ${bounds.maxValue}, not "${String(interval)}"`, { hint: 'For example --watch-poll-interval 1000.' });
  }
  if (interval !== undefined && trigger !== undefined && trigger !== 'polling') {
    throw new UsageError(`--watch-poll-interval applies to --trigger polling, not "${trigger}"`, { hint: 'Add --trigger polling, or drop --watch-poll-interval.' });
  }
  return (config) => ({
    ...config,
    watch: {
      ...config.watch,
      ...(trigger !== undefined ? { trigger } : {}),
      ...(parsedInterval?.success ? { pollIntervalMs: parsedInterval.data } : {}),
    },
  });
}

/** The phase modules the dev loop uses, imported together (once). */
function loadServiceModules() {
  return Promise.all([
    import('../build/index.js'),
    import('../deploy/index.js'),
    import('../teardown/index.js'),
    import('../sync/index.js'),
    import('../watch/index.js'),
    import('../build/live-filter.js'),
    import('../plan/index.js'),
    import('../hooks/index.js'),
  ]);
}

async function createServices(ctx: CommandContext, config: Config, kube: KubeClient, sink: EventSink, withFlags: (c: Config) => Config): Promise<DevServices> {
  const [{ createBuilder, dependentsOf }, { createDeployer, loadImages }, { down }, { createSyncer }, { startWatcher }, { filtersForPlan, loadContextFilters }, { planChanges }, { runContainerHook, runHostHook }] =
    await loadServiceModules();
  const deployer = createDeployer(config, kube);
  // What the first deploy reads that no image tag changes (manifests, ownership, the in-cluster
  // inventory) is read while the engine starts the watcher and checks the image cache; the first
  // deploy of this same config object uses it (deploy/deployer.ts).
  deployer.prefetch?.(config, ctx.signal, sink);
  return {
    builder: createBuilder(),
    deployer,
    syncer: createSyncer(kube, sink),
    hooks: {
      host: (ref, hook, options) => runHostHook(ref, hook, options),
      container: (ref, target, hook, options) => runContainerHook(ref, target, hook, { ...options, kubeConfig: kube.kubeConfig }),
    },
    startWatcher: (c, options) => startWatcher(c, { ...options, contextFilters: options.contextFilters ?? loadContextFilters(c) }),
    // The planner reads no file: it gets the .dockerignore matchers as values, re-read first when the batch edits one.
    planChanges: (changes, c, state) =>
      planChanges(changes, c, { ...state, contextFilters: filtersForPlan(changes.map((change) => change.path), c, state.contextFilters) }),
    dependentsOf: (c, images) => dependentsOf(c, images),
    manifestFiles: async (c) => (await import('../deploy/manifests.js')).manifestFiles(c),
    contextFilters: async (c) => loadContextFilters(c),
    loadImages,
    reloadConfig: async () => withFlags(await ctx.loadConfig()),
    down: async (c, options) => {
      await down(kube, {
        project: c.name,
        rootDir: c.rootDir,
        inventory: deployer.inventory(),
        namespaces: [deployer.namespace(c)],
        deadlineSeconds: c.deploy.statusCheckDeadlineSeconds,
        ...options,
      });
    },
    startPodWatcher: (options) => startPodWatcher(kube, options),
    followLog: (ref, options, onLine) => followContainerLog(kube.kubeConfig, ref, options, onLine),
    probeCluster: (signal) => kube.probeReady(signal),
    clusterNoAnswerMs: () => kube.oldestUnansweredMs(),
    portForward: {
      forward: (target, socket, onError, retryRefused) => forwardSocket(kube.kubeConfig, target, socket, onError, retryRefused),
      // the forwards listen right after the apply: client-node loads while the pods start
      // (a failure here is the first connection's to report)
      prepare: () => void kube.kubeConfig.catch(() => undefined),
      readService: (namespace, name, port) => readService(kube, namespace, name, port),
    },
  };
}

export async function run(ctx: CommandContext): Promise<number> {
  const cleanup = booleanFlag(ctx, 'cleanup', true);
  const portForward = booleanFlag(ctx, 'port-forward', true);
  const explain = Boolean(ctx.flags.explain);
  // Node's own start-up and the imports before this line, as the first phase of the timeline (as in deploy).
  ctx.sink.emit({ type: 'phase', name: 'dev/start-up', status: 'started', atMs: 0 });
  ctx.sink.emit({ type: 'phase', name: 'dev/start-up', status: 'finished', atMs: Math.round(performance.now()), durationMs: Math.round(performance.now()) });
  const withFlags = await watchFlagsOver(ctx);
  const config = withFlags(await timePhase(ctx.sink, 'dev/load-config', () => ctx.loadConfig()));
  const { resolveArtifactNames } = await import('../shared/artifact-graph.js');
  // unknown names: UsageError listing the valid ones, before touching the cluster
  const watchedImages = ctx.args.length > 0 ? new Set(resolveArtifactNames(config.build.artifacts, ctx.args)) : undefined;
  // client-node is imported on first use of kube.kubeConfig (logs, port-forward, exec), while the pods start
  const kube = await createKubeClient(config, { lightweight: true });
  // fail on an unreachable cluster before building anything; the phase modules load meanwhile
  const pinged = timePhase(ctx.sink, 'dev/connect', () => kube.ping(ctx.signal));
  const loading = loadServiceModules();
  await Promise.all([pinged, loading]);
  // one session per project: a second one would deploy the same objects and delete them under this one
  const lock = acquireSessionLock(stateDirOf(config.rootDir), config.name, kube.context);

  try {
    let sink = ctx.sink;
    let dashboard: { sink: EventSink; setActionHandler(handler: (action: import('../ui/actions.js').DashboardAction) => void): void; close(): Promise<void> } | undefined;
    // the dashboard needs a terminal on both ends: it draws on stdout and reads keys in raw mode
    if (ctx.stdout.isTTY && ctx.stdin.isTTY && ctx.output === 'text') {
      const ui = await import('../ui/index.js');
      dashboard = ui.startDashboard({ stdout: ctx.stdout as NodeJS.WriteStream, stdin: ctx.stdin, explain, project: config.name });
      sink = dashboard.sink;
    }
    let stopReading = () => undefined as void;
    try {
      const services = await createServices(ctx, config, kube, sink, withFlags);
      const engine = new DevEngine(config, services, {
        cleanup,
        adopt: Boolean(ctx.flags.adopt),
        // JSON consumers and the dashboard (`e` key) always get the decisions; plain text only with --explain
        explain: explain || ctx.output === 'json' || dashboard !== undefined,
        portForward,
        push: Boolean(ctx.flags.push),
        signal: ctx.signal,
        sink,
        ...(watchedImages ? { watchedImages } : {}),
      });
      if (!dashboard && config.watch.trigger === 'manual') {
        // without a terminal, a line on stdin applies the held changes (a pipe, or a script's `echo`)
        const lines = createInterface({ input: ctx.stdin });
        lines.on('line', () => engine.dispatch({ type: 'apply-requested' }));
        ctx.signal.addEventListener('abort', () => lines.close(), { once: true });
        stopReading = () => lines.close();
      }
      dashboard?.setActionHandler((action) => {
        switch (action.type) {
          case 'rebuild':
            engine.dispatch({ type: 'rebuild-requested', images: [action.image] });
            return;
          case 'sync':
            engine.dispatch({ type: 'full-sync-requested', image: action.image });
            return;
          case 'apply':
            engine.dispatch({ type: 'apply-requested' });
            return;
          case 'quit':
            engine.dispatch({ type: 'quit-requested' });
            return;
        }
      });
      return await engine.run();
    } finally {
      stopReading();
      await dashboard?.close();
      kube.close();
    }
  } finally {
    lock.release();
  }
}
