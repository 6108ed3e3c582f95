/**
 * The `portForward` entries of the config, while `devloop dev` runs: a local TCP server per entry
 * (127.0.0.1 unless the entry sets `address`), each connection forwarded to the pod currently
 * selected for the resource. The selection follows the pods: after a rollout or a restart, new
 * connections go to a ready replacement without restarting anything.
 *
 * Contract:
 * - a local port already taken is announced and the next free port (up to 10 above) is used; when
 *   none is free the entry fails with a clear message and the others still run;
 * - a connection the pod refuses (nothing listens yet: its process is restarting, e.g. under
 *   `node --watch` after a sync) is retried every REFUSED_RETRY_INTERVAL_MS for up to
 *   REFUSED_RETRY_MS, to the pod selected at that moment, before the client's socket is closed: the
 *   client sees one slow answer instead of a reset;
 * - `podsChanged()` must be called on every pod update; it never throws;
 * - `stop()` closes the servers and every open connection.
 */
import net from 'node:net';
import type { PortForwardConfig } from '../config/schema.js';
import type { EventSink, PortForwardEvent } from '../events.js';
import type { ForwardTarget, RetryRefused } from '../kube/portforward.js';
import type { PodSnapshot } from './pods.js';
import type { KubeClient } from '../kube/client.js';

export interface ServiceInfo {
  selector: Record<string, string>;
  /** The service port asked for (a name resolved to its number). */
  port: number;
  /** Port in the pod for that service port: a number, or a container port name resolved per pod. */
  targetPort: number | string;
}

/**
 * The selector and pod port of a Service's `port` (a number, or the name of one of its ports),
 * read through the project's KubeClient. Throws when the service does not exist or has no such port.
 */
export async function readService(kube: Pick<KubeClient, 'get'>, namespace: string, name: string, port: number | string): Promise<ServiceInfo> {
  const service = (await kube.get({ group: '', version: 'v1', kind: 'Service', namespace, name })) as
    | { spec?: { selector?: Record<string, string>; ports?: Array<{ name?: string; port: number; targetPort?: number | string }> } }
    | undefined;
  if (!service) throw new Error(`service ${namespace}/${name} does not exist`);
  const ports = service.spec?.ports ?? [];
  const entry = typeof port === 'string' ? ports.find((p) => p.name === port) : (ports.find((p) => p.port === port) ?? ports[0]);
  if (!entry) throw new Error(`service ${namespace}/${name} has no port named "${port}" (its ports: ${ports.map((p) => p.name ?? p.port).join(', ') || 'none'})`);
  const target = entry.targetPort;
  return {
    selector: service.spec?.selector ?? {},
    port: entry.port,
    targetPort: typeof target === 'number' ? target : target === undefined || target === '' ? entry.port : /^\d+$/.test(target) ? Number(target) : target,
  };
}

/** The number a container port name stands for in `pod`, or undefined when no container declares it. */
export function namedPort(pod: PodSnapshot, name: string): number | undefined {
  for (const container of pod.containers) {
    const port = container.ports?.find((p) => p.name === name);
    if (port) return port.containerPort;
  }
  return undefined;
}

export interface PortForwardDeps {
  /** The project's current pods. */
  pods(): Iterable<PodSnapshot>;
  /** Reads a Service (only for `resourceType: service`). */
  readService(namespace: string, name: string, port: number | string): Promise<ServiceInfo>;
  /**
   * Forwards one accepted socket (`forwardSocket` bound to the kubeconfig; a fake in tests), asking
   * `retryRefused` where to go when the pod refuses the connection.
   */
  forward(target: ForwardTarget, socket: net.Socket, onError: (message: string) => void, retryRefused: RetryRefused): Promise<void>;
  sink: EventSink;
  /** Namespace of entries that name none (deploy.namespace, else `default`). */
  defaultNamespace: string;
  /** How long a connection waits for a ready pod before it is closed. */
  waitForPodMs?: number;
  /** How long a refused connection is retried (REFUSED_RETRY_MS unless a test sets it). */
  refusedRetryMs?: number;
  /**
   * Called once the servers listen (before any pod is ready): prepares what `forward` needs (the
   * Kubernetes client library, ~1 s of CPU to import), so the first connection does not wait for it.
   */
  prepare?(): void;
}

export interface ActivePortForward {
  resource: string;
  address: string;
  localPort: number;
  remotePort: number;
  pod?: string;
}

export interface PortForwarder {
  readonly forwards: readonly ActivePortForward[];
  podsChanged(): void;
  stop(): Promise<void>;
}

