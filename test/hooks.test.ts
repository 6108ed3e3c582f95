/**
 * End to end: sync hooks and the restart of a "compiled binary", through `bin/devloop dev --output
 * json --explain` on a private copy of fixtures/hooks (2 replicas), against the real Docker engine
 * and the real cluster. One session walks through the steps in order (each depends on the state
 * the previous one left), then Ctrl-C must leave nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevSession, eventually, type JsonEvent } from './dev-session.js';
import { copyFixture, kubectl, requireCluster, requireDocker } from './helpers.js';

/** Rewrites a copy of fixtures/hooks to use `project` as its name and namespace. */
function privatize(dir: string, project: string): void {
  for (const file of [path.join(dir, 'devloop.config.yaml'), path.join(dir, 'k8s', 'app.yaml')]) {
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^  name: hooks$/m, `  name: ${project}`).replace(/namespace: hooks/g, `namespace: ${project}`));
  }
}

interface AppPod {
  name: string;
  ready: boolean;
  terminating: boolean;
}

function appPods(namespace: string): AppPod[] {
  const list = JSON.parse(kubectl(['get', 'pods', '-n', namespace, '-l', 'app=app', '-o', 'json'])) as {
    items: Array<{ metadata: { name: string; deletionTimestamp?: string }; status: { phase: string; containerStatuses?: Array<{ ready: boolean }> } }>;
  };
  return list.items.map((p) => ({
    name: p.metadata.name,
    ready: p.status.phase === 'Running' && Boolean(p.status.containerStatuses?.every((c) => c.ready)),
    terminating: Boolean(p.metadata.deletionTimestamp),
  }));
}

/** What the pod's main process serves, asked from inside the pod. */
function served(namespace: string, pod: string): string | undefined {
  try {
    return kubectl(['exec', '-n', namespace, pod, '--', 'wget', '-qO-', 'http://127.0.0.1:8080/'], 20_000).trim();
  } catch {
    return undefined;
  }
}

const isHook = (e: JsonEvent, index: number, status: string) => e.type === 'hook' && e.phase === 'sync' && e.when === 'after' && e.index === index && e.status === status;

