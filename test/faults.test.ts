/**
 * The fault suite: `bin/devloop dev --output json` on a private copy of fixtures/blog while parts of
 * the REAL environment fail under it: a pod deleted in the middle of a sync, the API server frozen
 * (SIGSTOP) and killed, the registry stopped during a push, dockerd stopped. Each case asserts that
 * the edits made during the fault reach every pod afterwards (read inside each pod with kubectl
 * exec), how many builds ran (none for sync-only edits), and that the loop is still alive (a later
 * edit syncs); the last case asserts that Ctrl-C leaves no labelled object behind.
 *
 * Every case restores what it broke in `afterEach` (even when it failed) and checks
 * `test/cluster/status.sh`. Run only under the e2e lock (see RULES.md / test/cluster/README.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DevSession, eventually, pods, readInPod, type JsonEvent } from './dev-session.js';
import { kubectl, requireCluster, requireDocker } from './helpers.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const CLUSTER_RUN = path.join(process.env.DEVLOOP_CLUSTER_STATE ?? '/var/lib/devloop-cluster', 'run');
const DOCKER_PID_FILE = path.join(process.env.DEVLOOP_DOCKER_STATE ?? '/var/lib/devloop-docker', 'dockerd.pid');

function script(name: string, timeoutMs = 300_000): string {
  return execFileSync('bash', [path.join(here, 'cluster', name)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
}

function pidOf(pidFile: string): number {
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no pid in ${pidFile}`);
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopProcess(pid: number, signal: NodeJS.Signals, timeoutMs = 60_000): Promise<void> {
  process.kill(pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} still runs ${timeoutMs} ms after ${signal}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const componentPid = (component: string) => pidOf(path.join(CLUSTER_RUN, `${component}.pid`));

/**
 * Brings the cluster back after a fault: a frozen API server is continued, then `test/cluster/up.sh`
 * starts whatever died and restarts every component that started before the running API server
 * (their watches may be stale). Throws unless status.sh says up.
 */
