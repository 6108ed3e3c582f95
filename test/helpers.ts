/**
 * Shared helpers of the integration and end-to-end suites. Everything here talks to real things:
 * real temp directories, the real Docker engine, the real cluster. Nothing is faked.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const devloopBin = path.join(repoRoot, 'bin', 'devloop');

/** The test cluster's kubeconfig (test/cluster/env.sh), unless KUBECONFIG is set. */
export const kubeconfig = process.env.KUBECONFIG ?? '/var/lib/devloop-cluster/kubeconfig';
/** The kubectl built with the test cluster, matching its version. */
export const kubectlBin = process.env.DEVLOOP_KUBECTL ?? path.join(os.homedir(), '.cache/devloop-cluster/v1.34.4/bin/kubectl');

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs bin/devloop to completion. Never throws on a non-zero exit: tests assert on exitCode. */
export function runDevloop(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [devloopBin, ...args], {
      cwd: options.cwd,
      env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`devloop ${args.join(' ')} timed out after ${options.timeoutMs ?? 240_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, options.timeoutMs ?? 240_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Starts bin/devloop without waiting for it (for `dev`). The caller must stop it. */
export function startDevloop(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [devloopBin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1', ...options.env },
  });
}

/** Parses `--output json` output into events, skipping nothing: a non-JSON line fails the test. */
export function parseJsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line in --output json: ${l}`);
      }
    });
}

/** Copies a fixture into a fresh temp directory (with its assembled rootfs) and returns its path. */
export function copyFixture(name: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `devloop-${name}-`));
  cpSync(path.join(repoRoot, 'fixtures', name), dir, {
    recursive: true,
    verbatimSymlinks: true,
    // State a local run left in the fixture (hash cache, inventory journal) must not leak into tests.
    filter: (source) => path.basename(source) !== '.devloop',
  });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Fails (never skips) when the Docker engine does not answer. */
export function requireDocker(): void {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 15_000 });
  } catch (error) {
    throw new Error(`the Docker engine does not answer: run \`bash test/cluster/docker-up.sh\` (or \`npm test\`, which starts it). ${(error as Error).message}`);
  }
}

/** Fails (never skips) when the Debian base images of fixtures/images.sh are not in the engine. */
export function requireFixtureImages(): void {
  try {
    execFileSync('bash', [path.join(repoRoot, 'fixtures', 'images.sh'), '--check'], { stdio: 'pipe', timeout: 30_000 });
  } catch (error) {
    const missing = String((error as { stdout?: Buffer }).stdout ?? '').trim();
    throw new Error(`the fixtures' Debian base images are not in the engine: run \`bash fixtures/images.sh\` (or \`npm run setup\`).\n${missing}`);
  }
}

/** Fails (never skips) when the test cluster does not answer. */
export function requireCluster(): void {
  try {
    kubectl(['get', '--raw', '/readyz'], 15_000);
  } catch (error) {
    throw new Error(`the test cluster does not answer (KUBECONFIG=${kubeconfig}): run \`npm run cluster:up\`. ${(error as Error).message}`);
  }
}

/** Runs the cluster's kubectl against the test cluster and returns stdout. Throws on failure. */
export function kubectl(args: string[], timeoutMs = 60_000, input?: string): string {
  return execFileSync(kubectlBin, args, {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: timeoutMs,
    input,
  });
}

/** Runs docker and returns stdout. Throws on failure. */
export function docker(args: string[], timeoutMs = 120_000): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
}

/**
 * A random first local port for a suite's port-forwards, with `count` ports free above it, below the
 * kernel's ephemeral range (ip_local_port_range): a port in that range can be held by any outgoing
 * connection of this machine (devloop's own to the API server), and devloop then moves its forward
 * to the next free port, which the test would not be talking to.
 */
export function localPortBase(count: number): number {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    /* not Linux: the usual default */
  }
  const from = 20000;
  const to = Math.max(from + 1000, low - count);
  return from + Math.floor(Math.random() * (to - from));
}
