import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectingSink } from '../events.js';
import { KubeClient } from '../kube/client.js';
import { InventoryStore } from '../deploy/inventory.js';
import { down } from './index.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const ours = { 'devloop.dev/project': 'p', 'app.kubernetes.io/managed-by': 'devloop' };
type Obj = { kind: string; metadata: { name: string; namespace?: string; uid: string; labels?: Record<string, string>; ownerReferences?: unknown[] } };

/** A fake API server holding ConfigMaps and Namespaces; records DELETEs in order. */
async function fakeCluster(objects: Obj[]) {
  const live = new Map(objects.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
  const deletes: string[] = [];
  const discovery = (name: string, resources: unknown[]) => ({ kind: 'APIGroupDiscoveryList', items: [{ metadata: { name }, versions: [{ version: 'v1', resources }] }] });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const send = (status: number, body: unknown) => {
      res.statusCode = status;
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/api') {
      return send(200, discovery('', [
        { resource: 'configmaps', responseKind: { kind: 'ConfigMap' }, scope: 'Namespaced', verbs: ['get', 'list', 'delete'] },
        { resource: 'namespaces', responseKind: { kind: 'Namespace' }, scope: 'Cluster', verbs: ['get', 'list', 'delete'] },
        { resource: 'secrets', responseKind: { kind: 'Secret' }, scope: 'Namespaced', verbs: ['get', 'list', 'delete'] },
      ]));
    }
    if (url.pathname === '/apis') return send(200, { kind: 'APIGroupDiscoveryList', items: [] });
    const m = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/(configmaps|namespaces|secrets)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return send(404, { message: 'no route' });
    let [, ns, resource, name] = m;
    if (resource === 'namespaces' && !name && ns) [name, ns] = [ns, undefined as unknown as string];
    const kind = resource === 'configmaps' ? 'ConfigMap' : resource === 'namespaces' ? 'Namespace' : 'Secret';
    if (!name) {
      const items = [...live.values()].filter((o) => o.kind === kind && o.metadata.labels?.['devloop.dev/project'] === 'p');
      return send(200, { items });
    }
    const key = `${kind}/${kind === 'Namespace' ? '' : ns}/${name}`;
    const obj = live.get(key);
    if (!obj) return send(404, { message: `${resource} "${name}" not found` });
    if (req.method === 'DELETE') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const uid = JSON.parse(body).preconditions?.uid;
        if (uid && uid !== obj.metadata.uid) return send(409, { message: 'precondition failed' });
        live.delete(key);
        deletes.push(key);
        send(200, { kind: 'Status' });
      });
      return;
    }
    return send(200, { apiVersion: 'v1', ...obj });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kube = new KubeClient(undefined, { context: 'fake', server: url, user: 'me', namespace: 'default', credentials: { context: 'fake', server: url, user: 'me', namespace: 'default', headers: {} } });
  cleanups.push(() => kube.close());
  return { kube, live, deletes };
}

describe('down', () => {
  it('deletes only what is labelled for the project (UID-checked), namespaces last, then clears the journal', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'devloop-down-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const { kube, live, deletes } = await fakeCluster([
      { kind: 'Namespace', metadata: { name: 'ns1', uid: 'n1', labels: ours } },
      { kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns1', uid: 'a1', labels: ours } },
      { kind: 'ConfigMap', metadata: { name: 'b', namespace: 'ns1', uid: 'b-new', labels: ours } },
      { kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns1', uid: 'c1' } },
      { kind: 'ConfigMap', metadata: { name: 'owned', namespace: 'ns1', uid: 'o1', labels: ours, ownerReferences: [{ controller: true }] } },
      { kind: 'ConfigMap', metadata: { name: 'scanned', namespace: 'ns1', uid: 's1', labels: ours } },
    ]);
    const store = new InventoryStore(root, 'fake', 'p');
    store.write([
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'ns1', name: 'a', uid: 'a1' },
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'ns1', name: 'b', uid: 'b-old' },
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'ns1', name: 'c' },
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'ns1', name: 'gone' },
      { group: '', version: 'v1', kind: 'Namespace', name: 'ns1', uid: 'n1' },
    ]);

    const dry = new CollectingSink();
    const planned = await down(kube, { project: 'p', rootDir: root, dryRun: true, signal: new AbortController().signal, sink: dry });
    expect(planned.deleted.map((r) => r.name)).toEqual(['a', 'scanned', 'ns1']);
    expect(deletes).toEqual([]);

    const sink = new CollectingSink();
    const result = await down(kube, { project: 'p', rootDir: root, signal: new AbortController().signal, sink });
    expect(deletes.at(-1)).toBe('Namespace//ns1');
    expect(deletes.slice(0, 2).sort()).toEqual(['ConfigMap/ns1/a', 'ConfigMap/ns1/scanned']);
    expect(result.skipped.map((s) => `${s.ref.name}: ${s.reason}`)).toEqual([
      'b: recreated since devloop recorded it (UID differs): left alone',
      'c: not created by devloop for project p (it belongs to someone else (it has no devloop labels)): left alone',
    ]);
    expect([...live.keys()].sort()).toEqual(['ConfigMap/ns1/b', 'ConfigMap/ns1/c', 'ConfigMap/ns1/owned']);
    expect(store.read()).toBeUndefined();
    expect(sink.ofType('teardown').at(-1)).toMatchObject({ status: 'done', message: 'deleted 3 objects, left 2 alone' });
  });
});
