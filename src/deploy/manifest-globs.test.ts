/**
 * One glob option set for every reader of `deploy.kubectl.manifests`: a manifest under a
 * dot-directory is rendered (expandGlobs), watched (not pruned) and planned as a redeploy alike.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadContextFilters } from '../build/live-filter.js';
import { parseConfig, type Config } from '../config/load.js';
import { planChanges } from '../plan/index.js';
import { createIgnoredPredicate, watchRoots } from '../watch/index.js';
import { expandGlobs } from './manifests.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-manifest-globs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(rel: string, content = 'x'): string {
  const p = path.join(dir, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
}

function config(manifests: string[]): Config {
  const text = `apiVersion: devloop/v1
kind: Config
metadata: { name: globs }
build:
  artifacts:
    - image: g/api
      context: api
deploy:
  kubectl: { manifests: ${JSON.stringify(manifests)} }
`;
  return parseConfig(text, write('devloop.config.yaml', text));
}

describe('manifest globs', () => {
  it.each([['infra/**/*.yaml'], ['./infra/**/*.yaml']])('%s: a manifest under a dot-directory is rendered, watched and planned alike', (glob) => {
    write('api/Dockerfile', 'FROM scratch');
    const hidden = write('infra/.k8s/app.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n');
    const plain = write('infra/k8s/b.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: b }\n');
    const c = config([glob]);

    expect(expandGlobs(dir, c.deploy.kubectl.manifests).files).toEqual([hidden, plain].sort());

    const ignored = createIgnoredPredicate(c, loadContextFilters(c));
    expect(watchRoots(c)).toContain(path.join(dir, 'infra'));
    expect(ignored(path.join(dir, 'infra/.k8s'), { isDirectory: () => true } as never)).toBe(false);
    expect(ignored(hidden, { isDirectory: () => false } as never)).toBe(false);

    const plan = planChanges([{ path: hidden, kind: 'change' }], c, { manifestFiles: new Set(), syncDisabled: new Set() });
    expect(plan.redeploy).toBe(true);
    expect(plan.decisions[0]).toMatchObject({ action: 'redeploy', reason: expect.stringContaining(`matches deploy.kubectl.manifests "${glob}"`) });
  });
});
