/**
 * Rendering: manifests in, final objects out. Reads the sources (manifests.ts), rewrites image
 * references to the built ones, fills in namespaces for namespaced kinds, and labels everything
 * (and every pod template) as this project's.
 *
 * Contract: `renderObjects` is pure given its inputs; `isNamespaced` answers from discovery (or a
 * built-in table when the cluster is out of reach). Duplicate objects throw ConfigError naming both
 * places.
 */
import { stringify } from 'yaml';
import { ConfigError, DevloopError, UsageError } from '../errors.js';
import { identity, keyOf, splitApiVersion, type KubeObject } from '../kube/types.js';
import { rewriteImages } from './images.js';
import { withProjectLabels } from './labels.js';
import { wrapForRestart } from './restart-wrapper.js';
import type { ManifestSource, SourcedObject } from './manifests.js';

export interface RenderedObject {
  object: KubeObject;
  source: ManifestSource;
}

/** Answers whether a kind is namespaced. Rejects for a kind the server does not serve. */
export type ScopeLookup = (apiVersion: string, kind: string) => Promise<boolean>;

/** Cluster-scoped kinds of a stock cluster: the answer when discovery is not available. */
export const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'CSIDriver',
  'CSINode',
  'VolumeAttachment',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'APIService',
  'CertificateSigningRequest',
  'FlowSchema',
  'PriorityLevelConfiguration',
  'ComponentStatus',
]);

export const offlineScope: ScopeLookup = async (_apiVersion, kind) => !CLUSTER_SCOPED_KINDS.has(kind);

/**
 * A scope lookup that first consults CRDs among the rendered objects (their kinds are not served
 * yet before the first apply), then `fallback` (discovery).
 */
export function scopeWithCrds(objects: readonly SourcedObject[], fallback: ScopeLookup): ScopeLookup {
  const crdScopes = new Map<string, boolean>();
  for (const { object } of objects) {
    if (object.kind !== 'CustomResourceDefinition') continue;
    const spec = object.spec as { group?: string; names?: { kind?: string }; scope?: string; versions?: Array<{ name: string }> } | undefined;
    if (!spec?.group || !spec.names?.kind) continue;
    crdScopes.set(`${spec.group}|${spec.names.kind}`, spec.scope !== 'Cluster');
  }
  return async (apiVersion, kind) => {
    const { group } = splitApiVersion(apiVersion);
    const crd = crdScopes.get(`${group}|${kind}`);
    return crd ?? fallback(apiVersion, kind);
  };
}

export interface RenderInput {
  project: string;
  /** Namespace for namespaced objects that name none. */
  namespace: string;
  /** Built references by artifact image name. */
  images: ReadonlyMap<string, string>;
  isNamespaced: ScopeLookup;
  /** Artifact images with `sync.restart`: their containers run under the restart supervisor. */
  restartImages?: ReadonlySet<string>;
  /** ENTRYPOINT and CMD of those artifacts' built images, for containers whose manifest names no command. */
  restartCommands?: ReadonlyMap<string, { entrypoint: string[]; cmd: string[] }>;
  /** For a deploy about to apply: a container under sync.restart whose command is unknown is a ConfigError (else left as written). */
  strictRestart?: boolean;
}

/** Applies the devloop transformations to read manifests. Never mutates `objects`. */
export async function renderObjects(objects: readonly SourcedObject[], input: RenderInput): Promise<RenderedObject[]> {
  const scope = scopeWithCrds(objects, input.isNamespaced);
  const out: RenderedObject[] = [];
  const seen = new Map<string, ManifestSource>();
  const duplicates: ConfigError['problems'] = [];
  for (const { object, source } of objects) {
    let next = rewriteImages(wrapForRestart(object, input.restartImages ?? new Set(), source, input.restartCommands, input.strictRestart ?? false), input.images).object;
    let namespaced: boolean;
    try {
      namespaced = await scope(next.apiVersion, next.kind);
    } catch (error) {
      // Say which manifest names the unknown kind.
      if (error instanceof DevloopError && error.kind === 'user') {
        throw new UsageError(`${source.file}:${source.line} (document ${source.document}): ${error.message}`, { hint: error.hint, details: error.details });
      }
      throw error;
    }
    if (namespaced) next.metadata.namespace ||= input.namespace;
    else delete next.metadata.namespace;
    next = withProjectLabels(next, input.project);
    const id = identity(keyOf(next));
    const first = seen.get(id);
    if (first) {
      duplicates.push({
        file: source.file,
        line: source.line,
        column: 1,
        path: `document ${source.document}`,
        message: `${next.kind} ${next.metadata.namespace ? `${next.metadata.namespace}/` : ''}${next.metadata.name} is defined twice (also at ${first.file}:${first.line})`,
        fix: 'remove one of them or rename it',
      });
      continue;
    }
    seen.set(id, source);
    out.push({ object: next, source });
  }
  if (duplicates.length) throw new ConfigError(duplicates, 'the same object is defined more than once');
  return out;
}

/** The rendered objects as one multi-document YAML stream (what `devloop render` prints). */
export function toYaml(objects: readonly RenderedObject[]): string {
  return objects.map((o) => stringify(o.object, { lineWidth: 0 })).join('---\n');
}
