/**
 * Container log streams through @kubernetes/client-node's `Log` (one HTTP request per stream,
 * `follow=true&timestamps=true`).
 *
 * Quirks handled here:
 * - client-node pipes the response body into our stream and never reports its end or a dropped
 *   connection as an error: we resolve when the body ends, and the caller re-attaches.
 * - aborting the request makes node-fetch destroy the body without ending the pipe: we resolve on
 *   the abort ourselves.
 * - the API server answers 400 while a container is waiting (ContainerCreating, CrashLoopBackOff):
 *   that is reported as `{ ended: 'not-running' }`, not thrown.
 */
import { PassThrough } from 'node:stream';
import { loadClientNode, type KubeConfigSource } from './client-node.js';
import type { ContainerRef } from './types.js';

export type { ContainerRef } from './types.js';

/** One log line as the API server returned it with `timestamps=true`. */
export interface TimestampedLine {
  /** RFC3339Nano timestamp from the kubelet, normalised by `comparableTimestamp` for ordering. */
  timestamp: string;
  text: string;
}

export interface FollowOptions {
  /** Only lines at or after this RFC3339 time (the API server's `sinceTime`, second precision). */
  sinceTime?: string;
  signal: AbortSignal;
}

export type StreamEnd =
  /** The server closed the stream: the container exited or the connection dropped. */
  | { ended: 'closed' }
  /** The container is not running (yet, or any more): the request was refused. */
  | { ended: 'not-running'; message: string }
  /** The pod is gone. */
  | { ended: 'gone'; message: string }
  | { ended: 'aborted' };

/**
 * Follows one container's log, calling `onLine` for every complete line in order. Resolves when the
 * stream ends for any reason (never rejects): the caller decides whether to re-attach.
 */
export async function followContainerLog(
  kubeConfigSource: KubeConfigSource,
  ref: ContainerRef,
  options: FollowOptions,
  onLine: (line: TimestampedLine) => void,
): Promise<StreamEnd> {
  if (options.signal.aborted) return { ended: 'aborted' };
  const body = new PassThrough();
  let partial = '';
  body.setEncoding('utf8');
  body.on('data', (chunk: string) => {
    const text = partial + chunk;
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const raw of lines) onLine(splitTimestamp(raw));
  });
  let controller: AbortController | undefined;
  return new Promise<StreamEnd>((resolve) => {
    let settled = false;
    const finish = (end: StreamEnd) => {
      if (settled) return;
      settled = true;
      options.signal.removeEventListener('abort', onAbort);
      if (partial !== '' && end.ended !== 'aborted') onLine(splitTimestamp(partial));
      partial = '';
      controller?.abort();
      resolve(end);
    };
    const onAbort = () => finish({ ended: 'aborted' });
    options.signal.addEventListener('abort', onAbort, { once: true });
    body.on('end', () => finish({ ended: 'closed' }));
    body.on('close', () => finish({ ended: 'closed' }));
    body.on('error', () => finish({ ended: 'closed' }));
    Promise.all([loadClientNode(), kubeConfigSource])
      .then(([{ Log }, kubeConfig]) =>
        new Log(kubeConfig).log(ref.namespace, ref.pod, ref.container, body, {
          follow: true,
          timestamps: true,
          ...(options.sinceTime ? { sinceTime: options.sinceTime } : {}),
        }),
      )
      .then((c) => {
        controller = c;
        if (settled) c.abort();
      })
      .catch((error: unknown) => {
        const code = (error as { code?: number }).code;
        const message = String((error as { body?: unknown }).body ?? (error as Error).message ?? error);
        finish(code === 404 ? { ended: 'gone', message } : { ended: 'not-running', message });
      });
  });
}

/** Splits `2024-05-01T10:00:00.123456789Z text` into its timestamp and text. */
export function splitTimestamp(raw: string): TimestampedLine {
  const space = raw.indexOf(' ');
  const head = space > 0 ? raw.slice(0, space) : raw;
  if (/^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)$/.test(head)) {
    return { timestamp: head, text: space > 0 ? raw.slice(space + 1) : '' };
  }
  return { timestamp: '', text: raw };
}

/**
 * The timestamp rewritten so that string order is time order: RFC3339Nano drops trailing zeros of
 * the fraction (`.5Z` vs `.123Z`), so the fraction is padded to nine digits. UTC (`Z`) is assumed,
 * as the kubelet writes it.
 */
export function comparableTimestamp(timestamp: string): string {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(timestamp);
  if (!match) return timestamp;
  return `${match[1]}.${(match[2] ?? '').padEnd(9, '0').slice(0, 9)}Z`;
}