async function restoreCluster(): Promise<void> {
  for (const pid of [componentPid('kube-apiserver')]) if (alive(pid)) process.kill(pid, 'SIGCONT');
  script('up.sh');
  script('status.sh', 60_000);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('devloop dev survives faults of the cluster and the engine', () => {
  let session: DevSession;
  let ns: string;
  /** What the running case broke; afterEach repairs it even when the case failed. */
  let broken: 'none' | 'api-frozen' | 'api-killed' | 'registry' | 'dockerd' = 'none';

  beforeAll(async () => {
    requireDocker();
    requireCluster();
    session = DevSession.start();
    ns = session.project;
    await session.waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 280_000, 0, 'the loop to be ready');
  });

  afterEach(async () => {
    const what = broken;
    broken = 'none';
    if (what === 'dockerd') script('docker-up.sh', 120_000);
    if (what !== 'none') await restoreCluster();
  });

  afterAll(async () => {
    await session?.dispose();
    try {
      kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], 30_000);
    } catch {
      /* already gone */
    }
  });

  const file = (rel: string) => path.join(session.dir, 'services/posts/public', rel);
  const builds = (from: number) => session.ofType('build', from).filter((e) => e.status === 'building');

  /** Waits until every running posts replica has `expected` at /app/public/<rel> (undefined: the file is absent). */
  async function inEveryReplica(rel: string, expected: string | undefined, timeoutMs = 90_000): Promise<void> {
    await eventuallyOrDescribe(`/app/public/${rel} ${expected === undefined ? 'gone' : 'up to date'} in every posts replica`, timeoutMs, () => {
      const replicas = pods(ns, 'posts').filter((p) => !p.terminating);
      if (replicas.length !== 2 || !replicas.every((p) => p.running)) return undefined;
      return replicas.every((p) => readInPod(ns, p.name, `/app/public/${rel}`) === expected);
    });
  }

  /** `eventually`, with the session's last events in the failure. */
  async function eventuallyOrDescribe<T>(what: string, timeoutMs: number, probe: () => T | undefined | false): Promise<T> {
    try {
      return await eventually(what, timeoutMs, probe);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${session.describe(60)}`);
    }
  }

  /** The loop is alive: a fresh edit is synced into every replica without a build. */
  async function stillAlive(): Promise<void> {
    const from = session.events.length;
    const content = `alive ${Date.now()}\n`;
    writeFileSync(file('alive.html'), content);
    await session.waitFor((e) => e.type === 'sync' && e.status === 'synced' && (e.copied as string[]).includes('/app/public/alive.html'), 60_000, from, 'the sync of a later edit');
    await inEveryReplica('alive.html', content);
    expect(builds(from)).toEqual([]);
  }

  it('a pod deleted in the middle of a sync: the edit reaches every pod (the replacement by replay), nothing rebuilds', async () => {
    const from = session.events.length;
    const [victim] = pods(ns, 'posts').filter((p) => p.running);
    // large enough that the sync is still under way when the pod goes, small enough for kubectl's output buffer
    const content = `${'x'.repeat(900_000)}\nmid-sync ${Date.now()}\n`;
    writeFileSync(file('big.html'), content);
    await session.waitFor((e) => e.type === 'change' && String(e.path).endsWith('big.html'), 30_000, from, 'the change to be planned');
    kubectl(['delete', 'pod', '-n', ns, victim.name, '--wait=false']);
    await eventually('the victim gone', 90_000, () => !pods(ns, 'posts').some((p) => p.name === victim.name));
    await inEveryReplica('big.html', content, 120_000);
    expect(builds(from)).toEqual([]);
    expect(session.running).toBe(true);
    await stillAlive();
  });

  it('the API server frozen (SIGSTOP) for 20 s: "waiting for the cluster" is shown, the edit lands after SIGCONT, nothing rebuilds', async () => {
    const from = session.events.length;
    const pid = componentPid('kube-apiserver');
    broken = 'api-frozen';
    process.kill(pid, 'SIGSTOP');
    const frozenAt = Date.now();
    try {
      await sleep(1_000);
      const content = `written while frozen ${Date.now()}\n`;
      writeFileSync(file('frozen.html'), content);
      const waiting = await session.waitFor((e) => e.type === 'cluster' && e.status === 'waiting', 15_000, from, 'a "waiting for the cluster" event');
      expect(Number(waiting.noAnswerMs)).toBeGreaterThanOrEqual(2_000);
      await sleep(Math.max(0, 20_000 - (Date.now() - frozenAt)));
      process.kill(pid, 'SIGCONT');
      broken = 'none';
      await inEveryReplica('frozen.html', content, 120_000);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGCONT');
    }
    // the waiting notices grew while it waited
    const notices = session.ofType('cluster', from).filter((e) => e.status === 'waiting').map((e) => Number(e.noAnswerMs));
    expect(Math.max(...notices)).toBeGreaterThan(notices[0]);
    expect(builds(from)).toEqual([]);
    await restoreCluster();
    await stillAlive();
  });

  it('the API server killed and restarted: unreachable is a state, edits and deletions made meanwhile reach every pod, nothing rebuilds', async () => {
    // a file synced before the outage, deleted during it
    const doomed = `doomed ${Date.now()}\n`;
    let from = session.events.length;
    writeFileSync(file('doomed.html'), doomed);
    await inEveryReplica('doomed.html', doomed);

    from = session.events.length;
    broken = 'api-killed';
    await stopProcess(componentPid('kube-apiserver'), 'SIGKILL');
    const first = `outage edit 1 ${Date.now()}\n`;
    writeFileSync(file('outage.html'), first);
    const unreachable = await session.waitFor((e) => e.type === 'cluster' && e.status === 'unreachable', 60_000, from, 'the cluster marked unreachable');
    expect(unreachable.since).toBeTruthy();
    expect(unreachable.nextRetry).toBeTruthy();
    // more edits while it is down: only the latest content must arrive, the deletion too
    await sleep(2_000);
    const latest = `outage edit 2 ${Date.now()}\n`;
    writeFileSync(file('outage.html'), latest);
    rmSync(file('doomed.html'));
    await sleep(3_000);
    // probes keep going on the capped backoff (never more than ~4 s apart)
    const probes = session.ofType('cluster', from).filter((e) => e.status === 'unreachable');
    expect(probes.length).toBeGreaterThanOrEqual(3);

    console.log(`API server down, devloop said: ${JSON.stringify(session.events.slice(from).filter((e) => e.type === 'cluster' || e.type === 'message').slice(0, 8))}`);
    await restoreCluster();
    broken = 'none';
    await session.waitFor((e) => e.type === 'cluster' && e.status === 'reachable', 60_000, from, 'the cluster reachable again');
    await inEveryReplica('outage.html', latest, 120_000);
    await inEveryReplica('doomed.html', undefined, 60_000);
    const said = () => JSON.stringify(session.events.slice(from).filter((e) => e.type === 'message' || e.type === 'sync' || e.type === 'cluster'));
    expect(builds(from), said()).toEqual([]);
    expect(session.ofType('message', from).filter((m) => /rebuilding/.test(String(m.text)))).toEqual([]);
    await stillAlive();
  });

  it('the registry stopped during a push: a clear error naming the registry, and the next change builds, pushes and rolls out', async () => {
    let from = session.events.length;
    const version = `registry-${ns}-${Date.now()}`;
    writeFileSync(path.join(session.dir, 'services/posts/VERSION'), `${version}\n`);
    await session.waitFor((e) => e.type === 'build' && e.image === 'blog/posts' && e.status === 'building', 120_000, from, 'the build to start');
    broken = 'registry';
    await stopProcess(componentPid('registry'), 'SIGTERM');
    const failure = await session.waitFor(
      (e) => (e.type === 'build' && e.image === 'blog/posts' && e.status === 'failed') || (e.type === 'message' && /registry localhost:5000/.test(String(e.text))),
      180_000,
      from,
      'the push failure',
    );
    const text = JSON.stringify(session.events.slice(from));
    console.log(`registry down, devloop said: ${JSON.stringify(failure)}`);
    expect(text, JSON.stringify(failure)).toMatch(/registry localhost:5000/);
    expect(text).toMatch(/cannot reach the registry/);
    // how to fix it, on the failed build itself
    const failedBuild = session.ofType('build', from).find((e) => e.image === 'blog/posts' && e.status === 'failed');
    expect(String(failedBuild?.hint)).toMatch(/Check that the registry is running and listening at localhost:5000/);
    await sleep(1_000);
    expect(session.running).toBe(true);

    script('up.sh');
    broken = 'none';
    script('status.sh', 60_000);
    from = session.events.length;
    const next = `${version}-2`;
    writeFileSync(path.join(session.dir, 'services/posts/VERSION'), `${next}\n`);
    await session.waitFor((e) => e.type === 'build' && e.image === 'blog/posts' && e.status === 'pushed', 240_000, from, 'the push after the registry came back');
    await session.waitFor((e) => e.type === 'deploy' && e.status === 'ready' && String(e.object).includes('posts'), 240_000, from, 'the rollout');
    await eventually('posts replicas serving the new VERSION', 120_000, () => {
      const r = pods(ns, 'posts').filter((p) => !p.terminating);
      return r.length === 2 && r.every((p) => p.running && readInPod(ns, p.name, '/app/VERSION') === `${next}\n`);
    });
    await stillAlive();
  });

  it('dockerd stopped and started again: a build during the outage fails with the engine-down message and its fix, the next change builds', async () => {
    if (!existsSync(DOCKER_PID_FILE)) throw new Error(`dockerd was not started by test/cluster/docker-up.sh (no ${DOCKER_PID_FILE}): this case cannot stop and restart it`);
    let from = session.events.length;
    broken = 'dockerd';
    await stopProcess(pidOf(DOCKER_PID_FILE), 'SIGTERM', 90_000);
    const version = `dockerd-${ns}-${Date.now()}`;
    writeFileSync(path.join(session.dir, 'services/posts/VERSION'), `${version}\n`);
    await session.waitFor(
      (e) => (e.type === 'build' && e.status === 'failed') || (e.type === 'message' && /Docker engine/.test(String(e.text))),
      120_000,
      from,
      'the build failure',
    );
    const text = JSON.stringify(session.events.slice(from));
    console.log(`dockerd down, devloop said: ${JSON.stringify(session.events.slice(from).filter((e) => e.type === 'message' || (e.type === 'build' && e.status === 'failed')))}`);
    expect(text).toMatch(/cannot reach the Docker engine/);
    expect(text).toMatch(/docker|dockerd/i);
    await sleep(1_000);
    expect(session.running).toBe(true);

    script('docker-up.sh', 120_000);
    await restoreCluster();
    broken = 'none';
    from = session.events.length;
    const next = `${version}-2`;
    writeFileSync(path.join(session.dir, 'services/posts/VERSION'), `${next}\n`);
    await session.waitFor((e) => e.type === 'build' && e.image === 'blog/posts' && (e.status === 'built' || e.status === 'pushed'), 240_000, from, 'the build after dockerd came back');
    await eventually('posts replicas running the new VERSION', 240_000, () => {
      const r = pods(ns, 'posts').filter((p) => !p.terminating);
      return r.length === 2 && r.every((p) => p.running && readInPod(ns, p.name, '/app/VERSION') === `${next}\n`);
    });
    await stillAlive();
  });

  it('on Ctrl-C after all of it, deletes every object it applied and exits 0', async () => {
    const from = session.events.length;
    const code = await session.interrupt(240_000);
    expect(code, session.describe()).toBe(0);
    expect(session.ofType('teardown', from).some((e: JsonEvent) => e.status === 'done')).toBe(true);
    const left = kubectl(['get', 'deployments,replicasets,pods,services,configmaps,secrets', '-A', '-l', `devloop.dev/project=${ns}`, '-o', 'name']).trim();
    expect(left).toBe('');
  });
});
