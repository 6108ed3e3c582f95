/**
 * Teardown: deletes everything devloop applied for one project on one cluster, and nothing else.
 *
 * What is deleted comes from three places, merged: the local journal (.devloop/inventory), the
 * in-cluster record (Secret devloop-inventory-<project> in `default`) and a label scan over every
 * served resource type (`devloop.dev/project=<name>,app.kubernetes.io/managed-by=devloop`), plus the
 * in-memory inventory of a running dev loop. So it works after a crash (the journal is written
 * before the first apply), after manifests were renamed or removed, and without a config.
 *
 * Safety: an object is deleted only when its live labels say it is this project's and managed by
 * devloop, and, when the inventory recorded a UID, only if the UID still matches. Deletes carry a
 * UID precondition, so an object recreated meanwhile by someone else is never hit.
 *
 * Contract: called by `devloop down` and by the dev loop on Ctrl-C (pass a signal that has not fired:
 * the one that stopped the loop already has). Emits `teardown` events (started, planned, deleting,
 * deleted, waiting with `remaining`, skipped, done). Idempotent: a second run finds nothing and says
 * so. Throws FailureError naming what still exists after `deadlineSeconds`; the inventory is then
 * kept so a later run can finish.
 */
import { FailureError, throwIfAborted } from '../errors.js';
import type { EventSink } from '../events.js';
import { sleep, type KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { describeObject, identity, type KubeObject, type ResourceInfo } from '../kube/types.js';
import { mapLimit } from '../shared/concurrency.js';
import { deleteClusterInventory, InventoryStore, inventorySecretName, INVENTORY_NAMESPACE, readClusterInventory } from '../deploy/inventory.js';
import { describeOwner, isOwnedBy, projectSelector } from '../deploy/labels.js';
import type { ObjectRef } from '../deploy/types.js';

export interface DownOptions {
  project: string;
  /** config.rootDir, where the local journal lives; omit to skip the journal. */
  rootDir?: string;
  /** The inventory a running dev loop holds in memory (KubeDeployer.inventory()). */
  inventory?: readonly ObjectRef[];
  /** Namespaces to scan when listing across all namespaces is forbidden (e.g. deploy.namespace). */
  namespaces?: readonly string[];
  /** Only say what would be deleted. */
  dryRun?: boolean;
  /** How long to wait for the deleted objects to be gone (default 120 s). */
  deadlineSeconds?: number;
  signal: AbortSignal;
  sink: EventSink;
}

export interface DownResult {
  /** Deleted (or, with dryRun, would be deleted). */
  deleted: ObjectRef[];
  /** Found in the inventory but left alone, with the reason. */
  skipped: Array<{ ref: ObjectRef; reason: string }>;
}

/** Kinds the label scan ignores: records of something else, or (Endpoints) maintained for a Service and deleted with it. */
const SCAN_EXCLUDED = new Set(['Event', 'Endpoints', 'Binding', 'ComponentStatus', 'TokenReview', 'SubjectAccessReview', 'SelfSubjectReview', 'LocalSubjectAccessReview', 'SelfSubjectAccessReview', 'SelfSubjectRulesReview']);

interface Candidate {
  ref: ObjectRef;
  /** UID recorded by an inventory (journal, record, memory), if any. */
  recordedUid?: string;
  live?: KubeObject;
}

function toRef(obj: KubeObject, resource: Pick<ResourceInfo, 'group' | 'version' | 'kind'>): ObjectRef {
  return {
    group: resource.group,
    version: resource.version,
    kind: resource.kind,
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
    name: obj.metadata.name ?? '',
    ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
  };
}

/** Lists every object of the project by label, across the served resource types. */
export async function scanProjectObjects(
  kube: KubeClient,
  project: string,
  namespaces: readonly string[],
  signal: AbortSignal,
  onForbidden: (resource: ResourceInfo) => void = () => {},
): Promise<Array<{ ref: ObjectRef; live: KubeObject }>> {
  const all = await kube.discover(signal);
  const seen = new Set<string>();
  const resources = all.filter((r) => {
    const key = `${r.group}|${r.kind}`;
    if (seen.has(key) || SCAN_EXCLUDED.has(r.kind) || !r.verbs.includes('list') || !r.verbs.includes('delete')) return false;
    seen.add(key);
    return true;
  });
  const selector = projectSelector(project);
  const lists = await mapLimit(resources, 8, async (resource) => {
    try {
      return (await kube.list(resource, { labelSelector: selector, signal })).map((live) => ({ resource, live }));
    } catch (error) {
      const forbidden = error instanceof Error && /forbidden/.test(error.message);
      if (!forbidden) {
        if (error instanceof KubeApiError && (error.status === 404 || error.status === 405 || error.status === 503)) return []; // aggregated API gone or not listable
        throw error;
      }
      if (!resource.namespaced) {
        onForbidden(resource);
        return [];
      }
      // Not allowed to list across namespaces: list in each namespace the project used.
      let denied = false;
      const perNs = await Promise.all(
        namespaces.map((ns) =>
          kube.list(resource, { namespace: ns, labelSelector: selector, signal }).catch((e: unknown) => {
            if (!(e instanceof Error && /forbidden/.test(e.message))) throw e;
            denied = true;
            return [];
          }),
        ),
      );
      if (denied) onForbidden(resource);
      return perNs.flat().map((live) => ({ resource, live }));
    }
  });
  return lists
    .flat()
    .filter(({ live }) => !(live.metadata.ownerReferences ?? []).some((o) => o.controller)) // goes with its owner
    .filter(({ resource, live }) => !(resource.kind === 'Secret' && live.metadata.namespace === INVENTORY_NAMESPACE && live.metadata.name === inventorySecretName(project)))
    .map(({ resource, live }) => ({ ref: toRef(live, resource), live }));
}

export async function down(kube: KubeClient, options: DownOptions): Promise<DownResult> {
  const { project, signal, sink } = options;
  sink.emit({ type: 'teardown', status: 'started', message: `project ${project} on context ${kube.context}${options.dryRun ? ' (dry run: nothing is deleted)' : ''}` });

  const store = options.rootDir ? new InventoryStore(options.rootDir, kube.context, project, kube.server) : undefined;
  const journal = store?.objects() ?? [];
  // The in-cluster record is one of three sources: without read access to it, go on with the others.
  const record = await readClusterInventory(kube, project, signal).catch((error: unknown) => {
    if (!(error instanceof Error && /forbidden/.test(error.message))) throw error;
    sink.emit({ type: 'message', level: 'warn', text: `cannot read the in-cluster inventory (${error.message}); using the journal and the label scan` });
    return { objects: [] as ObjectRef[], uid: undefined, unreadable: true };
  });
  const recorded = [...journal, ...record.objects, ...(options.inventory ?? [])];
  const namespaces = [...new Set([...recorded.map((r) => r.namespace ?? (r.kind === 'Namespace' ? r.name : undefined)), ...(options.namespaces ?? [])].filter((n): n is string => Boolean(n)))];
  const unscanned: string[] = [];
  const scanned = await scanProjectObjects(kube, project, namespaces, signal, (r) => unscanned.push(r.group ? `${r.resource}.${r.group}` : r.resource));
  if (unscanned.length > 0) {
    sink.emit({ type: 'message', level: 'warn', text: `not allowed to list ${unscanned.slice(0, 6).join(', ')}${unscanned.length > 6 ? ` and ${unscanned.length - 6} more types` : ''} (user ${kube.user}): objects of these types are found only through the inventory` });
  }
  throwIfAborted(signal);

  // Merge by identity; keep the UID an inventory recorded (the scan's is the live one).
  const candidates = new Map<string, Candidate>();
  for (const ref of recorded) {
    const id = identity(ref);
    const prev = candidates.get(id);
    candidates.set(id, { ref: prev?.ref ?? ref, recordedUid: ref.uid ?? prev?.recordedUid });
  }
  for (const { ref, live } of scanned) {
    const id = identity(ref);
    const prev = candidates.get(id);
    candidates.set(id, { ref: prev ? { ...prev.ref, version: ref.version } : ref, recordedUid: prev?.recordedUid, live });
  }

  // Read what the inventories name and the scan did not find.
  await mapLimit([...candidates.values()].filter((c) => !c.live), 8, async (c) => {
    try {
      c.live = await kube.get(c.ref, signal);
    } catch (error) {
      if (error instanceof Error && /no resource type/.test(error.message)) return; // its type (CRD) is gone: so is it
      throw error;
    }
  });

  const toDelete: Candidate[] = [];
  const skipped: DownResult['skipped'] = [];
  for (const c of candidates.values()) {
    if (!c.live) continue; // already gone
    const name = describeObject(c.ref);
    let reason: string | undefined;
    if (!isOwnedBy(c.live, project)) reason = `not created by devloop for project ${project} (it belongs to ${describeOwner(c.live)}): left alone`;
    else if (c.recordedUid && c.live.metadata.uid !== c.recordedUid) reason = 'recreated since devloop recorded it (UID differs): left alone';
    if (reason) {
      skipped.push({ ref: c.ref, reason });
      sink.emit({ type: 'teardown', status: 'skipped', object: name, message: reason });
    } else toDelete.push(c);
  }
  // Namespaces last, CRDs just before them (their custom objects go first).
  const rank = (c: Candidate) => (c.ref.kind === 'Namespace' ? 2 : c.ref.kind === 'CustomResourceDefinition' ? 1 : 0);
  toDelete.sort((a, b) => rank(a) - rank(b));

  if (options.dryRun) {
    for (const c of toDelete) sink.emit({ type: 'teardown', status: 'planned', object: describeObject(c.ref), message: 'would delete' });
    sink.emit({ type: 'teardown', status: 'done', remaining: 0, message: toDelete.length ? `would delete ${toDelete.length} object${toDelete.length === 1 ? '' : 's'}` : 'nothing to delete' });
    return { deleted: toDelete.map((c) => c.ref), skipped };
  }

  const deleted: ObjectRef[] = [];
  for (const r of [0, 1, 2]) {
    await mapLimit(
      toDelete.filter((c) => rank(c) === r),
      8,
      async (c) => {
        throwIfAborted(signal);
        const name = describeObject(c.ref);
        sink.emit({ type: 'teardown', status: 'deleting', object: name });
        const outcome = await kube.delete(c.ref, { uid: c.live!.metadata.uid, signal });
        if (outcome === 'conflict') {
          skipped.push({ ref: c.ref, reason: 'replaced while deleting (UID differs): left alone' });
          sink.emit({ type: 'teardown', status: 'skipped', object: name, message: 'replaced while deleting (UID differs): left alone' });
          return;
        }
        deleted.push(c.ref);
      },
    );
  }

  // Wait until every deleted object is gone.
  const deadlineSeconds = options.deadlineSeconds ?? 120;
  const deadline = Date.now() + deadlineSeconds * 1000;
  let remaining = [...deleted];
  let reported = -1;
  while (remaining.length > 0) {
    throwIfAborted(signal);
    const still = await mapLimit(remaining, 8, async (ref) => {
      try {
        return (await kube.get(ref, signal)) !== undefined;
      } catch (error) {
        if (error instanceof Error && /no resource type/.test(error.message)) return false;
        throw error;
      }
    });
    const gone = remaining.filter((_, i) => !still[i]);
    for (const ref of gone) sink.emit({ type: 'teardown', status: 'deleted', object: describeObject(ref) });
    remaining = remaining.filter((_, i) => still[i]);
    if (remaining.length === 0) break;
    if (remaining.length !== reported) {
      reported = remaining.length;
      sink.emit({ type: 'teardown', status: 'waiting', remaining: remaining.length, message: `waiting for ${remaining.slice(0, 3).map(describeObject).join(', ')}${remaining.length > 3 ? ', ...' : ''} to be gone` });
    }
    if (Date.now() > deadline) {
      sink.emit({ type: 'teardown', status: 'failed', remaining: remaining.length });
      throw new FailureError(`${remaining.length} object${remaining.length === 1 ? '' : 's'} still exist${remaining.length === 1 ? 's' : ''} ${deadlineSeconds}s after devloop deleted them`, {
        details: remaining.map(describeObject),
        hint: 'They are terminating (finalizers, or a namespace still emptying). Run devloop down again later, or look at them with kubectl get -o yaml (metadata.finalizers).',
      });
    }
    await sleep(300, signal);
  }

  // Everything is gone: clear the inventory (journal, then the in-cluster record).
  store?.clear();
  if (!('unreadable' in record)) await deleteClusterInventory(kube, project, record.uid, signal);
  sink.emit({
    type: 'teardown',
    status: 'done',
    remaining: 0,
    message: deleted.length ? `deleted ${deleted.length} object${deleted.length === 1 ? '' : 's'}${skipped.length ? `, left ${skipped.length} alone` : ''}` : `nothing to delete${skipped.length ? ` (left ${skipped.length} alone)` : ''}`,
  });
  return { deleted, skipped };
}
