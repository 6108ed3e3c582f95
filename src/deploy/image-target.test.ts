import { describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.js';
import { CollectingSink } from '../events.js';
import { loadImages } from './image-target.js';

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
