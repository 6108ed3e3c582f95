/**
 * One TCP connection forwarded to a pod port through @kubernetes/client-node's `PortForward`
 * (a websocket to the pod's `portforward` subresource).
 *
 * Quirks handled here:
 * - client-node never closes the local socket when the websocket closes, and never closes the
 *   websocket when the local socket errors: both directions are wired here.
 * - errors from the kubelet ("connection refused" inside the pod) arrive as text on the error
 *   stream, not as a websocket error: they are collected and reported through `onError`.
 */
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { loadClientNode, type KubeConfigSource } from './client-node.js';

export interface ForwardTarget {
  namespace: string;
  pod: string;
  port: number;
}

/**
 * Forwards `socket` to `target` until either side closes. Resolves once the websocket is open
 * (data flows both ways from then on); rejects when it cannot be opened (pod gone, no permission).
 * `onError` receives the kubelet's error text, after which the socket is closed.
 */
export async function forwardSocket(
  kubeConfigSource: KubeConfigSource,
  target: ForwardTarget,
  socket: Socket,
  onError: (message: string) => void,
): Promise<void> {
  const errors = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      // the first frame of the error stream only carries the port number: empty after client-node strips it
      const text = chunk.toString('utf8').trim();
      if (text) {
        onError(text);
        socket.destroy();
      }
      callback();
    },
  });
  // `output` must not be ended by the websocket handler's close-stream frames before we decide to.
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (socket.destroyed) return callback();
      socket.write(chunk, () => callback());
    },
    final(callback) {
      socket.end();
      callback();
    },
  });
  const [{ PortForward }, kubeConfig] = await Promise.all([loadClientNode(), kubeConfigSource]);
  const forward = new PortForward(kubeConfig, false);
  const result = await forward.portForward(target.namespace, target.pod, [target.port], output, errors, socket);
  const ws = typeof result === 'function' ? result() : result;
  if (!ws) {
    socket.destroy();
    return;
  }
  const closeWs = () => {
    try {
      ws.close();
    } catch {
      // already closed
    }
  };
  socket.on('close', closeWs);
  socket.on('error', closeWs);
  ws.on('close', () => socket.end());
  ws.on('error', () => socket.destroy());
  // callers pause the socket until the pod is chosen; a paused stream stays paused when client-node
  // adds its 'data' listener, so it is resumed here, once the websocket carries the bytes
  socket.resume();
}
