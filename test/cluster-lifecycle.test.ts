// cluster:down leaves no process of the test cluster behind, and cluster:up brings it back, also
// after its API server was killed, and right after a component was told to stop.
// It takes the shared cluster down (and up again), so the repository's vitest config leaves it out
// and `npm test` runs it last, on its own: npm run test:cluster-lifecycle. It expects the cluster to
// be up when it starts, and leaves it up.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const clusterDir = join(dirname(fileURLToPath(import.meta.url)), 'cluster');

function clusterEnv() {
  const [bin, state, containerdRun, kubeconfig, bridge, dependents] = execFileSync(
    'bash',
    [
      '-c',
      'source "$1/env.sh"; source "$1/lib.sh"; printf "%s\\n" "$CLUSTER_BIN" "$CLUSTER_STATE" "$CONTAINERD_RUN" "$KUBECONFIG_PATH" "$CNI_BRIDGE" "${APISERVER_DEPENDENTS[*]}"',
      'env',
      clusterDir,
    ],
    { encoding: 'utf8' },
  ).split('\n');
  /** What cluster:up restarts after an API server restart (APISERVER_DEPENDENTS in lib.sh). */
  const apiserverDependents = dependents.split(' ').filter(Boolean);
  return { bin, state, containerdRun, kubeconfig, bridge, apiserverDependents };
}

/** Processes that belong to the cluster: anything run from its binaries or pointed at its state. */
function clusterProcesses(env: ReturnType<typeof clusterEnv>, dockerdPid: number | undefined): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    } catch {
      continue;
    }
    if (!cmd) continue;
    let cgroup = '';
    try {
      cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      // gone meanwhile
    }
    const ours =
      (cmd.startsWith(env.bin + '/') && !cmd.startsWith(env.bin + '/kubectl')) || // components, not clients
      (/^\S*docker-registry /.test(cmd) && cmd.includes(env.state + '/')) ||
      (/^\S*containerd /.test(cmd) && cmd.includes(env.state + '/')) ||
      (/^\S*coredns /.test(cmd) && cmd.includes(env.state + '/')) || // its own bin dir; -conf STATE/Corefile
      (/^\S*containerd-shim/.test(cmd) && cmd.includes(env.containerdRun + '/')) ||
      /\/kubepods[/.]/.test(cgroup) || // the pods' containers
      (dockerdPid !== undefined && Number(pid) === dockerdPid);
    if (ours) found.push(`${pid} ${cmd.slice(0, 160)}`);
  }
  return found;
}

function componentPid(env: ReturnType<typeof clusterEnv>, name: string): number {
  return Number(readFileSync(join(env.state, 'run', `${name}.pid`), 'utf8').trim());
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat). */
function startTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/** A Deployment of the local pause image rolls out and its pod becomes Ready; the namespace is deleted after. */
async function deploymentRollsOut(env: ReturnType<typeof clusterEnv>, ns: string): Promise<void> {
  const kubectl = (...args: string[]) => execa(join(env.bin, 'kubectl'), ['--kubeconfig', env.kubeconfig, ...args], { timeout: 120_000 });
  await kubectl('create', 'namespace', ns);
  try {
    await kubectl('-n', ns, 'create', 'deployment', 'web', '--image=localhost:5000/pause:3.10');
    await kubectl('-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=60s');
    await kubectl('-n', ns, 'wait', 'pod', '-l', 'app=web', '--for=condition=Ready', '--timeout=30s');
    const pods = JSON.parse((await kubectl('-n', ns, 'get', 'pods', '-l', 'app=web', '-o', 'json')).stdout);
    expect(pods.items).toHaveLength(1);
    expect(pods.items[0].status.conditions.find((c: { type: string }) => c.type === 'Ready')?.status).toBe('True');
  } finally {
    await kubectl('delete', 'namespace', ns, '--wait=false').catch(() => undefined);
  }
}

