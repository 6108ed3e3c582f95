/**
 * The namespace guard: before devloop deletes a Namespace it created (down, Ctrl-C teardown,
 * prune), it lists what the namespace holds, because deleting a namespace deletes everything in it,
 * objects devloop never applied included.
 *
 * Contract: `namespaceHolders(kube, namespace, own, { signal })` lists the namespace across every
 * served namespaced type that can be listed and deleted (discovery, as the teardown label scan
 * does; the namespace controller deletes exactly those) and returns the objects that would be lost
 * with it although devloop did not apply them. Not counted:
 * - devloop's own objects, given by UID in `own` (what the caller deletes or has deleted);
 * - objects owned through ownerReferences by those, followed down the chain (ReplicaSet of a
 *   Deployment, Pod of that ReplicaSet, EndpointSlice of a Service...), and Endpoints named like one
 *   of `own`'s Services (the endpoints controller writes them without an owner reference);
 * - what Kubernetes itself puts in every namespace: ConfigMap kube-root-ca.crt, ServiceAccount
 *   default; and events (core and events.k8s.io), which are records, not objects anyone made;
 * - objects already being deleted (deletionTimestamp set): deleting the namespace loses nothing
 *   that is not already on its way out.
 * An object whose owners are all missing from the listing (its owner was deleted a moment ago and
 * the garbage collector has not reached it yet), or Endpoints whose Service is missing, counts as a
 * holder only if it is still there after the controllers had time to act: while any holder is
 * such an orphan, the guard lists again, for up to `settleMs` (5 s), even when other holders
 * already decide that the namespace stays, so that the message names only what will stay. May block that long; honours
 * `signal`. Errors other than forbidden / unavailable types propagate.
 *
 * `unlisted` names the types that could not be listed (forbidden, or their API is unavailable):
 * then nothing proves the namespace free of foreign objects, and the caller must keep it.
 *
 * Races: objects created in the namespace after its type was listed and before the DELETE of the
 * namespace reaches the server are deleted with it. Callers keep that window small by listing right
 * before the delete, after their own objects in it are deleted; once the namespace is terminating,
 * the API server refuses new objects in it. Kubernetes has no "delete only if empty" precondition,
 * so the window cannot be closed entirely.
 */
import { throwIfAborted } from '../errors.js';
import { sleep, type KubeClient } from '../kube/client.js';
import { isForbidden, KubeApiError } from '../kube/errors.js';
import type { KubeObject, ResourceInfo } from '../kube/types.js';
import { mapLimit } from '../shared/concurrency.js';
import type { ObjectRef } from './types.js';

/** Kinds never counted: records of something else, not objects anyone would miss. */
const RECORD_KINDS = new Set(['Event']);

/** Objects the control plane creates in every namespace, as `Kind/name`. */
const SYSTEM_OBJECTS = new Set(['ConfigMap/kube-root-ca.crt', 'ServiceAccount/default']);

export interface NamespaceHolders {
  /** Objects that would be deleted with the namespace although devloop did not apply them. */
  holders: Array<{ ref: ObjectRef; live: KubeObject; /** `resource[.group]/name`, as kubectl takes it. */ kubectlName: string }>;
  /** Types (`resource.group`) that could not be listed in the namespace. */
  unlisted: string[];
}

export interface GuardOptions {
  signal: AbortSignal;
  /** How long to wait for the garbage collector to remove orphans of just-deleted owners (default 5 s). */
  settleMs?: number;
}

function typeName(r: ResourceInfo): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

/** The served types whose objects go with a deleted namespace, one version per group and kind. */
async function namespacedTypes(kube: KubeClient, signal: AbortSignal): Promise<ResourceInfo[]> {
  const seen = new Set<string>();
  return (await kube.discover(signal)).filter((r) => {
    const key = `${r.group}|${r.kind}`;
    if (!r.namespaced || RECORD_KINDS.has(r.kind) || seen.has(key) || !r.verbs.includes('list') || !r.verbs.includes('delete')) return false;
    seen.add(key);
    return true;
  });
}

async function listNamespace(kube: KubeClient, namespace: string, types: ResourceInfo[], signal: AbortSignal): Promise<{ objects: Array<{ resource: ResourceInfo; live: KubeObject }>; unlisted: string[] }> {
  const unlisted: string[] = [];
  const lists = await mapLimit(types, 8, async (resource) => {
    try {
      return (await kube.list(resource, { namespace, signal })).map((live) => ({ resource, live }));
    } catch (error) {
      if (error instanceof KubeApiError && (error.status === 404 || error.status === 405)) return []; // type gone since discovery
      if (isForbidden(error) || (error instanceof KubeApiError && error.status === 503)) {
        unlisted.push(typeName(resource));
        return [];
      }
      throw error;
    }
  });
  return { objects: lists.flat(), unlisted: unlisted.sort() };
}

