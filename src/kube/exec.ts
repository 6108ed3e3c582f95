/**
 * A long-lived process in a container through @kubernetes/client-node's `Exec` (one websocket to
 * the pod's `exec` subresource, stdin kept open). Used by src/sync/ to run its agent: one process,
 * one handshake per container, then many batches over the same stream.
 *
 * Quirks handled here:
 * - client-node sends each stdin chunk as one websocket message: large writes are split so no
 *   single message is huge.
 * - the exit status arrives on the status channel (3), and is the only place where "executable
 *   file not found" (no `sh` in the image) is reported: it is turned into `exited` with the
 *   server's message.
 * - the websocket may close without a status (pod deleted, connection dropped): `exited` then
 *   resolves with `{ code: undefined, message: 'connection closed' }`.
 * - opening is classified here, once: a transport failure (refused, reset, TLS) rejects with
 *   `ClusterUnreachableError`, and so does an upgrade with no answer within `connectTimeoutMs`
 *   (client-node sets no handshake timeout: a frozen API server would hang it forever); a pod or
 *   container that does not exist (HTTP 404) rejects with `KubeApiError` 404 (`isNotFound`).
 */
import { PassThrough, Writable } from 'node:stream';
import type { KubeConfig, V1Status } from '@kubernetes/client-node';
import { loadClientNode, type KubeConfigSource } from './client-node.js';

export type { KubeConfigSource } from './client-node.js';
import { ClusterUnreachableError, KubeApiError, KubeForbiddenError, networkError, noAnswerError } from './errors.js';
import type { ContainerRef } from './types.js';

export interface ExecExit {
  /** Exit code when the process exited and the server said so. */
  code?: number;
  /** The server's status message, e.g. `... exec: "sh": executable file not found in $PATH`. */
  message: string;
  /**
   * Set when the API server could not reach the container's node (a 5xx Status such as `Internal
   * error occurred: error dialing backend`, seen while a kubelet or the API server restarts): the
   * process may never have run, and nothing is wrong with the container.
   */
  unreachable?: ClusterUnreachableError;
}

export interface ExecStream {
  /** Writes bytes to the process's stdin (split into websocket-sized messages). */
  write(data: Buffer | string): void;
  /** Ends stdin and closes the websocket. Never throws. */
  close(): void;
  /** Resolves once when the process exited or the connection was lost. Never rejects. */
  readonly exited: Promise<ExecExit>;
}

const MAX_MESSAGE_BYTES = 256 * 1024;
/** How long opening the websocket may go unanswered before the cluster counts as unreachable. */
export const EXEC_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Turns what client-node rejects a failed websocket upgrade with into a classified error: the
 * cluster unreachable (network, 5xx), the pod or container gone (404), exec not allowed (403).
 */
export function classifyExecOpenError(error: unknown, kubeConfig: Pick<KubeConfig, 'getCurrentCluster' | 'getCurrentContext'>, target: ContainerRef): unknown {
  const server = kubeConfig.getCurrentCluster()?.server ?? 'the API server';
  const unreachable = networkError(error, server, kubeConfig.getCurrentContext());
  if (unreachable) return unreachable;
  const maybe = error as { message?: string } | undefined;
  const text = error instanceof Error ? error.message : (maybe?.message ?? '');
  const upgradeStatus = /Unexpected server response: (\d{3})/.exec(text)?.[1];
  if (upgradeStatus && Number(upgradeStatus) >= 500) {
    return new ClusterUnreachableError(`the API server at ${server} could not open an exec into ${target.namespace}/${target.pod}: HTTP ${upgradeStatus}`, { cause: error });
  }
  if (upgradeStatus === '404') {
    return new KubeApiError(404, 'POST', `/api/v1/namespaces/${target.namespace}/pods/${target.pod}/exec`, {
      message: `the pod or container ${target.namespace}/${target.pod}/${target.container} does not exist (any more)`,
      reason: 'NotFound',
    });
  }
  if (upgradeStatus === '403') {
    return new KubeForbiddenError(`not allowed to exec into ${target.namespace}/${target.pod}/${target.container}`, {
      hint: `The user of context ${kubeConfig.getCurrentContext()} needs "create" on pods/exec in namespace ${target.namespace}: ask a cluster admin for a Role granting it.`,
      cause: error,
    });
  }
  return error;
}

/**
 * Drops the query of exec URLs quoted in server messages: it holds the whole command (a script),
 * which would bury the reason in a kilobyte of URL encoding.
 */
