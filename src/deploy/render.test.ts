import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { expandGlobs, parseManifests } from './manifests.js';
import { offlineScope, renderObjects, toYaml } from './render.js';
import { applyPhases } from './deployer.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('reading manifests', () => {
  it('splits multi-document files and expands kind: List, with document and line', () => {
    const text = ['apiVersion: v1', 'kind: ConfigMap', 'metadata: { name: a }', '---', '---', 'apiVersion: v1', 'kind: List', 'items:', '  - apiVersion: v1', '    kind: Secret', '    metadata: { name: b }', '  - apiVersion: v1', '    kind: Service', '    metadata: { name: c }', ''].join('\n');
    const objects = parseManifests(text, '/x/m.yaml');
    expect(objects.map((o) => `${o.object.kind}/${o.object.metadata.name}@${o.source.document}:${o.source.line}`)).toEqual(['ConfigMap/a@1:1', 'Secret/b@3:9', 'Service/c@3:12']);
  });

  it('locates invalid YAML and non-objects by file, document and line', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ok }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  labels: { a: b\n';
    let error: ConfigError | undefined;
    try {
      parseManifests(text, '/x/bad.yaml');
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems[0]).toMatchObject({ file: '/x/bad.yaml', path: 'document 2' });
    expect(error!.problems[0].line).toBeGreaterThanOrEqual(9);
    expect(error!.details[0]).toMatch(/^\/x\/bad\.yaml:\d+:\d+: document 2: invalid YAML/);

    expect(() => parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n', '/x/n.yaml')).toThrow(ConfigError);
    expect(() => parseManifests('kind: ConfigMap\nmetadata: { name: a }\n', '/x/n.yaml')).toThrow(
      expect.objectContaining({ details: ['/x/n.yaml:1:1: document 1: missing apiVersion'] }),
    );
  });

  it('expands globs under the root, sorted, skipping node_modules, and reports globs matching nothing', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'devloop-globs-'));
    dirs.push(root);
    mkdirSync(path.join(root, 'k8s/sub'), { recursive: true });
    mkdirSync(path.join(root, 'k8s/node_modules'), { recursive: true });
    for (const f of ['k8s/b.yaml', 'k8s/a.yml', 'k8s/sub/c.yaml', 'k8s/node_modules/x.yaml', 'k8s/readme.md']) writeFileSync(path.join(root, f), 'x: 1\n');
    const { files, unmatched } = expandGlobs(root, ['k8s/*.{yaml,yml}', './k8s/**/*.yaml', 'missing/*.yaml']);
    expect(files.map((f) => path.relative(root, f))).toEqual(['k8s/a.yml', 'k8s/b.yaml', 'k8s/sub/c.yaml']);
    expect(unmatched).toEqual(['missing/*.yaml']);
  });
});

describe('rendering', () => {
  const source = { file: '/x/m.yaml', document: 1, line: 1 };
  it('sets the namespace on namespaced kinds only, labels everything, rewrites images, orders namespaces and CRDs first', async () => {
    const objects = [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { template: { spec: { containers: [{ name: 'w', image: 'shop/web' }] } } } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'r' } },
      { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'widgets.example.com' }, spec: { group: 'example.com', scope: 'Cluster', names: { kind: 'Widget' } } },
      { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1', namespace: 'oops' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'elsewhere' } },
    ].map((object) => ({ object, source }));
    const rendered = await renderObjects(objects, { project: 'shop', namespace: 'shop', images: new Map([['shop/web', 'localhost:5000/shop/web:1']]), isNamespaced: offlineScope });
    const byKind = Object.fromEntries(rendered.map((r) => [r.object.kind, r.object]));
    expect(byKind.Deployment.metadata.namespace).toBe('shop');
    expect(byKind.ConfigMap.metadata.namespace).toBe('elsewhere');
    expect(byKind.ClusterRole.metadata.namespace).toBeUndefined();
    expect(byKind.Namespace.metadata.namespace).toBeUndefined();
    expect(byKind.Widget.metadata.namespace).toBeUndefined(); // cluster-scoped per its CRD in the same manifests
    expect((byKind.Deployment.spec as any).template.spec.containers[0].image).toBe('localhost:5000/shop/web:1');
    expect(rendered.every((r) => r.object.metadata.labels?.['devloop.dev/project'] === 'shop')).toBe(true);
    expect(applyPhases(rendered).map((p) => p.map((r) => r.object.kind))).toEqual([['Namespace'], ['CustomResourceDefinition'], ['Deployment', 'ClusterRole', 'Widget', 'ConfigMap']]);
    expect(toYaml(rendered).split('---\n')).toHaveLength(6);
  });

  it('rejects the same object defined twice, naming both places', async () => {
    const a = { object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, source: { file: '/x/a.yaml', document: 1, line: 1 } };
    const b = { object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns' } }, source: { file: '/x/b.yaml', document: 2, line: 7 } };
    const rendering = renderObjects([a, b], { project: 'p', namespace: 'ns', images: new Map(), isNamespaced: offlineScope });
    await expect(rendering).rejects.toThrow(ConfigError);
    await expect(rendering).rejects.toMatchObject({
      details: [expect.stringMatching(/\/x\/b\.yaml:7:1.*also at \/x\/a\.yaml:1/s)],
    });
  });
});
