import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectingSink } from '../events.js';
import { InventoryStore, readClusterInventory } from '../deploy/inventory.js';
import { startFakeApi, type FakeApiOptions } from '../kube/fake-api-server.js';
import type { KubeObject } from '../kube/types.js';
import type { ObjectRef } from '../deploy/types.js';
import { down } from './index.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const ours = { 'devloop.dev/project': 'p', 'app.kubernetes.io/managed-by': 'devloop' };
const signal = () => new AbortController().signal;

function obj(apiVersion: string, kind: string, namespace: string | undefined, name: string, uid: string, extra: { labels?: Record<string, string>; owner?: string; data?: Record<string, string> } = {}): KubeObject {
  return {
    apiVersion,
    kind,
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      uid,
      ...(extra.labels ? { labels: extra.labels } : {}),
      ...(extra.owner ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Owner', name: 'owner', uid: extra.owner, controller: true }] } : {}),
    },
    ...(extra.data ? { data: extra.data } : {}),
  };
}

function tempRoot(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'devloop-down-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/**
 * Namespace `blog` as `devloop deploy` leaves it: devloop's Deployment, Service and ConfigMap, what
 * their controllers made (ReplicaSet, Pod, Endpoints, EndpointSlice, events), and what the control
 * plane puts in every namespace. `extra` are added to it (a person's objects).
 */
function blog(extra: KubeObject[] = []): { objects: KubeObject[]; journal: ObjectRef[] } {
  const objects = [
    obj('v1', 'Namespace', undefined, 'blog', 'ns-uid', { labels: ours }),
    obj('apps/v1', 'Deployment', 'blog', 'web', 'deploy-uid', { labels: ours }),
    obj('apps/v1', 'ReplicaSet', 'blog', 'web-5d8f', 'rs-uid', { owner: 'deploy-uid' }),
    obj('v1', 'Pod', 'blog', 'web-5d8f-x2k', 'pod-uid', { owner: 'rs-uid' }),
    obj('v1', 'Service', 'blog', 'web', 'svc-uid', { labels: ours }),
    obj('v1', 'Endpoints', 'blog', 'web', 'ep-uid'),
    obj('discovery.k8s.io/v1', 'EndpointSlice', 'blog', 'web-abcde', 'eps-uid', { owner: 'svc-uid' }),
    obj('v1', 'ConfigMap', 'blog', 'settings', 'settings-uid', { labels: ours }),
    obj('v1', 'ConfigMap', 'blog', 'kube-root-ca.crt', 'ca-uid'),
    obj('v1', 'ServiceAccount', 'blog', 'default', 'sa-uid'),
    obj('v1', 'Event', 'blog', 'web-5d8f-x2k.1', 'ev1-uid'),
    obj('events.k8s.io/v1', 'Event', 'blog', 'web-5d8f-x2k.2', 'ev2-uid'),
    ...extra,
  ];
  const journal: ObjectRef[] = [
    { group: '', version: 'v1', kind: 'Namespace', name: 'blog', uid: 'ns-uid' },
    { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'blog', name: 'web', uid: 'deploy-uid' },
    { group: '', version: 'v1', kind: 'Service', namespace: 'blog', name: 'web', uid: 'svc-uid' },
    { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'blog', name: 'settings', uid: 'settings-uid' },
  ];
  return { objects, journal };
}

async function setup(objects: KubeObject[], journal: ObjectRef[], options: FakeApiOptions = {}) {
  const root = tempRoot();
  const fake = await startFakeApi(objects, options, cleanups);
  const store = new InventoryStore(root, 'fake', 'p');
  store.write(journal);
  return { ...fake, root, store };
}

describe('down', () => {
  it('deletes only what is labelled for the project (UID-checked), namespaces last, then clears the journal', async () => {
    const root = tempRoot();
    const { kube, live, deletes } = await startFakeApi(
      [
        obj('v1', 'Namespace', undefined, 'ns1', 'n1', { labels: ours }),
        obj('v1', 'ConfigMap', 'ns1', 'a', 'a1', { labels: ours }),
        obj('v1', 'ConfigMap', 'ns1', 'scanned', 's1', { labels: ours }),
        obj('v1', 'ConfigMap', 'ns1', 'owned', 'o1', { labels: ours, owner: 's1' }),
        obj('v1', 'Namespace', undefined, 'shared', 'n2'),
        obj('v1', 'ConfigMap', 'shared', 'b', 'b-new', { labels: ours }),
        obj('v1', 'ConfigMap', 'shared', 'c', 'c1'),
      ],
      {},
      cleanups,
    );
    const store = new InventoryStore(root, 'fake', 'p');
    store.write([
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'ns1', name: 'a', uid: 'a1' },
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'shared', name: 'b', uid: 'b-old' },
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'shared', name: 'c' },
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'ns1', name: 'gone' },
      { group: '', version: 'v1', kind: 'Namespace', name: 'ns1', uid: 'n1' },
    ]);

    const dry = new CollectingSink();
    const planned = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, dryRun: true, signal: signal(), sink: dry });
    expect(planned.deleted.map((r) => r.name)).toEqual(['a', 'scanned', 'ns1']);
    expect(deletes).toEqual([]);

    const sink = new CollectingSink();
    const result = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink });
    expect(deletes.at(-1)).toBe('Namespace//ns1');
    expect(deletes.slice(0, 2).sort()).toEqual(['ConfigMap/ns1/a', 'ConfigMap/ns1/scanned']);
    expect(result.skipped.map((s) => `${s.ref.name}: ${s.reason}`)).toEqual([
      'b: recreated since devloop recorded it (UID differs): left alone',
      'c: not created by devloop for project p (it belongs to someone else (it has no devloop labels)): left alone',
    ]);
    // ns1 went with its contents (the owned ConfigMap too); the other namespace is untouched.
    expect([...live.keys()].sort()).toEqual(['ConfigMap/shared/b', 'ConfigMap/shared/c', 'Namespace//default', 'Namespace//shared']);
    expect(store.read()).toBeUndefined();
    expect(sink.ofType('teardown').at(-1)).toMatchObject({ status: 'done', message: 'deleted 3 objects, left 2 alone' });
  });

  it('keeps a namespace that holds a ConfigMap devloop did not apply, records it, and deletes it on a later run once it is empty', async () => {
    const notes = obj('v1', 'ConfigMap', 'blog', 'user-notes', 'notes-uid', { data: { keep: 'me' } });
    const { objects, journal } = blog([notes]);
    const { kube, live, deletes, store, root, collectGarbage } = await setup(objects, journal);

    const dry = new CollectingSink();
    const planned = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, dryRun: true, signal: signal(), sink: dry });
    expect(planned.deleted.map((r) => `${r.kind}/${r.name}`).sort()).toEqual(['ConfigMap/settings', 'Deployment/web', 'Service/web']);
    expect(dry.ofType('teardown').find((e) => e.status === 'kept')).toMatchObject({ object: 'Namespace/blog', heldBy: ['ConfigMap/blog/user-notes'] });
    expect(deletes).toEqual([]);

    const sink = new CollectingSink();
    const result = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink });
    expect([...deletes].sort()).toEqual(['ConfigMap/blog/settings', 'Service/blog/web', 'apps/Deployment/blog/web']);
    expect(live.get('ConfigMap/blog/user-notes')?.data).toEqual({ keep: 'me' });
    expect(live.has('Namespace//blog')).toBe(true);
    expect(result.kept).toEqual([{ ref: expect.objectContaining({ kind: 'Namespace', name: 'blog' }), heldBy: ['ConfigMap/blog/user-notes'], unlisted: [] }]);
    const kept = sink.ofType('teardown').find((e) => e.status === 'kept')!;
    expect(kept.object).toBe('Namespace/blog');
    expect(kept.message).toContain('it holds ConfigMap/user-notes, which devloop did not apply');
    expect(kept.message).toContain('kubectl get -n blog configmaps/user-notes');
    expect(kept.message).toContain('kubectl delete namespace blog');
    expect(sink.ofType('teardown').at(-1)).toMatchObject({ status: 'done', message: 'deleted 3 objects; kept Namespace/blog (see above)' });
    // Only the kept namespace remains recorded, in the journal and in the cluster.
    expect(store.objects()).toEqual([{ group: '', version: 'v1', kind: 'Namespace', name: 'blog', uid: 'ns-uid' }]);
    expect((await readClusterInventory(kube, 'p')).objects).toEqual([{ group: '', version: 'v1', kind: 'Namespace', name: 'blog', uid: 'ns-uid' }]);

    // The person removes their ConfigMap; the controllers have removed the Deployment's pods and the Service's endpoints.
    live.delete('ConfigMap/blog/user-notes');
    collectGarbage();
    const again = new CollectingSink();
    await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink: again });
    expect(deletes.slice(-2)).toEqual(['Namespace//blog', 'Secret/default/devloop-inventory-p']);
    expect([...live.keys()].filter((k) => k.includes('/blog/') || k.endsWith('//blog'))).toEqual([]);
    expect(again.ofType('teardown').some((e) => e.status === 'kept')).toBe(false);
    expect(again.ofType('teardown').at(-1)).toMatchObject({ status: 'done', message: 'deleted 1 object' });
    expect(store.read()).toBeUndefined();
    expect((await readClusterInventory(kube, 'p')).objects).toEqual([]);

    const third = new CollectingSink();
    await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink: third });
    expect(third.ofType('teardown').at(-1)).toMatchObject({ status: 'done', message: 'nothing to delete' });
  });

  it('deletes a namespace holding only what Kubernetes and devloop put there, and the namespace takes those with it', async () => {
    const { objects, journal } = blog();
    const { kube, live, deletes, store, root } = await setup(objects, journal);
    const sink = new CollectingSink();
    const result = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink });
    expect(result.kept).toEqual([]);
    expect(deletes.at(-1)).toBe('Namespace//blog');
    expect(sink.ofType('teardown').filter((e) => e.status === 'deleted').map((e) => e.object)).toContain('Namespace/blog');
    // No garbage collector ran: the ReplicaSet, Pod, Endpoints... went with the namespace.
    expect([...live.keys()]).toEqual(['Namespace//default']);
    expect(store.read()).toBeUndefined();
  });

  it('waits for the garbage collector to remove orphans of an owner deleted a moment ago instead of counting them', async () => {
    // A Pod whose ReplicaSet was deleted by its (now gone) Deployment: the collector removes it shortly.
    const { objects, journal } = blog([obj('v1', 'Pod', 'blog', 'web-old-q1', 'old-pod-uid', { owner: 'old-rs-uid' })]);
    const { kube, live, deletes, root } = await setup(objects, journal, { gcDelayMs: 800 });
    const result = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink: new CollectingSink() });
    expect(result.kept).toEqual([]);
    expect(deletes.at(-1)).toBe('Namespace//blog');
    expect([...live.keys()]).toEqual(['Namespace//default']);
  });

  it('names only what stays when a foreign object keeps the namespace while the collector is still removing orphans', async () => {
    // Seen on the real cluster: the ReplicaSet is gone, its pods not yet marked for deletion.
    const notes = obj('v1', 'ConfigMap', 'blog', 'user-notes', 'notes-uid', { data: { keep: 'me' } });
    const { objects, journal } = blog([notes, obj('v1', 'Pod', 'blog', 'web-old-q1', 'old-pod-uid', { owner: 'old-rs-uid' })]);
    const { kube, live, root } = await setup(objects, journal, { gcDelayMs: 800 });
    const sink = new CollectingSink();
    const result = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink });
    expect(result.kept[0]?.heldBy).toEqual(['ConfigMap/blog/user-notes']);
    expect(live.has('Pod/blog/web-old-q1')).toBe(false);
    expect(sink.ofType('teardown').find((e) => e.status === 'kept')?.message).toMatch(/^because it holds ConfigMap\/user-notes, which devloop did not apply/);
  });

  it('keeps the namespace when a type in it may not be listed, and says which', async () => {
    const { objects, journal } = blog();
    const { kube, live, deletes, root } = await setup(objects, journal, { forbidList: ['secrets'] });
    const sink = new CollectingSink();
    const result = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink });
    expect(result.kept).toEqual([{ ref: expect.objectContaining({ name: 'blog' }), heldBy: [], unlisted: ['secrets'] }]);
    expect(deletes).not.toContain('Namespace//blog');
    expect(live.has('Namespace//blog')).toBe(true);
    expect(sink.ofType('teardown').find((e) => e.status === 'kept')?.message).toContain('user me may not list secrets in it, so devloop cannot tell whether it holds objects devloop did not apply');
  });

  it('keeps the namespace when an object devloop left alone (recreated by someone else) is in it', async () => {
    const { objects, journal } = blog();
    const recreated = objects.find((o) => o.metadata.name === 'settings')!;
    recreated.metadata.uid = 'someone-elses-uid';
    const { kube, live, root } = await setup(objects, journal);
    const sink = new CollectingSink();
    const result = await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink });
    expect(result.skipped.map((s) => s.ref.name)).toEqual(['settings']);
    expect(result.kept[0]?.heldBy).toEqual(['ConfigMap/blog/settings']);
    expect(live.get('ConfigMap/blog/settings')?.metadata.uid).toBe('someone-elses-uid');
  });

  it('names five holders, then "and N more"', async () => {
    const extra = Array.from({ length: 7 }, (_, i) => obj('v1', 'Secret', 'blog', `s${i}`, `s${i}-uid`));
    const { objects, journal } = blog(extra);
    const { kube, root } = await setup(objects, journal);
    const sink = new CollectingSink();
    await down(kube, { project: 'p', rootDir: root, deadlineSeconds: 120, signal: signal(), sink });
    const kept = sink.ofType('teardown').find((e) => e.status === 'kept')!;
    expect(kept.heldBy).toHaveLength(7);
    expect(kept.message).toContain('it holds Secret/s0, Secret/s1, Secret/s2, Secret/s3, Secret/s4 and 2 more, which devloop did not apply');
  });
});
