/**
 * A list-then-watch of pods by label selector, across namespaces, through @kubernetes/client-node's
 * `Watch`, that survives the ends every watch has.
 *
 * Quirks handled here:
 * - watches end (server timeout, dropped connection): re-watched from the last resourceVersion.
 * - a stale resourceVersion gives an in-stream ERROR event (410 Gone): re-listed, and pods that
 *   vanished meanwhile are reported as DELETED, so callers never keep a ghost pod.
 */
import { CoreV1Api, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { backoffMs } from '../shared/backoff.js';
import { sleep } from './client.js';

/** The pod shapes callers of `watchPods` read, so they need not import client-node themselves. */
export type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

export type PodChange = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PodWatchOptions {
  labelSelector: string;
  signal: AbortSignal;
  /** Called for every change, in order. Must not throw. */
  onChange(change: PodChange, pod: V1Pod): void;
  /** Called when the watch failed and will be retried (cluster unreachable...). */
  onTrouble(message: string): void;
}

const key = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/**
 * Starts listing and watching. `ready` resolves once the first list was delivered (or the signal
 * aborted); `done` resolves when `signal` aborts. Never rejects: failures go to `onTrouble` and are
 * retried for as long as the signal allows, on the shared backoff (250 ms doubling to 4 s apart,
 * src/backoff.ts); after a failure the next watch re-lists, so pods that changed or vanished
 * meanwhile are reported.
 */
export function watchPods(kubeConfig: KubeConfig, options: PodWatchOptions): { ready: Promise<void>; done: Promise<void> } {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const watch = new Watch(kubeConfig);
  const known = new Map<string, V1Pod>();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));

  async function relist(): Promise<string> {
    const list = await core.listPodForAllNamespaces({ labelSelector: options.labelSelector });
    const seen = new Set<string>();
    for (const pod of list.items) {
      seen.add(key(pod));
      options.onChange(known.has(key(pod)) ? 'MODIFIED' : 'ADDED', pod);
      known.set(key(pod), pod);
    }
    for (const [k, pod] of known) {
      if (!seen.has(k)) {
        known.delete(k);
        options.onChange('DELETED', pod);
      }
    }
    return list.metadata?.resourceVersion ?? '';
  }

  /** One watch request; resolves with the resourceVersion to resume from, or '' to re-list. */
  function watchOnce(resourceVersion: string): Promise<string> {
    return new Promise<string>((resolve) => {
      let last = resourceVersion;
      let controller: AbortController | undefined;
      const onAbort = () => controller?.abort();
      options.signal.addEventListener('abort', onAbort, { once: true });
      const finish = (next: string) => {
        options.signal.removeEventListener('abort', onAbort);
        resolve(next);
      };
      watch
        .watch(
          '/api/v1/pods',
          { labelSelector: options.labelSelector, resourceVersion, allowWatchBookmarks: true },
          (type: string, object: V1Pod & { code?: number }) => {
            if (type === 'ERROR') {
              last = '';
              controller?.abort();
              return;
            }
            if (troubled) {
              troubled = false;
              options.onTrouble('pod watch resumed');
            }
            const rv = object.metadata?.resourceVersion;
            if (rv) last = rv;
            if (type === 'BOOKMARK') return;
            if (type === 'DELETED') known.delete(key(object));
            else known.set(key(object), object);
            options.onChange(type as PodChange, object);
          },
          (error: unknown) => {
            if (error && !options.signal.aborted && (error as Error).name !== 'AbortError') {
              trouble(`pod watch ended: ${(error as Error).message ?? String(error)}`);
            }
            finish(last);
          },
        )
        .then((c) => {
          controller = c;
          if (options.signal.aborted) c.abort();
        })
        .catch((error: unknown) => {
          trouble(`pod watch failed: ${(error as Error).message ?? String(error)}`);
          finish(last);
        });
    });
  }

  // one message per streak of failures, not one per retry: an outage of minutes stays readable
  let troubled = false;
  const trouble = (message: string) => {
    if (!troubled) options.onTrouble(`${message} (retrying every few seconds)`);
    troubled = true;
  };
  const done = (async () => {
    let resourceVersion = '';
    let failures = 0;
    while (!options.signal.aborted) {
      try {
        if (!resourceVersion) {
          resourceVersion = await relist();
          resolveReady();
          if (troubled) options.onTrouble('pod watch resumed');
          troubled = false;
        }
        const started = Date.now();
        resourceVersion = await watchOnce(resourceVersion);
        failures = Date.now() - started < 1000 ? failures + 1 : 0;
      } catch (error) {
        failures++;
        resourceVersion = '';
        trouble(`listing pods failed: ${(error as Error).message ?? String(error)}`);
      }
      if (failures > 0) await sleep(backoffMs(failures - 1), options.signal);
    }
    resolveReady();
  })();
  return { ready, done };
}
