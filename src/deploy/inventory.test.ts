import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InventoryStore, listJournals, mergeRefs } from './inventory.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('inventory journal', () => {
  it('writes atomically under .devloop (git-ignored), keyed by context and project, and clears', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'devloop-inv-'));
    dirs.push(root);
    const store = new InventoryStore(root, 'kind-dev/x', 'blog', 'https://127.0.0.1:6443');
    expect(store.objects()).toEqual([]);
    store.write([{ group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'blog', name: 'posts' }]);
    expect(path.basename(store.file)).toBe('kind-dev_x__blog.json');
    expect(readFileSync(path.join(root, '.devloop/.gitignore'), 'utf8')).toContain('*');
    expect(store.objects()).toHaveLength(1);
    expect(listJournals(root).map((r) => [r.project, r.context])).toEqual([['blog', 'kind-dev/x']]);
    new InventoryStore(root, 'kind-dev/x', 'other').write([]);
    expect(listJournals(root)).toHaveLength(2);
    store.clear();
    expect(existsSync(store.file)).toBe(false);
    store.clear(); // twice is harmless
  });

  it('merges by identity regardless of version, keeping known UIDs', () => {
    const merged = mergeRefs(
      [{ group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'a', name: 'x', uid: 'u1' }, { group: '', version: 'v1', kind: 'Namespace', name: 'a' }],
      [{ group: 'apps', version: 'v1beta1', kind: 'Deployment', namespace: 'a', name: 'x' }, { group: '', version: 'v1', kind: 'Namespace', name: 'a', uid: 'n1' }],
    );
    expect(merged).toEqual([
      { group: 'apps', version: 'v1beta1', kind: 'Deployment', namespace: 'a', name: 'x', uid: 'u1' },
      { group: '', version: 'v1', kind: 'Namespace', name: 'a', uid: 'n1' },
    ]);
  });
});