/** Lists `namespace` and returns what would be lost with it; see the module comment. */
export async function namespaceHolders(kube: KubeClient, namespace: string, own: readonly ObjectRef[], options: GuardOptions): Promise<NamespaceHolders> {
  const { signal } = options;
  const types = await namespacedTypes(kube, signal);
  const settleBy = Date.now() + (options.settleMs ?? 5_000);
  const ownUids = new Set(own.map((r) => r.uid).filter((u): u is string => Boolean(u)));
  const ownServices = new Set(own.filter((r) => r.kind === 'Service' && r.group === '' && r.namespace === namespace).map((r) => r.name));
  for (;;) {
    throwIfAborted(signal);
    const { objects, unlisted } = await listNamespace(kube, namespace, types, signal);
    const present = new Set(objects.map(({ live }) => live.metadata.uid));
    // Devloop's: its own objects and, following ownerReferences to a fixed point, their dependents.
    const ours = new Set(ownUids);
    for (let grew = true; grew; ) {
      grew = false;
      for (const { live } of objects) {
        const uid = live.metadata.uid;
        if (uid && !ours.has(uid) && (live.metadata.ownerReferences ?? []).some((o) => ours.has(o.uid))) {
          ours.add(uid);
          grew = true;
        }
      }
    }
    const foreign = objects.filter(({ resource, live }) => {
      if (live.metadata.uid && ours.has(live.metadata.uid)) return false;
      if (live.metadata.deletionTimestamp) return false;
      if (resource.group === '' && SYSTEM_OBJECTS.has(`${resource.kind}/${live.metadata.name}`)) return false;
      if (resource.group === '' && resource.kind === 'Endpoints' && ownServices.has(live.metadata.name ?? '')) return false;
      return true;
    });
    // Orphans of an owner deleted a moment ago: the garbage collector removes them shortly.
    const services = new Set(objects.filter(({ resource }) => resource.group === '' && resource.kind === 'Service').map(({ live }) => live.metadata.name));
    const orphaned = ({ resource, live }: { resource: ResourceInfo; live: KubeObject }) => {
      if (resource.group === '' && resource.kind === 'Endpoints' && !services.has(live.metadata.name)) return true; // its Service is gone
      const owners = live.metadata.ownerReferences ?? [];
      return owners.length > 0 && owners.every((o) => !present.has(o.uid));
    };
    if (foreign.some(orphaned) && Date.now() < settleBy) {
      await sleep(500, signal);
      continue;
    }
    return {
      holders: foreign.map(({ resource, live }) => ({
        ref: { group: resource.group, version: resource.version, kind: resource.kind, namespace, name: live.metadata.name ?? '', ...(live.metadata.uid ? { uid: live.metadata.uid } : {}) },
        live,
        kubectlName: `${typeName(resource)}/${live.metadata.name ?? ''}`,
      })),
      unlisted,
    };
  }
}

/** How many holders a message names before "and N more". */
const NAMED_HOLDERS = 5;

function nameSome(names: readonly string[], unit: string): string {
  const shown = names.slice(0, NAMED_HOLDERS);
  const more = names.length - shown.length;
  return `${shown.join(', ')}${more > 0 ? ` and ${more} more${unit}` : ''}`;
}

/**
 * Why `namespace` was kept and how to remove it by hand, for `teardown` and `prune` events: names
 * up to five holders (`Kind/name`), then "and N more", and the types that could not be listed.
 */
export function describeKeptNamespace(namespace: string, found: NamespaceHolders, user: string): string {
  const reasons: string[] = [];
  if (found.holders.length > 0) {
    const names = nameSome(found.holders.map(({ ref }) => `${ref.kind}/${ref.name}`), '');
    reasons.push(`it holds ${names}, which devloop did not apply (deleting the namespace would delete ${found.holders.length === 1 ? 'it' : 'them'} too)`);
  }
  if (found.unlisted.length > 0) {
    reasons.push(`user ${user} may not list ${nameSome(found.unlisted, ' types')} in it, so devloop cannot tell whether it holds objects devloop did not apply`);
  }
  const them = found.holders.length === 1 ? 'it' : 'them';
  const check = found.holders.length > 0 ? `Check ${them} (kubectl get -n ${namespace} ${found.holders.slice(0, NAMED_HOLDERS).map((h) => h.kubectlName).join(' ')})` : `Check what it holds (kubectl api-resources --namespaced --verbs=list -o name | xargs -n1 kubectl get -n ${namespace} --ignore-not-found)`;
  return `because ${reasons.join(', and because ')}. ${check}, then delete the namespace yourself: kubectl delete namespace ${namespace} (or remove ${found.holders.length > 0 ? them : 'what it holds'} and run devloop down again)`;
}
