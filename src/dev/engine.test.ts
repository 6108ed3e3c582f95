import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildOptions, BuildResult } from '../build/types.js';
import type { Config } from '../config/load.js';
import type { DeployOptions } from '../deploy/types.js';
import { ConfigError, EnvironmentError, FailureError } from '../errors.js';
import { CollectingSink, type EventSink } from '../events.js';
import type { PodSnapshot, PodUpdate } from '../observe/pods.js';
import { ClusterUnreachableError } from '../kube/errors.js';
import { DevEngine, WARM_UP_AFTER_MS } from './engine.js';
import { planChanges } from '../plan/index.js';
import type { HookOutcome, HookRef } from '../hooks/index.js';
import type { ContainerTarget, DevServices, FileChange, Plan, PlanState, SyncOp } from './services.js';

const config = {
  file: '/p/devloop.config.yaml',
  rootDir: '/p',
  name: 'blog',
  profiles: [],
  build: {
    tagPolicy: 'inputDigest',
    concurrency: 1,
    push: 'auto',
    artifacts: [
      { image: 'blog/base', context: 'base', contextDir: '/p/base', dockerfile: 'Dockerfile', dockerfilePath: '/p/base/Dockerfile', buildArgs: {}, requires: [] },
      { image: 'blog/posts', context: 'posts', contextDir: '/p/posts', dockerfile: 'Dockerfile', dockerfilePath: '/p/posts/Dockerfile', buildArgs: {}, requires: [{ image: 'blog/base', alias: 'BASE' }], sync: { manual: [{ src: 'public/**', dest: '/app/public', strip: 'public/' }] } },
    ],
  },
  deploy: { statusCheckDeadlineSeconds: 60, kubectl: { manifests: [] }, kustomize: { paths: [] }, helm: { releases: [] } },
  portForward: [],
  watch: { ignore: [], debounceMs: 50 },
} as unknown as Config;

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await tick();
  }
  throw new Error(`never happened: ${what}`);
}

function pod(name: string, image: string, restartCount = 0, containerID = 'c1'): PodSnapshot {
  return {
    namespace: 'blog', name, uid: name, owner: 'deployment/posts', labels: {}, phase: 'Running', state: 'Running', terminating: false,
    containers: [{ name: 'posts', image, ready: true, restartCount, containerID, state: 'running' }], ready: 1, total: 1, restarts: restartCount,
  };
}