describe('cluster:down and cluster:up again', () => {
  const env = clusterEnv();

  it('cluster:down stops every process of the cluster and removes its state', async () => {
    const dockerPidFile = '/var/lib/devloop-docker/dockerd.pid';
    const dockerdPid = existsSync(dockerPidFile) ? Number(readFileSync(dockerPidFile, 'utf8').trim()) : undefined;
    expect(clusterProcesses(env, undefined).length, 'the cluster should be up before this test').toBeGreaterThan(0);

    const down = await execa('bash', [join(clusterDir, 'down.sh')], { all: true, reject: false, timeout: 170_000 });
    expect(down.exitCode, down.all).toBe(0);

    expect(clusterProcesses(env, dockerdPid)).toEqual([]);
    expect(existsSync(env.state)).toBe(false);
    expect(existsSync(env.containerdRun)).toBe(false);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(env.state + '/') || l.includes(env.containerdRun + '/'));
    expect(mounts).toEqual([]);
    // these tools must run: a missing `ip` or `iptables-save` fails the test instead of passing it
    const links = await execa('ip', ['-o', 'link', 'show']);
    expect(links.stdout).toMatch(/^\d+: lo[:@]/m);
    expect(links.stdout).not.toMatch(new RegExp(`\\d+: ${env.bridge}[:@]`));
    const rules = await execa('iptables-save', ['-t', 'filter']);
    expect(rules.stdout).toMatch(/^\*filter$/m);
    expect(rules.stdout).not.toMatch(/KUBE-|CNI-|DEVLOOP-/);
    for (const table of ['nat', 'mangle', 'raw']) {
      const other = await execa('iptables-save', ['-t', table]);
      expect(other.stdout).not.toMatch(/KUBE-|CNI-|DEVLOOP-/);
    }
    const status = await execa('bash', [join(clusterDir, 'status.sh')], { reject: false });
    expect(status.exitCode).toBe(1);

    const again = await execa('bash', [join(clusterDir, 'down.sh')], { all: true, reject: false, timeout: 60_000 });
    expect(again.exitCode, again.all).toBe(0);
  }, 180_000);

  it('cluster:up works again (warm: binaries cached) and runs pods', async () => {
    const started = Date.now();
    const up = await execa('bash', [join(clusterDir, 'up.sh')], { all: true, reject: false, timeout: 280_000 });
    const seconds = (Date.now() - started) / 1000;
    expect(up.exitCode, up.all).toBe(0);
    expect(up.stdout).toContain(`export KUBECONFIG=${env.kubeconfig}`);
    console.log(`warm cluster:up took ${seconds.toFixed(1)} s`);
    expect(seconds).toBeLessThan(120);

    const status = await execa('bash', [join(clusterDir, 'status.sh')], { all: true, reject: false });
    expect(status.exitCode, status.all).toBe(0);

    const kubectl = (...args: string[]) => execa(join(env.bin, 'kubectl'), ['--kubeconfig', env.kubeconfig, ...args], { timeout: 120_000 });
    const ns = `devloop-lifecycle-${Date.now().toString(36)}`;
    await kubectl('create', 'namespace', ns);
    try {
      await kubectl('-n', ns, 'run', 'sleeper', '--image=localhost:5000/pause:3.10', '--restart=Never');
      await kubectl('-n', ns, 'wait', 'pod/sleeper', '--for=condition=Ready', '--timeout=90s');
    } finally {
      await kubectl('delete', 'namespace', ns, '--wait=false').catch(() => undefined);
    }

    // idempotent: a second cluster:up finds everything running and leaves it alone
    const again = await execa('bash', [join(clusterDir, 'up.sh')], { all: true, reject: false, timeout: 60_000 });
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).toContain('already up');
  }, 300_000);

  it('cluster:up after the API server was killed (SIGKILL): every component works again and a Deployment rolls out', async () => {
    const apiserver = componentPid(env, 'kube-apiserver');
    expect(env.apiserverDependents).toContain('kube-controller-manager');
    const before = Object.fromEntries(env.apiserverDependents.map((c) => [c, componentPid(env, c)]));
    process.kill(apiserver, 'SIGKILL');
    // no wait for it to be gone: cluster:up must cope with an API server that is still exiting
    const up = await execa('bash', [join(clusterDir, 'up.sh')], { all: true, reject: false, timeout: 170_000 });
    expect(up.exitCode, up.all).toBe(0);
    expect(existsSync(`/proc/${apiserver}`) && !readFileSync(`/proc/${apiserver}/stat`, 'utf8').includes(') Z ')).toBe(false);
    const restarted = componentPid(env, 'kube-apiserver');
    expect(restarted).not.toBe(apiserver);
    // what depends on the API server started after the new one (restarted by cluster:up)
    for (const c of env.apiserverDependents) {
      const pid = componentPid(env, c);
      expect(pid, `${c} should have been restarted (was ${before[c]})`).not.toBe(before[c]);
      expect(startTicks(pid), `${c} should start after kube-apiserver`).toBeGreaterThanOrEqual(startTicks(restarted));
    }
    const status = await execa('bash', [join(clusterDir, 'status.sh')], { all: true, reject: false });
    expect(status.exitCode, status.all).toBe(0);
    expect(status.stdout).not.toContain('STALE');

    await deploymentRollsOut(env, `devloop-lifecycle-api-${Date.now().toString(36)}`);

    // healthy again: cluster:up is quick and restarts nothing
    const started = Date.now();
    const again = await execa('bash', [join(clusterDir, 'up.sh')], { all: true, reject: false, timeout: 60_000 });
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).toContain('already up');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(componentPid(env, 'kube-apiserver')).toBe(restarted);
  }, 300_000);

  it('cluster:up right after a component got SIGTERM waits for it to go and starts it again', async () => {
    const scheduler = componentPid(env, 'kube-scheduler');
    process.kill(scheduler, 'SIGTERM');
    // at once: the scheduler may still be shutting down (alive, its health endpoint closing)
    const up = await execa('bash', [join(clusterDir, 'up.sh')], { all: true, reject: false, timeout: 170_000 });
    expect(up.exitCode, up.all).toBe(0);
    expect(up.all).not.toContain('already up');
    const pid = componentPid(env, 'kube-scheduler');
    expect(pid).not.toBe(scheduler);
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    const status = await execa('bash', [join(clusterDir, 'status.sh')], { all: true, reject: false });
    expect(status.exitCode, status.all).toBe(0);
    await deploymentRollsOut(env, `devloop-lifecycle-term-${Date.now().toString(36)}`);
  }, 300_000);
});
