import { afterEach, describe, expect, it, vi } from 'vitest';
import { watchPods } from '../kube/pod-watch.js';
import { CollectingSink } from '../events.js';
import { startFakeApi } from '../kube/fake-api-server.js';
import { projectLabels } from './labels.js';
import type { KubeObject } from '../kube/types.js';
import { toSnapshot, type V1Pod } from '../kube/pod-state.js';
import { deploymentReadyFromPods, diagnosePodStatus, hasExitedContainer, isNewer, podBelongsTo, settleRemainingMs, SETTLE_MS, shortPullMessage, waitForRollout, workloadProgress, type RolloutOptions } from './rollout.js';
import { targetForContext } from './image-target.js';

const obj = (kind: string, spec: unknown, status: unknown, meta: Partial<KubeObject['metadata']> = {}): KubeObject => ({ apiVersion: 'v1', kind, metadata: { name: 'x', namespace: 'ns', generation: 2, ...meta }, spec, status } as KubeObject);

describe('workload readiness', () => {
  it('judges Deployments like kubectl rollout status', () => {
    expect(workloadProgress(obj('Deployment', { replicas: 2 }, { observedGeneration: 1 })).ready).toBe(false);
    expect(workloadProgress(obj('Deployment', { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, replicas: 3, availableReplicas: 2 })).waitingFor).toBe('1 old replicas pending termination');
    expect(workloadProgress(obj('Deployment', { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 })).waitingFor).toBe('1 of 2 replicas available');
    expect(workloadProgress(obj('Deployment', { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })).ready).toBe(true);
  });
  it('judges StatefulSets, DaemonSets, Jobs and Pods', () => {
    expect(workloadProgress(obj('StatefulSet', { replicas: 1 }, { observedGeneration: 2, readyReplicas: 1, updatedReplicas: 1, currentRevision: 'a', updateRevision: 'a' })).ready).toBe(true);
    expect(workloadProgress(obj('DaemonSet', {}, { observedGeneration: 2, desiredNumberScheduled: 1, updatedNumberScheduled: 1, numberAvailable: 0 })).ready).toBe(false);
    expect(workloadProgress(obj('Job', {}, { conditions: [{ type: 'Complete', status: 'True' }] })).ready).toBe(true);
    const failedJob = workloadProgress(obj('Job', {}, { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }] }));
    expect(failedJob.failed).toMatchObject({ fatal: true, message: 'the job failed (BackoffLimitExceeded): Job has reached the specified backoff limit' });
    // OnDelete: nothing replaces the pods until they are deleted; ready, with a note saying so
    const onDelete = { updateStrategy: { type: 'OnDelete' }, selector: { matchLabels: { app: 'db' } } };
    const sts = workloadProgress(obj('StatefulSet', { replicas: 2, ...onDelete }, { observedGeneration: 2, readyReplicas: 2, updatedReplicas: 0, currentRevision: 'a', updateRevision: 'b' }));
    expect(sts).toEqual({ ready: true, note: '0 of 2 pods run the new template: its updateStrategy is OnDelete, so a pod changes only when it is deleted (kubectl delete pod -n ns -l app=db)' });
    expect(workloadProgress(obj('StatefulSet', { replicas: 2, ...onDelete }, { observedGeneration: 2, readyReplicas: 2, updatedReplicas: 2 }))).toEqual({ ready: true });
    const ds = workloadProgress(obj('DaemonSet', onDelete, { observedGeneration: 2, desiredNumberScheduled: 1, updatedNumberScheduled: 0, numberAvailable: 1 }));
    expect(ds.ready).toBe(true);
    expect(ds.note).toContain('0 of 1 pods run the new template');
    expect(workloadProgress(obj('Pod', {}, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] })).ready).toBe(true);
    expect(workloadProgress(obj('Pod', {}, { phase: 'Failed' })).failed?.fatal).toBe(true);
  });
});

