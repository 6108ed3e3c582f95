/**
 * A `devloop dev --output json` session on a private copy of fixtures/blog (or, with
 * startMicroservices, fixtures/microservices), for the end-to-end suites: unique project name,
 * namespace and local ports, so runs never collide with each other or with other suites. Everything here is real: the child process, the
 * Docker engine, the cluster.
 */
import { type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { copyFixture, kubectl, localPortBase, startDevloop } from './helpers.js';

export type JsonEvent = Record<string, unknown> & { type: string; time: string };

/** Rewrites a copy of fixtures/blog to use `project` as name and namespace, and the given ports. */
export function privatizeBlog(dir: string, project: string, ports: { posts: number; client: number }): void {
  const configFile = path.join(dir, 'devloop.config.yaml');
  writeFileSync(
    configFile,
    readFileSync(configFile, 'utf8')
      .replace(/^  name: blog$/m, `  name: ${project}`)
      .replace(/namespace: blog/g, `namespace: ${project}`)
      .replace('localPort: 14000', `localPort: ${ports.posts}`)
      .replace('localPort: 13000', `localPort: ${ports.client}`),
  );
  const k8s = path.join(dir, 'infra', 'k8s');
  for (const file of readdirSync(k8s)) {
    const full = path.join(k8s, file);
    writeFileSync(full, readFileSync(full, 'utf8').replace(/namespace: blog/g, `namespace: ${project}`).replace(/^  name: blog$/m, `  name: ${project}`));
  }
}

/** The local ports of fixtures/microservices' port-forwards. */
export interface MicroservicesPorts {
  posts: number;
  comments: number;
  query: number;
  stats: number;
}

/** The local port each forwarded service of fixtures/microservices has in its devloop.config.yaml. */
const microservicesLocalPorts: MicroservicesPorts = { posts: 14100, comments: 14101, query: 14102, stats: 14106 };

/** Rewrites a copy of fixtures/microservices to use `project` as name and namespace, and the given local ports. */
export function privatizeMicroservices(dir: string, project: string, ports: MicroservicesPorts): void {
  const configFile = path.join(dir, 'devloop.config.yaml');
  let config = readFileSync(configFile, 'utf8').replace(/^  name: microservices$/m, `  name: ${project}`).replace(/namespace: microservices/g, `namespace: ${project}`);
  for (const [service, local] of Object.entries(microservicesLocalPorts)) config = config.replace(`localPort: ${local}`, `localPort: ${ports[service as keyof MicroservicesPorts]}`);
  writeFileSync(configFile, config);
  const k8s = path.join(dir, 'infra', 'k8s');
  for (const file of readdirSync(k8s)) {
    const full = path.join(k8s, file);
    writeFileSync(full, readFileSync(full, 'utf8').replace(/namespace: microservices/g, `namespace: ${project}`).replace(/^  name: microservices$/m, `  name: ${project}`));
  }
}

/** A dev session on a private copy of fixtures/microservices (project and namespace `micro-e2e-*`). */
export function startMicroservices(args: string[] = []): DevSession<MicroservicesPorts> {
  const project = `micro-e2e-${randomBytes(3).toString('hex')}`;
  const base = localPortBase(10);
  const ports = { posts: base, comments: base + 1, query: base + 2, stats: base + 3 };
  const { dir, cleanup } = copyFixture('microservices');
  privatizeMicroservices(dir, project, ports);
  return new DevSession(dir, project, ports, args, cleanup);
}

export class DevSession<Ports extends object = { posts: number; client: number }> {
  readonly events: JsonEvent[] = [];
  stderr = '';
  private buffer = '';
  private exit?: Promise<number>;
  readonly child: ChildProcessWithoutNullStreams;

  constructor(
    readonly dir: string,
    readonly project: string,
    readonly ports: Ports,
    args: string[] = [],
    private readonly cleanupDir: () => void = () => undefined,
    /** Added to the child's environment (e.g. DOCKER_CONFIG). */
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = startDevloop(['dev', '--output', 'json', ...args], { cwd: dir, env });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        try {
          this.events.push(JSON.parse(line) as JsonEvent);
        } catch {
          this.events.push({ type: 'not-json', time: '', line } as JsonEvent);
        }
      }
    });
    this.child.stderr.on('data', (d) => (this.stderr += d));
    this.exit = new Promise((resolve) => this.child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  }

  static start(args: string[] = []): DevSession {
    const project = `dev-e2e-${randomBytes(3).toString('hex')}`;
    const base = localPortBase(10);
    const ports = { posts: base, client: base + 1 };
    const { dir, cleanup } = copyFixture('blog');
    privatizeBlog(dir, project, ports);
    return new DevSession(dir, project, ports, args, cleanup);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first event at index >= `from` matching `predicate`; rejects after `timeoutMs`. */
  async waitFor(predicate: (e: JsonEvent) => boolean, timeoutMs: number, from = 0, what = 'event'): Promise<JsonEvent> {
    const deadline = Date.now() + timeoutMs;
    let index = from;
    for (;;) {
      for (; index < this.events.length; index++) if (predicate(this.events[index])) return this.events[index];
      if (!this.running) throw new Error(`devloop dev exited while waiting for ${what}\n${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The last events and stderr, for failure messages. */
  describe(count = 40): string {
    return `last events:\n${this.events.slice(-count).map((e) => JSON.stringify(e).slice(0, 400)).join('\n')}\nstderr:\n${this.stderr.slice(-3000)}`;
  }

  ofType(type: string, from = 0): JsonEvent[] {
    return this.events.slice(from).filter((e) => e.type === type);
  }

  /** Sends SIGINT (Ctrl-C) and resolves with the exit code. */
  async interrupt(timeoutMs = 180_000): Promise<number> {
    if (this.running) this.child.kill('SIGINT');
    return this.waitExit(timeoutMs);
  }

  async waitExit(timeoutMs: number): Promise<number> {
    const timer = new Promise<number>((_, reject) =>
      setTimeout(() => reject(new Error(`devloop dev did not exit within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs).unref(),
    );
    return Promise.race([this.exit!, timer]);
  }

  /** Last resort for a failed test: kill the process, then remove the copy. */
  async dispose(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGINT');
      await this.waitExit(180_000).catch(() => this.child.kill('SIGKILL'));
    }
    this.cleanupDir();
  }
}

export interface PodInfo {
  name: string;
  image: string;
  running: boolean;
  terminating: boolean;
}

/** The pods of `app` in `namespace`, read with kubectl. */
export function pods(namespace: string, app: string): PodInfo[] {
  const list = JSON.parse(kubectl(['get', 'pods', '-n', namespace, '-l', `app=${app}`, '-o', 'json'])) as {
    items: Array<{ metadata: { name: string; deletionTimestamp?: string }; spec: { containers: Array<{ image: string }> }; status: { phase: string; containerStatuses?: Array<{ ready: boolean }> } }>;
  };
  return list.items.map((p) => ({
    name: p.metadata.name,
    image: p.spec.containers[0].image,
    running: p.status.phase === 'Running' && Boolean(p.status.containerStatuses?.every((c) => c.ready)),
    terminating: Boolean(p.metadata.deletionTimestamp),
  }));
}

/** A file's content inside a pod, or undefined when it cannot be read (yet). */
export function readInPod(namespace: string, pod: string, file: string): string | undefined {
  try {
    return kubectl(['exec', '-n', namespace, pod, '--', 'cat', file], 20_000);
  } catch {
    return undefined;
  }
}

/** Polls `probe` every 500 ms until it returns a value (not undefined or false), for at most `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${what}${last ? ` (${(last as Error).message})` : ''}`);
}
