/**
 * Waits until every workload devloop applied is ready, and when one is not, says why in words a user
 * can act on (image pull failures, crash loops with their last log lines, unschedulable pods,
 * failing probes, failed jobs).
 *
 * Contract: watches the workloads, reads the project's pods from the one pod watch
 * (kube/pod-watch.ts; the caller's `pods` feed when given, so `dev` and `deploy` watch pods once)
 * and judges readiness from each change as it arrives (no poll interval decides when readiness is
 * seen); a fresh read of the workloads at the start and every `pollMs` (default 5 s, 1 s while a
 * watch reports errors) is the safety net. A workload whose
 * status says ready still waits until its containers without a readiness probe have stayed up for
 * SETTLE_MS (a container that crashes at start-up is otherwise "ready" for an instant). Emits `deploy`
 * events (waiting, ready, failed) and a `phase` event pair (`deploy/wait/<workload>`) per
 * workload (`pod` events are the pod watcher's, observe/pods.ts). Resolves when all are ready; throws FailureError (exit 1) naming each workload that
 * failed or missed its deadline (`deadlineSeconds` each, counted from the start of the wait);
 * throws InterruptedError on abort.
 */
import { FailureError, InterruptedError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import { IMAGE_PULL_REASONS, shortPullMessage } from '../kube/pod-state.js';
import { watchPods, type PodFeed } from '../kube/pod-watch.js';
import { describeObject, identity, keyOf, type KubeObject } from '../kube/types.js';
import { artifactFor, parseImageRef, registryOf } from './images.js';
import { projectSelector } from './labels.js';

/** How often the state is read afresh while the watches work: the safety net, not the signal. */
const SAFETY_READ_MS = 5_000;
/** How often it is read while a watch reports errors (forbidden, dropped, unavailable). */
const WATCH_TROUBLE_READ_MS = 1_000;
/**
 * A container without a readiness probe is ready the moment it runs, so a container that crashes at
 * start-up looks ready for a few milliseconds (and `kubectl rollout status` then reports success).
 * devloop counts such a container only once it has stayed up this long without a restart (the kubelet
 * notices an exit on its next 1 s relist, and the status reaches the API server after that).
 */
export const SETTLE_MS = 3_000;

export const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'Pod']);

export interface RolloutOptions {
  project: string;
  deadlineSeconds: number;
  /** Artifact image names, to tell "devloop built this" from "this comes from elsewhere" in hints. */
  artifacts: readonly string[];
  /** The registry devloop pushes to (KEP-1755), if any. */
  registry?: string;
  /** Milliseconds between safety-net fresh reads while the watches work (default 5000). */
  pollMs?: number;
  /**
   * The project's pods as an existing watch sees them (observe's pod watcher in `dev` and
   * `deploy`): read instead of opening another pod watch. Without it, the wait watches the pods of
   * its namespaces itself (kube/pod-watch.ts, the same watch).
   */
  pods?: PodFeed;
  signal: AbortSignal;
  sink: EventSink;
}

/** Why a workload is not ready: one sentence, optional detail lines, and what to do. */
export interface Diagnosis {
  message: string;
  details?: string[];
  hint?: string;
  /** Hopeless without a change by the user: stop waiting now. */
  fatal?: boolean;
}

interface Progress {
  ready: boolean;
  /** What the workload is waiting for, e.g. "1 of 2 replicas available". */
  waitingFor?: string;
  failed?: Diagnosis;
  /** Said with `ready`: something the user should know although nothing is left to wait for. */
  note?: string;
}

/**
 * The note of a ready workload whose updateStrategy is OnDelete while pods still run an older
 * template: Kubernetes replaces such a pod only when it is deleted (kubectl rollout status refuses
 * to wait for these at all).
 */