const PORT_SEARCH = 10;
/** A refused connection is retried this long (a `node --watch` restart takes well under 1 s)... */
const REFUSED_RETRY_MS = 5_000;
/** ...this often (each try is one websocket to the kubelet, itself tens of ms). */
const REFUSED_RETRY_INTERVAL_MS = 25;

function listen(server: net.Server, address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, address);
  });
}

function matches(pod: PodSnapshot, entry: PortForwardConfig, namespace: string, service?: ServiceInfo): boolean {
  if (pod.namespace !== namespace || pod.terminating) return false;
  switch (entry.resourceType) {
    case 'pod':
      return pod.name === entry.resourceName;
    case 'service':
      return Boolean(service) && Object.entries(service!.selector).every(([k, v]) => pod.labels[k] === v);
    default:
      return pod.owner === `${entry.resourceType}/${entry.resourceName}`;
  }
}

class Forward {
  readonly active: ActivePortForward;
  private server = net.createServer();
  private sockets = new Set<net.Socket>();
  private service?: ServiceInfo;
  /** The container port name new connections go to, resolved against the chosen pod. */
  private portName?: string;
  private waiters: Array<() => void> = [];
  private announced?: string;
  private stopped = false;

  constructor(
    private readonly entry: PortForwardConfig,
    private readonly namespace: string,
    private readonly deps: PortForwardDeps,
  ) {
    const number = typeof entry.port === 'number' ? entry.port : 0;
    this.active = {
      resource: `${entry.resourceType}/${entry.resourceName}`,
      address: entry.address ?? '127.0.0.1',
      localPort: entry.localPort ?? number,
      remotePort: number,
    };
  }

  private emit(status: PortForwardEvent['status'], message?: string): void {
    this.deps.sink.emit({
      type: 'portForward',
      status,
      resource: this.active.resource,
      address: this.active.address,
      localPort: this.active.localPort,
      remotePort: this.active.remotePort,
      ...(this.active.pod ? { pod: this.active.pod } : {}),
      ...(message ? { message } : {}),
    });
  }

  /** Listens; resolves false (after a `failed` event) when no port could be bound. */
  async start(): Promise<boolean> {
    if (this.entry.resourceType === 'service') {
      try {
        this.service = await this.deps.readService(this.namespace, this.entry.resourceName, this.entry.port);
      } catch (error) {
        this.emit('failed', `cannot read service ${this.namespace}/${this.entry.resourceName}: ${(error as Error).message}`);
        return false;
      }
      if (typeof this.service.targetPort === 'string') this.portName = this.service.targetPort;
      else this.active.remotePort = this.service.targetPort;
      if (this.entry.localPort === undefined) this.active.localPort = this.service.port;
    } else if (typeof this.entry.port === 'string') {
      this.portName = this.entry.port;
    }
    if (this.portName !== undefined) {
      // A named port: its number comes from the pods (it is the local port unless one is set).
      const pod = await this.waitForNamedPort(this.portName);
      if (pod === undefined) {
        this.emit('failed', `no ready pod of ${this.active.resource} declares a container port named "${this.portName}"`);
        return false;
      }
      this.active.remotePort = namedPort(pod, this.portName)!;
      if (this.entry.localPort === undefined && this.entry.resourceType !== 'service') this.active.localPort = this.active.remotePort;
    }
    this.server.on('connection', (socket) => this.accept(socket));
    const wanted = this.active.localPort;
    const candidates = wanted === 0 ? [0] : Array.from({ length: PORT_SEARCH + 1 }, (_, i) => wanted + i).filter((p) => p <= 65535);
    let lastError: Error | undefined;
    for (const port of candidates) {
      try {
        this.active.localPort = await listen(this.server, this.active.address, port);
        const moved = wanted !== 0 && port !== wanted;
        this.emit('listening', moved ? `local port ${wanted} is in use: forwarding from ${this.active.localPort} instead` : undefined);
        this.select();
        return true;
      } catch (error) {
        lastError = error as Error;
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
      }
    }
    this.active.localPort = wanted;
    const code = (lastError as NodeJS.ErrnoException | undefined)?.code;
    this.emit(
      'failed',
      code === 'EADDRINUSE'
        ? `local ports ${wanted}-${wanted + PORT_SEARCH} on ${this.active.address} are all in use; free one or set portForward.localPort`
        : `cannot listen on ${this.active.address}:${wanted}: ${lastError?.message ?? 'unknown error'}`,
    );
    return false;
  }

