/**
 * The one reading of a pod's state, shared by the phases that look at pods (deploy's rollout wait
 * and observe's dev-loop view): a plain snapshot per pod (`PodSnapshot`) with its human state in
 * the vocabulary of `kubectl get pods` (Pending, ContainerCreating, Running, CrashLoopBackOff,
 * Terminating...), readiness and restarts. Pure functions of the pod object.
 *
 * It lives in kube (below every phase) because deploy may not import observe (the flow runs
 * deploy -> observe; see src/layering.test.ts) and both need the same answer.
 */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

/** Pod shapes for callers, so they need not import client-node themselves (types only: loads nothing). */
export type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

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
  /** metadata.creationTimestamp in ms since the epoch (second resolution); absent when not set. */
  createdMs?: number;
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
  const waitingStatus = statuses.find((s) => s.state?.waiting?.message)?.state?.waiting;
  const waitingMessage = waitingStatus?.message && IMAGE_PULL_REASONS.has(waitingStatus.reason ?? '') ? shortPullMessage(waitingStatus.message) : waitingStatus?.message;
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
    ...(createdMs(pod) !== undefined ? { createdMs: createdMs(pod) } : {}),
  };
}

function createdMs(pod: V1Pod): number | undefined {
  // a string in the API's JSON (client-node's type says Date)
  const created = pod.metadata?.creationTimestamp as Date | string | undefined;
  const ms = created === undefined ? NaN : new Date(created).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** Waiting reasons of a container whose image cannot be pulled. */
export const IMAGE_PULL_REASONS: ReadonlySet<string> = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull']);

/**
 * The telling part of a kubelet pull error: `Back-off pulling image "x": ErrImagePull: rpc error:
 * code = NotFound desc = failed to pull and unpack image "x": failed to resolve reference "x": x: not
 * found` becomes `x: not found`.
 */
export function shortPullMessage(message: string): string {
  let m = message.replace(/\s+/g, ' ').trim();
  m = m.replace(/^Back-off pulling image "[^"]*":\s*/, '').replace(/^ErrImagePull:\s*/, '').replace(/rpc error: code = \w+ desc = /, '');
  const lastQuoted = m.lastIndexOf('": ');
  if (/^failed to (pull|resolve)/.test(m) && lastQuoted >= 0) m = m.slice(lastQuoted + 3);
  return m.length > 240 ? `${m.slice(0, 240)}...` : m;
}
