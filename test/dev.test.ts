/**
 * End to end: `bin/devloop dev --output json` on a private copy of fixtures/blog, against the real
 * Docker engine and the real cluster. One dev session walks through the loop in order (each step
 * depends on the state the previous one left), then Ctrl-C must leave no object behind.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevSession, eventually, pods, readInPod } from './dev-session.js';
import { kubectl, requireCluster, requireDocker } from './helpers.js';

async function httpGet(port: number, urlPath: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`, { signal: AbortSignal.timeout(10_000) });
  return response.text();
}

describe('devloop dev', () => {
  let session: DevSession;
  let ns: string;
  let blocker: net.Server | undefined;

  beforeAll(async () => {
    requireDocker();
    requireCluster();
    session = DevSession.start();
    ns = session.project;
    // the client's local port is taken before devloop gets to its port-forwards (after the deploy)
    blocker = net.createServer().listen(session.ports.client, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    await session.waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 280_000, 0, 'the loop to be ready');
  });

  afterAll(async () => {
    blocker?.close();
    await session?.dispose();
    // a failed run must not leave its namespace behind
    try {
      kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], 30_000);
    } catch {
      /* already gone */
    }
  });

  const postsPage = () => path.join(session.dir, 'services/posts/public/e2e.html');

  it('streams logs of every pod and forwards the configured port', async () => {
    // log lines and port-forwards arrive on their own streams: 'ready' does not order them
    await session.waitFor((e) => e.type === 'log' && String(e.pod).startsWith('posts-') && String(e.line).includes('posts starting on port 4000'), 30_000, 0, 'the posts start-up log line');
    await session.waitFor((e) => e.type === 'portForward' && e.status === 'listening' && e.localPort === session.ports.posts && e.address === '127.0.0.1', 30_000, 0, 'the posts port-forward');
    expect(await httpGet(session.ports.posts, '/index.html')).not.toBe('');
    // a taken local port is announced and the next free one is used
    const client = session.ofType('portForward').find((e) => e.status === 'listening' && e.resource === 'deployment/client');
    expect(client).toMatchObject({ localPort: session.ports.client + 1, message: expect.stringContaining(`local port ${session.ports.client} is in use`) });
    expect(await httpGet(session.ports.client + 1, '/')).not.toBe('');
  });

  it('copies an edited synced file into every replica, identical, and serves it', async () => {
    const from = session.events.length;
    const content = `synced at ${Date.now()}\n`;
    writeFileSync(postsPage(), content);
    const replicas = pods(ns, 'posts').filter((p) => p.running && !p.terminating);
    expect(replicas.length).toBe(2);
    for (const replica of replicas) {
      await session.waitFor((e) => e.type === 'sync' && e.status === 'synced' && e.pod === replica.name && (e.copied as string[]).includes('/app/public/e2e.html'), 30_000, from, `sync into ${replica.name}`);
      expect(readInPod(ns, replica.name, '/app/public/e2e.html')).toBe(content);
    }
    expect(await httpGet(session.ports.posts, '/e2e.html')).toBe(content);
    // a sync is never a rebuild
    expect(session.ofType('build', from).filter((e) => e.image === 'blog/posts' && e.status === 'building')).toEqual([]);
  });

  it('replays the synced files into the replacement of a killed pod', async () => {
    const from = session.events.length;
    const [victim] = pods(ns, 'posts').filter((p) => p.running);
    kubectl(['delete', 'pod', '-n', ns, victim.name, '--wait=false']);
    const replayed = await session.waitFor(
      (e) => e.type === 'sync' && e.status === 'replayed' && e.artifact === 'blog/posts' && e.pod !== victim.name,
      120_000,
      from,
      'a replay into the replacement pod',
    );
    expect(replayed.copied).toContain('/app/public/e2e.html');
    const content = readFileSync(postsPage(), 'utf8');
    expect(readInPod(ns, String(replayed.pod), '/app/public/e2e.html')).toBe(content);
  });

  it('deletes a deleted synced file in every replica', async () => {
    const from = session.events.length;
    rmSync(postsPage());
    const replicas = await eventually('two running posts replicas', 60_000, () => {
      const r = pods(ns, 'posts').filter((p) => p.running && !p.terminating);
      return r.length === 2 ? r : undefined;
    });
    for (const replica of replicas) {
      await session.waitFor((e) => e.type === 'sync' && e.pod === replica.name && (e.deleted as string[]).includes('/app/public/e2e.html'), 30_000, from, `delete in ${replica.name}`);
      expect(readInPod(ns, replica.name, '/app/public/e2e.html')).toBeUndefined();
    }
  });

  it('rebuilds on a change outside the sync rules, rolls out, and the new content is served', async () => {
    const from = session.events.length;
    const before = pods(ns, 'posts').map((p) => p.image);
    // unique per run, so the input digest is new and the image really builds
    const version = `2-${ns}`;
    writeFileSync(path.join(session.dir, 'services/posts/VERSION'), `${version}\n`);
    const built = await session.waitFor((e) => e.type === 'build' && e.image === 'blog/posts' && e.status === 'built', 120_000, from, 'the rebuild of blog/posts');
    expect(before).not.toContain(built.tag);
    await session.waitFor((e) => e.type === 'deploy' && e.status === 'ready' && String(e.object).includes('posts'), 180_000, from, 'the rollout of posts');
    await session.waitFor((e) => e.type === 'log' && String(e.pod).startsWith('posts-') && String(e.line).includes(`(version ${version})`), 60_000, from, 'the new version in the logs');
    const replicas = await eventually('the new replicas only', 60_000, () => {
      const r = pods(ns, 'posts').filter((p) => !p.terminating);
      return r.length === 2 && r.every((p) => p.running && p.image === built.tag) ? r : undefined;
    });
    for (const replica of replicas) expect(readInPod(ns, replica.name, '/app/VERSION')).toBe(`${version}\n`);
    // served through the port-forward, which follows the rollout to a new pod
    let served = '';
    for (let i = 0; i < 60 && !served.includes(version); i++) {
      served = await httpGet(session.ports.posts, '/cgi-bin/health').catch(() => '');
      if (!served.includes(version)) await new Promise((r) => setTimeout(r, 500));
    }
    expect(JSON.parse(served)).toMatchObject({ service: 'posts', version });
  });

  it('keeps running when the build breaks, shows the error in full, and recovers after the fix', async () => {
    const from = session.events.length;
    const dockerfile = path.join(session.dir, 'services/comments/Dockerfile');
    const original = readFileSync(dockerfile, 'utf8');
    // unique per run: a tag left in the registry by an earlier run must not make this build "cached"
    writeFileSync(dockerfile, `${original}\nRUN echo "intentional failure for the e2e test ${ns}" && exit 3\n`);
    const failed = await session.waitFor((e) => e.type === 'build' && e.image === 'blog/comments' && e.status === 'failed', 120_000, from, 'the failed build');
    expect(JSON.stringify(failed)).toContain('intentional failure for the e2e test');
    // Still running; the rebuild after the fix below proves the loop went on (waitFor fails if it exits).
    expect(session.running).toBe(true);

    const fixedFrom = session.events.length;
    writeFileSync(dockerfile, original.replace('EXPOSE', `LABEL e2e=${ns}\nEXPOSE`));
    const rebuilt = await session.waitFor((e) => e.type === 'build' && e.image === 'blog/comments' && (e.status === 'built' || e.status === 'cached'), 120_000, fixedFrom, 'the build after the fix');
    await session.waitFor((e) => e.type === 'deploy' && e.status === 'ready' && String(e.object).includes('comments'), 180_000, fixedFrom, 'the rollout after the fix');
    await eventually('comments running the fixed image', 60_000, () => {
      const r = pods(ns, 'comments').filter((p) => !p.terminating);
      return r.length === 1 && r[0].running && r[0].image === rebuilt.tag;
    });
  });

  it('re-applies an edited manifest', async () => {
    const from = session.events.length;
    const manifest = path.join(session.dir, 'infra/k8s/query.yaml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('replicas: 1', 'replicas: 2'));
    await session.waitFor((e) => e.type === 'deploy' && e.status === 'applied' && String(e.object ?? '').includes('query'), 60_000, from, 'the re-apply');
    await eventually('query scaled to 2 in the cluster', 60_000, () => kubectl(['get', 'deployment', 'query', '-n', ns, '-o', 'jsonpath={.spec.replicas}']).trim() === '2');
  });

  it('marks a container restart with its exit code, follows the new instance once, and replays the synced files into it', async () => {
    // a liveness probe the test can fail on demand (PID 1 of the fixture ignores signals)
    const manifest = path.join(session.dir, 'infra/k8s/comments.yaml');
    writeFileSync(
      manifest,
      readFileSync(manifest, 'utf8').replace(
        '            periodSeconds: 1\n',
        '            periodSeconds: 1\n          livenessProbe:\n            exec: { command: ["sh", "-c", "test ! -e /tmp/die"] }\n            periodSeconds: 1\n            failureThreshold: 1\n',
      ),
    );
    const [target] = await eventually('comments running with the liveness probe', 120_000, () => {
      const list = JSON.parse(kubectl(['get', 'pods', '-n', ns, '-l', 'app=comments', '-o', 'json'])) as {
        items: Array<{ metadata: { name: string; deletionTimestamp?: string }; spec: { containers: Array<{ livenessProbe?: unknown }> }; status: { containerStatuses?: Array<{ ready: boolean }> } }>;
      };
      const ready = list.items.filter((p) => !p.metadata.deletionTimestamp && p.spec.containers[0].livenessProbe && p.status.containerStatuses?.every((c) => c.ready));
      return ready.length === 1 && list.items.length === 1 ? ready.map((p) => p.metadata.name) : undefined;
    });
    const synced = session.events.length;
    const content = `replay after restart ${Date.now()}\n`;
    writeFileSync(path.join(session.dir, 'services/comments/public/restart.html'), content);
    await session.waitFor((e) => e.type === 'sync' && e.status === 'synced' && e.pod === target, 30_000, synced, 'the sync into comments');

    const from = session.events.length;
    kubectl(['exec', '-n', ns, target, '--', 'touch', '/tmp/die']);
    const marker = await session.waitFor((e) => e.type === 'log' && e.pod === target && e.marker === true, 60_000, from, 'the restart marker');
    expect(marker.line).toMatch(/^container restarted \(exit code \d+, reason \w+\)$/);
    await session.waitFor((e) => e.type === 'sync' && e.status === 'replayed' && e.pod === target && (e.copied as string[]).includes('/app/public/restart.html'), 60_000, from, 'the replay into the restarted container');
    expect(readInPod(ns, target, '/app/public/restart.html')).toBe(content);
    await session.waitFor((e) => e.type === 'log' && e.pod === target && String(e.line).startsWith('comments starting'), 30_000, from, 'the new instance\'s first line');
    // A line written to the new instance's output now: once devloop shows it, the log follower has
    // passed everything before it, so a repeated start line would already be here.
    const probe = `log probe ${Date.now()}`;
    kubectl(['exec', '-n', ns, target, '--', 'sh', '-c', `echo '${probe}' > /proc/1/fd/1`]);
    await session.waitFor((e) => e.type === 'log' && e.pod === target && e.line === probe, 30_000, from, 'the probe line');
    // the new instance's start line once, the old instance's lines not again
    const starts = session.ofType('log', from).filter((e) => e.pod === target && String(e.line).startsWith('comments starting'));
    expect(starts).toHaveLength(1);
  });

  it('on Ctrl-C deletes every object it applied and exits 0', async () => {
    const from = session.events.length;
    const code = await session.interrupt(240_000);
    expect(code, session.describe()).toBe(0);
    expect(session.ofType('teardown', from).some((e) => e.status === 'done')).toBe(true);
    const left = kubectl(['get', 'deployments,services,configmaps,secrets', '-A', '-l', `devloop.dev/project=${ns}`, '-o', 'name']).trim();
    expect(left).toBe('');
    const namespaces = kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name']).trim();
    expect(namespaces).toBe('');
  });
});

describe('devloop dev interrupted during start-up', () => {
  it('exits 130 and still deletes what it had applied', async () => {
    requireDocker();
    requireCluster();
    const session = DevSession.start();
    try {
      // interrupt while the first rollout is being awaited: objects exist, the loop is not up yet
      await session.waitFor((e) => e.type === 'deploy' && e.status === 'waiting', 240_000, 0, 'the first rollout wait');
      const code = await session.interrupt(240_000);
      expect(code, session.describe()).toBe(130);
      expect(session.ofType('message').some((e) => String(e.text).startsWith('devloop dev: watching'))).toBe(false);
      expect(session.ofType('teardown').some((e) => e.status === 'done')).toBe(true);
      expect(kubectl(['get', 'namespace', session.project, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
    } finally {
      await session.dispose();
      try {
        kubectl(['delete', 'namespace', session.project, '--ignore-not-found', '--wait=false'], 30_000);
      } catch {
        /* already gone */
      }
    }
  });
});