  /**
   * Re-evaluates which pod new connections go to; announces changes. New connections stay with the
   * current pod while it is ready, unless a ready pod created later exists: during a rollout that is
   * the new version, ready before the old pods are deleted (the old ones may be mid-shutdown).
   */
  select(): void {
    const candidates = [...this.deps.pods()].filter((p) => matches(p, this.entry, this.namespace, this.service));
    const ready = candidates.filter((p) => p.ready === p.total && p.total > 0);
    const newest = ready.reduce<PodSnapshot | undefined>((best, p) => (best === undefined || (p.createdMs ?? 0) > (best.createdMs ?? 0) ? p : best), undefined);
    const current = ready.find((p) => p.name === this.active.pod);
    const chosen = current && (current.createdMs ?? 0) >= (newest?.createdMs ?? 0) ? current : newest;
    const previous = this.active.pod;
    if (chosen) this.active.pod = chosen.name;
    else delete this.active.pod;
    if (this.announced === undefined && !chosen) return;
    if (chosen && chosen.name !== this.announced) {
      this.announced = chosen.name;
      this.emit('connected');
      for (const wake of this.waiters.splice(0)) wake();
    } else if (!chosen && previous) {
      this.announced = '';
      this.emit('reconnecting', 'waiting for a ready pod');
    }
  }

  /**
   * Waits (up to waitForPodMs) for a matching pod that declares the port name. Polls the pods:
   * the forwarder is not yet returned to its caller, so podsChanged() cannot reach it.
   */
  private async waitForNamedPort(name: string): Promise<PodSnapshot | undefined> {
    const deadline = Date.now() + (this.deps.waitForPodMs ?? 30_000);
    for (;;) {
      const pod = [...this.deps.pods()].find((p) => matches(p, this.entry, this.namespace, this.service) && namedPort(p, name) !== undefined);
      if (pod || Date.now() >= deadline) return pod;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private waitForPod(): Promise<string | undefined> {
    if (this.active.pod) return Promise.resolve(this.active.pod);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(undefined);
      }, this.deps.waitForPodMs ?? 30_000);
      const wake = () => {
        clearTimeout(timer);
        resolve(this.active.pod);
      };
      this.waiters.push(wake);
    });
  }

  /** Where a connection to `pod` goes: the port number, a named port resolved against the pod. */
  private target(pod: string): ForwardTarget {
    const chosen = this.portName === undefined ? undefined : [...this.deps.pods()].find((p) => p.name === pod);
    const port = (chosen && this.portName !== undefined ? namedPort(chosen, this.portName) : undefined) ?? this.active.remotePort;
    return { namespace: this.namespace, pod, port };
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pause();
    let retryUntil: number | undefined;
    const retryRefused: RetryRefused = async () => {
      retryUntil ??= Date.now() + (this.deps.refusedRetryMs ?? REFUSED_RETRY_MS);
      if (Date.now() >= retryUntil || this.stopped || socket.destroyed) return undefined;
      await new Promise((resolve) => setTimeout(resolve, REFUSED_RETRY_INTERVAL_MS));
      const pod = await this.waitForPod();
      return pod && !this.stopped && !socket.destroyed ? this.target(pod) : undefined;
    };
    void (async () => {
      const pod = await this.waitForPod();
      if (!pod || socket.destroyed) {
        socket.destroy();
        return;
      }
      try {
        await this.deps.forward(
          this.target(pod),
          socket,
          (message) => this.deps.sink.emit({ type: 'message', level: 'debug', text: `port-forward ${this.active.resource}: ${message}` }),
          retryRefused,
        );
      } catch (error) {
        this.deps.sink.emit({ type: 'message', level: 'debug', text: `port-forward ${this.active.resource} to ${pod}: ${(error as Error).message}` });
        socket.destroy();
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.waiters.splice(0)) wake();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    this.emit('stopped');
  }
}

/**
 * Starts every entry, together (an entry with a named port may wait for a pod that declares it);
 * entries that fail are announced and left out.
 */
export async function startPortForwards(entries: readonly PortForwardConfig[], deps: PortForwardDeps): Promise<PortForwarder> {
  const starting = entries.map((entry) => new Forward(entry, entry.namespace ?? deps.defaultNamespace, deps));
  const started = await Promise.all(starting.map((f) => f.start()));
  const forwards = starting.filter((_, i) => started[i]);
  if (forwards.length > 0) deps.prepare?.();
  return {
    get forwards() {
      return forwards.map((f) => f.active);
    },
    podsChanged() {
      for (const f of forwards) f.select();
    },
    async stop() {
      await Promise.all(forwards.map((f) => f.stop()));
    },
  };
}