describe('pod diagnosis', () => {
  const options = { artifacts: ['blog/posts'], registry: 'localhost:5000' };
  const pod = (status: unknown, containers = [{ name: 'app', image: 'localhost:5000/does-not-exist:1' }]) => obj('Pod', { containers }, status, { name: 'p-1' });

  it('explains an image pull failure with the image, the registry and the fix', () => {
    const d = diagnosePodStatus(
      pod({ phase: 'Pending', containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "localhost:5000/does-not-exist:1": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image "localhost:5000/does-not-exist:1": failed to resolve reference "localhost:5000/does-not-exist:1": localhost:5000/does-not-exist:1: not found' } } }] }),
      options,
    )!;
    expect(d.fatal).toBe(true);
    expect(d.message).toBe('the cluster cannot pull image localhost:5000/does-not-exist:1 from localhost:5000 for container app of pod p-1 (ImagePullBackOff): localhost:5000/does-not-exist:1: not found');
    expect(d.hint).toContain('was it pushed?');
    expect(d.hint).toContain('local-registry-hosting');
    const artifactHint = diagnosePodStatus(pod({ containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ErrImagePull' } } }] }, [{ name: 'app', image: 'localhost:5000/blog/posts:abc' }]), options)!;
    expect(artifactHint.fatal).toBe(false);
    expect(artifactHint.hint).toContain('check the build output for "pushed"');
  });

  it('reports a crash loop with the exit code, fatal after two restarts', () => {
    const crashing = (restartCount: number) =>
      diagnosePodStatus(pod({ phase: 'Running', containerStatuses: [{ name: 'app', restartCount, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 3, reason: 'Error' } } }] }), options)!;
    expect(crashing(1)).toMatchObject({ message: 'container app of pod p-1 keeps crashing (CrashLoopBackOff) with exit code 3, 1 restart', fatal: false });
    expect(crashing(2).fatal).toBe(true);
    expect(crashing(2).crashed?.name).toBe('app');
  });

  it('reports unschedulable pods with the scheduler\'s message, and not-ready running pods for a probe check', () => {
    const d = diagnosePodStatus(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory.' }] }), options)!;
    expect(d.message).toBe('pod p-1 cannot be scheduled: 0/1 nodes are available: 1 Insufficient memory.');
    const probe = diagnosePodStatus(pod({ phase: 'Running', containerStatuses: [{ name: 'app', ready: false, state: { running: {} } }] }), options)!;
    expect(probe.probe).toBe(true);
  });

  it('reads pod state the one way (kube/pod-state.ts) and matches pods to workloads', () => {
    const p = pod({ phase: 'Pending', containerStatuses: [{ name: 'app', restartCount: 2, ready: false, state: { waiting: { reason: 'ErrImagePull', message: 'rpc error: code = NotFound desc = failed to pull and unpack image "x": failed to resolve reference "x": x: not found' } } }] });
    expect(toSnapshot(p as V1Pod)).toMatchObject({ phase: 'Pending', state: 'ErrImagePull', ready: 0, total: 1, restarts: 2, message: 'x: not found' });
    const labelled = { ...p, metadata: { ...p.metadata, labels: { app: 'web', 'job-name': 'j' } } };
    expect(podBelongsTo(labelled, obj('Deployment', { selector: { matchLabels: { app: 'web' } } }, {}))).toBe(true);
    expect(podBelongsTo(labelled, obj('Deployment', { selector: { matchLabels: { app: 'api' } } }, {}))).toBe(false);
    expect(podBelongsTo(labelled, obj('Job', {}, {}, { name: 'j' }))).toBe(true);
    expect(shortPullMessage('plain message')).toBe('plain message');
  });
});

describe('image target by context', () => {
  it('recognises kind, minikube, k3d and Docker Desktop; anything else is remote', () => {
    expect(targetForContext('kind-dev')).toEqual({ kind: 'kind', cluster: 'dev', local: true });
    expect(targetForContext('minikube')).toEqual({ kind: 'minikube', cluster: 'minikube', local: true });
    expect(targetForContext('k3d-blog')).toEqual({ kind: 'k3d', cluster: 'blog', local: true });
    expect(targetForContext('docker-desktop')).toEqual({ kind: 'daemon', local: true });
    expect(targetForContext('gke_prod')).toEqual({ kind: 'remote', local: false });
  });
});

describe('runtime errors', () => {
  it('keep the telling part of a container start failure', async () => {
    const { shortRuntimeMessage } = await import('./rollout.js');
    expect(shortRuntimeMessage('failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "sh": executable file not found in $PATH: unknown')).toBe(
      'exec: "sh": executable file not found in $PATH',
    );
  });
});

describe('waitForRollout against an API server that watches like the real one', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));
  const labels = projectLabels('shop');
  const deployment = (status: Record<string, unknown>): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', generation: 1, labels },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } } },
    status: { observedGeneration: 1, ...status },
  });
  const notReady = { replicas: 1, updatedReplicas: 1, availableReplicas: 0 };
  const ready = { replicas: 1, updatedReplicas: 1, availableReplicas: 1 };
  const pod = (containerStatus: Record<string, unknown>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-5d9f8c6b5-x2k4q', namespace: 'shop', uid: 'pod-uid', labels: { ...labels, app: 'web' } },
    spec: { containers: [{ name: 'web', image: 'localhost:5000/missing:1' }] },
    status: { phase: 'Pending', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, ...containerStatus }] },
  });
  const options = (sink: CollectingSink, extra: Partial<RolloutOptions> = {}): RolloutOptions => ({
    project: 'shop',
    deadlineSeconds: 20,
    artifacts: [],
    // The safety-net read comes only after a minute: whatever decides sooner is the watch.
    pollMs: 60_000,
    signal: new AbortController().signal,
    sink,
    ...extra,
  });

  it('sees the Deployment turn available from the watch, without waiting for a read', async () => {
    const { kube, live } = await startFakeApi([deployment(notReady)], {}, cleanups);
    const sink = new CollectingSink();
    const waiting = waitForRollout(kube, [deployment(notReady)], options(sink));
    // The wait has read the Deployment (it says what it waits for) and, not ready, not reported it ready.
    await vi.waitFor(() => expect(sink.ofType('deploy').some((e) => e.status === 'waiting' && !String(e.message).startsWith('up to'))).toBe(true), { timeout: 10_000 });
    expect(sink.ofType('deploy').some((e) => e.status === 'ready')).toBe(false);
    const changedAt = Date.now();
    live.set('apps/Deployment/shop/web', deployment(ready));
    await waiting;
    expect(Date.now() - changedAt).toBeLessThan(1000);
    expect(sink.ofType('deploy').filter((e) => e.status === 'ready').map((e) => e.object)).toEqual(['Deployment/shop/web']);
    const phases = sink.ofType('phase').map((e) => `${e.name} ${e.status}`);
    expect(phases).toEqual(['deploy/wait/Deployment/shop/web started', 'deploy/wait/Deployment/shop/web finished']);
  });

  it('stops at once on a pod that cannot pull its image, and names the image', async () => {
    const { kube, live } = await startFakeApi([deployment(notReady)], {}, cleanups);
    const sink = new CollectingSink();
    const waiting = waitForRollout(kube, [deployment(notReady)], options(sink));
    await new Promise((r) => setTimeout(r, 100));
    live.set('Pod/shop/web-5d9f8c6b5-x2k4q', pod({ state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "localhost:5000/missing:1": not found' } } }));
    const error = await waiting.then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toContain('Deployment/shop/web: the cluster cannot pull image localhost:5000/missing:1');
    // pod events are the pod watcher's (observe), not the wait's
    expect(sink.ofType('pod')).toEqual([]);
    expect(sink.ofType('phase').at(-1)).toMatchObject({ name: 'deploy/wait/Deployment/shop/web', status: 'failed' });
  });

  it('waits on through a pull refused while the kubelet could not read the pull Secret, and stops when the Secret does not exist', async () => {
    const pulling = (): KubeObject => {
      const p = pod({ state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "localhost:5000/missing:1": ErrImagePull: failed to authorize: 401 Unauthorized' } } });
      return { ...p, spec: { ...(p.spec as object), imagePullSecrets: [{ name: 'regcred' }] } };
    };
    // The event the kubelet records when it pulls without a Secret it could not read (kubelet_pods.go).
    const event: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web-5d9f8c6b5-x2k4q.1', namespace: 'shop' },
      type: 'Warning',
      reason: 'FailedToRetrieveImagePullSecret',
      message: 'Unable to retrieve some image pull secrets (regcred); attempting to pull the image may not succeed.',
      involvedObject: { kind: 'Pod', name: 'web-5d9f8c6b5-x2k4q', namespace: 'shop', uid: 'pod-uid' },
    } as KubeObject;
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'regcred', namespace: 'shop' } };

    // The Secret exists by now: not final; the kubelet's next pull (with it) succeeds and the wait ends ready.
    const first = await startFakeApi([deployment(notReady), secret, event], {}, cleanups);
    const sink = new CollectingSink();
    const waiting = waitForRollout(first.kube, [deployment(notReady)], options(sink));
    await new Promise((r) => setTimeout(r, 100));
    first.live.set('Pod/shop/web-5d9f8c6b5-x2k4q', pulling());
    await vi.waitFor(() => expect(sink.ofType('deploy').map((e) => String(e.message))).toContainEqual(expect.stringContaining('the kubelet could not read the pull Secret regcred when it pulled')), { timeout: 10_000 });
    first.live.set('apps/Deployment/shop/web', deployment(ready));
    await waiting;
    expect(sink.ofType('deploy').filter((e) => e.status === 'ready').map((e) => e.object)).toEqual(['Deployment/shop/web']);

    // No such Secret: final at once, and the message names it.
    const second = await startFakeApi([deployment(notReady), event], {}, cleanups);
    const failing = waitForRollout(second.kube, [deployment(notReady)], options(new CollectingSink()));
    await new Promise((r) => setTimeout(r, 100));
    second.live.set('Pod/shop/web-5d9f8c6b5-x2k4q', pulling());
    const error = await failing.then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toContain('the pull Secret regcred named in its imagePullSecrets does not exist in namespace shop');
  });

  it('explains a running pod that is not ready by the probe failures since its container started, not by what happened before', async () => {
    const startedAt = '2026-12-05T04:50:23Z';
    const running = (): KubeObject => {
      const p = pod({ ready: false, state: { running: { startedAt } } });
      return { ...p, status: { ...(p.status as object), phase: 'Running' } };
    };
    const event = (name: string, reason: string, message: string, lastTimestamp: string): KubeObject =>
      ({ apiVersion: 'v1', kind: 'Event', metadata: { name, namespace: 'shop' }, type: 'Warning', reason, message, lastTimestamp, involvedObject: { kind: 'Pod', name: 'web-5d9f8c6b5-x2k4q', namespace: 'shop', uid: 'pod-uid' } }) as KubeObject;
    // the mount was retried a second before the container started: stale by the time it runs
    const mount = event('e1', 'FailedMount', 'MountVolume.SetUp failed for volume "kube-api-access-x" : failed to sync configmap cache: timed out waiting for the condition', '2026-12-05T04:50:22Z');
    const { kube, live } = await startFakeApi([deployment(notReady), mount], {}, cleanups);
    const sink = new CollectingSink();
    const waiting = waitForRollout(kube, [deployment(notReady)], options(sink));
    await new Promise((r) => setTimeout(r, 100));
    live.set('Pod/shop/web-5d9f8c6b5-x2k4q', running());
    const said = () => sink.ofType('deploy').filter((e) => e.status === 'waiting').map((e) => String(e.message));
    await vi.waitFor(() => expect(said()).toContain('pod web-5d9f8c6b5-x2k4q is running but not ready (container web)'), { timeout: 10_000 });
    expect(said().join('\n')).not.toContain('FailedMount');
    // a probe failure after the start is what explains it (the event cache is read again after 2 s)
    live.set('Event/shop/e2', event('e2', 'Unhealthy', 'Readiness probe failed: dial tcp 10.244.0.9:8080: connect: connection refused', '2026-12-05T04:50:25Z'));
    live.set('Pod/shop/web-5d9f8c6b5-x2k4q', { ...running(), metadata: { ...running().metadata, annotations: { touched: '1' } } });
    await new Promise((r) => setTimeout(r, 2100));
    live.set('Pod/shop/web-5d9f8c6b5-x2k4q', { ...running(), metadata: { ...running().metadata, annotations: { touched: '2' } } });
    await vi.waitFor(() => expect(said()).toContain('pod web-5d9f8c6b5-x2k4q is running but not ready (container web): Readiness probe failed: dial tcp 10.244.0.9:8080: connect: connection refused'), { timeout: 10_000 });
    live.set('apps/Deployment/shop/web', deployment(ready));
    await waiting;
  });

  it('reads the caller\'s pod watch and opens none of its own', async () => {
    const { kube, live } = await startFakeApi([deployment(notReady)], {}, cleanups);
    const watching = new AbortController();
    cleanups.push(() => watching.abort());
    const feed = watchPods(kube, { labelSelector: `devloop.dev/project=shop`, signal: watching.signal, onTrouble: () => undefined });
    await feed.ready;
    const watch = vi.spyOn(kube, 'watch');
    const waiting = waitForRollout(kube, [deployment(notReady)], options(new CollectingSink(), { pods: feed }));
    await new Promise((r) => setTimeout(r, 100));
    live.set('Pod/shop/web-5d9f8c6b5-x2k4q', pod({ state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "localhost:5000/missing:1": not found' } } }));
    await expect(waiting).rejects.toThrow('the cluster cannot pull image localhost:5000/missing:1');
    expect(watch.mock.calls.map(([resource]) => resource.resource)).toEqual(['deployments']);
  });

  it('reports a workload deleted while it is waited for', async () => {
    const { kube, live } = await startFakeApi([deployment(notReady)], {}, cleanups);
    const waiting = waitForRollout(kube, [deployment(notReady)], options(new CollectingSink()));
    await new Promise((r) => setTimeout(r, 100));
    live.delete('apps/Deployment/shop/web');
    await expect(waiting).rejects.toThrow('Deployment/shop/web disappeared while devloop waited for it');
  });

  it('falls back to reads every second when the watches are refused', async () => {
    const { kube, live } = await startFakeApi([deployment(notReady)], { forbidWatch: ['deployments', 'pods'] }, cleanups);
    const sink = new CollectingSink();
    const started = Date.now();
    const waiting = waitForRollout(kube, [deployment(notReady)], options(sink));
    await new Promise((r) => setTimeout(r, 100));
    live.set('apps/Deployment/shop/web', deployment(ready));
    await waiting;
    // Not the 60 s safety read: the 1 s read of a watch in trouble.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(sink.ofType('deploy').some((e) => e.status === 'ready')).toBe(true);
  });

  it('takes an object read over a watched one only when it is not older', () => {
    const at = (rv?: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', resourceVersion: rv } });
    expect(isNewer(at('12'), at('11'))).toBe(true);
    expect(isNewer(at('11'), at('12'))).toBe(false);
    expect(isNewer(at('12'), at('12'))).toBe(true);
    expect(isNewer(at('abc'), at('12'))).toBe(true);
    expect(isNewer(at('1'), undefined)).toBe(true);
    expect(isNewer(at('1'), null)).toBe(true);
  });
});

describe('settleRemainingMs', () => {
  const pod = (running: { startedAt: string } | undefined, probe: boolean, restartCount = 0) =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', uid: 'u1' },
      spec: { containers: [{ name: 'app', ...(probe ? { readinessProbe: { exec: { command: ['true'] } } } : {}) }] },
      status: { containerStatuses: [{ name: 'app', restartCount, ready: Boolean(running), state: running ? { running } : { waiting: { reason: 'CrashLoopBackOff' } } }] },
    }) as unknown as KubeObject;
  const t0 = Date.parse('2026-11-27T10:00:00Z');

  it('holds a probe-less container that just started for SETTLE_MS, counted from when the wait first saw it', () => {
    const seen = new Map<string, number>();
    expect(settleRemainingMs(pod({ startedAt: '2026-11-27T10:00:00Z' }, false), t0 + 200, seen)).toBe(SETTLE_MS);
    expect(settleRemainingMs(pod({ startedAt: '2026-11-27T10:00:00Z' }, false), t0 + 700, seen)).toBe(SETTLE_MS - 500);
    expect(settleRemainingMs(pod({ startedAt: '2026-11-27T10:00:00Z' }, false), t0 + 200 + SETTLE_MS, seen)).toBe(0);
    // a restart is a new instance: it settles again
    expect(settleRemainingMs(pod({ startedAt: '2026-11-27T10:00:03Z' }, false, 1), t0 + 3_300, seen)).toBe(SETTLE_MS);
  });

  it('does not hold a container with a readiness probe, one that is not running, or one up long before the wait', () => {
    const seen = new Map<string, number>();
    expect(settleRemainingMs(pod({ startedAt: '2026-11-27T10:00:00Z' }, true), t0 + 10, seen)).toBe(0);
    expect(settleRemainingMs(pod(undefined, false), t0 + 10, seen)).toBe(0);
    expect(settleRemainingMs(pod({ startedAt: '2026-11-27T09:59:00Z' }, false), t0, seen)).toBe(0);
  });
});

describe('deploymentReadyFromPods', () => {
  const dep = (status: Record<string, unknown>, spec: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', generation: 2 },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [{ name: 'web', image: 'r/web:new' }] } }, ...spec },
    status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 0, ...status },
  });
  const p = (name: string, o: { hash?: string; image?: string; ready?: boolean; terminating?: boolean } = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app: 'web', 'pod-template-hash': o.hash ?? 'h2' }, ...(o.terminating ? { deletionTimestamp: '2026-11-27T10:00:00Z' } : {}) },
    spec: { containers: [{ name: 'web', image: o.image ?? 'r/web:new' }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  });

  it('is ready once every new pod is Ready, before the controllers count them available', () => {
    expect(deploymentReadyFromPods(dep({}), [p('a'), p('b')])).toBe(true);
    // terminating old pods do not count
    expect(deploymentReadyFromPods(dep({}), [p('a'), p('b'), p('old', { hash: 'h1', image: 'r/web:old', terminating: true })])).toBe(true);
  });

  it('is not ready while a pod is not Ready, one is missing, an old one still runs, or the status lags', () => {
    expect(deploymentReadyFromPods(dep({}), [p('a'), p('b', { ready: false })])).toBe(false);
    expect(deploymentReadyFromPods(dep({}), [p('a')])).toBe(false);
    // an old pod not yet seen terminating, with the same image (an env-only change): two hashes
    expect(deploymentReadyFromPods(dep({}), [p('a'), p('old', { hash: 'h1' })])).toBe(false);
    // old pods seen Ready while the new ones are not seen yet: not the template's image
    expect(deploymentReadyFromPods(dep({}), [p('o1', { hash: 'h1', image: 'r/web:old' }), p('o2', { hash: 'h1', image: 'r/web:old' })])).toBe(false);
    expect(deploymentReadyFromPods(dep({ observedGeneration: 1 }), [p('a'), p('b')])).toBe(false);
    expect(deploymentReadyFromPods(dep({ replicas: 3 }), [p('a'), p('b')])).toBe(false);
    expect(deploymentReadyFromPods(dep({}, { minReadySeconds: 5 }), [p('a'), p('b')])).toBe(false);
  });
});

describe('hasExitedContainer', () => {
  const pod = (status: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status });
  it('sees a main container that exited or crash-loops, not a finished init container or a finished pod', () => {
    expect(hasExitedContainer(pod({ phase: 'Running', containerStatuses: [{ name: 'app', state: { terminated: { exitCode: 3 } } }] }))).toBe(true);
    expect(hasExitedContainer(pod({ phase: 'Running', containerStatuses: [{ name: 'app', restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 3 } } }] }))).toBe(true);
    expect(hasExitedContainer(pod({ phase: 'Running', initContainerStatuses: [{ name: 'init', state: { terminated: { exitCode: 0 } } }], containerStatuses: [{ name: 'app', state: { running: {} } }] }))).toBe(false);
    expect(hasExitedContainer(pod({ phase: 'Pending', containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ContainerCreating' } } }] }))).toBe(false);
    expect(hasExitedContainer(pod({ phase: 'Succeeded', containerStatuses: [{ name: 'app', state: { terminated: { exitCode: 0 } } }] }))).toBe(false);
  });
});
