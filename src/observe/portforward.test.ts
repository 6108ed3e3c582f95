import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectingSink } from '../events.js';
import type { PodSnapshot } from './pods.js';
import { readService, startPortForwards, type PortForwarder } from './portforward.js';

function pod(name: string, ready: boolean): PodSnapshot {
  return {
    namespace: 'blog', name, uid: name, owner: 'deployment/posts', labels: { app: 'posts' }, phase: 'Running', state: 'Running', terminating: false,
    containers: [{ name: 'posts', image: 'blog/posts:1', ready, restartCount: 0, state: 'running' }], ready: ready ? 1 : 0, total: 1, restarts: 0,
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Whether `port` can be listened on at 127.0.0.1 now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A port that is free, with the next one free too. Picked below the kernel's ephemeral range
 * (32768 and up), where outgoing connections and port-0 listeners of tests running alongside take
 * ports at random: a port there can be taken between this check and its use.
 */
async function freePortWithNextFree(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if ((await canListen(port)) && (await canListen(port + 1))) return port;
  }
  throw new Error('no two consecutive free ports in 20000-32000');
}

function request(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end('hello'));
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('port forwarder', () => {
  it('forwards to the ready pod, follows a replacement, and moves to the next port when taken', async () => {
    const port = await freePortWithNextFree();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));

    let pods = [pod('posts-1', true)];
    const sink = new CollectingSink();
    const forwarder: PortForwarder = await startPortForwards(
      [{ resourceType: 'deployment', resourceName: 'posts', port: 4000, localPort: port, address: '127.0.0.1' }],
      {
        pods: () => pods,
        readService: async () => ({ selector: {}, port: 0, targetPort: 0 }),
        // the fake cluster answers with the pod name the connection was sent to
        forward: async (target, socket) => {
          socket.resume();
          socket.on('end', () => socket.end(`${target.pod}:${target.port}`));
        },
        sink,
        defaultNamespace: 'blog',
        waitForPodMs: 2000,
      },
    );
    cleanups.push(() => forwarder.stop());
    const local = forwarder.forwards[0].localPort;
    expect(local).toBe(port + 1);
    expect(sink.ofType('portForward')[0]).toMatchObject({ status: 'listening', address: '127.0.0.1', message: expect.stringContaining(`${port} is in use`) });
    expect(await request(local)).toBe('posts-1:4000');

    pods = [pod('posts-2', false)];
    forwarder.podsChanged();
    expect(sink.ofType('portForward').at(-1)).toMatchObject({ status: 'reconnecting' });
    const pending = request(local);
    pods = [pod('posts-2', true)];
    forwarder.podsChanged();
    expect(await pending).toBe('posts-2:4000');
    expect(sink.ofType('portForward').at(-1)).toMatchObject({ status: 'connected', pod: 'posts-2' });
  });

  it('moves new connections to a ready pod created later (a rollout) while the old one is still ready, and stays among same-age replicas', async () => {
    const at = (pod: PodSnapshot, createdMs: number): PodSnapshot => ({ ...pod, createdMs });
    let pods = [at(pod('old-a', true), 1_000), at(pod('old-b', true), 1_000)];
    const sink = new CollectingSink();
    let prepared = 0;
    const forwarder = await startPortForwards([{ resourceType: 'deployment', resourceName: 'posts', port: 4000, localPort: 0, address: '127.0.0.1' }], {
      pods: () => pods,
      readService: async () => ({ selector: {}, port: 0, targetPort: 0 }),
      forward: async (target, socket) => {
        socket.resume();
        socket.on('end', () => socket.end(target.pod));
      },
      prepare: () => prepared++,
      sink,
      defaultNamespace: 'blog',
      waitForPodMs: 2000,
    });
    cleanups.push(() => forwarder.stop());
    expect(prepared).toBe(1);
    const local = forwarder.forwards[0].localPort;
    expect(await request(local)).toBe('old-a');
    // a replica of the same age becoming the "newest" changes nothing
    pods = [at(pod('old-b', true), 1_000), at(pod('old-a', true), 1_000)];
    forwarder.podsChanged();
    expect(await request(local)).toBe('old-a');
    // the rollout's new pod, not yet ready: the old pod keeps serving
    pods = [...pods, at(pod('new-a', false), 5_000)];
    forwarder.podsChanged();
    expect(await request(local)).toBe('old-a');
    // ready: new connections go to it although the old pods are ready and not yet deleted
    pods = [at(pod('old-b', true), 1_000), at(pod('old-a', true), 1_000), at(pod('new-a', true), 5_000)];
    forwarder.podsChanged();
    expect(await request(local)).toBe('new-a');
    expect(sink.ofType('portForward').at(-1)).toMatchObject({ status: 'connected', pod: 'new-a' });
  });

  it('resolves a named port from the containers of the chosen pod, per pod', async () => {
    const withPorts = (name: string, port: number): PodSnapshot => {
      const p = pod(name, true);
      return { ...p, containers: [{ ...p.containers[0], ports: [{ name: 'metrics', containerPort: 9100 }, { name: 'http', containerPort: port }] }] };
    };
    let pods = [withPorts('posts-1', 4000)];
    const forwarder = await startPortForwards([{ resourceType: 'deployment', resourceName: 'posts', port: 'http', localPort: 0, address: '127.0.0.1' }], {
      pods: () => pods,
      readService: async () => ({ selector: {}, port: 0, targetPort: 0 }),
      forward: async (target, socket) => {
        socket.resume();
        socket.on('end', () => socket.end(`${target.pod}:${target.port}`));
      },
      sink: new CollectingSink(),
      defaultNamespace: 'blog',
      waitForPodMs: 2000,
    });
    cleanups.push(() => forwarder.stop());
    expect(forwarder.forwards[0].remotePort).toBe(4000);
    expect(await request(forwarder.forwards[0].localPort)).toBe('posts-1:4000');
    pods = [withPorts('posts-2', 4100)];
    forwarder.podsChanged();
    expect(await request(forwarder.forwards[0].localPort)).toBe('posts-2:4100');
  });

  it('retries a refused connection quickly, to the pod selected then, for a bounded time', async () => {
    let pods = [pod('posts-1', true)];
    let done: (asked: Array<string | undefined>) => void;
    const answered = new Promise<Array<string | undefined>>((resolve) => (done = resolve));
    const forwarder = await startPortForwards([{ resourceType: 'deployment', resourceName: 'posts', port: 4000, localPort: 0, address: '127.0.0.1' }], {
      pods: () => pods,
      readService: async () => ({ selector: {}, port: 0, targetPort: 0 }),
      // the fake asks as forwardSocket does after each refusal, and answers with what it was told
      forward: async (_target, socket, _onError, retryRefused) => {
        socket.resume();
        const asked: Array<string | undefined> = [];
        const started = Date.now();
        for (let refusals = 1; refusals < 100; refusals++) {
          if (refusals === 3) {
            pods = [pod('posts-2', true)];
            forwarder.podsChanged();
          }
          const next = await retryRefused(refusals);
          asked.push(next && `${next.pod}:${next.port}`);
          if (!next) break;
        }
        done(asked);
        socket.end(`${asked.length} tries in ${Date.now() - started} ms`);
      },
      sink: new CollectingSink(),
      defaultNamespace: 'blog',
      waitForPodMs: 2000,
      refusedRetryMs: 400,
    });
    cleanups.push(() => forwarder.stop());
    // a client that keeps its side open while it waits, as an HTTP client does
    const client = net.connect(forwarder.forwards[0].localPort, '127.0.0.1', () => client.write('GET / HTTP/1.1\r\n\r\n'));
    client.on('error', () => undefined);
    cleanups.push(() => void client.destroy());
    const asked = await answered;
    // every 25 ms for 400 ms: the first tries go to posts-1, those after the replacement to posts-2, then it gives up
    expect(asked.slice(0, 2)).toEqual(['posts-1:4000', 'posts-1:4000']);
    expect(asked.slice(2, -1).every((a) => a === 'posts-2:4000')).toBe(true);
    expect(asked.at(-1)).toBeUndefined();
    expect(asked.length).toBeGreaterThanOrEqual(4);
    expect(asked.length).toBeLessThanOrEqual(17);
  });

  it('fails an entry whose port name no pod declares, and starts the others', async () => {
    const sink = new CollectingSink();
    const forwarder = await startPortForwards([{ resourceType: 'deployment', resourceName: 'posts', port: 'grpc', address: '127.0.0.1' }], {
      pods: () => [pod('posts-1', true)],
      readService: async () => ({ selector: {}, port: 0, targetPort: 0 }),
      forward: async () => undefined,
      sink,
      defaultNamespace: 'blog',
      waitForPodMs: 300,
    });
    expect(forwarder.forwards).toEqual([]);
    expect(sink.ofType('portForward').at(-1)).toMatchObject({ status: 'failed', message: 'no ready pod of deployment/posts declares a container port named "grpc"' });
  });
});

describe('readService', () => {
  const kube = (ports: unknown[]) => ({ get: async () => ({ spec: { selector: { app: 'web' }, ports } }) }) as never;
  it('finds a service port by number or by name, with a numeric or named targetPort', async () => {
    const ports = [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'admin', port: 81, targetPort: 9090 }, { port: 82 }];
    expect(await readService(kube(ports), 'ns', 'web', 'http')).toEqual({ selector: { app: 'web' }, port: 80, targetPort: 'web' });
    expect(await readService(kube(ports), 'ns', 'web', 81)).toEqual({ selector: { app: 'web' }, port: 81, targetPort: 9090 });
    expect(await readService(kube(ports), 'ns', 'web', 82)).toEqual({ selector: { app: 'web' }, port: 82, targetPort: 82 });
    await expect(readService(kube(ports), 'ns', 'web', 'grpc')).rejects.toThrow('service ns/web has no port named "grpc" (its ports: http, admin, 82)');
  });
});