function onDeleteNote(obj: KubeObject, updated: number, desired: number): string | undefined {
  if (updated >= desired) return undefined;
  const selector = ((obj.spec ?? {}) as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {};
  const labels = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
  return `${updated} of ${desired} pods run the new template: its updateStrategy is OnDelete, so a pod changes only when it is deleted (kubectl delete pod -n ${obj.metadata.namespace ?? 'default'}${labels ? ` -l ${labels}` : ''})`;
}

/** Readiness of a workload from its own status, as `kubectl rollout status` judges it. Pure. */
export function workloadProgress(obj: KubeObject): Progress {
  const spec = (obj.spec ?? {}) as Record<string, any>;
  const status = (obj.status ?? {}) as Record<string, any>;
  const generation = obj.metadata.generation ?? 0;
  const observed = status.observedGeneration ?? 0;
  const conditions: Array<{ type: string; status: string; reason?: string; message?: string }> = status.conditions ?? [];
  const cond = (type: string) => conditions.find((c) => c.type === type);
  switch (obj.kind) {
    case 'Deployment': {
      if (observed < generation) return { ready: false, waitingFor: 'the controller to see the new spec' };
      const progressing = cond('Progressing');
      if (progressing?.reason === 'ProgressDeadlineExceeded') {
        return { ready: false, failed: { message: `rollout exceeded its progress deadline: ${progressing.message ?? ''}`, fatal: false } };
      }
      const desired = spec.replicas ?? 1;
      const updated = status.updatedReplicas ?? 0;
      const total = status.replicas ?? 0;
      const available = status.availableReplicas ?? 0;
      if (updated < desired) return { ready: false, waitingFor: `${updated} of ${desired} replicas updated` };
      if (total > updated) return { ready: false, waitingFor: `${total - updated} old replicas pending termination` };
      if (available < updated) return { ready: false, waitingFor: `${available} of ${updated} replicas available` };
      return { ready: true };
    }
    case 'StatefulSet': {
      if (observed < generation) return { ready: false, waitingFor: 'the controller to see the new spec' };
      const desired = spec.replicas ?? 1;
      const readyReplicas = status.readyReplicas ?? 0;
      if (readyReplicas < desired) return { ready: false, waitingFor: `${readyReplicas} of ${desired} replicas ready` };
      if ((spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
        if ((status.updatedReplicas ?? 0) < desired) return { ready: false, waitingFor: `${status.updatedReplicas ?? 0} of ${desired} replicas updated` };
        if (status.updateRevision && status.currentRevision !== status.updateRevision) return { ready: false, waitingFor: 'the rolling update to finish' };
        return { ready: true };
      }
      return { ready: true, note: onDeleteNote(obj, status.updatedReplicas ?? 0, desired) };
    }
    case 'DaemonSet': {
      if (observed < generation) return { ready: false, waitingFor: 'the controller to see the new spec' };
      const desired = status.desiredNumberScheduled ?? 0;
      const updated = status.updatedNumberScheduled ?? 0;
      const available = status.numberAvailable ?? 0;
      const onDelete = spec.updateStrategy?.type === 'OnDelete';
      if (!onDelete && updated < desired) return { ready: false, waitingFor: `${updated} of ${desired} pods updated` };
      if (available < desired) return { ready: false, waitingFor: `${available} of ${desired} pods available` };
      return onDelete ? { ready: true, note: onDeleteNote(obj, updated, desired) } : { ready: true };
    }
    case 'ReplicaSet': {
      const desired = spec.replicas ?? 1;
      const readyReplicas = status.readyReplicas ?? 0;
      return readyReplicas >= desired ? { ready: true } : { ready: false, waitingFor: `${readyReplicas} of ${desired} replicas ready` };
    }
    case 'Job': {
      if (cond('Complete')?.status === 'True') return { ready: true };
      const failed = cond('Failed');
      if (failed?.status === 'True') {
        return { ready: false, failed: { message: `the job failed (${failed.reason ?? 'Failed'}): ${failed.message ?? ''}`.trim(), fatal: true } };
      }
      return { ready: false, waitingFor: `${status.succeeded ?? 0} of ${spec.completions ?? 1} completions` };
    }
    case 'Pod': {
      const phase = status.phase;
      if (phase === 'Succeeded') return { ready: true };
      if (cond('Ready')?.status === 'True') return { ready: true };
      if (phase === 'Failed') return { ready: false, failed: { message: `the pod failed${status.reason ? ` (${status.reason})` : ''}${status.message ? `: ${status.message}` : ''}`, fatal: true } };
      return { ready: false, waitingFor: `pod ${phase ?? 'Pending'}` };
    }
  }
  return { ready: true };
}

/**
 * Whether a Deployment's new pods are all there and Ready, judged from the pods themselves: the
 * controller has seen the spec and counts only updated replicas (status), and exactly `replicas`
 * non-terminating pods of the workload exist, all from one ReplicaSet (one pod-template-hash), all
 * running the template's images, all with condition Ready. This is what `availableReplicas` will
 * say once the ReplicaSet and Deployment controllers have counted (each a status write later);
 * reading it from the pods saves that lag. Only with minReadySeconds 0 (else "available" is more
 * than Ready). Pure.
 */
export function deploymentReadyFromPods(deployment: KubeObject, pods: readonly KubeObject[]): boolean {
  if (deployment.kind !== 'Deployment') return false;
  const spec = (deployment.spec ?? {}) as Record<string, any>;
  const status = (deployment.status ?? {}) as Record<string, any>;
  if ((spec.minReadySeconds ?? 0) !== 0 || spec.paused) return false;
  if ((status.observedGeneration ?? 0) < (deployment.metadata.generation ?? 0)) return false;
  const desired = spec.replicas ?? 1;
  if ((status.updatedReplicas ?? 0) < desired || (status.replicas ?? 0) > (status.updatedReplicas ?? 0)) return false;
  const own = pods.filter((p) => podBelongsTo(p, deployment) && !p.metadata.deletionTimestamp);
  if (own.length !== desired || desired === 0) return false;
  const hashes = new Set(own.map((p) => p.metadata.labels?.['pod-template-hash']));
  if (hashes.size !== 1 || hashes.has(undefined)) return false;
  const images = ((spec.template?.spec?.containers ?? []) as Array<{ image?: string }>).map((c) => c.image).join(' ');
  return own.every((p) => {
    const podSpec = (p.spec ?? {}) as { containers?: Array<{ image?: string }> };
    const conditions = ((p.status ?? {}) as { conditions?: Array<{ type: string; status: string }> }).conditions ?? [];
    return (podSpec.containers ?? []).map((c) => c.image).join(' ') === images && conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  });
}

/**
 * Whether a pod that has not finished (not Succeeded) has a container that is not running because
 * it exited: terminated, or waiting after a crash (CrashLoopBackOff, or restarted and not yet up).
 */
export function hasExitedContainer(pod: KubeObject): boolean {
  if (((pod.status ?? {}) as { phase?: string }).phase === 'Succeeded') return false;
  // main containers only: a finished init container is terminated by design
  const main = ((pod.status ?? {}) as { containerStatuses?: ContainerStatus[] }).containerStatuses ?? [];
  return main.some((c) => !c.state?.running && (Boolean(c.state?.terminated) || c.state?.waiting?.reason === 'CrashLoopBackOff' || ((c.restartCount ?? 0) > 0 && Boolean(c.lastState?.terminated))));
}

/** Whether `pod` belongs to `workload` (selector labels, job name, or the pod itself). */
export function podBelongsTo(pod: KubeObject, workload: KubeObject): boolean {
  if (pod.metadata.namespace !== workload.metadata.namespace) return false;
  if (workload.kind === 'Pod') return pod.metadata.name === workload.metadata.name;
  const labels = pod.metadata.labels ?? {};
  if (workload.kind === 'Job') {
    const uid = workload.metadata.uid;
    return (uid !== undefined && labels['controller-uid'] === uid) || labels['batch.kubernetes.io/controller-uid'] === uid || labels['job-name'] === workload.metadata.name;
  }
  const match = ((workload.spec as Record<string, any> | undefined)?.selector?.matchLabels ?? {}) as Record<string, string>;
  const keys = Object.keys(match);
  return keys.length > 0 && keys.every((k) => labels[k] === match[k]);
}

interface ContainerStatus {
  name: string;
  image?: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: unknown; terminated?: { exitCode?: number; reason?: string; message?: string } };
  lastState?: { terminated?: { exitCode?: number; reason?: string; message?: string } };
}

function containerStatuses(pod: KubeObject): ContainerStatus[] {
  const status = (pod.status ?? {}) as { containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] };
  return [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
}

/**
 * Why a pod is not ready, from its status alone (no API calls), or undefined when nothing is wrong
 * yet. Crash loops and probe failures need logs or events: see `diagnosePods`.
 */
export function diagnosePodStatus(pod: KubeObject, options: Pick<RolloutOptions, 'artifacts' | 'registry'>): (Diagnosis & { crashed?: ContainerStatus; probe?: boolean; runningSince?: number; pull?: boolean }) | undefined {
  const name = pod.metadata.name;
  const status = (pod.status ?? {}) as Record<string, any>;
  for (const c of containerStatuses(pod)) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && IMAGE_PULL_REASONS.has(waiting.reason)) {
      const image = specImage(pod, c.name) ?? c.image ?? '?';
      return { ...imagePullDiagnosis(image, waiting.reason, waiting.message, `container ${c.name} of pod ${name}`, options), fatal: waiting.reason !== 'ErrImagePull', pull: true };
    }
    if (waiting?.reason === 'CreateContainerConfigError' || waiting?.reason === 'CreateContainerError' || waiting?.reason === 'RunContainerError') {
      return {
        message: `container ${c.name} of pod ${name} cannot start (${waiting.reason}): ${shortRuntimeMessage(waiting.message ?? '')}`.trim(),
        hint: 'Fix what the message names (a missing ConfigMap or Secret key, a bad command or volume) in the manifest, then deploy again.',
        fatal: false,
      };
    }
    const terminated = c.lastState?.terminated ?? c.state?.terminated;
    if ((waiting?.reason === 'CrashLoopBackOff' || (c.restartCount ?? 0) > 0 || (terminated && terminated.exitCode !== 0 && status.phase === 'Failed')) && terminated && terminated.exitCode !== 0) {
      return {
        message: `container ${c.name} of pod ${name} ${waiting?.reason === 'CrashLoopBackOff' ? 'keeps crashing (CrashLoopBackOff)' : 'exited'} with exit code ${terminated.exitCode}${terminated.reason && terminated.reason !== 'Error' ? ` (${terminated.reason}${terminated.message ? `: ${shortRuntimeMessage(terminated.message)}` : ''})` : ''}${c.restartCount ? `, ${c.restartCount} restart${c.restartCount === 1 ? '' : 's'}` : ''}`,
        hint: `Fix the program or its command so it keeps running. Full log: kubectl logs --previous -n ${pod.metadata.namespace} ${name} -c ${c.name}`,
        fatal: waiting?.reason === 'CrashLoopBackOff' && (c.restartCount ?? 0) >= 2,
        crashed: c,
      };
    }
  }
  const scheduled = ((status.conditions ?? []) as Array<{ type: string; status: string; reason?: string; message?: string }>).find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return {
      message: `pod ${name} cannot be scheduled: ${scheduled.message ?? 'Unschedulable'}`,
      hint: 'Free resources or lower the pod\'s resource requests, or fix its nodeSelector, affinity or tolerations.',
    };
  }
  const running = containerStatuses(pod).filter((c) => c.state?.running && !c.ready);
  if (status.phase === 'Running' && running.length > 0) {
    const started = running.map((c) => Date.parse(String((c.state?.running as { startedAt?: string } | undefined)?.startedAt ?? ''))).filter((t) => !Number.isNaN(t));
    return { message: `pod ${name} is running but not ready (container ${running.map((c) => c.name).join(', ')})`, probe: true, ...(started.length ? { runningSince: Math.min(...started) } : {}) };
  }
  return undefined;
}

