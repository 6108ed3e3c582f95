import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/types.js';
import { diagnosePodStatus, podBelongsTo, podState, shortPullMessage, workloadProgress } from './rollout.js';
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

  it('summarises pod state and matches pods to workloads', () => {
    const p = pod({ phase: 'Pending', containerStatuses: [{ name: 'app', restartCount: 2, ready: false, state: { waiting: { reason: 'ErrImagePull', message: 'rpc error: code = NotFound desc = failed to pull and unpack image "x": failed to resolve reference "x": x: not found' } } }] });
    expect(podState(p)).toEqual({ phase: 'Pending', state: 'ErrImagePull', ready: 0, total: 1, restarts: 2, message: 'x: not found' });
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
