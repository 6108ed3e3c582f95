/**
 * Plain shapes exchanged with src/kube/. Objects are kept as untyped JSON: devloop applies whatever
 * the user's manifests contain, CRDs included, so no generated model sits in between.
 */

/** One container of one pod: what logs, exec and the syncer address. */
export interface ContainerRef {
  namespace: string;
  pod: string;
  container: string;
}

export interface KubeMetadata {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  [key: string]: unknown;
}

/** Identifies one object: the same fields as deploy's ObjectRef, so either can be passed. */
export interface ObjectKey {
  group: string;
  version: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

/** One served resource type, from discovery. */
export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** Plural name used in URLs, e.g. `deployments`. */
  resource: string;
  namespaced: boolean;
  verbs: string[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** `apps/v1` -> { group: 'apps', version: 'v1' }; `v1` -> { group: '', version: 'v1' }. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function joinApiVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** `Deployment/blog/posts` or `Namespace/blog`: how objects are named in messages and events. */
export function describeObject(ref: Pick<ObjectKey, 'kind' | 'namespace' | 'name'>): string {
  return ref.namespace ? `${ref.kind}/${ref.namespace}/${ref.name}` : `${ref.kind}/${ref.name}`;
}

export function keyOf(obj: KubeObject): ObjectKey {
  const { group, version } = splitApiVersion(obj.apiVersion);
  return { group, version, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name ?? '' };
}

/** Identity of an object ignoring its version: the same object may be served at several versions. */
export function identity(ref: Pick<ObjectKey, 'group' | 'kind' | 'namespace' | 'name'>): string {
  return `${ref.group}|${ref.kind}|${ref.namespace ?? ''}|${ref.name}`;
}