function specImage(pod: KubeObject, container: string): string | undefined {
  const spec = (pod.spec ?? {}) as Record<string, any>;
  for (const list of [spec.containers, spec.initContainers, spec.ephemeralContainers]) {
    for (const c of (list ?? []) as Array<{ name: string; image?: string }>) if (c.name === container) return c.image;
  }
  return undefined;
}

export function imagePullDiagnosis(image: string, reason: string, message: string | undefined, where: string, options: Pick<RolloutOptions, 'artifacts' | 'registry'>): Diagnosis {
  const registry = registryOf(image);
  const artifact = artifactFor(image, options.artifacts);
  const short = shortPullMessage(message ?? '');
  let hint: string;
  if (options.registry && registry === options.registry) {
    hint = artifact
      ? `The cluster cannot pull ${image}: was it pushed? devloop pushes to ${options.registry}, the registry announced by the cluster's local-registry-hosting ConfigMap; run devloop deploy again and check the build output for "pushed".`
      : `The cluster cannot pull ${image}: was it pushed? devloop pushes the images it builds to ${options.registry}, the registry announced by local-registry-hosting, and no artifact of this config is named ${parseImageRef(image).path}: push it there yourself, add it to build.artifacts, or fix the image in the manifest.`;
  } else if (artifact) {
    hint = `${image} is built by devloop but the cluster pulls it from ${registry}: push it (devloop deploy --push) or use a local cluster that shares images (kind, minikube, k3d, Docker Desktop).`;
  } else {
    hint = `Check that ${image} exists in ${registry} (name and tag) and that the cluster may pull from it (imagePullSecrets); if devloop should build it, add an artifact whose image is ${parseImageRef(image).path}.`;
  }
  return { message: `the cluster cannot pull image ${image} from ${registry} for ${where} (${reason})${short ? `: ${short}` : ''}`, hint };
}

