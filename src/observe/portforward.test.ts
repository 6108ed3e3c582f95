import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectingSink } from '../events.js';
import type { PodSnapshot } from './pods.js';
import { startPortForwards, type PortForwarder } from './portforward.js';

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

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
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
    const port = await freePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));

    let pods = [pod('posts-1', true)];
    const sink = new CollectingSink();
    const forwarder: PortForwarder = await startPortForwards(
      [{ resourceType: 'deployment', resourceName: 'posts', port: 4000, localPort: port, address: '127.0.0.1' }],
      {
        pods: () => pods,
        readService: async () => ({ selector: {}, targetPort: 0 }),
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
});
