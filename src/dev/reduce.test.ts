import { describe, expect, it } from 'vitest';
import type { BuildResult } from '../build/types.js';
import type { Config } from '../config/load.js';
import { ConfigError } from '../errors.js';
import type { PodSnapshot } from '../observe/pods.js';
import { initialState, reduce, type DevAction, type DevEffect, type DevState } from './reduce.js';
import type { Plan, SyncOp } from './services.js';

const config = {
  file: '/p/devloop.config.yaml',
  rootDir: '/p',
  name: 'blog',
  build: {
    artifacts: [
      { image: 'blog/base', context: 'base', contextDir: '/p/base', requires: [] },
      { image: 'blog/posts', context: 'posts', contextDir: '/p/posts', requires: [{ image: 'blog/base', alias: 'BASE' }], sync: { manual: [{ src: 'public/**', dest: '/app/public' }] } },
    ],
  },
  watch: { ignore: [], debounceMs: 50, trigger: 'notify' },
} as unknown as Config;

const built = (image: string, tag: string): BuildResult => ({ image, tag, status: 'built' });

function pod(name: string, image: string): PodSnapshot {
  return {
    namespace: 'blog', name, uid: name, owner: 'deployment/posts', labels: {}, phase: 'Running', state: 'Running', terminating: false,
    containers: [{ name: 'posts', image, ready: true, restartCount: 0, containerID: 'c1', state: 'running' }], ready: 1, total: 1, restarts: 0,
  };
}

/** Runs actions in order from `state`; returns the last state and every effect, in order. */
function run(state: DevState, ...actions: DevAction[]): { state: DevState; effects: DevEffect[] } {
  const effects: DevEffect[] = [];
  for (const action of actions) {
    const r = reduce(state, action);
    state = r.state;
    effects.push(...r.effects);
  }
  return { state, effects };
}

const types = (effects: DevEffect[]) => effects.map((e) => e.type);
const emitted = (effects: DevEffect[]) => effects.flatMap((e) => (e.type === 'emit' ? [e.event] : []));

/** A session running with both images built, as after start-up. */
function running(overrides: Partial<DevState> = {}): DevState {
  return run(
    { ...initialState(config, { explain: false }), ...overrides },
    { type: 'build-finished', results: [built('blog/base', 'localhost:5000/blog/base:v1'), built('blog/posts', 'localhost:5000/blog/posts:v1')] },
    { type: 'deploy-started' },
    { type: 'deploy-finished', ok: true },
    { type: 'started' },
  ).state;
}

const syncOp = (image: string, ...files: string[]): SyncOp => ({ image, copy: files.map((f) => ({ localPath: f, containerPath: `/app/${f}` })), delete: [] });

