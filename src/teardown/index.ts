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
 * Namespaces: deleting a namespace deletes everything in it, so a Namespace devloop created is
 * deleted only after devloop's own objects are deleted and gone, and only if a listing of the
 * namespace taken right before its DELETE finds nothing devloop did not apply (deploy/namespace-guard.ts
 * says what is ignored: kube-root-ca.crt, the default ServiceAccount, events, dependents of
 * devloop's objects through ownerReferences, Endpoints of devloop's Services). A namespace that holds
 * anything else, or where some type may not be listed (forbidden: nothing proves it free of foreign
 * objects), is kept: a `teardown` event with status `kept` names up to five holders and says how to
 * delete it by hand. That is a warning, not a failure (down still exits 0). The kept namespaces stay
 * in the inventory (journal and in-cluster record hold only them), so a later `devloop down`, once
 * the foreign objects are gone, deletes them; a run that can still not delete them says so again,
 * and a run after they are deleted finds nothing and says "nothing to delete". The race that remains:
 * an object created in the namespace after its type was listed and before the namespace DELETE
 * reaches the server is deleted with it (Kubernetes has no "delete if empty"); the window is one
 * listing round, and it closes once the namespace is terminating (the server refuses new objects).
 * The same rule protects objects a person added in devloop's namespace and objects devloop left
 * alone there (recreated, UID differs); objects outside devloop's namespaces are protected by labels.
 *
 * Contract: called by `devloop down` and by the dev loop on Ctrl-C (pass a signal that has not fired:
 * the one that stopped the loop already has). Emits `teardown` events (started, planned, deleting,
 * deleted, waiting with `remaining`, skipped, kept with `heldBy`, done). Idempotent: a second run
 * finds nothing and says so. Throws FailureError naming what still exists after `deadlineSeconds`;
 * the inventory is then kept so a later run can finish.
 */
import { FailureError, throwIfAborted } from '../errors.js';
import type { EventSink } from '../events.js';
import { sleep, type KubeClient } from '../kube/client.js';
import { isForbidden, isUnknownKind, KubeApiError } from '../kube/errors.js';
import { describeObject, identity, type KubeObject, type ResourceInfo } from '../kube/types.js';
import { mapLimit } from '../shared/concurrency.js';
import { deleteClusterInventory, InventoryStore, inventorySecretName, INVENTORY_NAMESPACE, readClusterInventory, writeClusterInventory } from '../deploy/inventory.js';
import { describeKeptNamespace, namespaceHolders, type NamespaceHolders } from '../deploy/namespace-guard.js';
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
  /** How long to wait for the deleted objects to be gone: deploy.statusCheckDeadlineSeconds (its default is the schema's). */
  deadlineSeconds: number;
  signal: AbortSignal;
  sink: EventSink;
}