export function redactExecUrls(text: string): string {
  return text.replace(/(\/exec\/[^?\s"]*)\?[^\s"]*/g, '$1?...');
}

/**
 * How the API server words a kubelet it cannot reach (proxy and dial errors). Not `unable to upgrade
 * connection: pod does not exist`: a pod already gone from its node while still terminating says it too.
 */
const NODE_UNREACHABLE = /error dialing backend|error sending request|proxy error|connection refused|i\/o timeout|connection reset|no route to host|TLS handshake timeout/i;

export function exitFromStatus(status: V1Status, target?: ContainerRef): ExecExit {
  if (status.status === 'Success') return { code: 0, message: 'exited with code 0' };
  const causes = status.details?.causes ?? [];
  const exitCause = causes.find((c) => c.reason === 'ExitCode');
  const code = exitCause?.message !== undefined ? Number(exitCause.message) : undefined;
  const message = redactExecUrls(status.message ?? status.reason ?? 'the process failed');
  // Only failures of the API server -> kubelet hop count: a missing `sh` is a 500 InternalError too.
  const serverSide = exitCause === undefined && ((status.code ?? 0) >= 500 || status.reason === 'InternalError' || status.reason === 'ServiceUnavailable') && NODE_UNREACHABLE.test(message);
  return {
    code: Number.isFinite(code) ? code : undefined,
    message,
    ...(serverSide ? { unreachable: new ClusterUnreachableError(`the API server could not reach the node of ${target ? `${target.namespace}/${target.pod}` : 'the pod'}: ${message}`) } : {}),
  };
}

/**
 * Starts `command` in the container with stdin, stdout and stderr attached. Resolves once the
 * websocket is open; rejects when it cannot be opened (pod gone, no permission, cluster
 * unreachable). Output arrives through `onStdout`/`onStderr` as it comes.
 */
export async function openExecStream(
  kubeConfigSource: KubeConfigSource,
  target: ContainerRef,
  command: string[],
  handlers: { onStdout(chunk: Buffer): void; onStderr(chunk: Buffer): void },
  connectTimeoutMs = EXEC_CONNECT_TIMEOUT_MS,
  withStdin = true,
): Promise<ExecStream> {
  const stdin = new PassThrough();
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      handlers.onStdout(chunk);
      callback();
    },
  });
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      handlers.onStderr(chunk);
      callback();
    },
  });
  let resolveExit!: (exit: ExecExit) => void;
  const exited = new Promise<ExecExit>((resolve) => (resolveExit = resolve));
  let statusSeen: ExecExit | undefined;

  const [{ Exec }, kubeConfig] = await Promise.all([loadClientNode(), kubeConfigSource]);
  const exec = new Exec(kubeConfig);
  const opening = exec.exec(target.namespace, target.pod, target.container, command, stdout, stderr, withStdin ? stdin : null, false, (status) => {
    statusSeen = exitFromStatus(status, target);
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      // the upgrade may still complete later: close that socket instead of leaking it
      opening.then((late) => late.close()).catch(() => undefined);
      reject(noAnswerError(kubeConfig.getCurrentCluster()?.server ?? 'the API server', kubeConfig.getCurrentContext(), `an exec into ${target.namespace}/${target.pod}`, connectTimeoutMs));
    }, connectTimeoutMs);
  });
  let ws: Awaited<typeof opening>;
  try {
    ws = await Promise.race([opening, timedOut]);
  } catch (error) {
    throw classifyExecOpenError(error, kubeConfig, target);
  } finally {
    clearTimeout(timer);
  }
  ws.on('close', () => resolveExit(statusSeen ?? { message: 'connection closed' }));
  ws.on('error', (error: Error) => resolveExit(statusSeen ?? { message: `connection error: ${redactExecUrls(error.message)}` }));
  if (ws.readyState === ws.CLOSED) resolveExit(statusSeen ?? { message: 'connection closed' });

  return {
    write(data) {
      const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let offset = 0; offset < buffer.length; offset += MAX_MESSAGE_BYTES) {
        stdin.write(buffer.subarray(offset, Math.min(buffer.length, offset + MAX_MESSAGE_BYTES)));
      }
    },
    close() {
      try {
        stdin.end();
        ws.close();
      } catch {
        // already closed
      }
    },
    exited,
  };
}

export interface ExecResult {
  /** The exit code; undefined when the connection ended without one (pod deleted, connection lost). */
  code?: number;
  message: string;
  /** Set when the deadline passed or `signal` aborted before the process exited. */
  stopped?: 'timeout' | 'aborted';
}

/**
 * Runs `command` in the container to completion, without stdin; output arrives through the
 * handlers as it comes. Resolves with the exit; rejects like `openExecStream` (cluster unreachable,
 * pod gone) and with the exit's `unreachable` when the API server could not reach the node.
 * At the deadline or on abort, `onStop` is called (to stop the process in the container, which a
 * closed websocket does not do) and the result says so; the stream is closed either way.
 */
export async function execToCompletion(
  kubeConfig: KubeConfigSource,
  target: ContainerRef,
  command: string[],
  options: { signal: AbortSignal; timeoutMs: number; onStdout(chunk: Buffer): void; onStderr(chunk: Buffer): void; onStop?(): Promise<void> },
): Promise<ExecResult> {
  const stream = await openExecStream(kubeConfig, target, command, { onStdout: options.onStdout, onStderr: options.onStderr }, EXEC_CONNECT_TIMEOUT_MS, false);
  let stopped: ExecResult['stopped'];
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => undefined as void;
  const stop = new Promise<void>((resolve) => {
    const fire = (why: 'timeout' | 'aborted') => {
      if (stopped) return;
      stopped = why;
      resolve();
    };
    timer = setTimeout(() => fire('timeout'), options.timeoutMs);
    onAbort = () => fire('aborted');
    if (options.signal.aborted) onAbort();
    options.signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const first = await Promise.race([stream.exited, stop.then(() => undefined)]);
    if (first) {
      if (first.unreachable) throw first.unreachable;
      return { code: first.code, message: first.message };
    }
    await options.onStop?.().catch(() => undefined);
    const late = await Promise.race([stream.exited, new Promise<undefined>((resolve) => {
      const t: NodeJS.Timeout = setTimeout(() => resolve(undefined), 2_000);
      t.unref();
    })]);
    return { code: late?.code, message: late?.message ?? `stopped (${stopped})`, stopped };
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
    stream.close();
  }
}
