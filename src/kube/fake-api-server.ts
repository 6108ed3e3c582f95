/**
 * A fake Kubernetes API server for unit tests of teardown and deploy (never used by the CLI). It
 * behaves like the real one where those tests depend on it:
 * - namespace default exists (added unless given);
 * - aggregated discovery of a fixed set of types (core, apps, discovery.k8s.io, events.k8s.io);
 * - list (all namespaces or one, equality label selectors), get, server-side apply (creates or
 *   replaces, keeps the UID), delete with a UID precondition (409 on mismatch);
 * - namespaces: creating one adds what the control plane adds (ConfigMap kube-root-ca.crt,
 *   ServiceAccount default); deleting one marks it Terminating (deletionTimestamp,
 *   status.phase), refuses new objects in it (403 "being terminated"), and `namespaceDeletionMs`
 *   later deletes everything in it, then the namespace itself;
 * - garbage collection (background propagation): an object whose owners (ownerReferences) are all
 *   gone is deleted, and so are Endpoints whose Service is gone (the endpoints controller), `gcDelayMs` after a delete when that is set, else only when the test calls
 *   `collectGarbage()` (the real collector runs within seconds; tests choose the moment).
 * - `forbidList`: resource names (e.g. `secrets`) whose list answers 403, as for a user without
 *   that permission; `forbidWatch`: the same for watches (the list still answers).
 * - resourceVersions: every change (through the API or through `live.set` / `live.delete` by the
 *   test) takes the next integer; lists carry the current one; `?watch=true` streams ADDED /
 *   MODIFIED / DELETED events newer than the given resourceVersion as JSON lines and keeps the
 *   response open, as the real server does (no bookmarks, no 410: the whole history is kept).
 * - `fieldSelector`: equality on a field's path (`metadata.name=X`, an Event's `involvedObject.uid=X`),
 *   on lists and watches.
 * - `namespaceSetupMs`: the ServiceAccount and CA ConfigMap of a new namespace appear that much
 *   later (the real controllers take tens to hundreds of milliseconds), instead of at once.
 * - CustomResourceDefinitions (version v1 of their group only): one applied is Established at once,
 *   and its kind is served (discovery, `/apis/<group>/v1`, objects) `crdServedMs` later, or at once
 *   when that is not set: the real API server publishes it a moment after Established.
 * - `applyDelayMs`: per resource, an apply is written that much after it arrived (a slow write).
 * - a Job's `spec.template` cannot change: an apply that changes it is refused (422, its cause
 *   `field is immutable` on `spec.template`, the real server's Status shape).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient } from './client.js';
import type { KubeObject } from './types.js';

interface FakeType {
  group: string;
  kind: string;
  resource: string;
  namespaced: boolean;
}

const TYPES: FakeType[] = [
  { group: '', kind: 'Namespace', resource: 'namespaces', namespaced: false },
  { group: '', kind: 'ConfigMap', resource: 'configmaps', namespaced: true },
  { group: '', kind: 'Secret', resource: 'secrets', namespaced: true },
  { group: '', kind: 'ServiceAccount', resource: 'serviceaccounts', namespaced: true },
  { group: '', kind: 'Service', resource: 'services', namespaced: true },
  { group: '', kind: 'Endpoints', resource: 'endpoints', namespaced: true },
  { group: '', kind: 'Pod', resource: 'pods', namespaced: true },
  { group: '', kind: 'Event', resource: 'events', namespaced: true },
  { group: 'apps', kind: 'Deployment', resource: 'deployments', namespaced: true },
  { group: 'apps', kind: 'ReplicaSet', resource: 'replicasets', namespaced: true },
  { group: 'apps', kind: 'StatefulSet', resource: 'statefulsets', namespaced: true },
  { group: 'apps', kind: 'DaemonSet', resource: 'daemonsets', namespaced: true },
  { group: 'batch', kind: 'Job', resource: 'jobs', namespaced: true },
  { group: 'discovery.k8s.io', kind: 'EndpointSlice', resource: 'endpointslices', namespaced: true },
  { group: 'events.k8s.io', kind: 'Event', resource: 'events', namespaced: true },
  { group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition', resource: 'customresourcedefinitions', namespaced: false },
];

export interface FakeApiOptions {
  forbidList?: string[];
  forbidWatch?: string[];
  namespaceSetupMs?: number;
  namespaceDeletionMs?: number;
  gcDelayMs?: number;
  crdServedMs?: number;
  /** Resource names (e.g. `secrets`) whose server-side applies are written and answered that many ms after they arrive. */
  applyDelayMs?: Record<string, number>;
}

