import { describe, expect, it } from 'vitest';
import { artifactFor, imagesIn, parseImageRef, refersToArtifact, registryOf, rewriteImages } from './images.js';
import { isOwnedBy, withProjectLabels } from './labels.js';
import type { KubeObject } from '../kube/types.js';

const pod = (containers: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}) => ({ containers, ...extra });

describe('image references', () => {
  it('parses registry, path, tag and digest', () => {
    expect(parseImageRef('blog/posts')).toEqual({ registry: undefined, path: 'blog/posts', tag: undefined, digest: undefined });
    expect(parseImageRef('localhost:5000/blog/posts:1@sha256:ab')).toEqual({ registry: 'localhost:5000', path: 'blog/posts', tag: '1', digest: 'sha256:ab' });
    expect(parseImageRef('docker.io/library/nginx:1.25').registry).toBe('docker.io');
    expect(registryOf('blog/posts')).toBe('docker.io');
    expect(registryOf('localhost:5000/x:1')).toBe('localhost:5000');
  });

  it('matches an artifact with or without tag or registry, and nothing else', () => {
    for (const ref of ['blog/posts', 'blog/posts:latest', 'docker.io/blog/posts:1', 'localhost:5000/blog/posts:abc', 'blog/posts@sha256:00']) {
      expect(refersToArtifact(ref, 'blog/posts'), ref).toBe(true);
    }
    for (const ref of ['blog/posts-v2', 'other/posts', 'blog/post', 'posts']) expect(refersToArtifact(ref, 'blog/posts'), ref).toBe(false);
    expect(refersToArtifact('nginx', 'library/nginx')).toBe(true);
    // An artifact that names its registry only matches that registry.
    expect(refersToArtifact('gcr.io/p/app:1', 'gcr.io/p/app')).toBe(true);
    expect(refersToArtifact('quay.io/p/app:1', 'gcr.io/p/app')).toBe(false);
    expect(artifactFor('blog/query:dev', ['blog/posts', 'blog/query'])).toBe('blog/query');
  });

  it('rewrites containers, init and ephemeral containers of every workload kind without mutating the input', () => {
    const built = new Map([['blog/posts', 'localhost:5000/blog/posts:abc']]);
    const spec = pod([{ name: 'a', image: 'blog/posts:latest' }, { name: 'b', image: 'busybox' }], {
      initContainers: [{ name: 'i', image: 'docker.io/blog/posts:1' }],
      ephemeralContainers: [{ name: 'e', image: 'blog/posts' }],
    });
    const objects: KubeObject[] = [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: structuredClone(spec) },
      ...['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].map((kind) => ({ apiVersion: 'apps/v1', kind, metadata: { name: 'w' }, spec: { template: { spec: structuredClone(spec) } } })),
      { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: { spec: { template: { spec: structuredClone(spec) } } } } },
    ];
    for (const obj of objects) {
      const before = JSON.stringify(obj);
      const { object, replaced } = rewriteImages(obj, built);
      expect(JSON.stringify(obj), obj.kind).toBe(before);
      expect(replaced, obj.kind).toHaveLength(3);
      expect(imagesIn(object).map((i) => i.image), obj.kind).toEqual([
        'localhost:5000/blog/posts:abc',
        'busybox',
        'localhost:5000/blog/posts:abc',
        'localhost:5000/blog/posts:abc',
      ]);
    }
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { image: 'blog/posts' } };
    expect(rewriteImages(cm, built).object).toEqual(cm);
  });
});

describe('project labels', () => {
  it('labels the object and every pod template, and recognises its own objects', () => {
    const deployment: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', labels: { app: 'd' } }, spec: { template: { metadata: { labels: { app: 'd' } }, spec: {} } } };
    const cron: KubeObject = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: { spec: { template: { spec: {} } } } } };
    const d = withProjectLabels(deployment, 'blog');
    expect(d.metadata.labels).toEqual({ app: 'd', 'app.kubernetes.io/managed-by': 'devloop', 'devloop.dev/project': 'blog' });
    expect((d.spec as any).template.metadata.labels['devloop.dev/project']).toBe('blog');
    expect((withProjectLabels(cron, 'blog').spec as any).jobTemplate.spec.template.metadata.labels['app.kubernetes.io/managed-by']).toBe('devloop');
    expect(deployment.metadata.labels).toEqual({ app: 'd' });
    expect(isOwnedBy(d, 'blog')).toBe(true);
    expect(isOwnedBy(d, 'other')).toBe(false);
    expect(isOwnedBy({ metadata: { labels: { 'devloop.dev/project': 'blog' } } }, 'blog')).toBe(false);
  });
});
