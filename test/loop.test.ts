/**
 * End to end: the loop's triggers and `devloop dev IMAGE...`, through `bin/devloop dev --output json`
 * on private copies of fixtures/blog, against the real Docker engine and cluster.
 *
 * 1. `dev posts comments --trigger manual`: only posts and comments are watched (the watcher's
 *    ready event names the others); an edit in client (which has sync rules) is never seen while the
 *    posts edit written after it is held and listed; nothing syncs until a line arrives on stdin,
 *    then exactly the held change is synced into both replicas.
 * 2. `dev posts --trigger polling --watch-poll-interval 300`: an edit is picked up by polling and
 *    synced into both replicas.
 * 3. A project whose build context is the config's own directory (`context: .`, Skaffold's
 *    default): devloop's state directory (.devloop, written by every build and deploy) is neither
 *    watched nor sent, so the loop settles and then waits; an edit rebuilds once. An edit made
 *    while start-up builds (the watcher scans meanwhile) is not lost: the image ends up with it.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DevSession, pods, readInPod, type JsonEvent } from './dev-session.js';
import { docker, kubectl, requireCluster, requireDocker, requireFixtureImages } from './helpers.js';

const READY_MS = 280_000;
const isReady = (e: JsonEvent) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching');

async function stop(session: DevSession | undefined): Promise<void> {
  if (!session) return;
  const ns = session.project;
  await session.dispose();
  try {
    kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], 30_000);
  } catch {
    /* already gone */
  }
}

/** Waits until every running replica of posts got a sync copying `containerPath` (events from `from` on). */
async function syncedIntoEveryReplica(session: DevSession, containerPath: string, from: number): Promise<string[]> {
  const replicas = pods(session.project, 'posts').filter((p) => p.running && !p.terminating);
  expect(replicas.length).toBe(2);
  for (const replica of replicas) {
    await session.waitFor(
      (e) => e.type === 'sync' && e.status === 'synced' && e.pod === replica.name && (e.copied as string[]).includes(containerPath),
      60_000,
      from,
      `sync of ${containerPath} into ${replica.name}`,
    );
  }
  return replicas.map((r) => r.name);
}

describe('devloop dev posts comments --trigger manual', () => {
  let session: DevSession | undefined;
  afterAll(() => stop(session));

  it('watches only the named artifacts, holds changes and applies them on a stdin line', async () => {
    requireDocker();
    requireCluster();
    session = DevSession.start(['posts', 'comments', '--trigger', 'manual', '--port-forward=false']);
    await session.waitFor(isReady, READY_MS, 0, 'the loop to be ready');
    const ns = session.project;

    // every artifact was built and deployed; the others are announced as not watched
    const ready = session.ofType('watch').find((e) => e.status === 'ready');
    expect(ready).toMatchObject({ trigger: 'manual', unwatched: ['blog/base', 'blog/query', 'blog/client'] });
    for (const image of ['blog/base', 'blog/posts', 'blog/comments', 'blog/query', 'blog/client']) {
      expect(session.ofType('build').some((e) => e.image === image && (e.status === 'built' || e.status === 'cached')), image).toBe(true);
    }
    expect(pods(ns, 'client').some((p) => p.running)).toBe(true);

    // an edit of client (matching its sync rules), then one of posts: only posts is seen
    const from = session.events.length;
    const clientFile = path.join(session.dir, 'client/src/loop-e2e.js');
    const postsFile = path.join(session.dir, 'services/posts/public/loop-e2e.html');
    const content = `held at ${Date.now()}\n`;
    writeFileSync(clientFile, 'console.log("not watched");\n');
    writeFileSync(postsFile, content);
    const held = await session.waitFor(
      (e) => e.type === 'watch' && e.status === 'held' && ((e.held as string[]) ?? []).includes('add services/posts/public/loop-e2e.html'),
      60_000,
      from,
      'the posts edit to be held',
    );
    expect(held.held).toEqual(['add services/posts/public/loop-e2e.html']);
    // held, not applied: the loop decided (the event above) and synced nothing
    expect(session.ofType('sync', from)).toEqual([]);
    expect(session.ofType('change', from)).toEqual([]);

    // a line on stdin applies exactly what was held
    const beforeApply = session.events.length;
    session.child.stdin.write('\n');
    await session.waitFor((e) => e.type === 'watch' && e.status === 'held' && e.applied === true, 30_000, beforeApply, 'the apply');
    const replicas = await syncedIntoEveryReplica(session, '/app/public/loop-e2e.html', beforeApply);
    for (const replica of replicas) expect(readInPod(ns, replica, '/app/public/loop-e2e.html')).toBe(content);
    // the client edit never reached the loop: no decision, sync or build names it or its image
    expect(session.ofType('change', from).filter((e) => String(e.path).includes('loop-e2e.js') || e.artifact === 'blog/client')).toEqual([]);
    expect(session.ofType('sync', from).filter((e) => e.artifact !== 'blog/posts')).toEqual([]);
    expect(session.ofType('build', from)).toEqual([]);
    expect(readInPod(ns, pods(ns, 'client').find((p) => p.running)!.name, '/app/public/loop-e2e.js')).toBeUndefined();

    expect(await session.interrupt()).toBe(0);
  });
});

