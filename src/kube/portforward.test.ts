import { EventEmitter } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { forwardSocketWith, isRefusal, type ForwardTarget, type OpenForward, type RetryRefused } from './portforward.js';

// The kubelet as forwardSocket sees it (containerd's CRI port-forward): each websocket dials the
// pod port, here a real port on 127.0.0.1; a refused dial is reported as text on the error stream
// (after the empty frames left of the port-number headers), then the websocket closes; otherwise
// bytes are copied both ways and the websocket closes when the pod's side closes.
const REFUSED = (port: number) =>
  `error forwarding port ${port} to pod posts-1, uid : failed to execute portforward in network namespace "/var/run/netns/cni-1": failed to connect to localhost:${port} inside namespace "abc", IPv4: dial tcp4 127.0.0.1:${port}: connect: connection refused IPv6 dial tcp6 [::1]:${port}: connect: connection refused `;

function fakeKubelet(): { open: OpenForward; opened: ForwardTarget[] } {
  const opened: ForwardTarget[] = [];
  const open: OpenForward = async (target, output, errors, input) => {
    opened.push(target);
    const ws = Object.assign(new EventEmitter(), {
      closed: false,
      close() {
        if (ws.closed) return;
        ws.closed = true;
        conn.destroy();
        setImmediate(() => ws.emit('close'));
      },
    });
    // client-node strips the port number that opens each stream and passes on what is left: nothing
    output.write(Buffer.alloc(0));
    errors.write(Buffer.alloc(0));
    const conn = net.connect(target.port, '127.0.0.1');
    conn.on('connect', () => input.pipe(conn));
    conn.on('data', (d) => output.write(d));
    conn.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') errors.write(Buffer.from(REFUSED(target.port)));
      ws.close();
    });
    conn.on('end', () => ws.close());
    return ws;
  };
  return { open, opened };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A local listener whose connections are forwarded with `forwardSocketWith`; `request` sends `text` and collects the answer until close. */
async function forwarder(open: OpenForward, target: ForwardTarget, retryRefused?: RetryRefused) {
  const errors: string[] = [];
  const server = net.createServer((socket) => {
    socket.pause();
    void forwardSocketWith(open, target, socket, (m) => errors.push(m), retryRefused);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => server.close());
  const request = (text: string) =>
    new Promise<string>((resolve) => {
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => socket.write(text));
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
      socket.on('error', () => undefined);
    });
  return { errors, request };
}

/** The pod's process: answers each connection with `reply(request)` and closes. */
function listen(port: number, reply: (request: string) => string): Promise<net.Server> {
  const server = net.createServer((socket) => socket.once('data', (d) => socket.end(reply(String(d)))));
  cleanups.push(() => server.close());
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r(server)));
}

describe('forwardSocket', () => {
  it('recognises the kubelet text for a port nothing listens on, and nothing else', () => {
    expect(isRefusal(REFUSED(4000))).toBe(true);
    expect(isRefusal('error forwarding port 4000 to pod posts-1, uid : failed to find sandbox "abc" in store: not found')).toBe(false);
  });

  it('forwards both ways when the pod listens', async () => {
    const port = await freePort();
    await listen(port, (r) => `pod got ${r}`);
    const kubelet = fakeKubelet();
    const { errors, request } = await forwarder(kubelet.open, { namespace: 'blog', pod: 'posts-1', port });
    expect(await request('GET /')).toBe('pod got GET /');
    expect(errors).toEqual([]);
  });

  it('without a retry, a refusal reaches onError and closes the client socket', async () => {
    const port = await freePort();
    const kubelet = fakeKubelet();
    const { errors, request } = await forwarder(kubelet.open, { namespace: 'blog', pod: 'posts-1', port });
    expect(await request('GET /')).toBe('');
    expect(errors).toEqual([REFUSED(port).trim()]);
  });

  it('retries a refused connection and sends the client bytes again once the port listens', async () => {
    const port = await freePort();
    const kubelet = fakeKubelet();
    const refusals: number[] = [];
    const { errors, request } = await forwarder(kubelet.open, { namespace: 'blog', pod: 'posts-1', port }, async (n) => {
      refusals.push(n);
      if (n === 2) await listen(port, (r) => `new process got ${r}`); // the process is back before the third try
      return { namespace: 'blog', pod: 'posts-1', port };
    });
    expect(await request('GET /handlers')).toBe('new process got GET /handlers');
    expect(refusals).toEqual([1, 2]);
    expect(kubelet.opened).toHaveLength(3);
    expect(errors).toEqual([]);
  });

  it('gives up when the retry says so: the refusal reaches onError', async () => {
    const port = await freePort();
    const kubelet = fakeKubelet();
    let asked = 0;
    const { errors, request } = await forwarder(kubelet.open, { namespace: 'blog', pod: 'posts-1', port }, async () => (++asked < 3 ? { namespace: 'blog', pod: 'posts-1', port } : undefined));
    expect(await request('GET /')).toBe('');
    expect(asked).toBe(3);
    expect(kubelet.opened).toHaveLength(3);
    expect(errors).toEqual([REFUSED(port).trim()]);
  });

  it('does not retry other errors of the kubelet', async () => {
    const kubelet: OpenForward = async (_target, _output, errors) => {
      const ws = Object.assign(new EventEmitter(), { close: () => setImmediate(() => ws.emit('close')) });
      setImmediate(() => errors.write(Buffer.from('error forwarding port 4000 to pod posts-1, uid : failed to find sandbox "abc" in store: not found')));
      return ws;
    };
    let asked = 0;
    const { errors, request } = await forwarder(kubelet, { namespace: 'blog', pod: 'posts-1', port: 4000 }, async () => (asked++, undefined));
    expect(await request('GET /')).toBe('');
    expect(asked).toBe(0);
    expect(errors).toEqual(['error forwarding port 4000 to pod posts-1, uid : failed to find sandbox "abc" in store: not found']);
  });
});