/**
 * The telling part of a container runtime error: `failed to create containerd task: ... unable to
 * start container process: exec: "sh": executable file not found in $PATH: unknown` becomes
 * `exec: "sh": executable file not found in $PATH`.
 */
export function shortRuntimeMessage(message: string): string {
  const m = message.replace(/\s+/g, ' ').trim().replace(/: unknown$/, '');
  const at = m.lastIndexOf('container process: ');
  return at >= 0 ? m.slice(at + 'container process: '.length) : m;
}

interface Tracked {
  object: KubeObject;
  label: string;
  done: boolean;
  failure?: Diagnosis;
  lastWaiting?: string;
  readyAt?: number;
}

/**
 * Whether `next` may replace `current` as the latest state of one object: not when both carry a
 * numeric resourceVersion and `next`'s is older (a read that raced a watch event). Kubernetes calls
 * resourceVersions opaque; every API server backed by etcd hands out increasing integers, and
 * anything else is taken as newer.
 */
export function isNewer(next: KubeObject, current: KubeObject | null | undefined): boolean {
  if (!current) return true;
  const a = Number(next.metadata.resourceVersion);
  const b = Number(current.metadata.resourceVersion);
  return !(Number.isSafeInteger(a) && Number.isSafeInteger(b) && a < b);
}

interface ContainerStatusLike {
  name: string;
  restartCount?: number;
  state?: { running?: { startedAt?: string } };
}