describe('devloop dev posts --trigger polling', () => {
  let session: DevSession | undefined;
  afterAll(() => stop(session));

  it('picks up an edit by polling and syncs it into every replica', async () => {
    requireDocker();
    requireCluster();
    session = DevSession.start(['posts', '--trigger', 'polling', '--watch-poll-interval', '300', '--port-forward=false']);
    await session.waitFor(isReady, READY_MS, 0, 'the loop to be ready');
    expect(session.ofType('watch').find((e) => e.status === 'ready')).toMatchObject({
      trigger: 'polling',
      message: expect.stringContaining('polling every 300 ms'),
    });
    const from = session.events.length;
    const content = `polled at ${Date.now()}\n`;
    writeFileSync(path.join(session.dir, 'services/posts/public/index.html'), content);
    const replicas = await syncedIntoEveryReplica(session, '/app/public/index.html', from);
    for (const replica of replicas) expect(readInPod(session.project, replica, '/app/public/index.html')).toBe(content);
    expect(await session.interrupt()).toBe(0);
  });
});

describe('devloop dev with the build context at the config directory', () => {
  let session: DevSession<Record<string, never>> | undefined;
  afterAll(() => stop(session as DevSession | undefined));

  it('never watches nor sends its own state directory, loses no edit made during start-up, and rebuilds once per edit', async () => {
    requireDocker();
    requireCluster();
    requireFixtureImages();
    const project = `dot-e2e-${randomBytes(3).toString('hex')}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-e2e-dot-'));
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM debian:bookworm-slim\nCOPY . /app\nCMD ["sleep", "100000"]\n');
    writeFileSync(path.join(dir, 'app.txt'), 'one\n');
    writeFileSync(
      path.join(dir, 'devloop.config.yaml'),
      `apiVersion: devloop/v1\nkind: Config\nmetadata:\n  name: ${project}\nbuild:\n  artifacts:\n    - image: ${project}/app\n      context: .\ndeploy:\n  namespace: ${project}\n  kubectl:\n    manifests: ["k8s/*.yaml"]\n`,
    );
    mkdirSync(path.join(dir, 'k8s'));
    writeFileSync(
      path.join(dir, 'k8s', 'app.yaml'),
      `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${project}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: ${project}\nspec:\n  replicas: 1\n  selector: { matchLabels: { app: app } }\n  template:\n    metadata: { labels: { app: app } }\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{ name: app, image: ${project}/app }]\n`,
    );
    session = new DevSession(dir, project, {}, ['--port-forward=false'], () => rmSync(dir, { recursive: true, force: true }));
    // an edit while the first build runs
    await session.waitFor((e) => e.type === 'build' && e.status === 'building', READY_MS, 0, 'the first build');
    writeFileSync(path.join(dir, 'app.txt'), 'edited during start-up\n');
    await session.waitFor(isReady, READY_MS, 0, 'the loop to be ready');
    expect(readdirSync(path.join(dir, '.devloop')).length).toBeGreaterThan(0); // it did write its state there
    // the edit is seen once the watcher is ready: a rebuild follows unless the first build read it already
    await session.waitFor((e) => e.type === 'change' && String(e.path).endsWith('app.txt'), 30_000, 0, 'the start-up edit');
    const settled = async () => {
      for (let count = -1; ; ) {
        await new Promise((r) => setTimeout(r, 8_000)); // longer than a build and a rollout take
        const now = session!.ofType('build').length;
        if (now === count) return;
        count = now;
      }
    };
    await settled();
    const images = session.ofType('build').filter((e) => e.status === 'built' || e.status === 'cached');
    expect(images.length).toBeLessThanOrEqual(2);
    const latest = String(images.at(-1)!.tag);
    expect(docker(['run', '--rm', '--entrypoint', 'cat', latest, '/app/app.txt'])).toBe('edited during start-up\n');
    // nothing devloop wrote came back as a change, and the image has none of it
    expect(session.ofType('change').filter((e) => String(e.path).includes('.devloop'))).toEqual([]);
    expect(docker(['run', '--rm', '--entrypoint', 'ls', latest, '-A', '/app']).trim().split('\n').sort()).toEqual(['Dockerfile', 'app.txt', 'devloop.config.yaml', 'k8s']);

    const from = session.events.length;
    writeFileSync(path.join(dir, 'app.txt'), 'two\n');
    // (the build events of the quiet period above: none since it settled)
    await session.waitFor((e) => e.type === 'deploy' && e.status === 'ready', 120_000, from, 'the rebuilt image rolled out');
    await new Promise((r) => setTimeout(r, 5_000));
    expect(session.ofType('build', from).filter((e) => e.status === 'built')).toHaveLength(1);
    expect(await session.interrupt()).toBe(0);
  });
});
