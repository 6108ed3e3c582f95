/**
 * Pods of the project, as devloop shows them: a plain snapshot per pod (`PodSnapshot`, read by
 * kube/pod-state.ts), and what changed since the previous snapshot (`diffPod`): containers that
 * (re)started, restarts with their exit code and reason.
 *
 * `diffPod` is pure; `startPodWatcher` wires it to the one pod watch (kube/pod-watch.ts) and emits
 * a `pod` event whenever the human-visible state of a pod changes. Its `feed` is that watch's
 * state, which deploy's rollout wait reads instead of watching pods itself.
 */
import { PROJECT_LABEL } from '../deploy/labels.js';
import type { EventSink, PodEvent } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import { toSnapshot, type ContainerSnapshot, type PodSnapshot } from '../kube/pod-state.js';
import { watchPods, type PodFeed } from '../kube/pod-watch.js';

// The pod state itself is read in one place, kube/pod-state.ts (deploy's rollout wait reads it too).
export { humanState, ownerOf, toSnapshot, type ContainerSnapshot, type PodSnapshot } from '../kube/pod-state.js';

/** What happened to one container between two snapshots of its pod. */
export type ContainerTransition =
  /** The container runs for the first time we see it (a new pod, or devloop just attached). */
  | { kind: 'started'; container: ContainerSnapshot }
  /** A new instance replaced a previous one (restartCount increased). */
  | { kind: 'restarted'; container: ContainerSnapshot; exitCode?: number; reason?: string };

/**
 * The containers of `next` that began running since `previous` (undefined for a pod seen for the
 * first time). A restart is reported once, when the new instance runs or waits to run.
 */
export function diffPod(previous: PodSnapshot | undefined, next: PodSnapshot): ContainerTransition[] {
  const transitions: ContainerTransition[] = [];
  if (next.terminating) return transitions;
  for (const container of next.containers) {
    const before = previous?.containers.find((c) => c.name === container.name);
    if (before && container.restartCount > before.restartCount) {
      transitions.push({
        kind: 'restarted',
        container,
        ...(container.lastTerminated ? { exitCode: container.lastTerminated.exitCode, reason: container.lastTerminated.reason } : {}),
      });
      continue;
    }
    const wasRunning = before?.state === 'running' && before.containerID === container.containerID;
    if (container.state === 'running' && !wasRunning) transitions.push({ kind: 'started', container });
  }
  return transitions;
}

export function podEvent(snapshot: PodSnapshot, deleted = false): PodEvent {
  return {
    type: 'pod',
    pod: snapshot.name,
    namespace: snapshot.namespace,
    owner: snapshot.owner,
    phase: deleted ? 'Deleted' : snapshot.phase,
    state: deleted ? 'Deleted' : snapshot.state,
    ready: deleted ? 0 : snapshot.ready,
    total: snapshot.total,
    restarts: snapshot.restarts,
    ...(snapshot.message && !deleted ? { message: snapshot.message } : {}),
    images: snapshot.containers.map((c) => c.image),
  };
}

/** Whether two snapshots would render the same `pod` event (so none is emitted). */
function sameVisibleState(a: PodSnapshot, b: PodSnapshot): boolean {
  return a.state === b.state && a.ready === b.ready && a.total === b.total && a.restarts === b.restarts && a.message === b.message;
}

export interface PodUpdate {
  snapshot: PodSnapshot;
  previous?: PodSnapshot;
  deleted: boolean;
  transitions: ContainerTransition[];
}

export interface PodWatcher {
  /** The current pods, keyed `namespace/name`. */
  readonly pods: ReadonlyMap<string, PodSnapshot>;
  /** The watch's raw state, for other readers of the same pods (the rollout wait). */
  readonly feed: PodFeed;
  /** Resolves once the first list arrived. */
  readonly ready: Promise<void>;
  /** Stops the watch; resolves when it has ended. */
  stop(): Promise<void>;
}

/**
 * Watches the pods labelled `devloop.dev/project=<project>` in every namespace. Emits a `pod` event
 * when a pod's visible state changes and calls `onUpdate` (if given) for every change (listeners
 * must not throw). Stops on `stop()` or when `signal` aborts.
 */
export function startPodWatcher(
  kube: KubeClient,
  options: { project: string; signal: AbortSignal; sink: EventSink; onUpdate?(update: PodUpdate): void },
): PodWatcher {
  const pods = new Map<string, PodSnapshot>();
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  options.signal.addEventListener('abort', onAbort, { once: true });
  const feed = watchPods(kube, {
    labelSelector: `${PROJECT_LABEL}=${options.project}`,
    signal: controller.signal,
    onTrouble(message) {
      options.sink.emit({ type: 'message', level: 'warn', text: message });
    },
  });
  feed.subscribe((change, pod) => {
    const snapshot = toSnapshot(pod);
    const id = `${snapshot.namespace}/${snapshot.name}`;
    const previous = pods.get(id);
    const deleted = change === 'DELETED';
    if (deleted) pods.delete(id);
    else pods.set(id, snapshot);
    if (deleted || !previous || !sameVisibleState(previous, snapshot)) options.sink.emit(podEvent(snapshot, deleted));
    options.onUpdate?.({ snapshot, previous, deleted, transitions: deleted ? [] : diffPod(previous, snapshot) });
  });
  return {
    pods,
    feed,
    ready: feed.ready,
    async stop() {
      options.signal.removeEventListener('abort', onAbort);
      controller.abort();
      await feed.done;
    },
  };
}

/**
 * The artifact an image reference was built from: `localhost:5000/blog/posts:3f2a` belongs to
 * `blog/posts`. Registry prefixes and tags/digests are ignored.
 */
export function artifactOfImage(reference: string, artifactImages: readonly string[]): string | undefined {
  const withoutDigest = reference.split('@')[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const repository = colon > lastSlash ? withoutDigest.slice(0, colon) : withoutDigest;
  return artifactImages.find((image) => repository === image || repository.endsWith(`/${image}`));
}