/**
 * Milliseconds until every running container of `pod` that has no readiness probe has stayed up for
 * SETTLE_MS, 0 when all have. `firstSeen` remembers when this wait first saw each container instance
 * running (keyed by pod uid, name and restart count); `startedAt` has one-second precision, so it
 * only shortens the wait for containers that were up long before it began.
 */
export function settleRemainingMs(pod: KubeObject, now: number, firstSeen: Map<string, number>): number {
  const spec = (pod as { spec?: { containers?: Array<{ name: string; readinessProbe?: unknown }> } }).spec;
  const probed = new Set((spec?.containers ?? []).filter((c) => c.readinessProbe).map((c) => c.name));
  const statuses = ((pod as { status?: { containerStatuses?: ContainerStatusLike[] } }).status?.containerStatuses ?? []);
  let remaining = 0;
  for (const c of statuses) {
    if (probed.has(c.name) || !c.state?.running) continue;
    const key = `${pod.metadata.uid ?? pod.metadata.name}/${c.name}/${c.restartCount ?? 0}`;
    const seen = firstSeen.get(key) ?? now;
    firstSeen.set(key, seen);
    const startedAt = Date.parse(c.state.running.startedAt ?? '');
    const upSince = Number.isFinite(startedAt) ? Math.min(seen, startedAt + 1_000) : seen;
    remaining = Math.max(remaining, upSince + SETTLE_MS - now);
  }
  return remaining;
}