export interface DownResult {
  /** Deleted (or, with dryRun, would be deleted). */
  deleted: ObjectRef[];
  /** Found in the inventory but left alone, with the reason. */
  skipped: Array<{ ref: ObjectRef; reason: string }>;
  /** Namespaces devloop created but did not delete (or, with dryRun, would not): what holds them. */
  kept: Array<{ ref: ObjectRef; heldBy: string[]; unlisted: string[] }>;
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
      if (!isForbidden(error)) {
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
            if (!isForbidden(e)) throw e;
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
    if (!isForbidden(error)) throw error;
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
      if (isUnknownKind(error)) return; // its type (CRD) is gone: so is it
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
  const rank = (c: Pick<Candidate, 'ref'>) => (c.ref.kind === 'Namespace' ? 2 : c.ref.kind === 'CustomResourceDefinition' ? 1 : 0);
  toDelete.sort((a, b) => rank(a) - rank(b));

  const own = toDelete.map((c) => ({ ...c.ref, uid: c.live!.metadata.uid }));
  const namespaceGuard = (c: Candidate) =>
    namespaceHolders(kube, c.ref.name, own.filter((r) => !(r.kind === 'Namespace' && r.group === '' && r.name === c.ref.name)), { signal });
  const kept: DownResult['kept'] = [];
  const keep = (c: Candidate, found: NamespaceHolders, planned: boolean) => {
    const heldBy = found.holders.map(({ ref }) => describeObject(ref));
    kept.push({ ref: c.ref, heldBy, unlisted: found.unlisted });
    sink.emit({ type: 'teardown', status: 'kept', object: describeObject(c.ref), heldBy, message: `${planned ? '(dry run) ' : ''}${describeKeptNamespace(c.ref.name, found, kube.user)}` });
  };
  const keptSummary = () => (kept.length ? `; kept ${kept.map((k) => describeObject(k.ref)).join(', ')} (see above)` : '');

  if (options.dryRun) {
    const planned: ObjectRef[] = [];
    for (const c of toDelete) {
      if (rank(c) === 2) {
        const found = await namespaceGuard(c);
        if (found.holders.length > 0 || found.unlisted.length > 0) {
          keep(c, found, true);
          continue;
        }
      }
      planned.push(c.ref);
      sink.emit({ type: 'teardown', status: 'planned', object: describeObject(c.ref), message: 'would delete' });
    }
    sink.emit({ type: 'teardown', status: 'done', remaining: 0, message: `${planned.length ? `would delete ${planned.length} object${planned.length === 1 ? '' : 's'}` : 'nothing to delete'}${keptSummary()}` });
    return { deleted: planned, skipped, kept };
  }

  const { deadlineSeconds } = options;
  const deadline = Date.now() + deadlineSeconds * 1000;
  const deleted: ObjectRef[] = [];
  const deleteAll = (candidates: Candidate[]) =>
    mapLimit(candidates, 8, async (c) => {
      throwIfAborted(signal);
      const name = describeObject(c.ref);
      sink.emit({ type: 'teardown', status: 'deleting', object: name });
      const outcome = await kube.delete(c.ref, { uid: c.live!.metadata.uid, signal });
      if (outcome === 'conflict') {
        skipped.push({ ref: c.ref, reason: 'replaced while deleting (UID differs): left alone' });
        sink.emit({ type: 'teardown', status: 'skipped', object: name, message: 'replaced while deleting (UID differs): left alone' });
        return undefined;
      }
      deleted.push(c.ref);
      return c.ref;
    });

  // Everything but namespaces (CRDs after their custom objects), until gone.
  const first = [...(await deleteAll(toDelete.filter((c) => rank(c) === 0))), ...(await deleteAll(toDelete.filter((c) => rank(c) === 1)))];
  await waitUntilGone(kube, first.filter((r): r is ObjectRef => r !== undefined), { deadline, deadlineSeconds, signal, sink });

  // Namespaces: each is listed right before its delete and kept when it holds anything not devloop's.
  for (const c of toDelete.filter((c) => rank(c) === 2)) {
    throwIfAborted(signal);
    const found = await namespaceGuard(c);
    if (found.holders.length > 0 || found.unlisted.length > 0) keep(c, found, false);
    else await deleteAll([c]);
  }
  await waitUntilGone(kube, deleted.filter((r) => rank({ ref: r }) === 2), { deadline, deadlineSeconds, signal, sink });

  // Everything devloop deleted is gone: the inventory keeps only the namespaces kept (so a later down
  // deletes them once they hold only devloop's objects), else it is cleared (journal, then record).
  if (kept.length > 0) {
    const remaining = kept.map((k) => ({ ...k.ref, uid: candidates.get(identity(k.ref))?.live?.metadata.uid ?? k.ref.uid }));
    store?.write(remaining);
    if (!('unreadable' in record)) await writeClusterInventory(kube, project, remaining, signal);
  } else {
    store?.clear();
    if (!('unreadable' in record)) await deleteClusterInventory(kube, project, record.uid, signal);
  }
  sink.emit({
    type: 'teardown',
    status: 'done',
    remaining: 0,
    message: `${deleted.length ? `deleted ${deleted.length} object${deleted.length === 1 ? '' : 's'}${skipped.length ? `, left ${skipped.length} alone` : ''}` : `nothing to delete${skipped.length ? ` (left ${skipped.length} alone)` : ''}`}${keptSummary()}`,
  });
  return { deleted, skipped, kept };
}

/** Polls until every ref is gone, emitting `deleted` per object and `waiting`; throws FailureError past the deadline. */
async function waitUntilGone(
  kube: KubeClient,
  refs: readonly ObjectRef[],
  options: { deadline: number; deadlineSeconds: number; signal: AbortSignal; sink: EventSink },
): Promise<void> {
  const { signal, sink, deadline, deadlineSeconds } = options;
  let remaining = [...refs];
  let reported = -1;
  while (remaining.length > 0) {
    throwIfAborted(signal);
    const still = await mapLimit(remaining, 8, async (ref) => {
      try {
        return (await kube.get(ref, signal)) !== undefined;
      } catch (error) {
        if (isUnknownKind(error)) return false;
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
}