/** Fakes of every phase that record what the engine asked, in order. */
function fakes(
  options: {
    failBuild?: () => boolean;
    plan?: (changes: FileChange[], config: Config, state: PlanState) => Plan;
    /** What the next sync call throws (undefined: it succeeds); may wait first. */
    syncOutcome?: () => Promise<unknown>;
    /** What a replay replayed (undefined: nothing). */
    replayed?: (target: ContainerTarget) => SyncOp | undefined;
    /** How a hook run ends (default: succeeded). */
    hookOutcome?: (ref: HookRef, where: string) => HookOutcome;
    /** What a deploy throws (undefined: it succeeds). */
    deployError?: () => unknown;
    /** Whether the cluster probe answers. */
    probeAnswers?: () => boolean;
    /** The reference a build of `image` gets (default: localhost:5000/IMAGE:vN, KEP-1755 style). */
    tagOf?: (image: string, version: number) => string;
    /** What a deploy waits for after applying (the rollout wait), if anything. */
    rollout?: () => Promise<void>;
  } = {},
) {
  const probes: number[] = [];
  const log: string[] = [];
  const defaultPlan: DevServices['planChanges'] =
    options.plan ??
    ((changes) => ({
      reloadConfig: false,
      syncs: [{ image: 'blog/posts', copy: changes.map((c) => ({ localPath: c.path, containerPath: `/app/${c.path.split('/').pop()}` })), delete: [] }],
      rebuild: [],
      redeploy: false,
      decisions: [],
    }));
  let version = 1;
  let onBatch: (changes: FileChange[]) => void = () => undefined;
  let onPod: (u: PodUpdate) => void = () => undefined;
  let releaseBuild: (() => void) | undefined;
  let blockNextBuild = false;
  const syncs: Array<{ op: SyncOp; targets: ContainerTarget[] }> = [];
  const replays: ContainerTarget[] = [];
  const builds: string[][] = [];
  const watcherOptions: Array<{ watchedImages?: ReadonlySet<string>; changedSince?: number }> = [];
  const planStates: PlanState[] = [];
  const hookRuns: Array<{ ref: HookRef; where: string; env?: Record<string, string>; command: string[] }> = [];
  const hookOutcome = options.hookOutcome ?? (() => ({ status: 'succeeded' as const, exitCode: 0, durationMs: 1, output: [] }));
  const services: DevServices = {
    hooks: {
      async host(ref, hook) {
        hookRuns.push({ ref, where: 'host', env: hook.env, command: hook.command });
        log.push(`hook ${ref.phase}/${ref.when}#${ref.index} host`);
        return hookOutcome(ref, 'host');
      },
      async container(ref, target, hook) {
        hookRuns.push({ ref, where: target.pod, command: hook.command });
        log.push(`hook ${ref.phase}/${ref.when}#${ref.index} ${target.pod}`);
        return hookOutcome(ref, target.pod);
      },
    },
    builder: {
      warmUp: () => void log.push('warm up builder'),
      async build(_config: Config, o: BuildOptions): Promise<BuildResult[]> {
        builds.push(o.images ?? []);
        log.push(`build ${(o.images ?? []).join(',')}`);
        if (blockNextBuild) {
          blockNextBuild = false;
          await new Promise<void>((r) => (releaseBuild = r));
        }
        const fail = options.failBuild?.() ?? false;
        version++;
        return (o.images ?? []).map((image) =>
          fail && image === 'blog/posts' ? { image, tag: `${image}:x`, status: 'failed' as const } : { image, tag: options.tagOf?.(image, version) ?? `localhost:5000/${image}:v${version}`, status: 'built' as const },
        );
      },
    },
    deployer: {
      imageTarget: async () => ({ kind: 'registry', registry: 'localhost:5000', local: true }),
      async deploy(_c: Config, o: DeployOptions) {
        log.push(`deploy ${[...o.images.values()].join(',')}`);
        const error = options.deployError?.();
        if (error) throw error;
        // as the real deployer: every object applied, then the rollout wait
        o.onApplied?.();
        await options.rollout?.();
        return { applied: [], pruned: [] };
      },
    },
    syncer: {
      async sync(op, targets) {
        syncs.push({ op, targets });
        log.push(`sync ${op.image} ${op.copy.map((c) => c.containerPath).join(',')}${op.delete.length ? ` delete ${op.delete.join(',')}` : ''}`);
        const error = await options.syncOutcome?.();
        if (error) throw error;
      },
      async replay(target) {
        replays.push(target);
        log.push(`replay ${target.pod}`);
        const error = await options.syncOutcome?.();
        if (error) throw error;
        return options.replayed?.(target);
      },
      async restart(target) {
        log.push(`restart ${target.pod}`);
      },
      resetImage: (image) => log.push(`reset ${image}`),
      forget: () => undefined,
      close: async () => void log.push('stop syncer'),
    },
    async startWatcher(_c, o) {
      onBatch = o.onBatch;
      watcherOptions.push(o);
      log.push('start watcher');
      return { fileCount: 1, close: async () => void log.push('stop watcher') };
    },
    planChanges: (changes, c, planState) => {
      planStates.push(planState);
      return defaultPlan(changes, c, planState);
    },
    dependentsOf: (_c, images) => images,
    manifestFiles: async () => new Set(),
    contextFilters: async () => new Map(),
    loadImages: async () => undefined,
    reloadConfig: async () => config,
    async down(_c, o: { sink: EventSink }) {
      log.push('down');
      o.sink.emit({ type: 'teardown', status: 'done' });
    },
    startPodWatcher(o) {
      onPod = o.onUpdate;
      log.push('start pods');
      return { pods: new Map(), feed: { current: new Map(), ready: Promise.resolve(), subscribe: () => () => undefined }, ready: Promise.resolve(), stop: async () => void log.push('stop pods') };
    },
    followLog: async (_ref, o) => {
      await new Promise((r) => o.signal.addEventListener('abort', r));
      return { ended: 'aborted' };
    },
    portForward: { readService: async () => ({ selector: {}, port: 1, targetPort: 1 }), forward: async () => undefined },
    async probeCluster() {
      probes.push(Date.now());
      if (!(options.probeAnswers?.() ?? true)) throw new ClusterUnreachableError('cannot reach the cluster at https://127.0.0.1:6443 (context t): ECONNREFUSED', { code: 'ECONNREFUSED' });
    },
    clusterNoAnswerMs: () => 0,
  };
  return {
    services,
    watcherOptions,
    planStates,
    log,
    hookRuns,
    syncs,
    replays,
    builds,
    probes,
    batch: (...paths: string[]) => onBatch(paths.map((p) => ({ path: p, kind: 'change' }))),
    batchChanges: (changes: FileChange[]) => onBatch(changes),
    podUpdate: (u: PodUpdate) => onPod(u),
    releaseBuild: () => releaseBuild?.(),
    blockNextBuild: () => (blockNextBuild = true),
  };
}

/** A build that runs until the session's signal aborts, then fails as an interrupted build does. */
async function buildUntilAborted(_c: Config, o: BuildOptions): Promise<BuildResult[]> {
  await new Promise((r) => o.signal.addEventListener('abort', r));
  throw Object.assign(new Error('aborted'), { name: 'AbortError' });
}

function start(f: ReturnType<typeof fakes>, cleanup = true, extraOrConfig: { config?: Config; watchedImages?: ReadonlySet<string> } | Config = {}) {
  const extra: { config?: Config; watchedImages?: ReadonlySet<string> } = 'build' in extraOrConfig ? { config: extraOrConfig } : extraOrConfig;
  const controller = new AbortController();
  const sink = new CollectingSink();
  const engine = new DevEngine(extra.config ?? config, f.services, {
    cleanup,
    explain: false,
    portForward: false,
    push: false,
    signal: controller.signal,
    sink,
    ...(extra.watchedImages ? { watchedImages: extra.watchedImages } : {}),
  });
  const exit = engine.run();
  const ready = () => sink.ofType('message').some((m) => m.text.startsWith('devloop dev: watching'));
  return { engine, controller, sink, exit, ready };
}