/** Waits for every workload among `applied`; see the module comment for the contract. */
export async function waitForRollout(kube: KubeClient, applied: readonly KubeObject[], options: RolloutOptions): Promise<void> {
  const { sink, signal } = options;
  const safetyReadMs = options.pollMs ?? SAFETY_READ_MS;
  const tracked: Tracked[] = applied.filter((o) => WORKLOAD_KINDS.has(o.kind) && !isControlledPod(o)).map((object) => ({ object, label: describeObject(keyOf(object)), done: false }));
  if (tracked.length === 0) return;
  const started = Date.now();
  const deadline = started + options.deadlineSeconds * 1000;
  const namespaces = [...new Set(tracked.map((t) => t.object.metadata.namespace).filter((n): n is string => Boolean(n)))];
  const logCache = new Map<string, string[]>();
  const eventCache: EventCache = new Map();
  const firstSeenRunning = new Map<string, number>();
  let settleDue = Infinity;
  for (const t of tracked) {
    sink.emit({ type: 'deploy', status: 'waiting', object: t.label, message: `up to ${options.deadlineSeconds}s` });
    sink.emit({ type: 'phase', name: `deploy/wait/${t.label}`, status: 'started', atMs: Math.round(performance.now()) });
  }

  // The latest known state: workloads by identity (null once deleted), read by watches (list, then
  // watch) that decide as soon as a status changes; a fresh read seeds it at the start and repeats
  // every `safetyReadMs` (1 s while a watch reports errors), so a watch that drops or is forbidden
  // costs latency, never correctness. The project's pods are the one pod watch's state
  // (`options.pods`, else a watch of the namespaces waited in, kube/pod-watch.ts, which re-lists
  // by itself after a failure).
  const workloads = new Map<string, KubeObject | null>();
  const keyOfObject = (o: KubeObject) => identity(keyOf(o));
  const trackedIds = new Set(tracked.map((t) => keyOfObject(t.object)));
  let dirty = false;
  let wakeUp: (() => void) | undefined;
  let watchTrouble = false;
  const changed = () => {
    dirty = true;
    wakeUp?.();
  };
  const takeWorkload = (type: string, obj: KubeObject) => {
    const id = keyOfObject(obj);
    if (!trackedIds.has(id)) return;
    if (type === 'DELETED') workloads.set(id, null);
    else if (isNewer(obj, workloads.get(id))) workloads.set(id, obj);
    changed();
  };
  const onWatchError = () => {
    watchTrouble = true;
    changed();
  };

  const watches = new AbortController();
  const stopWatches = () => watches.abort();
  signal.addEventListener('abort', stopWatches, { once: true });
  const feeds: PodFeed[] = options.pods
    ? [options.pods]
    : namespaces.map((namespace) => watchPods(kube, { namespace, labelSelector: projectSelector(options.project), signal: watches.signal, onTrouble: onWatchError }));
  const unsubscribe = feeds.map((feed) =>
    feed.subscribe((type, pod) => {
      // A bare Pod applied by devloop is its own workload (takeWorkload ignores untracked ones).
      takeWorkload(type, { ...(pod as KubeObject), apiVersion: 'v1', kind: 'Pod' });
      changed();
    }),
  );
  /** The pods of the namespaces waited in, as the pod watch last saw them. */
  const currentPods = (): KubeObject[] =>
    feeds.flatMap((feed) => [...feed.current.values()] as KubeObject[]).filter((p) => namespaces.includes(p.metadata.namespace ?? ''));
  const kinds = [...new Set(tracked.filter((t) => t.object.kind !== 'Pod').map((t) => `${t.object.apiVersion}|${t.object.kind}`))];
  for (const ns of namespaces) {
    for (const k of kinds) {
      const [apiVersion, kind] = k.split('|');
      void kube
        .resourceFor(apiVersion, kind, watches.signal)
        .then((resource) => kube.watch(resource, { namespace: ns, labelSelector: projectSelector(options.project), signal: watches.signal, onError: onWatchError }, takeWorkload))
        .catch(onWatchError);
    }
  }

  /** One fresh read of every pending workload, merged into the state. */
  const freshRead = async () => {
    const pending = tracked.filter((t) => !t.done);
    const objects = await Promise.all(pending.map((t) => kube.get(keyOf(t.object), signal).catch((e) => (signal.aborted ? undefined : Promise.reject(e)))));
    if (signal.aborted) return;
    pending.forEach((t, i) => {
      const id = keyOfObject(t.object);
      const current = objects[i];
      if (!current) workloads.set(id, null);
      else if (isNewer(current, workloads.get(id))) workloads.set(id, current);
    });
    dirty = true;
  };

  try {
    await freshRead();
    let lastRead = Date.now();
    const readDue = () => lastRead + (watchTrouble ? WATCH_TROUBLE_READ_MS : safetyReadMs);
    for (;;) {
      if (signal.aborted) throw new InterruptedError();
      const expired = Date.now() >= deadline;
      if (dirty || expired) {
        dirty = false;
        await judge(expired);
        if (tracked.every((t) => t.done)) break;
        if (signal.aborted) throw new InterruptedError();
        if (dirty) continue; // something changed while judging
      }
      const woken = await nextChange(Math.max(0, Math.min(readDue(), deadline, settleDue) - Date.now()));
      if (!woken && Date.now() >= settleDue) {
        settleDue = Infinity;
        dirty = true;
      }
      if (!woken && Date.now() >= readDue()) {
        await freshRead();
        lastRead = Date.now();
      }
    }
  } finally {
    signal.removeEventListener('abort', stopWatches);
    for (const stop of unsubscribe) stop();
    watches.abort();
  }

  /** Resolves true when the state changed, false when `ms` passed (or the signal aborted) first. */
  function nextChange(ms: number): Promise<boolean> {
    if (dirty) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (woken: boolean) => () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        wakeUp = undefined;
        resolve(woken);
      };
      const onAbort = finish(false);
      const timer = setTimeout(finish(false), ms);
      signal.addEventListener('abort', onAbort, { once: true });
      wakeUp = finish(true);
    });
  }

  /** Judges every pending workload from the state; `expired`: the deadline has passed. */
  async function judge(expired: boolean): Promise<void> {
    const allPods = currentPods();
    const finish = (t: Tracked, status: 'finished' | 'failed') => {
      const now = performance.now();
      sink.emit({ type: 'phase', name: `deploy/wait/${t.label}`, status, atMs: Math.round(now), durationMs: Date.now() - started });
    };
    await Promise.all(
      tracked.map(async (t) => {
        if (t.done) return;
        const current = workloads.get(keyOfObject(t.object));
        if (current === undefined) return; // not read yet
        if (current === null) {
          t.done = true;
          t.failure = { message: `${t.label} disappeared while devloop waited for it (deleted by someone else?)` };
          sink.emit({ type: 'deploy', status: 'failed', object: t.label, message: t.failure.message });
          finish(t, 'failed');
          return;
        }
        t.object = current;
        let progress: Progress = deploymentReadyFromPods(current, allPods) ? { ready: true } : workloadProgress(current);
        // A status that says ready is stale while one of the workload's pods shows an exited
        // container (the controllers count it a moment later): judged from the pods instead.
        if (progress.ready && current.kind !== 'Job' && allPods.some((p) => podBelongsTo(p, current) && !p.metadata.deletionTimestamp && hasExitedContainer(p))) {
          progress = { ready: false, waitingFor: 'a container exited' };
        }
        const settling = progress.ready
          ? Math.max(0, ...allPods.filter((p) => podBelongsTo(p, current) && !p.metadata.deletionTimestamp).map((p) => settleRemainingMs(p, Date.now(), firstSeenRunning)))
          : 0;
        if (settling > 0) {
          settleDue = Math.min(settleDue, Date.now() + settling);
          const waitingFor = 'containers without a readiness probe to stay up';
          if (waitingFor !== t.lastWaiting) {
            t.lastWaiting = waitingFor;
            sink.emit({ type: 'deploy', status: 'waiting', object: t.label, message: waitingFor });
          }
          return;
        }
        if (progress.ready) {
          t.done = true;
          sink.emit({ type: 'deploy', status: 'ready', object: t.label, durationMs: Date.now() - started, ...(progress.note ? { message: progress.note } : {}) });
          finish(t, 'finished');
          return;
        }
        const own = allPods.filter((p) => podBelongsTo(p, current) && !p.metadata.deletionTimestamp);
        const podDiagnosis = await diagnosePods(kube, own, options, logCache, eventCache, expired || Boolean(progress.failed));
        const failure = progress.failed ? mergeDiagnosis(progress.failed, podDiagnosis) : podDiagnosis;
        if (failure?.fatal || progress.failed?.fatal || expired) {
          t.done = true;
          const base = failure ?? { message: `${progress.waitingFor ?? 'not ready'}` };
          t.failure = expired && !failure?.fatal
            ? { ...base, message: `not ready within ${options.deadlineSeconds}s (statusCheckDeadlineSeconds): ${base.message}`, hint: base.hint ?? 'Look at the pod events (kubectl describe pod) or raise deploy.statusCheckDeadlineSeconds.' }
            : base;
          sink.emit({ type: 'deploy', status: 'failed', object: t.label, message: t.failure.message });
          finish(t, 'failed');
          return;
        }
        const waitingFor = failure?.message ?? progress.waitingFor;
        if (waitingFor && waitingFor !== t.lastWaiting) {
          t.lastWaiting = waitingFor;
          sink.emit({ type: 'deploy', status: 'waiting', object: t.label, message: waitingFor });
        }
      }),
    );
  }

  const failed = tracked.filter((t) => t.failure);
  if (failed.length === 0) return;
  if (failed.length === 1) {
    const f = failed[0].failure!;
    throw new FailureError(`${failed[0].label}: ${f.message}`, { details: f.details, hint: f.hint });
  }
  throw new FailureError(`${failed.length} of ${tracked.length} workloads did not become ready`, {
    details: failed.flatMap((t) => [`${t.label}: ${t.failure!.message}`, ...(t.failure!.details ?? []).map((d) => `  ${d}`)]),
    hint: failed.find((t) => t.failure?.hint)?.failure?.hint,
  });
}