describe('reduce', () => {
  it('files-changed: batches accumulate in pendingChanges, each asking for a plan-batch job; the given state is never changed', () => {
    const start = running();
    const frozen = JSON.stringify(start.pendingChanges);
    const { state, effects } = run(
      start,
      { type: 'files-changed', changes: [{ path: '/p/posts/public/a.html', kind: 'change' }] },
      { type: 'files-changed', changes: [{ path: '/p/posts/src/b.js', kind: 'add' }] },
    );
    expect(state.pendingChanges.map((c) => c.path)).toEqual(['/p/posts/public/a.html', '/p/posts/src/b.js']);
    expect(types(effects)).toEqual(['plan-batch', 'plan-batch']);
    expect(JSON.stringify(start.pendingChanges)).toBe(frozen);
    expect(start.pendingChanges).toEqual([]);
    // the job takes them
    expect(reduce(state, { type: 'batch-taken' }).state.pendingChanges).toEqual([]);
  });

  it('files-changed while stopping: refused', () => {
    const stopping = reduce(running(), { type: 'stopping' }).state;
    const r = reduce(stopping, { type: 'files-changed', changes: [{ path: '/p/posts/x', kind: 'change' }] });
    expect(r.state).toBe(stopping);
    expect(r.effects).toEqual([]);
  });

  it('batch-planned: syncs (never for a rebuilt image), rebuilds and redeploys as planned, decisions shown with explain', () => {
    const plan: Plan = {
      reloadConfig: false,
      syncs: [syncOp('blog/posts', '/p/posts/public/a.html'), syncOp('blog/base', '/p/base/x')],
      rebuild: ['blog/base'],
      redeploy: true,
      decisions: [
        { type: 'change', path: '/p/posts/public/a.html', artifact: 'blog/posts', action: 'sync', reason: 'rule 1' },
        { type: 'change', path: '/p/base/Dockerfile', artifact: 'blog/base', action: 'rebuild', reason: 'no rule' },
        { type: 'change', path: '/p/k8s/app.yaml', action: 'redeploy', reason: 'manifest' },
      ],
    };
    const quiet = reduce(running(), { type: 'batch-planned', plan });
    expect(quiet.effects).toEqual([
      { type: 'execute-plan', syncs: [plan.syncs[0]], rebuild: ['blog/base'], redeploy: true, syncedPaths: new Map([['blog/posts', ['/p/posts/public/a.html']]]) },
    ]);
    const explained = reduce({ ...running(), settings: { explain: true } }, { type: 'batch-planned', plan });
    expect(types(explained.effects)).toEqual(['emit', 'emit', 'emit', 'execute-plan']);
    expect(emitted(explained.effects)).toEqual(plan.decisions);
  });

  it('batch-planned after a config reload rebuilds every artifact and redeploys without syncing; an invalid config is shown and the plan runs as it is', () => {
    const plan: Plan = { reloadConfig: true, syncs: [syncOp('blog/posts', '/p/posts/public/a.html')], rebuild: [], redeploy: false, decisions: [] };
    const reloaded = reduce(running(), { type: 'batch-planned', plan, configReload: { file: '/p/devloop.config.yaml' } });
    expect(emitted(reloaded.effects)).toEqual([{ type: 'message', level: 'info', text: 'config reloaded from /p/devloop.config.yaml' }]);
    expect(reloaded.effects.at(-1)).toMatchObject({ type: 'execute-plan', syncs: [], rebuild: ['blog/base', 'blog/posts'], redeploy: true });

    const error = new ConfigError([{ file: '/p/devloop.config.yaml', line: 3, column: 1, path: 'build', message: 'bad' }]);
    const invalid = reduce(running(), { type: 'batch-planned', plan, configReload: { error } });
    const [warning] = emitted(invalid.effects);
    expect(warning).toMatchObject({ type: 'message', level: 'warn' });
    expect(warning.type === 'message' && warning.text).toContain('the changed config is invalid; the previous one keeps running');
    expect(warning.type === 'message' && warning.text).toContain('devloop.config.yaml:3:1');
    expect(invalid.effects.at(-1)).toMatchObject({ type: 'execute-plan', syncs: plan.syncs, rebuild: [], redeploy: false });
  });

  it('trigger manual: holds changes net per path and lists them; apply-requested releases them as one batch', () => {
    const manual = running({ config: { ...config, watch: { ...config.watch, trigger: 'manual' } } as Config });
    const held = run(
      manual,
      { type: 'files-changed', changes: [{ path: '/p/posts/public/a.html', kind: 'change' }] },
      { type: 'files-changed', changes: [{ path: '/p/posts/public/b.html', kind: 'add' }, { path: '/p/posts/public/a.html', kind: 'change' }] },
    );
    expect(types(held.effects)).toEqual(['emit', 'emit']);
    expect(emitted(held.effects).map((e) => e.type === 'watch' && e.held)).toEqual([['change posts/public/a.html'], ['change posts/public/a.html', 'add posts/public/b.html']]);
    expect(held.state.pendingChanges).toEqual([]);

    const applied = reduce(held.state, { type: 'apply-requested' });
    expect(applied.state.heldChanges).toEqual([]);
    expect(applied.state.pendingChanges.map((c) => c.path)).toEqual(['/p/posts/public/a.html', '/p/posts/public/b.html']);
    expect(types(applied.effects)).toEqual(['emit', 'plan-batch']);
    expect(emitted(applied.effects)[0]).toMatchObject({ type: 'watch', status: 'held', held: [], applied: true, message: 'applying 2 held change(s)' });

    const again = reduce(applied.state, { type: 'apply-requested' });
    expect(types(again.effects)).toEqual(['emit']);
    expect(emitted(again.effects)[0]).toMatchObject({ applied: false, message: 'no change is waiting to be applied' });
  });

  it('pod-updated: records the pod and replays into a (re)started container of the current build only', () => {
    const state = running();
    const current = pod('posts-1', 'localhost:5000/blog/posts:v1');
    const r = reduce(state, { type: 'pod-updated', update: { snapshot: current, deleted: false, transitions: [{ kind: 'started', container: current.containers[0] }] } });
    expect(r.state.pods.get('blog/posts-1')).toBe(current);
    expect(r.effects).toEqual([
      { type: 'pods-changed' },
      { type: 'replay', target: { namespace: 'blog', pod: 'posts-1', container: 'posts', image: 'blog/posts' } },
    ]);
    expect(state.pods.size).toBe(0);

    const old = pod('posts-0', 'localhost:5000/blog/posts:v0');
    const fromOld = reduce(r.state, { type: 'pod-updated', update: { snapshot: old, deleted: false, transitions: [{ kind: 'started', container: old.containers[0] }] } });
    expect(types(fromOld.effects)).toEqual(['pods-changed']);

    const gone = reduce(fromOld.state, { type: 'pod-updated', update: { snapshot: current, deleted: true, transitions: [] } });
    expect(gone.state.pods.has('blog/posts-1')).toBe(false);
    expect(gone.effects).toEqual([{ type: 'forget-container', container: { namespace: 'blog', pod: 'posts-1', container: 'posts' } }, { type: 'pods-changed' }]);

    const stopping = reduce(state, { type: 'stopping' }).state;
    const late = reduce(stopping, { type: 'pod-updated', update: { snapshot: current, deleted: false, transitions: [{ kind: 'started', container: current.containers[0] }] } });
    expect(types(late.effects)).toEqual(['pods-changed']);
  });

  it('build-finished and deploy-finished: keep the last good build, remember failures, reset the sync ledger of a new image, keep a failed deploy pending', () => {
    const state = running();
    const r = reduce(state, { type: 'build-finished', results: [built('blog/posts', 'localhost:5000/blog/posts:v2'), { image: 'blog/base', tag: 'x', status: 'failed' }] });
    expect(r.state.builds.get('blog/posts')?.tag).toBe('localhost:5000/blog/posts:v2');
    expect(r.state.builds.get('blog/base')?.tag).toBe('localhost:5000/blog/base:v1');
    expect([...r.state.failedImages]).toEqual(['blog/base']);
    expect(r.effects).toEqual([{ type: 'reset-image', image: 'blog/posts' }]);
    expect(state.builds.get('blog/posts')?.tag).toBe('localhost:5000/blog/posts:v1');

    const fixed = reduce(r.state, { type: 'build-finished', results: [built('blog/base', 'localhost:5000/blog/base:v1')] });
    expect(fixed.state.failedImages.size).toBe(0);
    expect(fixed.effects).toEqual([]);

    expect(reduce(state, { type: 'deploy-finished', ok: false }).state.deployPending).toBe(true);
    expect(reduce({ ...state, deployPending: true }, { type: 'deploy-finished', ok: true }).state.deployPending).toBe(false);
    expect(initialState(config, { explain: false })).toMatchObject({ deployPending: true, applied: false });
    expect(reduce(initialState(config, { explain: false }), { type: 'deploy-started' }).state.applied).toBe(true);
  });

  it('cluster-unreachable: one probe per outage, unsynced paths and replays kept; reachable again: an event and the re-sync job', () => {
    const state = running({ deployPending: false });
    const target = { namespace: 'blog', pod: 'posts-1', container: 'posts', image: 'blog/posts' };
    const down = run(
      state,
      { type: 'cluster-unreachable', message: 'ECONNREFUSED', at: 1_000, unsyncedPaths: ['/p/posts/public/a.html'] },
      { type: 'cluster-unreachable', message: 'ECONNRESET', at: 2_000, replays: [target] },
      { type: 'syncs-postponed', paths: ['/p/posts/public/b.html', '/p/posts/public/a.html'] },
    );
    expect(down.state.cluster).toEqual({ reachable: false, since: 1_000, message: 'ECONNREFUSED', attempt: 0, nextRetryAt: 1_000 });
    expect(types(down.effects)).toEqual(['probe-cluster', 'emit']);
    expect(emitted(down.effects)[0]).toMatchObject({ type: 'message', level: 'info', text: 'cluster unreachable: 2 edited file(s) will be synced when it answers' });
    expect([...down.state.unsyncedPaths]).toEqual(['/p/posts/public/a.html', '/p/posts/public/b.html']);
    expect([...down.state.replaysAfterOutage.values()]).toEqual([target]);

    const probing = run(down.state, { type: 'probe-scheduled', attempt: 2, at: 5_000, delayMs: 1_000 }, { type: 'probe-failed', message: 'ETIMEDOUT' });
    expect(probing.state.cluster).toEqual({ reachable: false, since: 1_000, message: 'ETIMEDOUT', attempt: 2, nextRetryAt: 6_000 });
    expect(emitted(probing.effects)).toEqual([
      { type: 'cluster', status: 'unreachable', since: new Date(1_000).toISOString(), nextRetry: new Date(6_000).toISOString(), attempt: 2, pendingFiles: 2, message: 'ECONNREFUSED' },
    ]);

    const up = reduce({ ...probing.state, deployPending: true }, { type: 'cluster-reachable' });
    expect(up.state.cluster).toEqual({ reachable: true });
    expect(up.effects).toEqual([
      { type: 'emit', event: { type: 'cluster', status: 'reachable', since: new Date(1_000).toISOString(), pendingFiles: 2, redeploy: true } },
      { type: 'resync-after-outage' },
    ]);
    const taken = reduce(up.state, { type: 'outage-resync-started' }).state;
    expect(taken.unsyncedPaths.size).toBe(0);
    expect(taken.replaysAfterOutage.size).toBe(0);
    // a second answer changes nothing
    expect(reduce(up.state, { type: 'cluster-reachable' }).effects).toEqual([]);
  });

  it('cluster-unreachable while stopping keeps what it could not do but starts no probe; reachable while stopping re-syncs nothing', () => {
    const stopping = reduce(running(), { type: 'stopping' }).state;
    const r = reduce(stopping, { type: 'cluster-unreachable', message: 'ECONNREFUSED', at: 1, unsyncedPaths: ['/p/a'] });
    expect(r.effects).toEqual([]);
    expect(r.state.cluster.reachable).toBe(true);
    const down = reduce(running(), { type: 'cluster-unreachable', message: 'x', at: 1 }).state;
    const up = reduce(reduce(down, { type: 'stopping' }).state, { type: 'cluster-reachable' });
    expect(up.state.cluster.reachable).toBe(true);
    expect(up.effects).toEqual([]);
  });

  it('quit, rebuild and full sync requests become effects; refused while stopping (except quit)', () => {
    const state = running();
    expect(reduce(state, { type: 'quit-requested' }).effects).toEqual([{ type: 'stop' }]);
    expect(reduce(state, { type: 'rebuild-requested', images: ['blog/posts'] }).effects).toEqual([{ type: 'rebuild', images: ['blog/posts'] }]);
    expect(reduce(state, { type: 'full-sync-requested', image: 'blog/posts' }).effects).toEqual([{ type: 'full-sync', image: 'blog/posts' }]);
    const stopping = reduce(state, { type: 'stopping' }).state;
    expect(stopping.phase).toBe('stopping');
    expect(reduce(stopping, { type: 'rebuild-requested', images: ['blog/posts'] }).effects).toEqual([]);
    expect(reduce(stopping, { type: 'full-sync-requested', image: 'blog/posts' }).effects).toEqual([]);
    expect(reduce(stopping, { type: 'quit-requested' }).effects).toEqual([{ type: 'stop' }]);
    expect(reduce(stopping, { type: 'started' }).state.phase).toBe('stopping');
  });
});
