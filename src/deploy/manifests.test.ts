import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../config/load.js';
import { readManifests } from './manifests.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function configFor(rootDir: string, deploy: Partial<Config['deploy']>): Config {
  return {
    file: path.join(rootDir, 'devloop.config.yaml'),
    rootDir,
    name: 'shop',
    profiles: [],
    build: { tagPolicy: 'inputDigest', concurrency: 1, push: 'auto', artifacts: [] },
    deploy: { statusCheckDeadlineSeconds: 60, kubectl: { manifests: [] }, kustomize: { paths: [] }, helm: { releases: [] }, ...deploy },
    portForward: [],
    watch: { ignore: [], debounceMs: 50 },
  } as Config;
}

describe('helm releases', () => {
  it('runs helm template with the release name, chart, namespace, values files and --set, and puts objects in the release namespace', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'devloop-helm-'));
    dirs.push(root);
    const bin = path.join(root, 'bin');
    mkdirSync(bin);
    // A stand-in for helm that echoes its arguments into the rendered object.
    writeFileSync(
      path.join(bin, 'helm'),
      '#!/bin/sh\nprintf "apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: args\\ndata:\\n  args: \\"%s\\"\\n" "$*"\nprintf -- "---\\napiVersion: v1\\nkind: Service\\nmetadata:\\n  name: web\\n  namespace: explicit\\n"\n',
    );
    chmodSync(path.join(bin, 'helm'), 0o755);
    const config = configFor(root, { namespace: 'shop', helm: { releases: [{ name: 'web', chart: 'charts/web', valuesFiles: ['values-dev.yaml'], setValues: { 'image.tag': 'dev' } }] } });
    const previous = process.env.PATH;
    process.env.PATH = `${bin}${path.delimiter}${previous}`;
    try {
      const { objects } = await readManifests(config, new AbortController().signal);
      const args = (objects[0].object.data as { args: string }).args;
      expect(args).toBe(`template web ${path.join(root, 'charts/web')} --namespace shop --values ${path.join(root, 'values-dev.yaml')} --set image.tag=dev`);
      expect(objects[0].object.metadata.namespace).toBe('shop');
      expect(objects[1].object.metadata.namespace).toBe('explicit');
      expect(objects[0].source).toMatchObject({ file: 'helm:web', document: 1 });
    } finally {
      process.env.PATH = previous;
    }
  });
});

describe('a missing helm', () => {
  it('is an environment error naming how to install helm, or DEVLOOP_HELM', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'devloop-helm-'));
    dirs.push(root);
    const config = configFor(root, { helm: { releases: [{ name: 'web', chart: 'chart', valuesFiles: [], setValues: {} }] } });
    const previous = process.env.DEVLOOP_HELM;
    process.env.DEVLOOP_HELM = path.join(root, 'no-such-helm');
    try {
      const error = await readManifests(config, new AbortController().signal).then(
        () => undefined,
        (e: unknown) => e as { kind: string; message: string; hint?: string },
      );
      expect(error?.kind).toBe('environment');
      expect(error?.message).toBe(`deploy.helm.releases (Skaffold: manifests.helm.releases) needs helm, and "${path.join(root, 'no-such-helm')}" is not on PATH`);
      expect(error?.hint).toMatch(/Install helm 3 .*go install helm\.sh\/helm\/v3\/cmd\/helm@latest.*DEVLOOP_HELM/);
    } finally {
      if (previous === undefined) delete process.env.DEVLOOP_HELM;
      else process.env.DEVLOOP_HELM = previous;
    }
  });
});
