/**
 * Pods of the project, as the dev loop sees them: a plain snapshot per pod (`PodSnapshot`), its
 * human state (Pending, ContainerCreating, Running, CrashLoopBackOff, Terminating...), and what
 * changed since the previous snapshot (`diffPod`): containers that (re)started, restarts with
 * their exit code and reason.
 *
 * `toSnapshot` and `diffPod` are pure; `startPodWatcher` wires them to the cluster's pod watch and
 * emits a `pod` event whenever the human-visible state of a pod changes.
 */
import { PROJECT_LABEL } from '../deploy/labels.js';
import type { EventSink, PodEvent } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import { watchPods, type V1ContainerStatus, type V1Pod } from '../kube/pod-watch.js';

export interface ContainerSnapshot {
  name: string;
  /** Image reference from the pod spec, e.g. `localhost:5000/blog/posts:3f2a`. */
  image: string;
  /** `workingDir` from the pod spec, when set. */
  workingDir?: string;
  /** `ports` from the pod spec, when declared (named port-forwards resolve against them). */
  ports?: Array<{ name?: string; containerPort: number }>;
  ready: boolean;
  restartCount: number;
  /** Runtime id of the current instance; changes on every restart. */
  containerID?: string;
  state: 'running' | 'waiting' | 'terminated' | 'unknown';
  /** Waiting or terminated reason (CrashLoopBackOff, ContainerCreating, Error, Completed...). */
  reason?: string;
  /** When the current instance started running (RFC3339), if running. */
  startedAt?: string;
  lastTerminated?: { exitCode: number; reason?: string };
}

export interface PodSnapshot {
  namespace: string;
  name: string;
  uid: string;
  /** `deployment/posts`, `statefulset/db`, `pod/x` when it has no controller. */
  owner: string;
  labels: Record<string, string>;
  phase: string;
  state: string;
  terminating: boolean;
  containers: ContainerSnapshot[];
  ready: number;
  total: number;
  restarts: number;
  message?: string;
}

function containerSnapshot(
  name: string,
  image: string,
  workingDir: string | undefined,
  status: V1ContainerStatus | undefined,
  ports?: Array<{ name?: string; containerPort: number }>,
): ContainerSnapshot {
  const s = status?.state;
  const state: ContainerSnapshot['state'] = s?.running ? 'running' : s?.waiting ? 'waiting' : s?.terminated ? 'terminated' : 'unknown';
  const last = status?.lastState?.terminated;
  return {
    name,
    image,
    ...(workingDir ? { workingDir } : {}),
    ...(ports?.length ? { ports: ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort })) } : {}),
    ready: Boolean(status?.ready),
    restartCount: status?.restartCount ?? 0,
    ...(status?.containerID ? { containerID: status.containerID } : {}),
    state,
    ...(s?.waiting?.reason ? { reason: s.waiting.reason } : s?.terminated?.reason ? { reason: s.terminated.reason } : {}),
    ...(s?.running?.startedAt ? { startedAt: new Date(s.running.startedAt as unknown as string).toISOString() } : {}),
    ...(last ? { lastTerminated: { exitCode: last.exitCode, ...(last.reason ? { reason: last.reason } : {}) } } : {}),
  };
}

/** The workload that owns a pod, from its controller reference (ReplicaSet names lose their hash). */
export function ownerOf(pod: V1Pod): string {
  const controller = pod.metadata?.ownerReferences?.find((r) => r.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!controller) return `pod/${pod.metadata?.name ?? ''}`;
  if (controller.kind === 'ReplicaSet') {
    const hash = pod.metadata?.labels?.['pod-template-hash'];
    if (hash && controller.name.endsWith(`-${hash}`)) return `deployment/${controller.name.slice(0, -(hash.length + 1))}`;
    return `replicaset/${controller.name}`;
  }
  return `${controller.kind.toLowerCase()}/${controller.name}`;
}

/** The state a person expects to read, in the vocabulary of `kubectl get pods`. */
export function humanState(pod: V1Pod, containers: ContainerSnapshot[]): string {
  if (pod.metadata?.deletionTimestamp) return 'Terminating';
  const phase = pod.status?.phase ?? 'Unknown';
  const waiting = containers.find((c) => c.state === 'waiting' && c.reason && c.reason !== 'ContainerCreating');
  if (waiting) return waiting.reason!;
  if (phase === 'Pending') {
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False') return 'Pending';
    return containers.some((c) => c.state === 'waiting') || containers.length === 0 ? 'ContainerCreating' : 'Pending';
  }
  if (phase === 'Running') {
    const terminated = containers.find((c) => c.state === 'terminated');
    return terminated?.reason ?? 'Running';
  }
  if (phase === 'Succeeded') return 'Completed';
  if (phase === 'Failed') return pod.status?.reason ?? 'Failed';
  return phase;
}

export function toSnapshot(pod: V1Pod): PodSnapshot {
  const specs = pod.spec?.containers ?? [];
  const statuses = pod.status?.containerStatuses ?? [];
  const containers = specs.map((c) => containerSnapshot(c.name, c.image ?? '', c.workingDir, statuses.find((s) => s.name === c.name), c.ports));
  const waitingMessage = statuses.find((s) => s.state?.waiting?.message)?.state?.waiting?.message;
  const unschedulable = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')?.message;
  const message = waitingMessage ?? unschedulable;
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    owner: ownerOf(pod),
    labels: pod.metadata?.labels ?? {},
    phase: pod.status?.phase ?? 'Unknown',
    state: humanState(pod, containers),
    terminating: Boolean(pod.metadata?.deletionTimestamp),
    containers,
    ready: containers.filter((c) => c.ready).length,
    total: containers.length,
    restarts: containers.reduce((sum, c) => sum + c.restartCount, 0),
    ...(message ? { message } : {}),
  };
}

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
  /** Resolves once the first list arrived. */
  readonly ready: Promise<void>;
  /** Stops the watch; resolves when it has ended. */
  stop(): Promise<void>;
}

/**
 * Watches the pods labelled `devloop.dev/project=<project>` in every namespace. Emits a `pod` event
 * when a pod's visible state changes and calls `onUpdate` for every change (listeners must not
 * throw). Stops on `stop()` or when `signal` aborts.
 */
export function startPodWatcher(
  kubeConfig: KubeClient['kubeConfig'],
  options: { project: string; signal: AbortSignal; sink: EventSink; onUpdate(update: PodUpdate): void },
): PodWatcher {
  const pods = new Map<string, PodSnapshot>();
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  options.signal.addEventListener('abort', onAbort, { once: true });
  const watch = watchPods(kubeConfig, {
    labelSelector: `${PROJECT_LABEL}=${options.project}`,
    signal: controller.signal,
    onChange(change, pod) {
      const snapshot = toSnapshot(pod);
      const id = `${snapshot.namespace}/${snapshot.name}`;
      const previous = pods.get(id);
      const deleted = change === 'DELETED';
      if (deleted) pods.delete(id);
      else pods.set(id, snapshot);
      if (deleted || !previous || !sameVisibleState(previous, snapshot)) options.sink.emit(podEvent(snapshot, deleted));
      options.onUpdate({ snapshot, previous, deleted, transitions: deleted ? [] : diffPod(previous, snapshot) });
    },
    onTrouble(message) {
      options.sink.emit({ type: 'message', level: 'warn', text: message });
    },
  });
  return {
    pods,
    ready: watch.ready,
    async stop() {
      options.signal.removeEventListener('abort', onAbort);
      controller.abort();
      await watch.done;
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
