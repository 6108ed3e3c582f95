/**
 * One TCP connection forwarded to a pod port through @kubernetes/client-node's `PortForward`
 * (a websocket to the pod's `portforward` subresource).
 *
 * Quirks handled here:
 * - client-node never closes the local socket when the websocket closes, and never closes the
 *   websocket when the local socket errors: both directions are wired here.
 * - errors from the kubelet ("connection refused" inside the pod) arrive as text on the error
 *   stream, not as a websocket error: they are collected and reported through `onError`.
 * - a refusal (nothing listens on the port in the pod, e.g. a process restarted by a file watcher)
 *   is recognised here, from that text, and may be retried (`retryRefused`): the pod never accepted
 *   the connection, so no byte reached it, and the client's bytes so far are sent again on the new
 *   websocket. The client sees one connection that is answered once the port listens again.
 */
import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { loadClientNode, type KubeConfigSource } from './client-node.js';

export interface ForwardTarget {
  namespace: string;
  pod: string;
  port: number;
}

/**
 * Asked when the pod refused the connection before answering anything: resolves to the target to
 * try again (after whatever wait it chooses), or undefined to give up (the refusal then goes to
 * `onError` and the socket is closed). `refusals` counts the refusals of this connection so far.
 */
export type RetryRefused = (refusals: number) => Promise<ForwardTarget | undefined>;

/** The kubelet's error text for a port nothing listens on (containerd: "... connect: connection refused"). */
export function isRefusal(text: string): boolean {
  return /connection refused/i.test(text);
}

/** Client bytes kept for a retry at most; a connection that sent more is not retried. */
const REPLAY_LIMIT = 1 << 20;

/** What one websocket needs: where to forward, the client's bytes in, the pod's bytes out. */
export type OpenForward = (target: ForwardTarget, output: Writable, errors: Writable, input: PassThrough) => Promise<WebSocketLike | undefined>;

export interface WebSocketLike {
  close(): void;
  on(event: 'close' | 'error', listener: () => void): unknown;
}

/** Opens the websocket with client-node (loaded, with the kubeconfig, at the first connection). */
export function clientNodeOpener(kubeConfigSource: KubeConfigSource): OpenForward {
  return async (target, output, errors, input) => {
    const [{ PortForward }, kubeConfig] = await Promise.all([loadClientNode(), kubeConfigSource]);
    const forward = new PortForward(kubeConfig, false);
    const result = await forward.portForward(target.namespace, target.pod, [target.port], output, errors, input);
    const ws = typeof result === 'function' ? result() : result;
    return ws ?? undefined;
  };
}

/**
 * Forwards `socket` to `target` until either side closes. Resolves once the first websocket is open
 * (data flows both ways from then on); rejects when it cannot be opened (pod gone, no permission).
 * `onError` receives the kubelet's error text, after which the socket is closed; a refusal is first
 * offered to `retryRefused` when given.
 */
export async function forwardSocket(
  kubeConfigSource: KubeConfigSource,
  target: ForwardTarget,
  socket: Socket,
  onError: (message: string) => void,
  retryRefused?: RetryRefused,
): Promise<void> {
  return forwardSocketWith(clientNodeOpener(kubeConfigSource), target, socket, onError, retryRefused);
}

/** forwardSocket with the websocket opener given (tests pass a fake kubelet). */
export async function forwardSocketWith(
  open: OpenForward,
  target: ForwardTarget,
  socket: Socket,
  onError: (message: string) => void,
  retryRefused?: RetryRefused,
): Promise<void> {
  // client bytes the pod has not answered yet: replayed when it refused (undefined: no retry)
  let replay: Buffer[] | undefined = retryRefused ? [] : undefined;
  let replayBytes = 0;
  let clientEnded = false;
  let refusals = 0;
  let input = new PassThrough();
  socket.on('data', (chunk: Buffer) => {
    if (replay) {
      replay.push(chunk);
      replayBytes += chunk.length;
      if (replayBytes > REPLAY_LIMIT) replay = undefined;
    }
    input.write(chunk);
  });
  socket.on('end', () => {
    clientEnded = true;
    input.end();
  });

  const attempt = async (to: ForwardTarget): Promise<void> => {
    let abandoned = false;
    let ws: WebSocketLike | undefined;
    const errors = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        callback();
        // the first frame of the error stream only carries the port number: empty after client-node strips it
        const text = chunk.toString('utf8').trim();
        if (!text || abandoned) return;
        abandoned = true;
        try {
          ws?.close();
        } catch {
          // already closed
        }
        if (retryRefused && replay && isRefusal(text)) {
          void retry(text);
          return;
        }
        onError(text);
        socket.destroy();
      },
    });
    // `output` must not be ended by the websocket handler's close-stream frames before we decide to.
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (socket.destroyed || abandoned) return callback();
        // the first frame of the data stream only carries the port number: empty after client-node strips it
        if (chunk.length === 0) return callback();
        replay = undefined; // the pod answered: it accepted the connection, nothing may be sent twice
        socket.write(chunk, () => callback());
      },
      final(callback) {
        if (!abandoned) socket.end();
        callback();
      },
    });
    ws = await open(to, output, errors, input);
    if (!ws) {
      socket.destroy();
      return;
    }
    const opened = ws;
    const closeWs = () => {
      try {
        opened.close();
      } catch {
        // already closed
      }
    };
    socket.on('close', closeWs);
    socket.on('error', closeWs);
    opened.on('close', () => {
      socket.off('close', closeWs);
      socket.off('error', closeWs);
      // the error frame, if any, comes before the close: a refusal being retried keeps the socket
      if (!abandoned) socket.end();
    });
    opened.on('error', () => {
      if (!abandoned) socket.destroy();
    });
    // callers pause the socket until the pod is chosen; a paused stream stays paused once our
    // 'data' listener is added, so it is resumed here, once a websocket carries the bytes
    socket.resume();
  };

  const retry = async (text: string): Promise<void> => {
    refusals += 1;
    socket.pause();
    const next = socket.destroyed ? undefined : await retryRefused!(refusals).catch(() => undefined);
    if (!next || socket.destroyed || !replay) {
      onError(text);
      socket.destroy();
      return;
    }
    input = new PassThrough();
    for (const chunk of replay) input.write(chunk);
    if (clientEnded) input.end();
    try {
      await attempt(next);
    } catch (error) {
      onError((error as Error).message);
      socket.destroy();
    }
  };

  await attempt(target);
}