/** A pod created by a controller (not applied by devloop itself) is tracked through its owner. */
function isControlledPod(obj: KubeObject): boolean {
  return obj.kind === 'Pod' && (obj.metadata.ownerReferences ?? []).some((o) => o.controller);
}

function mergeDiagnosis(workload: Diagnosis, pod: Diagnosis | undefined): Diagnosis {
  if (!pod) return workload;
  return { message: `${workload.message}; ${pod.message}`, details: pod.details, hint: pod.hint ?? workload.hint, fatal: workload.fatal || pod.fatal };
}

/**
 * The most telling problem among a workload's pods, with log lines of a crashed container and the
 * probe failure from events. Logs and events are fetched at most once per restart / every 2 s.
 */
async function diagnosePods(
  kube: KubeClient,
  pods: KubeObject[],
  options: RolloutOptions,
  logCache: Map<string, string[]>,
  eventCache: EventCache,
  final: boolean,
): Promise<Diagnosis | undefined> {
  const found = pods.map((p) => ({ pod: p, d: diagnosePodStatus(p, options) })).filter((x) => x.d);
  const order = (d: NonNullable<ReturnType<typeof diagnosePodStatus>>) => (d.fatal ? 0 : d.crashed ? 1 : d.probe ? 3 : 2);
  found.sort((a, b) => order(a.d!) - order(b.d!));
  const first = found[0];
  if (!first) {
    const pending = pods.find((p) => ((p.status ?? {}) as { phase?: string }).phase === 'Pending');
    if (pending && final) return eventDiagnosis(kube, pending, eventCache, options.signal, `pod ${pending.metadata.name} is still pending`);
    return undefined;
  }
  const { pod, d } = first;
  const ns = pod.metadata.namespace ?? '';
  const name = pod.metadata.name ?? '';
  if (d!.crashed) {
    const key = `${ns}/${name}/${d!.crashed.name}/${d!.crashed.restartCount ?? 0}`;
    let lines = logCache.get(key);
    if (!lines) {
      const previous = (d!.crashed.restartCount ?? 0) > 0 && !d!.crashed.state?.terminated;
      lines = await kube
        .podLogs(ns, name, { container: d!.crashed.name, previous, tailLines: 10, signal: options.signal })
        .then((text) => (text.trim() ? text.split('\n').filter((l) => l.trim() !== '') : ['(the container printed nothing before it exited)']))
        .catch((error: Error) => [`(its log could not be read: ${error.message})`]);
      logCache.set(key, lines);
    }
    return { message: d!.message, hint: d!.hint, fatal: d!.fatal, details: ['last log lines:', ...lines.map((l) => `| ${l}`)] };
  }
  if (d!.probe) return eventDiagnosis(kube, pod, eventCache, options.signal, d!.message, d!.runningSince);
  if (d!.pull) return pullSecretDiagnosis(kube, pod, d!, eventCache, options.signal);
  return d!;
}