describe('DevEngine', () => {
  it('starts in order, syncs a batch into the current replicas, and tears down in reverse then runs down', async () => {
    const f = fakes();
    const s = start(f);
    await until(s.ready, 'ready');
    f.podUpdate({ snapshot: pod('posts-1', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
    f.podUpdate({ snapshot: pod('posts-2', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
    f.batch('/p/posts/public/a.html');
    await until(() => f.syncs.length === 1, 'a sync');
    expect(f.syncs[0].targets.map((t) => t.pod)).toEqual(['posts-1', 'posts-2']);
    s.controller.abort();
    expect(await s.exit).toBe(0);
    expect(f.log).toEqual([
      'start watcher',
      'start pods',
      'build blog/base,blog/posts',
      'deploy localhost:5000/blog/base:v2,localhost:5000/blog/posts:v2',
      'sync blog/posts /app/a.html',
      'stop pods',
      'stop syncer',
      'stop watcher',
      'down',
    ]);
  });

  it('warms the builder up WARM_UP_AFTER_MS after watching (not during start-up), and not once stopped', async () => {
    const f = fakes();
    const s = start(f);
    await until(s.ready, 'ready');
    const readyAt = performance.now();
    expect(f.log).not.toContain('warm up builder');
    while (!f.log.includes('warm up builder') && performance.now() - readyAt < WARM_UP_AFTER_MS + 2_000) await new Promise((r) => setTimeout(r, 20));
    expect(performance.now() - readyAt).toBeGreaterThanOrEqual(WARM_UP_AFTER_MS - 50);
    expect(f.log.filter((l) => l === 'warm up builder')).toHaveLength(1);
    s.controller.abort();
    expect(await s.exit).toBe(0);

    const stopped = fakes();
    const t = start(stopped);
    await until(t.ready, 'ready');
    t.controller.abort();
    expect(await t.exit).toBe(0);
    await new Promise((r) => setTimeout(r, WARM_UP_AFTER_MS + 200));
    expect(stopped.log).not.toContain('warm up builder');
  });

  it('syncs into containers running a build renamed by a default repo (reg/app -> HOST/blog_posts)', async () => {
    const f = fakes({ tagOf: (image, version) => `192.0.2.2:5443/${image.replace(/[/._:@]/g, '_')}:v${version}` });
    const s = start(f);
    await until(s.ready, 'ready');
    f.podUpdate({ snapshot: pod('posts-1', '192.0.2.2:5443/blog_posts:v2'), deleted: false, transitions: [] });
    // a container of an older build is not a target
    f.podUpdate({ snapshot: pod('posts-0', '192.0.2.2:5443/blog_posts:v1'), deleted: false, transitions: [] });
    f.batch('/p/posts/public/a.html');
    await until(() => f.syncs.length === 1, 'a sync');
    expect(f.syncs[0].targets.map((t) => [t.pod, t.image])).toEqual([['posts-1', 'blog/posts']]);
    s.controller.abort();
    expect(await s.exit).toBe(0);
  });

  it('coalesces batches that arrive while a plan executes into one plan', async () => {
    const plans: FileChange[][] = [];
    const f = fakes({
      plan: (changes) => {
        plans.push(changes);
        return { reloadConfig: false, syncs: [], rebuild: plans.length === 1 ? ['blog/posts'] : [], redeploy: false, decisions: [] };
      },
    });
    const s = start(f);
    await until(s.ready, 'ready');
    f.blockNextBuild();
    f.batch('/p/posts/one');
    await until(() => f.builds.length === 2, 'the slow build');
    f.batch('/p/posts/two');
    f.batch('/p/posts/three');
    await tick(20);
    expect(plans).toHaveLength(1);
    f.releaseBuild();
    await until(() => plans.length === 2, 'the second plan');
    expect(plans[1].map((c) => c.path)).toEqual(['/p/posts/two', '/p/posts/three']);
    s.controller.abort();
    await s.exit;
  });

  it('survives a failed first build, does not deploy, and retries with the next change', async () => {
    let fail = true;
    const f = fakes({ failBuild: () => fail, plan: () => ({ reloadConfig: false, syncs: [], rebuild: [], redeploy: false, decisions: [] }) });
    const s = start(f);
    await until(s.ready, 'ready');
    expect(f.log.some((l) => l.startsWith('deploy'))).toBe(false);
    expect(s.sink.ofType('message').some((m) => m.level === 'warn' && m.text.includes('never built'))).toBe(true);
    fail = false;
    f.batch('/p/posts/src/fixed.js');
    await until(() => f.log.some((l) => l.startsWith('deploy')), 'the deploy after the fix');
    expect(f.builds.at(-1)).toEqual(['blog/posts']);
    s.controller.abort();
    expect(await s.exit).toBe(0);
  });

  it('replays synced files into a restarted container of the current image, not into old replicas', async () => {
    const f = fakes();
    const s = start(f);
    await until(s.ready, 'ready');
    const before = pod('posts-1', 'localhost:5000/blog/posts:v2');
    const after = pod('posts-1', 'localhost:5000/blog/posts:v2', 1, 'c2');
    f.podUpdate({ snapshot: after, previous: before, deleted: false, transitions: [{ kind: 'restarted', container: after.containers[0], exitCode: 1 }] });
    const old = pod('posts-old', 'localhost:5000/blog/posts:v1');
    f.podUpdate({ snapshot: old, deleted: false, transitions: [{ kind: 'started', container: old.containers[0] }] });
    await until(() => f.replays.length >= 1, 'a replay');
    await tick(20);
    expect(f.replays.map((r) => r.pod)).toEqual(['posts-1']);
    s.controller.abort();
    await s.exit;
  });

  it('falls back to a rebuild when a sync fails, and keeps the deployed objects with cleanup off', async () => {
    const f = fakes();
    f.services.syncer.sync = async () => {
      throw new FailureError('cannot sync: the image has no tar');
    };
    const s = start(f, false);
    await until(s.ready, 'ready');
    f.batch('/p/posts/public/a.html');
    await until(() => f.builds.length === 2, 'the fallback rebuild');
    expect(f.builds[1]).toEqual(['blog/posts']);
    s.controller.abort();
    expect(await s.exit).toBe(0);
    expect(f.log).not.toContain('down');
    expect(s.sink.ofType('teardown')).toEqual([expect.objectContaining({ status: 'skipped' })]);
  });

  it('rebuilds and applies the manifests again when the workload running the image was deleted outside devloop, and only then', async () => {
    // the same reference every build: only the vanished workload can make the engine deploy again
    const f = fakes({ tagOf: (image) => `localhost:5000/${image}:same` });
    let vanished: string[] = [];
    const asked: string[] = [];
    f.services.deployer.vanishedWorkloads = async (image) => {
      asked.push(image);
      return vanished;
    };
    const s = start(f);
    await until(s.ready, 'ready');
    const deploys = () => f.log.filter((l) => l.startsWith('deploy ')).length;
    expect(deploys()).toBe(1);

    // no container runs the image, its Deployment still exists: recorded for replay, nothing rebuilt
    f.batch('/p/posts/public/a.html');
    await until(() => s.sink.ofType('message').some((m) => m.text.includes('will be replayed when one starts')), 'the replay note');
    expect(asked).toEqual(['localhost:5000/blog/posts:same']);
    expect(f.builds).toHaveLength(1);

    // the Deployment was deleted: rebuilt with the change and deployed again
    vanished = ['Deployment/blog/posts'];
    f.batch('/p/posts/public/b.html');
    await until(() => deploys() === 2, 'the second deploy');
    expect(f.builds[1]).toEqual(['blog/posts']);
    expect(s.sink.ofType('message').map((m) => m.text)).toContain(
      'Deployment/blog/posts, which runs blog/posts, was deleted outside devloop: rebuilding blog/posts with the change and applying the manifests again',
    );
    s.controller.abort();
    await s.exit;
  });

  it('builds and deploys while the watcher scans, is ready only once it is, and asks it for what changed since start-up', async () => {
    const f = fakes();
    let scanned!: () => void;
    const fakeStart = f.services.startWatcher;
    f.services.startWatcher = async (c, o) => {
      await new Promise<void>((resolve) => (scanned = resolve));
      return fakeStart(c, o);
    };
    const before = Date.now();
    const s = start(f);
    await until(() => f.log.some((l) => l.startsWith('deploy ')), 'the deploy, while the watcher scans');
    expect(f.log).not.toContain('start watcher');
    await new Promise((r) => setTimeout(r, 20));
    expect(s.ready()).toBe(false);
    scanned();
    await until(s.ready, 'ready');
    expect(f.watcherOptions[0].changedSince).toBeGreaterThanOrEqual(before);
    expect(f.watcherOptions[0].changedSince).toBeLessThanOrEqual(Date.now());
    s.controller.abort();
    expect(await s.exit).toBe(0);
    expect(f.log).toContain('stop watcher');
  });

  it('runs no job queued during a start-up that fails: it tears down at once', async () => {
    const f = fakes();
    f.services.builder.build = async (_c, o) => {
      f.log.push(`build ${(o.images ?? []).join(',')}`);
      // an edit arrives while the start-up build runs, then the build finds the engine gone
      f.batch('/p/posts/src/server.js');
      await new Promise((r) => setTimeout(r, 20));
      throw new EnvironmentError('cannot reach the Docker engine at unix:///var/run/docker.sock (ECONNREFUSED)');
    };
    const s = start(f);
    await expect(s.exit).rejects.toThrow(/cannot reach the Docker engine/);
    // nothing after the failed build: no sync, build or deploy of the edit while tearing down
    expect(f.log.filter((l) => /^(build|sync|deploy|restart) /.test(l))).toEqual(['build blog/base,blog/posts']);
  });

  it('closes a watcher still scanning when start-up is interrupted', async () => {
    const f = fakes();
    let closed = false;
    f.services.startWatcher = (_c, o) =>
      new Promise((resolve) => o.signal.addEventListener('abort', () => resolve({ fileCount: 0, close: async () => void (closed = true) }), { once: true }));
    f.services.builder.build = buildUntilAborted;
    const s = start(f);
    await until(() => f.log.includes('start pods'), 'the build to start');
    s.controller.abort();
    expect(await s.exit).toBe(130);
    expect(closed).toBe(true);
  });

  it('exits 130 when interrupted during start-up, after tearing down what started', async () => {
    const f = fakes();
    f.services.builder.build = buildUntilAborted;
    const s = start(f);
    await until(() => f.log.includes('start watcher'), 'the watcher');
    s.controller.abort();
    expect(await s.exit).toBe(130);
    expect(f.log).toContain('stop watcher');
  });

  it('full sync (key s) syncs only the context files its sync rules take (.dockerignore applied) and rebuilds nothing', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-engine-'));
    try {
      mkdirSync(path.join(dir, 'public'));
      writeFileSync(path.join(dir, 'public', 'index.html'), 'x');
      writeFileSync(path.join(dir, 'public', 'secret.txt'), 'x');
      writeFileSync(path.join(dir, '.dockerignore'), 'public/secret.txt\n');
      writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch');
      writeFileSync(path.join(dir, 'server.js'), 'x');
      // the real planner: which files a sync rule takes is its decision
      const f = fakes({ plan: planChanges });
      const localConfig = {
        ...config,
        build: { ...config.build, artifacts: config.build.artifacts.map((a) => (a.image === 'blog/posts' ? { ...a, contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile') } : a)) },
      } as Config;
      const controller = new AbortController();
      const sink = new CollectingSink();
      const engine = new DevEngine(localConfig, f.services, { cleanup: true, explain: false, portForward: false, push: false, signal: controller.signal, sink });
      const exit = engine.run();
      await until(() => sink.ofType('message').some((m) => m.text.startsWith('devloop dev: watching')), 'ready');
      const buildsBefore = f.builds.length;
      engine.dispatch({ type: 'full-sync-requested', image: 'blog/posts' });
      await until(() => f.syncs.length === 1, 'the full sync');
      expect(f.syncs[0].op.copy).toEqual([{ localPath: path.join(dir, 'public', 'index.html'), containerPath: '/app/public/index.html' }]);
      expect(f.syncs[0].op.delete).toEqual([]);
      await tick(20);
      expect(f.builds.length).toBe(buildsBefore);
      controller.abort();
      await exit;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the running config when the changed one is invalid, and rebuilds and redeploys with a valid one', async () => {
    let valid = false;
    const f = fakes({ plan: () => ({ reloadConfig: true, syncs: [], rebuild: [], redeploy: false, decisions: [] }) });
    f.services.reloadConfig = async () => {
      if (!valid) throw new ConfigError([{ file: '/p/devloop.config.yaml', line: 3, column: 1, path: 'build', message: 'bad' }]);
      return config;
    };
    const s = start(f);
    await until(s.ready, 'ready');
    f.batch('/p/devloop.config.yaml');
    await until(() => s.sink.ofType('message').some((m) => m.level === 'warn' && m.text.includes('previous one keeps running')), 'the config error');
    expect(s.sink.ofType('message').find((m) => m.text.includes('previous one keeps running'))?.text).toContain('devloop.config.yaml:3:1');
    expect(f.log.filter((l) => l === 'start watcher')).toHaveLength(1);
    valid = true;
    f.batch('/p/devloop.config.yaml');
    await until(() => f.log.filter((l) => l.startsWith('deploy')).length === 2, 'the redeploy');
    expect(f.log.filter((l) => l === 'start watcher')).toHaveLength(2);
    expect(f.log).toContain('stop watcher');
    s.controller.abort();
    expect(await s.exit).toBe(0);
  });

  it('quits on the dashboard key like Ctrl-C', async () => {
    const f = fakes();
    const s = start(f);
    await until(s.ready, 'ready');
    s.engine.dispatch({ type: 'quit-requested' });
    expect(await s.exit).toBe(0);
    expect(f.log.at(-1)).toBe('down');
  });

  describe('when the cluster cannot be reached', () => {
    const refused = () => new ClusterUnreachableError('cannot reach the cluster at https://127.0.0.1:6443 (context t): ECONNREFUSED', { code: 'ECONNREFUSED' });
    /** The real planner's shape: one SyncOp (copies and deletes) plus a `sync` decision per path. */
    const syncPlan = (changes: FileChange[]): Plan => ({
      reloadConfig: false,
      syncs: [
        {
          image: 'blog/posts',
          copy: changes.filter((c) => c.kind !== 'unlink').map((c) => ({ localPath: c.path, containerPath: `/app/${path.basename(c.path)}` })),
          delete: changes.filter((c) => c.kind === 'unlink').map((c) => `/app/${path.basename(c.path)}`),
        },
      ],
      rebuild: [],
      redeploy: false,
      decisions: changes.map((c) => ({ type: 'change' as const, path: c.path, artifact: 'blog/posts', action: 'sync' as const, reason: 'rule' })),
    });

    it('never rebuilds, remembers every path edited meanwhile, and re-syncs their latest content (deletions too) once a probe answers', async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-engine-outage-'));
      try {
        const [a, b, c] = ['a.html', 'b.html', 'c.html'].map((n) => path.join(dir, n));
        for (const f of [a, b, c]) writeFileSync(f, 'v1');
        let down = false;
        const f = fakes({ plan: syncPlan, syncOutcome: async () => (down ? refused() : undefined), probeAnswers: () => !down });
        const s = start(f);
        await until(s.ready, 'ready');
        f.podUpdate({ snapshot: pod('posts-1', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
        f.podUpdate({ snapshot: pod('posts-2', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
        const buildsBefore = f.builds.length;
        const deploysBefore = f.log.filter((l) => l.startsWith('deploy')).length;

        down = true;
        f.batch(a);
        await until(() => s.sink.ofType('cluster').some((e) => e.status === 'unreachable'), 'the unreachable state');
        expect(s.engine.state.cluster.reachable).toBe(false);
        expect([...s.engine.state.unsyncedPaths]).toEqual([a]);
        const syncCalls = f.syncs.length;
        // edits while unreachable: no sync attempt, no build; a path edited twice is kept once
        f.batch(b);
        await until(() => s.engine.state.unsyncedPaths.size === 2, 'b remembered');
        f.batch(a);
        writeFileSync(a, 'v2');
        rmSync(c);
        onBatchUnlink(f, c);
        await until(() => s.engine.state.unsyncedPaths.size === 3, 'c remembered');
        expect(f.syncs.length).toBe(syncCalls);
        expect(f.builds.length).toBe(buildsBefore);
        const unreachable = s.sink.ofType('cluster').filter((e) => e.status === 'unreachable');
        expect(unreachable[0].since).toBeTruthy();
        expect(Date.parse(unreachable[0].nextRetry!)).toBeGreaterThanOrEqual(Date.parse(unreachable[0].since!));

        down = false;
        await until(() => s.sink.ofType('cluster').some((e) => e.status === 'reachable'), 'the reachable event');
        await until(() => f.syncs.length === syncCalls + 1, 'the resync');
        const resync = f.syncs.at(-1)!;
        expect(resync.op.copy.map((x) => x.localPath).sort()).toEqual([a, b].sort());
        expect(resync.op.delete).toEqual(['/app/c.html']);
        expect(resync.targets.map((t) => t.pod)).toEqual(['posts-1', 'posts-2']);
        expect(s.engine.state.unsyncedPaths.size).toBe(0);
        expect(s.engine.state.cluster.reachable).toBe(true);
        // nothing to redeploy: no manifest, image or failed deploy changed
        expect(f.builds.length).toBe(buildsBefore);
        expect(f.log.filter((l) => l.startsWith('deploy')).length).toBe(deploysBefore);
        expect(s.sink.ofType('message').some((m) => m.text.includes('rebuilding'))).toBe(false);
        s.controller.abort();
        expect(await s.exit).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('replays into a container that started during the outage once the cluster answers', async () => {
      let down = false;
      const f = fakes({ plan: syncPlan, syncOutcome: async () => (down ? refused() : undefined), probeAnswers: () => !down });
      const s = start(f);
      await until(s.ready, 'ready');
      down = true;
      const started = pod('posts-9', 'localhost:5000/blog/posts:v2');
      f.podUpdate({ snapshot: started, deleted: false, transitions: [{ kind: 'started', container: started.containers[0] }] });
      await until(() => !s.engine.state.cluster.reachable, 'unreachable');
      expect(f.replays.map((r) => r.pod)).toEqual(['posts-9']);
      down = false;
      await until(() => f.replays.length === 2, 'the replay after the outage');
      expect(f.replays[1].pod).toBe('posts-9');
      expect(f.builds.length).toBe(1);
      s.controller.abort();
      await s.exit;
    });

    it('probes on the capped backoff until the cluster answers', async () => {
      let answers = false;
      const f = fakes({ plan: syncPlan, syncOutcome: async () => (answers ? undefined : refused()), probeAnswers: () => answers });
      const s = start(f);
      await until(s.ready, 'ready');
      f.podUpdate({ snapshot: pod('posts-1', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
      f.batch('/p/posts/public/x.html');
      await until(() => f.probes.length >= 3, 'three probes');
      const gaps = f.probes.slice(1).map((t, i) => t - f.probes[i]);
      // 500 then 1000 ms apart (the first waited 250): doubling
      expect(gaps[0]).toBeGreaterThanOrEqual(450);
      expect(gaps[1]).toBeGreaterThanOrEqual(950);
      const attempts = s.sink.ofType('cluster').filter((e) => e.status === 'unreachable').map((e) => e.attempt);
      expect(attempts.slice(0, 3)).toEqual([0, 1, 2]);
      answers = true;
      // the next probe is at most 4 s away (the cap)
      for (let i = 0; i < 120 && !s.sink.ofType('cluster').some((e) => e.status === 'reachable'); i++) await tick(50);
      expect(s.sink.ofType('cluster').some((e) => e.status === 'reachable')).toBe(true);
      expect(s.engine.state.cluster.reachable).toBe(true);
      s.controller.abort();
      await s.exit;
    }, 15_000);

    it('a deploy that cannot reach the cluster stays pending and runs once it answers; a later sync-only outage deploys nothing', async () => {
      let down = false;
      const f = fakes({
        plan: (changes) => ({ reloadConfig: false, syncs: [], rebuild: ['blog/posts'], redeploy: false, decisions: changes.map((c) => ({ type: 'change' as const, path: c.path, artifact: 'blog/posts', action: 'rebuild' as const, reason: 'no rule' })) }),
        deployError: () => (down ? refused() : undefined),
        probeAnswers: () => !down,
      });
      const s = start(f);
      await until(s.ready, 'ready');
      down = true;
      f.batch('/p/posts/src/app.js');
      await until(() => !s.engine.state.cluster.reachable, 'unreachable');
      expect(s.engine.state.deployPending).toBe(true);
      const deploys = f.log.filter((l) => l.startsWith('deploy')).length;
      // a build during the outage still builds (Docker is up) but does not try to deploy
      f.batch('/p/posts/src/app2.js');
      await until(() => f.builds.length === 3, 'the second build');
      await tick(20);
      expect(f.log.filter((l) => l.startsWith('deploy')).length).toBe(deploys);
      down = false;
      await until(() => f.log.filter((l) => l.startsWith('deploy')).length === deploys + 1, 'the deploy after recovery');
      expect(s.engine.state.deployPending).toBe(false);
      const reachable = s.sink.ofType('cluster').find((e) => e.status === 'reachable');
      expect(reachable?.redeploy).toBe(true);
      s.controller.abort();
      await s.exit;
    }, 10_000);

    it('shows "waiting for the cluster" while a sync gets no answer for 2 s', async () => {
      const f = fakes({ plan: syncPlan, syncOutcome: () => new Promise((r) => setTimeout(() => r(undefined), 3_300)) });
      const s = start(f);
      await until(s.ready, 'ready');
      f.podUpdate({ snapshot: pod('posts-1', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
      f.batch('/p/posts/public/slow.html');
      await until(() => f.syncs.length === 1, 'the sync');
      for (let i = 0; i < 100 && !s.sink.ofType('cluster').some((e) => e.status === 'reachable'); i++) await tick(50);
      const waiting = s.sink.ofType('cluster').filter((e) => e.status === 'waiting');
      expect(waiting.length).toBeGreaterThanOrEqual(1);
      expect(waiting[0].noAnswerMs).toBeGreaterThanOrEqual(2_000);
      expect(waiting.at(-1)!.noAnswerMs).toBeGreaterThanOrEqual(waiting[0].noAnswerMs!);
      expect(s.sink.ofType('cluster').at(-1)?.status).toBe('reachable');
      expect(s.engine.state.cluster.reachable).toBe(true);
      s.controller.abort();
      await s.exit;
    }, 10_000);
  });

  describe('sync hooks and restart', () => {
    const hooked = {
      ...config,
      build: {
        ...config.build,
        artifacts: [
          config.build.artifacts[0],
          {
            ...config.build.artifacts[1],
            sync: {
              manual: [{ src: '**', dest: '/app' }],
              hooks: {
                before: [{ host: { command: ['./before.sh'] }, timeoutSeconds: 5, onFailure: 'warn' }],
                after: [
                  { container: { command: ['npm', 'install'], where: 'each' }, trigger: ['package.json'], timeoutSeconds: 5, onFailure: 'rebuild' },
                  { host: { command: ['./notify.sh'], dir: 'scripts' }, timeoutSeconds: 5, onFailure: 'warn' },
                ],
              },
              restart: { trigger: ['bin/*'], timeoutSeconds: 3 },
            },
          },
        ],
      },
    } as unknown as Config;
    const op = (paths: string[], hooks: { before: number[]; after: number[] }, restart = false): SyncOp => ({
      image: 'blog/posts',
      copy: paths.map((p) => ({ localPath: `/p/posts/${p}`, containerPath: `/app/${p}` })),
      delete: [],
      deletedLocal: ['/p/posts/gone.txt'],
      hooks,
      ...(restart ? { restart } : {}),
    });
    const planOf = (o: SyncOp) => () => ({ reloadConfig: false, syncs: [o], rebuild: [], redeploy: false, decisions: [] });

    it('runs the triggered hooks around the write: before, sync, container hook in each replica, host hook with the file lists, then restart', async () => {
      const f = fakes({ plan: planOf(op(['package.json', 'bin/server'], { before: [0], after: [0, 1] }, true)) });
      const s = start(f, true, hooked);
      await until(s.ready, 'ready');
      f.podUpdate({ snapshot: pod('posts-1', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
      f.podUpdate({ snapshot: pod('posts-2', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
      f.batch('/p/posts/package.json');
      await until(() => f.log.filter((l) => l.startsWith('restart')).length === 2, 'restarts');
      const work = f.log.filter((l) => /^(hook|sync|restart)/.test(l));
      expect(work.slice(0, 2)).toEqual(['hook sync/before#1 host', 'sync blog/posts /app/package.json,/app/bin/server']);
      expect(work.slice(2, 4).sort()).toEqual(['hook sync/after#1 posts-1', 'hook sync/after#1 posts-2']);
      expect(work.slice(4)).toEqual(['hook sync/after#2 host', 'restart posts-1', 'restart posts-2']);
      const host = f.hookRuns.find((r) => r.ref.when === 'after' && r.where === 'host')!;
      expect(host.env).toMatchObject({
        DEVLOOP_IMAGE: 'localhost:5000/blog/posts:v2',
        SKAFFOLD_IMAGE: 'localhost:5000/blog/posts:v2',
        DEVLOOP_FILES_ADDED_OR_MODIFIED: '/p/posts/package.json;/p/posts/bin/server',
        SKAFFOLD_FILES_ADDED_OR_MODIFIED: '/p/posts/package.json;/p/posts/bin/server',
        DEVLOOP_FILES_DELETED: '/p/posts/gone.txt',
        SKAFFOLD_FILES_DELETED: '/p/posts/gone.txt',
      });
      s.controller.abort();
      await s.exit;
    });

    it('a failing hook with onFailure: rebuild is shown and rebuilds the image; with warn it only warns', async () => {
      const f = fakes({
        plan: planOf(op(['package.json'], { before: [0], after: [0] })),
        hookOutcome: (ref) => ({ status: 'failed', exitCode: 3, durationMs: 1, output: ['npm ERR! boom'], ...(ref.when === 'before' ? {} : {}) }),
      });
      const s = start(f, true, hooked);
      await until(s.ready, 'ready');
      f.podUpdate({ snapshot: pod('posts-1', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
      const buildsBefore = f.builds.length;
      f.batch('/p/posts/package.json');
      await until(() => f.builds.length > buildsBefore, 'a rebuild');
      expect(f.builds.at(-1)).toEqual(['blog/posts']);
      const warnings = s.sink.ofType('message').filter((m) => m.level === 'warn').map((m) => m.text);
      expect(warnings.some((w) => w.includes('sync/before #1 hook (host) failed with exit code 3 on this machine') && w.includes('next: fix the command'))).toBe(true);
      expect(warnings.some((w) => w.includes('sync/after #1 hook (container) failed with exit code 3 in posts-1/posts') && w.includes('onFailure: rebuild: rebuilding blog/posts'))).toBe(true);
      s.controller.abort();
      await s.exit;
    });

    it('runs a where: one container hook in one replica only', async () => {
      const one = {
        ...hooked,
        build: {
          ...hooked.build,
          artifacts: [
            hooked.build.artifacts[0],
            { ...hooked.build.artifacts[1], sync: { manual: [{ src: '**', dest: '/app' }], hooks: { before: [], after: [{ container: { command: ['reload'], where: 'one' }, timeoutSeconds: 5, onFailure: 'warn' }] } } },
          ],
        },
      } as unknown as Config;
      const f = fakes({ plan: planOf(op(['a.js'], { before: [], after: [0] })) });
      const s = start(f, true, one);
      await until(s.ready, 'ready');
      f.podUpdate({ snapshot: pod('posts-1', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
      f.podUpdate({ snapshot: pod('posts-2', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
      f.batch('/p/posts/a.js');
      await until(() => f.hookRuns.length === 1, 'the hook');
      await tick(20);
      expect(f.hookRuns.map((r) => r.where)).toEqual(['posts-1']);
      expect(f.syncs[0].targets.map((t) => t.pod)).toEqual(['posts-1', 'posts-2']);
      s.controller.abort();
      await s.exit;
    });

    it('re-runs the after container hooks (not host hooks) that replayed files trigger, then restarts the process', async () => {
      const replayedOp = op(['package.json', 'bin/server'], { before: [], after: [] });
      const f = fakes({ replayed: () => replayedOp });
      const s = start(f, true, hooked);
      await until(s.ready, 'ready');
      const before = pod('posts-1', 'localhost:5000/blog/posts:v2');
      const after = pod('posts-1', 'localhost:5000/blog/posts:v2', 1, 'c2');
      f.podUpdate({ snapshot: after, previous: before, deleted: false, transitions: [{ kind: 'restarted', container: after.containers[0], exitCode: 1 }] });
      await until(() => f.log.includes('restart posts-1'), 'the restart after the replay');
      expect(f.log.filter((l) => /^(replay|hook|restart)/.test(l))).toEqual(['replay posts-1', 'hook sync/after#1 posts-1', 'restart posts-1']);
      s.controller.abort();
      await s.exit;
    });

    it('runs no hook and no restart for a replay whose files trigger none', async () => {
      const f = fakes({ replayed: () => op(['index.html'], { before: [], after: [] }) });
      const s = start(f, true, hooked);
      await until(s.ready, 'ready');
      const after = pod('posts-1', 'localhost:5000/blog/posts:v2', 1, 'c2');
      f.podUpdate({ snapshot: after, deleted: false, transitions: [{ kind: 'started', container: after.containers[0] }] });
      await until(() => f.replays.length === 1, 'a replay');
      await tick(30);
      expect(f.log.filter((l) => /^(hook|restart)/.test(l))).toEqual([]);
      s.controller.abort();
      await s.exit;
    });
  });
});

/** Dispatches a deletion the way the watcher reports it. */
function onBatchUnlink(f: ReturnType<typeof fakes>, file: string): void {
  f.batchChanges([{ path: file, kind: 'unlink' }]);
}

describe('DevEngine triggers and named artifacts', () => {
  it('trigger manual holds batches, lists them, and plans them as one batch only when asked', async () => {
    const f = fakes();
    const manual = { ...config, watch: { ...config.watch, trigger: 'manual' } } as Config;
    const s = start(f, true, { config: manual });
    await until(s.ready, 'ready');
    f.podUpdate({ snapshot: pod('posts-1', 'localhost:5000/blog/posts:v2'), deleted: false, transitions: [] });
    f.batch('/p/posts/public/a.html');
    f.batchChanges([
      { path: '/p/posts/public/b.html', kind: 'add' },
      { path: '/p/posts/public/a.html', kind: 'change' },
    ]);
    await tick(30);
    expect(f.syncs).toEqual([]);
    const held = s.sink.ofType('watch').filter((e) => e.status === 'held');
    expect(held.map((e) => e.held)).toEqual([['change posts/public/a.html'], ['change posts/public/a.html', 'add posts/public/b.html']]);
    s.engine.dispatch({ type: 'apply-requested' });
    await until(() => f.syncs.length === 1, 'the applied sync');
    expect(f.syncs[0].op.copy.map((c) => c.containerPath)).toEqual(['/app/a.html', '/app/b.html']);
    // nothing held any more: asking again plans nothing
    s.engine.dispatch({ type: 'apply-requested' });
    await tick(30);
    expect(f.syncs).toHaveLength(1);
    expect(s.sink.ofType('watch').filter((e) => e.status === 'held').slice(-2).map((e) => e.message)).toEqual(['applying 2 held change(s)', 'no change is waiting to be applied']);
    s.controller.abort();
    await s.exit;
  });

  it('with named artifacts, watches only those and plans the others as unwatched, but builds and deploys all', async () => {
    const f = fakes();
    const s = start(f, true, { watchedImages: new Set(['blog/posts']) });
    await until(s.ready, 'ready');
    expect([...(f.watcherOptions[0].watchedImages ?? [])]).toEqual(['blog/posts']);
    // the pod watcher starts beside the build (start-up runs independent steps at once)
    expect([...f.log.slice(0, 4)].sort()).toEqual(['build blog/base,blog/posts', 'deploy localhost:5000/blog/base:v2,localhost:5000/blog/posts:v2', 'start pods', 'start watcher']);
    expect(f.log.indexOf('build blog/base,blog/posts')).toBeLessThan(f.log.indexOf('deploy localhost:5000/blog/base:v2,localhost:5000/blog/posts:v2'));
    f.batch('/p/posts/public/a.html');
    await until(() => f.planStates.length === 1, 'a plan');
    expect([...(f.planStates[0].unwatched ?? [])]).toEqual(['blog/base']);
    s.controller.abort();
    await s.exit;
  });
});

describe('DevEngine start-up order', () => {
  it('listens on the port-forwards once the objects are applied, while the rollout is still waited for', async () => {
    let releaseRollout!: () => void;
    const rolloutDone = new Promise<void>((r) => (releaseRollout = r));
    const f = fakes({ rollout: () => rolloutDone });
    const withForward = { ...config, portForward: [{ resourceType: 'deployment', resourceName: 'posts', port: 4000, localPort: 0, namespace: 'blog' }] } as unknown as Config;
    const controller = new AbortController();
    const sink = new CollectingSink();
    const engine = new DevEngine(withForward, f.services, { cleanup: false, explain: false, portForward: true, push: false, signal: controller.signal, sink });
    const exit = engine.run();
    await until(() => sink.ofType('portForward').some((e) => e.status === 'listening'), 'the port-forward listening');
    expect(sink.ofType('message').some((m) => m.text.startsWith('devloop dev: watching'))).toBe(false);
    releaseRollout();
    await until(() => sink.ofType('message').some((m) => m.text.startsWith('devloop dev: watching')), 'ready');
    controller.abort();
    expect(await exit).toBe(0);
  });
});