export interface FakeApi {
  kube: KubeClient;
  /** Live objects by `key()`. Tests may add, replace or remove objects directly (as kubectl would): watches see it. */
  live: Map<string, KubeObject>;
  /** Keys of objects deleted by a DELETE call, in order (not those removed with a namespace or by GC). */
  deletes: string[];
  collectGarbage(): void;
}

/** `[group/]Kind/namespace/name`, e.g. `ConfigMap/blog/user-notes`, `apps/Deployment/blog/web`, `Namespace//blog`. */
export function key(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
  return `${group ? `${group}/` : ''}${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

let uidCounter = 0;

interface Change {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  resourceVersion: number;
}

/** The live objects; every set and delete takes the next resourceVersion and is told to watchers. */
class LiveObjects extends Map<string, KubeObject> {
  resourceVersion = 1;
  readonly history: Change[] = [];
  readonly watchers = new Set<(change: Change) => void>();

  override set(k: string, obj: KubeObject): this {
    if (!this.history) return super.set(k, obj); // Map's constructor, before the fields exist
    const type = this.has(k) ? 'MODIFIED' : 'ADDED';
    const resourceVersion = ++this.resourceVersion;
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(resourceVersion) } };
    super.set(k, stored);
    this.record({ type, object: stored, resourceVersion });
    return this;
  }

  override delete(k: string): boolean {
    const obj = this.get(k);
    if (!obj || !super.delete(k)) return false;
    const resourceVersion = ++this.resourceVersion;
    this.record({ type: 'DELETED', object: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(resourceVersion) } }, resourceVersion });
    return true;
  }

  private record(change: Change): void {
    this.history.push(change);
    for (const w of this.watchers) w(change);
  }
}

export async function startFakeApi(objects: KubeObject[], options: FakeApiOptions = {}, cleanups: Array<() => void> = []): Promise<FakeApi> {
  const types = [...TYPES];
  const live = new LiveObjects();
  for (const o of objects) live.set(key(o), structuredClone(o));
  // Every cluster has namespace default (devloop's in-cluster inventory record lives there).
  if (!live.has('Namespace//default')) live.set('Namespace//default', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', uid: 'default-ns-uid' } });
  const deletes: string[] = [];
  const namespaceDeletionMs = options.namespaceDeletionMs ?? 30;
  const timers: NodeJS.Timeout[] = [];

  const uids = () => new Set([...live.values()].map((o) => o.metadata.uid));
  const collectGarbage = () => {
    for (let removed = true; removed; ) {
      removed = false;
      const present = uids();
      for (const [k, o] of live) {
        const owners = o.metadata.ownerReferences ?? [];
        const serviceGone = o.kind === 'Endpoints' && !live.has(`Service/${o.metadata.namespace}/${o.metadata.name}`);
        if ((owners.length > 0 && owners.every((r) => !present.has(r.uid))) || serviceGone) {
          live.delete(k);
          removed = true;
        }
      }
    }
  };
  const afterDelete = () => {
    if (options.gcDelayMs !== undefined) timers.push(setTimeout(collectGarbage, options.gcDelayMs));
  };
  const addSystemObjects = (ns: string) => {
    for (const o of [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: ns, uid: `uid-${++uidCounter}` }, data: { 'ca.crt': 'x' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns, uid: `uid-${++uidCounter}` } },
    ]) live.set(key(o), o);
  };

  const groupsDiscovery = (groups: string[]) => ({
    kind: 'APIGroupDiscoveryList',
    items: groups.map((g) => ({
      metadata: { name: g },
      versions: [
        {
          version: 'v1',
          resources: types.filter((t) => t.group === g).map((t) => ({ resource: t.resource, responseKind: { kind: t.kind }, scope: t.namespaced ? 'Namespaced' : 'Cluster', verbs: ['get', 'list', 'patch', 'delete'] })),
        },
      ],
    })),
  });

  const openWatches = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const send = (status: number, body: unknown) => {
      res.statusCode = status;
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/api') return send(200, groupsDiscovery(['']));
    if (url.pathname === '/apis') return send(200, groupsDiscovery([...new Set(types.map((t) => t.group).filter(Boolean))]));
    const groupVersion = /^\/apis\/([^/]+)\/v1$/.exec(url.pathname);
    if (groupVersion) {
      const served = types.filter((t) => t.group === groupVersion[1]);
      if (served.length === 0) return send(404, { message: 'the server could not find the requested resource' });
      return send(200, { kind: 'APIResourceList', groupVersion: `${groupVersion[1]}/v1`, resources: served.map((t) => ({ name: t.resource, kind: t.kind, namespaced: t.namespaced, verbs: ['get', 'list', 'patch', 'delete'] })) });
    }
    const m = /^\/(?:api|apis\/([^/]+))\/v1(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return send(404, { message: 'no route' });
    const group = m[1] ?? '';
    let [ns, resource, name] = [m[2] as string | undefined, m[3], m[4] as string | undefined];
    if (resource === 'namespaces' && !name && ns) [name, ns] = [ns, undefined];
    const type = types.find((t) => t.group === group && t.resource === resource);
    if (!type) return send(404, { message: `the server could not find the requested resource` });
    const apiVersion = group ? `${group}/v1` : 'v1';
    const objKey = (n: string) => key({ apiVersion, kind: type.kind, metadata: { name: n, namespace: type.namespaced ? ns : undefined } });

    if (!name) {
      if (options.forbidList?.includes(resource)) {
        return send(403, { kind: 'Status', reason: 'Forbidden', code: 403, message: `${resource}${group ? `.${group}` : ''} is forbidden: User "me" cannot list resource "${resource}" in API group "${group}"${ns ? ` in the namespace "${ns}"` : ' at the cluster scope'}` });
      }
      const selector = (url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((p) => p.split('='));
      const fields = (url.searchParams.get('fieldSelector') ?? '').split(',').filter(Boolean).map((p) => p.split('='));
      const field = (o: KubeObject, f: string) => f.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
      const matches = (o: KubeObject) =>
        o.apiVersion === apiVersion && o.kind === type.kind && (!ns || o.metadata.namespace === ns) && selector.every(([k, v]) => o.metadata.labels?.[k] === v) && fields.every(([f, v]) => field(o, f) === v);
      if (url.searchParams.get('watch') === 'true') {
        if (options.forbidWatch?.includes(resource)) {
          return send(403, { kind: 'Status', reason: 'Forbidden', code: 403, message: `${resource} is forbidden: User "me" cannot watch resource "${resource}"` });
        }
        const since = Number(url.searchParams.get('resourceVersion') ?? live.resourceVersion);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const tell = (c: Change) => {
          if (c.resourceVersion > since && matches(c.object)) res.write(`${JSON.stringify({ type: c.type, object: c.object })}\n`);
        };
        live.history.forEach(tell);
        live.watchers.add(tell);
        openWatches.add(res);
        res.on('close', () => {
          live.watchers.delete(tell);
          openWatches.delete(res);
        });
        return;
      }
      const items = [...live.values()].filter(matches);
      return send(200, { kind: `${type.kind}List`, metadata: { resourceVersion: String(live.resourceVersion) }, items: items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) });
    }

    let body = '';
    req.on('data', (d) => (body += d));
    const writeDelayMs = req.method === 'PATCH' ? options.applyDelayMs?.[resource] : undefined;
    const handle = () => {
      const k = objKey(name!);
      const obj = live.get(k);
      if (req.method === 'GET') return obj ? send(200, obj) : send(404, { message: `${resource} "${name}" not found` });
      if (req.method === 'DELETE') {
        if (!obj) return send(404, { message: `${resource} "${name}" not found` });
        const uid = (JSON.parse(body || '{}') as { preconditions?: { uid?: string } }).preconditions?.uid;
        if (uid && uid !== obj.metadata.uid) return send(409, { message: 'precondition failed: UID in precondition does not match' });
        deletes.push(k);
        if (type.kind === 'Namespace') {
          obj.metadata.deletionTimestamp ??= new Date().toISOString();
          obj.status = { phase: 'Terminating' };
          timers.push(
            setTimeout(() => {
              for (const [ok, o] of live) if (o.metadata.namespace === name) live.delete(ok);
              live.delete(k);
            }, namespaceDeletionMs),
          );
          return send(200, obj);
        }
        live.delete(k);
        afterDelete();
        return send(200, { kind: 'Status', status: 'Success' });
      }
      if (req.method === 'PATCH') {
        const applied = JSON.parse(body) as KubeObject;
        if (type.namespaced) {
          const namespace = live.get(key({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
          if (!namespace) return send(404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, details: { name: ns, kind: 'namespaces' }, message: `namespaces "${ns}" not found` });
          if (namespace.metadata.deletionTimestamp) {
            return send(403, { kind: 'Status', reason: 'Forbidden', code: 403, message: `${resource} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated` });
          }
        }
        const template = (o: KubeObject | undefined) => JSON.stringify((o?.spec as { template?: unknown } | undefined)?.template);
        if (type.kind === 'Job' && obj && template(obj) !== template(applied)) {
          const cause = { reason: 'FieldValueInvalid', message: `Invalid value: ${template(applied)}: field is immutable`, field: 'spec.template' };
          return send(422, { kind: 'Status', status: 'Failure', message: `Job.batch "${name}" is invalid: spec.template: ${cause.message}`, reason: 'Invalid', details: { name, group: 'batch', kind: 'Job', causes: [cause] }, code: 422 });
        }
        const next: KubeObject = { ...applied, apiVersion, kind: type.kind, metadata: { ...applied.metadata, namespace: type.namespaced ? ns : undefined, uid: obj?.metadata.uid ?? `uid-${++uidCounter}` } };
        if (type.kind === 'CustomResourceDefinition') {
          const spec = next.spec as { group: string; scope: string; names: { kind: string; plural: string } };
          next.status = { conditions: [{ type: 'Established', status: 'True' }] };
          const serve = () => types.push({ group: spec.group, kind: spec.names.kind, resource: spec.names.plural, namespaced: spec.scope === 'Namespaced' });
          if (options.crdServedMs === undefined) serve();
          else timers.push(setTimeout(serve, options.crdServedMs));
        }
        live.set(k, next);
        if (!obj && type.kind === 'Namespace') {
          if (options.namespaceSetupMs === undefined) addSystemObjects(name!);
          else timers.push(setTimeout(() => addSystemObjects(name!), options.namespaceSetupMs));
        }
        return send(200, next);
      }
      return send(405, { message: `method ${req.method} not allowed` });
    };
    req.on('end', () => (writeDelayMs === undefined ? handle() : timers.push(setTimeout(handle, writeDelayMs))));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kube = new KubeClient(undefined, { context: 'fake', server: url, user: 'me', namespace: 'default', credentials: { context: 'fake', server: url, user: 'me', namespace: 'default', headers: {} } });
  cleanups.push(() => {
    timers.forEach(clearTimeout);
    kube.close();
    for (const res of openWatches) res.destroy();
    server.close();
  });
  return { kube, live, deletes, collectGarbage };
}