/**
 * An image pull that failed while the kubelet could not read the pod's pull Secrets. The kubelet
 * then pulls without them (event FailedToRetrieveImagePullSecret), which a private registry
 * refuses; it reads them again at its next pull, after its back-off (10 s, doubling). In a new
 * namespace that happens when its read comes before the API server lets the node read the Secret
 * (the node authorizer links a pod's Secrets to the node a moment after the pod is bound), or
 * before the Secret exists. So: when every named Secret exists now, the failure is not final
 * (the wait goes on until the deadline); when one does not, the message names it (final as any
 * other pull failure: once the kubelet backs off).
 * Any other pull failure is returned as it is.
 */
async function pullSecretDiagnosis(kube: KubeClient, pod: KubeObject, d: Diagnosis, cache: EventCache, signal: AbortSignal): Promise<Diagnosis> {
  const names = (((pod.spec ?? {}) as { imagePullSecrets?: Array<{ name?: string }> }).imagePullSecrets ?? []).map((r) => r.name).filter((n): n is string => Boolean(n));
  if (names.length === 0) return d;
  const events = await warningEvents(kube, pod, cache, signal);
  if (!events.some((l) => l.startsWith('FailedToRetrieveImagePullSecret:'))) return d;
  const ns = pod.metadata.namespace ?? '';
  const present = await Promise.all(names.map((name) => kube.get({ group: '', version: 'v1', kind: 'Secret', namespace: ns, name }, signal).then(Boolean, () => true)));
  const missing = names.filter((_, i) => !present[i]);
  const list = (xs: string[]) => xs.join(', ');
  if (missing.length > 0) {
    return {
      message: `${d.message}; the pull Secret${missing.length === 1 ? '' : 's'} ${list(missing)} named in its imagePullSecrets ${missing.length === 1 ? 'does' : 'do'} not exist in namespace ${ns}`,
      hint: `Create ${missing.length === 1 ? 'it' : 'them'} (kubectl create secret docker-registry ${missing[0]} -n ${ns} --docker-server=... --docker-username=... --docker-password=..., or a manifest devloop applies) or fix the name in imagePullSecrets.`,
      fatal: d.fatal,
    };
  }
  return {
    message: `${d.message}; the kubelet could not read the pull Secret${names.length === 1 ? '' : 's'} ${list(names)} when it pulled (not there yet, or not yet readable by the node) and pulled without ${names.length === 1 ? 'it' : 'them'}; it pulls again with ${names.length === 1 ? 'it' : 'them'} after its back-off`,
    hint: d.hint,
    fatal: false,
  };
}

/** A pod's Warning events as `Reason: message` lines with when each last happened (epoch ms; NaN when the event says not), oldest first, by pod; read at most every 2 s. */
type EventCache = Map<string, { at: number; lines: Array<{ text: string; at: number }> }>;

/** The pod's Warning events (see EventCache), happened at or after `since` (epoch ms) when given. */
async function warningEvents(kube: KubeClient, pod: KubeObject, cache: EventCache, signal: AbortSignal, since?: number): Promise<string[]> {
  const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
  let cached = cache.get(key);
  if (!cached || Date.now() - cached.at > 2000) {
    const events = await kube.listEvents(pod.metadata.namespace ?? '', { kind: 'Pod', name: pod.metadata.name ?? '', uid: pod.metadata.uid }, signal).catch(() => []);
    const lines = events
      .filter((e) => e.type === 'Warning')
      .map((e) => ({ text: `${String(e.reason ?? '')}: ${String(e.message ?? '').trim()}`, at: Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? '')) }));
    cached = { at: Date.now(), lines };
    cache.set(key, cached);
  }
  // an event without a time is kept: it may be the one that explains
  return cached.lines.filter((l) => since === undefined || !(l.at < since)).map((l) => l.text);
}

/**
 * `base` with what the pod's Warning events say: the last probe failure (with a hint) or else the
 * last warning. `since`: only events from then on (for a running container, what happened before
 * it started, a mount retried or a pull backed off, no longer explains anything).
 */
async function eventDiagnosis(kube: KubeClient, pod: KubeObject, cache: EventCache, signal: AbortSignal, base: string, since?: number): Promise<Diagnosis> {
  const lines = await warningEvents(kube, pod, cache, signal, since);
  const probe = [...lines].reverse().find((l) => /probe failed/i.test(l));
  if (probe) {
    return {
      message: `${base}: ${probe.replace(/^Unhealthy: /, '')}`,
      hint: 'The probe fails: check that the probe\'s port and path match what the program listens on, and that it starts in time (initialDelaySeconds).',
    };
  }
  const last = lines[lines.length - 1];
  return { message: last ? `${base}: ${last}` : base, details: lines.slice(-5) };
}

export { shortPullMessage } from '../kube/pod-state.js';
