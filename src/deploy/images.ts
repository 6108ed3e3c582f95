/**
 * Image references in manifests: parsing, matching them to artifacts, and rewriting them to the
 * built references. No I/O. `rewriteImages` returns a copy and leaves its argument alone;
 * `podSpecsOf` and `podTemplateMetadataOf` return references INTO the object they are given, for
 * callers that edit a copy they own (labels.ts), and `podTemplateMetadataOf` adds an empty
 * `metadata` to a template that has none.
 */
import type { KubeObject } from '../kube/types.js';

export interface ImageRef {
  /** Registry host, e.g. `localhost:5000`; undefined for Docker Hub without an explicit host. */
  registry?: string;
  /** Repository path without registry, e.g. `blog/posts`. Docker Hub's `library/` kept as written. */
  path: string;
  tag?: string;
  digest?: string;
}

/** Parses `[registry/]path[:tag][@digest]`. The first component is a registry when it has `.` or `:` or is `localhost`. */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let registry: string | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { registry, path: rest, tag, digest };
}

const HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

function normalPath(ref: ImageRef): string {
  return ref.path.startsWith('library/') && (!ref.registry || HUB.has(ref.registry)) ? ref.path.slice('library/'.length) : ref.path;
}

/**
 * Whether manifest reference `ref` names artifact `image`. `blog/posts`, `blog/posts:latest`,
 * `docker.io/blog/posts:1` and `localhost:5000/blog/posts` all name artifact `blog/posts`; when the
 * artifact itself names a registry (`gcr.io/p/app`), the registry must match too.
 */
export function refersToArtifact(ref: string, image: string): boolean {
  const a = parseImageRef(ref);
  const b = parseImageRef(image);
  if (normalPath(a) !== normalPath(b)) return false;
  if (b.registry && !HUB.has(b.registry)) return a.registry === b.registry;
  return true;
}

/** The artifact image a reference names, if any. */
export function artifactFor(ref: string, images: Iterable<string>): string | undefined {
  for (const image of images) if (refersToArtifact(ref, image)) return image;
  return undefined;
}

/** The registry a reference is pulled from, for messages: `docker.io` when none is written. */
export function registryOf(ref: string): string {
  return parseImageRef(ref).registry ?? 'docker.io';
}

type PodSpec = Record<string, unknown> & { containers?: Container[]; initContainers?: Container[]; ephemeralContainers?: Container[] };
type Container = Record<string, unknown> & { name?: string; image?: string };

/** Kinds whose pod spec sits at spec.template.spec. */
const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'ReplicationController']);

/**
 * The pod specs inside a workload object (by reference into `obj`): Pod spec, spec.template.spec,
 * or a CronJob's spec.jobTemplate.spec.template.spec. Empty for other kinds.
 */
export function podSpecsOf(obj: KubeObject): PodSpec[] {
  const spec = obj.spec as Record<string, any> | undefined;
  if (!spec) return [];
  if (obj.kind === 'Pod') return [spec as PodSpec];
  if (TEMPLATE_KINDS.has(obj.kind)) return spec.template?.spec ? [spec.template.spec] : [];
  if (obj.kind === 'CronJob') return spec.jobTemplate?.spec?.template?.spec ? [spec.jobTemplate.spec.template.spec] : [];
  return [];
}

/** The pod template metadata objects inside a workload (by reference), created when missing. */
export function podTemplateMetadataOf(obj: KubeObject): Array<Record<string, any>> {
  const spec = obj.spec as Record<string, any> | undefined;
  if (!spec) return [];
  let template: Record<string, any> | undefined;
  if (TEMPLATE_KINDS.has(obj.kind)) template = spec.template;
  else if (obj.kind === 'CronJob') template = spec.jobTemplate?.spec?.template;
  if (!template) return [];
  template.metadata ??= {};
  return [template.metadata];
}

/** Every image reference in an object's containers, init and ephemeral containers. */
export function imagesIn(obj: KubeObject): Array<{ container: string; image: string }> {
  const out: Array<{ container: string; image: string }> = [];
  for (const spec of podSpecsOf(obj)) {
    for (const list of [spec.containers, spec.initContainers, spec.ephemeralContainers]) {
      for (const c of list ?? []) if (typeof c.image === 'string') out.push({ container: c.name ?? '', image: c.image });
    }
  }
  return out;
}

/**
 * Returns a copy of `obj` whose container images naming an artifact (a key of `built`) are replaced
 * by the built reference. Also reports which artifacts were referenced.
 */
export function rewriteImages(obj: KubeObject, built: ReadonlyMap<string, string>): { object: KubeObject; replaced: string[] } {
  const copy = structuredClone(obj);
  const replaced: string[] = [];
  if (built.size === 0) return { object: copy, replaced };
  for (const spec of podSpecsOf(copy)) {
    for (const list of [spec.containers, spec.initContainers, spec.ephemeralContainers]) {
      for (const c of list ?? []) {
        if (typeof c.image !== 'string') continue;
        const artifact = artifactFor(c.image, built.keys());
        if (artifact) {
          c.image = built.get(artifact)!;
          replaced.push(artifact);
        }
      }
    }
  }
  return { object: copy, replaced };
}
