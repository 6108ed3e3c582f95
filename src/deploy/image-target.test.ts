import { describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.js';
import { CollectingSink } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import { detectImageTarget, loadImages, shouldPush } from './image-target.js';

describe('loading images into kind / minikube / k3d', () => {
  it('says which CLI is missing and what to do instead', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      for (const target of [{ kind: 'kind', cluster: 'dev', local: true }, { kind: 'minikube', cluster: 'minikube', local: true }, { kind: 'k3d', cluster: 'dev', local: true }] as const) {
        const error = await loadImages(target, ['blog/posts:1'], new AbortController().signal, new CollectingSink()).then(() => undefined, (e: unknown) => e);
        expect(error, target.kind).toBeInstanceOf(EnvironmentError);
        expect((error as Error).message).toContain(`is not on PATH`);
        expect((error as EnvironmentError).hint).toContain('local-registry-hosting');
      }
    } finally {
      process.env.PATH = path;
    }
  });

  it('does nothing for registries, Docker Desktop and remote clusters', async () => {
    const sink = new CollectingSink();
    await loadImages({ kind: 'daemon', local: true }, ['x:1'], new AbortController().signal, sink);
    await loadImages({ kind: 'registry', registry: 'localhost:5000', local: true }, ['x:1'], new AbortController().signal, sink);
    expect(sink.events).toEqual([]);
  });
});

describe('detectImageTarget', () => {
  /** A client whose cluster announces localhost:5000 (KEP-1755), counting the reads of the ConfigMap. */
  const announcing = () => {
    const reads: string[] = [];
    const kube = {
      context: 'devloop-local',
      get: async (key: { namespace?: string; name: string }) => {
        reads.push(`${key.namespace}/${key.name}`);
        return { data: { 'localRegistryHosting.v1': 'host: "localhost:5000"\n' } };
      },
    } as unknown as KubeClient;
    return { kube, reads };
  };
  const signal = new AbortController().signal;

  it('takes a default repo over the announced registry, without reading the ConfigMap, and says so', async () => {
    const { kube, reads } = announcing();
    const sink = new CollectingSink();
    const target = await detectImageTarget(kube, signal, { repo: '192.0.2.2:5443', source: '--default-repo' }, sink);
    expect(target).toEqual({ kind: 'default-repo', repo: '192.0.2.2:5443', source: '--default-repo', local: false });
    expect(reads).toEqual([]);
    expect(sink.events).toContainEqual(expect.objectContaining({ type: 'message', level: 'info', text: expect.stringMatching(/192\.0\.2\.2:5443 \(default repo from --default-repo\); .*local-registry-hosting announcement is not read/) }));
    expect(shouldPush({ build: { push: 'auto' } } as never, target, false)).toBe(true);
  });

  it('uses the announced registry without a default repo, or when its source is empty, and says so with -v', async () => {
    for (const defaultRepo of [undefined, { repo: '', source: 'SKAFFOLD_DEFAULT_REPO' as const }]) {
      const { kube, reads } = announcing();
      const sink = new CollectingSink();
      expect(await detectImageTarget(kube, signal, defaultRepo, sink)).toEqual({ kind: 'registry', registry: 'localhost:5000', local: true });
      expect(reads).toEqual(['kube-public/local-registry-hosting']);
      expect(sink.events).toContainEqual(expect.objectContaining({ level: 'debug', text: expect.stringContaining('announced by the cluster\'s local-registry-hosting ConfigMap') }));
    }
  });
});
