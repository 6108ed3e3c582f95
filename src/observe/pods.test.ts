import type { V1Pod } from '../kube/pod-state.js';
import { describe, expect, it } from 'vitest';
import { artifactOfImage, diffPod, toSnapshot } from './pods.js';

function pod(overrides: { restarts?: number; state?: 'running' | 'waiting' | 'terminated'; reason?: string; id?: string; phase?: string; deleting?: boolean; ready?: boolean } = {}): V1Pod {
  const state = overrides.state ?? 'running';
  return {
    metadata: {
      name: 'posts-abc-1',
      namespace: 'blog',
      uid: 'u1',
      labels: { app: 'posts', 'pod-template-hash': 'abc' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'posts-abc', uid: 'r', controller: true }],
      ...(overrides.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    spec: { containers: [{ name: 'posts', image: 'localhost:5000/blog/posts:1234' }] },
    status: {
      phase: overrides.phase ?? 'Running',
      containerStatuses: [
        {
          name: 'posts',
          image: 'x',
          imageID: 'x',
          ready: overrides.ready ?? state === 'running',
          restartCount: overrides.restarts ?? 0,
          containerID: overrides.id ?? 'containerd://1',
          state:
            state === 'running'
              ? { running: { startedAt: new Date('2026-01-01T00:00:00Z') } }
              : state === 'waiting'
                ? { waiting: { reason: overrides.reason ?? 'CrashLoopBackOff' } }
                : { terminated: { exitCode: 1, reason: 'Error' } },
          ...(overrides.restarts ? { lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } } : {}),
        },
      ],
    },
  } as V1Pod;
}

describe('toSnapshot', () => {
  it('names the owning deployment, ready count and state', () => {
    const s = toSnapshot(pod());
    expect(s).toMatchObject({ owner: 'deployment/posts', state: 'Running', ready: 1, total: 1, restarts: 0 });
  });
  it('carries the creation time as the API sends it (a string), and none when unset', () => {
    const created = { ...pod(), metadata: { ...pod().metadata, creationTimestamp: '2026-11-27T18:00:05Z' as unknown as Date } } as V1Pod;
    expect(toSnapshot(created).createdMs).toBe(Date.parse('2026-11-27T18:00:05Z'));
    expect(toSnapshot(pod())).not.toHaveProperty('createdMs');
  });
  it('reports CrashLoopBackOff, ContainerCreating and Terminating', () => {
    expect(toSnapshot(pod({ state: 'waiting', reason: 'CrashLoopBackOff', restarts: 2 })).state).toBe('CrashLoopBackOff');
    expect(toSnapshot(pod({ state: 'waiting', reason: 'ContainerCreating', phase: 'Pending' })).state).toBe('ContainerCreating');
    expect(toSnapshot(pod({ deleting: true })).state).toBe('Terminating');
  });
});

describe('diffPod', () => {
  it('reports a new running container as started', () => {
    expect(diffPod(undefined, toSnapshot(pod())).map((t) => t.kind)).toEqual(['started']);
  });
  it('reports nothing for a pod that did not change', () => {
    expect(diffPod(toSnapshot(pod()), toSnapshot(pod()))).toEqual([]);
  });
  it('reports a restart with the previous exit code and reason', () => {
    const [t] = diffPod(toSnapshot(pod()), toSnapshot(pod({ restarts: 1, id: 'containerd://2' })));
    expect(t).toMatchObject({ kind: 'restarted', exitCode: 137, reason: 'OOMKilled' });
  });
  it('reports a container that became running after waiting', () => {
    const before = toSnapshot(pod({ state: 'waiting', reason: 'ContainerCreating', phase: 'Pending', id: '' }));
    expect(diffPod(before, toSnapshot(pod())).map((t) => t.kind)).toEqual(['started']);
  });
});

describe('artifactOfImage', () => {
  const images = ['blog/posts', 'blog/post'];
  it('strips registry and tag', () => {
    expect(artifactOfImage('localhost:5000/blog/posts:abc', images)).toBe('blog/posts');
    expect(artifactOfImage('blog/post:1', images)).toBe('blog/post');
    expect(artifactOfImage('localhost:5000/blog/query:1', images)).toBeUndefined();
  });
});
