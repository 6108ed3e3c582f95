/**
 * The one watch of a project's pods: a list-then-watch by label selector (all namespaces, or one)
 * through `KubeClient.watch`, which resumes from the last resourceVersion when a watch ends, lists
 * again after 410 Gone (pods that vanished meanwhile arrive as DELETED, so nobody keeps a ghost pod)
 * and retries failures on the shared backoff for as long as the signal allows.
 *
 * What it adds: the current pods by `namespace/name` (`PodFeed`), so every reader (observe's dev
 * view, deploy's rollout wait) judges from one state, and one trouble message per streak of
 * failures ("... (retrying every few seconds)", then "pod watch resumed") instead of one per retry.
 */
import { POD_RESOURCE, type KubeClient } from './client.js';
import type { V1Pod } from './pod-state.js';
import type { KubeObject } from './types.js';

export type PodChange = 'ADDED' | 'MODIFIED' | 'DELETED';

/** The project's pods as the one watch last saw them. */
export interface PodFeed {
  /** Current pods, keyed `namespace/name`. */
  readonly current: ReadonlyMap<string, V1Pod>;
  /** Resolves once the first list was delivered (or the watch stopped). */
  readonly ready: Promise<void>;
  /** Calls `listener` after every change (listeners must not throw); returns the unsubscribe. */
  subscribe(listener: (change: PodChange, pod: V1Pod) => void): () => void;
}

export interface PodWatchOptions {
  labelSelector: string;
  /** Only this namespace; all namespaces when undefined. */
  namespace?: string;
  signal: AbortSignal;
  /** Called when the watch failed and will be retried (cluster unreachable...), and when it resumed. */
  onTrouble(message: string): void;
}

const key = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/**
 * Starts listing and watching. Never rejects: failures go to `onTrouble` and are retried for as
 * long as the signal allows. `done` resolves when `signal` aborts.
 */
export function watchPods(kube: KubeClient, options: PodWatchOptions): PodFeed & { done: Promise<void> } {
  const current = new Map<string, V1Pod>();
  const listeners = new Set<(change: PodChange, pod: V1Pod) => void>();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  let troubled = false;
  const done = kube
    .watch(
      POD_RESOURCE,
      {
        namespace: options.namespace,
        labelSelector: options.labelSelector,
        signal: options.signal,
        onListed: resolveReady,
        onError(error) {
          // one message per streak of failures, not one per retry: an outage of minutes stays readable
          if (!troubled) options.onTrouble(`pod watch failed: ${(error as Error).message ?? String(error)} (retrying every few seconds)`);
          troubled = true;
        },
        onResumed() {
          troubled = false;
          options.onTrouble('pod watch resumed');
        },
      },
      (type, obj: KubeObject) => {
        const pod = obj as V1Pod;
        if (type === 'DELETED') current.delete(key(pod));
        else current.set(key(pod), pod);
        for (const listener of listeners) listener(type, pod);
      },
    )
    .finally(resolveReady);
  return {
    current,
    ready,
    done,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