describe('devloop dev: sync hooks and sync.restart', () => {
  let session: DevSession;
  let ns: string;
  let appDir: string;

  beforeAll(async () => {
    requireDocker();
    requireCluster();
    const project = `hooks-e2e-${randomBytes(3).toString('hex')}`;
    const { dir, cleanup } = copyFixture('hooks');
    privatize(dir, project);
    session = new DevSession(dir, project, { posts: 0, client: 0 }, ['--explain', '--port-forward=false'], cleanup);
    ns = project;
    appDir = path.join(dir, 'app');
    await session.waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 280_000, 0, 'the loop to be ready');
    await eventually('2 ready replicas', 120_000, () => appPods(ns).filter((p) => p.ready && !p.terminating).length === 2);
  });

  afterAll(async () => {
    await session?.dispose();
    try {
      kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], 30_000);
    } catch {
      /* already gone */
    }
  });

  const running = () => appPods(ns).filter((p) => p.ready && !p.terminating).map((p) => p.name).sort();

  it('runs an after container hook once in each replica, and only when a triggering file changed', async () => {
    const replicas = running();
    expect(replicas.length).toBe(2);
    let from = session.events.length;
    writeFileSync(path.join(appDir, 'deps', 'list'), `left-pad@${Date.now()}\n`);
    for (const pod of replicas) {
      await session.waitFor((e) => isHook(e, 1, 'succeeded') && e.pod === pod, 60_000, from, `the deps hook in ${pod}`);
    }
    // its output is in that pod's log stream, marked as hook output
    for (const pod of replicas) {
      expect(session.ofType('log', from).some((e) => e.pod === pod && e.hook === 'sync/after #1' && String(e.line).startsWith('deps installed: left-pad@'))).toBe(true);
    }
    const explained = session.ofType('change', from).find((e) => String(e.path).endsWith('deps/list'));
    expect(explained?.reason).toContain('runs sync/after #1 in each container (trigger "deps/*")');

    // a file the trigger does not match: the host hook (trigger public/**) runs, the deps hook does not
    from = session.events.length;
    writeFileSync(path.join(appDir, 'public', 'page.html'), `<p>${Date.now()}</p>\n`);
    await session.waitFor((e) => isHook(e, 2, 'succeeded'), 60_000, from, 'the host hook');
    await session.waitFor((e) => e.type === 'sync' && e.status === 'synced' && (e.copied as string[]).includes('/app/public/page.html'), 30_000, from, 'the page sync');
    // Per container, in event order: each run of the deps hook follows a batch written into that
    // container that held deps/list, and runs once for it; a batch without it runs none. (The
    // watcher may report one save as two batches on a loaded machine: each runs the hook once.)
    const pending = new Map<string, boolean>();
    const runs = new Map<string, number>();
    for (const e of session.events) {
      if (e.type === 'sync' && (e.status === 'synced' || e.status === 'replayed') && e.artifact === 'hooks/app') {
        pending.set(String(e.pod), (e.copied as string[]).includes('/app/deps/list'));
      } else if (isHook(e, 1, 'running')) {
        expect(pending.get(String(e.pod)), `deps hook in ${String(e.pod)} without a batch holding deps/list\n${session.describe(80)}`).toBe(true);
        pending.set(String(e.pod), false);
        runs.set(String(e.pod), (runs.get(String(e.pod)) ?? 0) + 1);
      }
    }
    expect([...runs.keys()].sort()).toEqual(replicas);
    // the page batch reached both replicas and ran no deps hook there
    for (const pod of replicas) {
      await session.waitFor((e) => e.type === 'sync' && e.pod === pod && (e.copied as string[]).includes('/app/public/page.html'), 30_000, from, `the page sync into ${pod}`);
    }
    const lastPageSync = Math.max(...replicas.map((pod) => session.events.findLastIndex((e) => e.type === 'sync' && e.pod === pod && (e.copied as string[]).includes('/app/public/page.html'))));
    await session.waitFor((e) => isHook(e, 2, 'succeeded'), 30_000, lastPageSync, 'the host hook of the page batch');
    expect(session.events.slice(lastPageSync).filter((e) => isHook(e, 1, 'running'))).toEqual([]);
  });

  it('gives a host hook the batch\'s file lists (added or modified, deleted) and the image, under devloop\'s and Skaffold\'s names', async () => {
    const from = session.events.length;
    const added = path.join(appDir, 'public', 'fresh.html');
    const removed = path.join(appDir, 'public', 'old.html');
    writeFileSync(added, '<p>fresh</p>\n');
    rmSync(removed);
    const log = path.join(session.dir, 'host-hook.log');
    const lines = await eventually('host hook lines for both files', 60_000, () => {
      const text = readFileSync(log, { encoding: 'utf8', flag: 'a+' });
      const all = text.trim().split('\n').map((l) => l.split('|'));
      return all.some((f) => f[0].split(';').includes(added)) && all.some((f) => f[1].split(';').includes(removed)) ? all : undefined;
    });
    const withAdded = lines.find((f) => f[0].split(';').includes(added))!;
    expect(withAdded[2]).toBe(withAdded[0]); // SKAFFOLD_FILES_ADDED_OR_MODIFIED
    const withDeleted = lines.find((f) => f[1].split(';').includes(removed))!;
    expect(withDeleted[3]).toBe(withDeleted[1]); // SKAFFOLD_FILES_DELETED
    expect(withAdded[4]).toMatch(/hooks\/app:[0-9a-f]+$/);
    expect(withAdded[5]).toBe(withAdded[4]);
    expect(session.events.slice(from).filter((e) => isHook(e, 2, 'failed'))).toEqual([]);
  });

  it('restarts the main process after a new binary is synced in place, and serves the new binary', async () => {
    const replicas = running();
    for (const pod of replicas) expect(served(ns, pod)).toBe('binary v1');
    const from = session.events.length;
    const server = path.join(appDir, 'bin', 'server');
    writeFileSync(server, readFileSync(server, 'utf8').replaceAll('binary v1', 'binary v2'));
    chmodSync(server, 0o755);
    for (const pod of replicas) {
      await session.waitFor((e) => e.type === 'restart' && e.status === 'restarted' && e.pod === pod, 60_000, from, `the restart in ${pod}`);
    }
    const explained = session.ofType('change', from).find((e) => String(e.path).endsWith('bin/server'));
    expect(explained?.reason).toContain('then restarts the main process of each container, files in place (sync.restart, trigger "bin/*")');
    // the restart came after the file was written in that container
    for (const pod of replicas) {
      const synced = session.events.findIndex((e, i) => i >= from && e.type === 'sync' && e.status === 'synced' && e.pod === pod);
      const restarted = session.events.findIndex((e, i) => i >= from && e.type === 'restart' && e.status === 'restarted' && e.pod === pod);
      expect(synced).toBeGreaterThanOrEqual(0);
      expect(restarted).toBeGreaterThan(synced);
      expect(await eventually(`${pod} to serve binary v2`, 30_000, () => (served(ns, pod) === 'binary v2' ? true : undefined))).toBe(true);
    }
    // the container was not restarted: the process was, inside it
    const restartCounts = kubectl(['get', 'pods', '-n', ns, '-l', 'app=app', '-o', 'jsonpath={.items[*].status.containerStatuses[0].restartCount}']).trim().split(/\s+/).map(Number);
    expect(restartCounts).toEqual([0, 0]);
    expect(session.ofType('log', from).some((e) => String(e.line).includes('binary v2 starting'))).toBe(true);
  });

  it('after a pod is replaced, replays the files, re-runs the after container hook they trigger, and restarts the synced binary', async () => {
    const [victim] = running();
    const from = session.events.length;
    kubectl(['delete', 'pod', '-n', ns, victim, '--wait=false']);
    const replayed = await session.waitFor(
      (e) => e.type === 'sync' && e.status === 'replayed' && e.artifact === 'hooks/app' && e.pod !== victim,
      180_000,
      from,
      'the replay into the replacement',
    );
    const fresh = String(replayed.pod);
    expect(replayed.copied).toEqual(expect.arrayContaining(['/app/deps/list', '/app/bin/server']));
    await session.waitFor((e) => isHook(e, 1, 'succeeded') && e.pod === fresh, 60_000, from, 'the deps hook in the replacement');
    await session.waitFor((e) => e.type === 'restart' && e.status === 'restarted' && e.pod === fresh, 60_000, from, 'the restart in the replacement');
    // the host hook ran for its batch already: a replay does not run it again
    expect(session.events.slice(from).filter((e) => e.type === 'hook' && e.index === 2)).toEqual([]);
    expect(await eventually(`${fresh} to serve binary v2`, 30_000, () => (served(ns, fresh) === 'binary v2' ? true : undefined))).toBe(true);
  });

  it('shows a failing hook with its output, and with onFailure: rebuild rebuilds the image', async () => {
    const from = session.events.length;
    writeFileSync(path.join(appDir, 'fail', 'now'), `${Date.now()}\n`);
    const failed = await session.waitFor((e) => isHook(e, 3, 'failed'), 60_000, from, 'the failing hook');
    expect(failed.exitCode).toBe(3);
    expect(failed.output).toEqual(expect.arrayContaining(['hook failing on purpose']));
    await session.waitFor(
      (e) => e.type === 'message' && e.level === 'warn' && String(e.text).includes('sync/after #3 hook (container) failed with exit code 3') && String(e.text).includes('onFailure: rebuild'),
      30_000,
      from,
      'the warning',
    );
    await session.waitFor((e) => e.type === 'build' && e.image === 'hooks/app' && e.status === 'built', 180_000, from, 'the rebuild');
    await session.waitFor((e) => e.type === 'deploy' && e.status === 'ready', 180_000, from, 'the redeploy');
  });

  it('Ctrl-C stops a running container hook, stops the loop and deletes what it applied', async () => {
    await eventually('2 ready replicas of the rebuilt image', 120_000, () => running().length === 2);
    const from = session.events.length;
    mkdirSync(path.join(appDir, 'slow'), { recursive: true });
    writeFileSync(path.join(appDir, 'slow', 'now'), `${Date.now()}\n`);
    await session.waitFor((e) => isHook(e, 4, 'running'), 60_000, from, 'the long hook to start');
    const pod = String(session.events.slice(from).find((e) => isHook(e, 4, 'running'))!.pod);
    // the hook's process runs in the container
    expect(await eventually('sleep 600 in the container', 30_000, () => kubectl(['exec', '-n', ns, pod, '--', 'ps']).includes('sleep 600') || undefined)).toBe(true);
    const started = Date.now();
    const code = await session.interrupt(240_000);
    expect(code, session.describe()).toBe(0);
    expect(session.events.slice(from).some((e) => isHook(e, 4, 'interrupted'))).toBe(true);
    expect(Date.now() - started).toBeLessThan(120_000);
    await eventually('the namespace to be gone', 120_000, () => kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name']).trim() === '');
  });
});
