/**
 * A namespace devloop created is never deleted while it holds an object devloop did not apply
 * (issue 8, tracker): `devloop down`, Ctrl-C in `devloop dev`, and the prune of a Namespace whose
 * manifest went away each delete devloop's own objects, keep the namespace with the foreign object
 * and its data, and name it; once it is gone, the namespace is deleted. Real cluster, real engine,
 * private copies of fixtures/blog.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevSession } from './dev-session.js';
import { kubectl, requireCluster, requireDocker, runDevloop } from './helpers.js';
import { renameNamespace, uniqueCopy } from './deploy-helpers.js';

const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

function journal(dir: string): Array<{ kind: string; name: string }> {
  const inv = path.join(dir, '.devloop', 'inventory');
  const files = existsSync(inv) ? readdirSync(inv).filter((f) => f.endsWith('.json')) : [];
  return files.flatMap((f) => (JSON.parse(readFileSync(path.join(inv, f), 'utf8')) as { objects: Array<{ kind: string; name: string }> }).objects);
}

function createNotes(namespace: string): void {
  kubectl(['create', 'configmap', 'user-notes', '-n', namespace, '--from-literal=keep=me']);
}

function notes(namespace: string): string {
  return kubectl(['get', 'configmap', 'user-notes', '-n', namespace, '-o', 'jsonpath={.data.keep}']);
}

/** `active`, `terminating`, or `absent`. */
function namespaceState(namespace: string): string {
  const out = kubectl(['get', 'namespace', namespace, '--ignore-not-found', '-o', 'jsonpath={.status.phase}']).trim();
  return out === '' ? 'absent' : out.toLowerCase();
}

/** devloop's workloads and services still in `namespace` (labelled for `project`). */
function devloopObjects(namespace: string, project: string): string[] {
  return kubectl(['get', 'deployments,services,configmaps', '-n', namespace, '-l', `devloop.dev/project=${project}`, '-o', 'name']).split('\n').filter(Boolean);
}

function deleteNamespace(namespace: string): void {
  try {
    kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false'], 30_000);
  } catch {
    /* best effort */
  }
}

describe('a namespace devloop created keeps objects devloop did not apply', () => {
  beforeAll(() => {
    requireDocker();
    requireCluster();
  });

  it('down deletes devloop\'s objects, keeps the namespace with the foreign ConfigMap and names it; once it is removed, down deletes the namespace', async () => {
    const name = `dl-nsg-down-${runId}`;
    const { dir, cleanup } = uniqueCopy('blog', { project: 'blog', namespace: 'blog' }, name);
    try {
      const deployed = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 280_000 });
      expect(deployed.exitCode, deployed.stdout + deployed.stderr).toBe(0);
      createNotes(name);

      const result = await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(`teardown: deleted Deployment/${name}/posts`);
      expect(result.stdout).toContain(`teardown: kept Namespace/${name} because it holds ConfigMap/user-notes, which devloop did not apply`);
      expect(result.stdout).toContain(`kubectl delete namespace ${name}`);
      expect(result.stdout).toMatch(/teardown: done \(0 remaining\) deleted 8 objects; kept Namespace\/\S+ \(see above\)/);
      expect(result.stdout).not.toContain(`teardown: deleted Namespace/${name}`);
      expect(notes(name)).toBe('me');
      expect(namespaceState(name)).toBe('active');
      expect(devloopObjects(name, name)).toEqual([]);
      expect(journal(dir)).toEqual([expect.objectContaining({ kind: 'Namespace', name })]);

      kubectl(['delete', 'configmap', 'user-notes', '-n', name]);
      const again = await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
      expect(again.exitCode, again.stdout + again.stderr).toBe(0);
      expect(again.stdout).toContain(`teardown: deleted Namespace/${name}`);
      expect(again.stdout).not.toContain('teardown: kept');
      expect(namespaceState(name)).toBe('absent');
      expect(journal(dir)).toEqual([]);
      expect(kubectl(['get', 'secret', `devloop-inventory-${name}`, '-n', 'default', '--ignore-not-found', '-o', 'name']).trim()).toBe('');
    } finally {
      await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
      deleteNamespace(name);
      cleanup();
    }
  });

  it('prune of a Namespace no longer rendered keeps it while it holds a foreign ConfigMap, and deletes it on a later deploy once it does not', async () => {
    const name = `dl-nsg-prune-${runId}`;
    const moved = `${name}-b`;
    const { dir, cleanup } = uniqueCopy('blog', { project: 'blog', namespace: 'blog' }, name);
    try {
      const first = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 280_000 });
      expect(first.exitCode, first.stdout + first.stderr).toBe(0);
      createNotes(name);

      // The project moves to another namespace: everything in the old one, and the old Namespace, is stale.
      renameNamespace(dir, name, moved);
      const result = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 280_000 });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(`prune: deleted Deployment/${name}/posts`);
      expect(result.stdout).toContain(`prune: kept Namespace/${name} because it holds ConfigMap/user-notes, which devloop did not apply`);
      expect(result.stdout).not.toContain(`prune: deleted Namespace/${name}`);
      expect(notes(name)).toBe('me');
      expect(namespaceState(name)).toBe('active');
      expect(devloopObjects(name, name)).toEqual([]);
      expect(devloopObjects(moved, name).length).toBeGreaterThan(0);
      expect(journal(dir).filter((r) => r.kind === 'Namespace').map((r) => r.name).sort()).toEqual([name, moved]);

      kubectl(['delete', 'configmap', 'user-notes', '-n', name]);
      const again = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 280_000 });
      expect(again.exitCode, again.stdout + again.stderr).toBe(0);
      expect(again.stdout).toContain(`prune: deleted Namespace/${name}`);
      expect(journal(dir).filter((r) => r.kind === 'Namespace').map((r) => r.name)).toEqual([moved]);
      expect(['terminating', 'absent']).toContain(namespaceState(name));
    } finally {
      await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
      deleteNamespace(name);
      deleteNamespace(moved);
      cleanup();
    }
  });

  describe('Ctrl-C in devloop dev --output json', () => {
    let session: DevSession;

    beforeAll(async () => {
      session = DevSession.start();
      await session.waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 280_000, 0, 'the loop to be ready');
    });

    afterAll(async () => {
      await session?.dispose();
      if (session) deleteNamespace(session.project);
    });

    it('deletes devloop\'s objects, keeps the namespace with the foreign ConfigMap, names it, and exits 0', async () => {
      const ns = session.project;
      createNotes(ns);
      const from = session.events.length;
      const code = await session.interrupt(240_000);
      expect(code, session.describe()).toBe(0);
      const teardown = session.ofType('teardown', from);
      const kept = teardown.find((e) => e.status === 'kept');
      expect(kept, session.describe()).toMatchObject({ object: `Namespace/${ns}`, heldBy: [`ConfigMap/${ns}/user-notes`] });
      expect(String(kept!.message)).toContain(`kubectl delete namespace ${ns}`);
      expect(teardown.some((e) => e.status === 'deleted' && e.object === `Deployment/${ns}/posts`)).toBe(true);
      expect(teardown.at(-1)).toMatchObject({ status: 'done' });
      expect(notes(ns)).toBe('me');
      expect(namespaceState(ns)).toBe('active');
      expect(devloopObjects(ns, ns)).toEqual([]);
    });
  });
});
