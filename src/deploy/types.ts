/**
 * The deploy phase's interface, shared by `devloop deploy`, `devloop dev` and `devloop down`.
 */
import type { Config } from '../config/load.js';
import type { DefaultRepoSource } from '../config/default-repo.js';
import type { EventSink } from '../events.js';
import type { PodFeed } from '../kube/pod-watch.js';
import type { ObjectKey } from '../kube/types.js';
import type { RenderedObject } from './render.js';

/** Where built images must go so the target cluster can pull them. */
export type ImageTarget =
  /** A registry the cluster pulls from (KEP-1755 `local-registry-hosting`), e.g. localhost:5000. */
  | { kind: 'registry'; registry: string; local: true }
  /**
   * A default repo (--default-repo, DEVLOOP_DEFAULT_REPO, SKAFFOLD_DEFAULT_REPO, build.defaultRepo):
   * every image is renamed under it by Skaffold's rules and pushed there; the cluster's KEP-1755
   * announcement is not read.
   */
  | { kind: 'default-repo'; repo: string; source: DefaultRepoSource; local: false }
  /** `kind load docker-image` into this kind cluster. */
  | { kind: 'kind'; cluster: string; local: true }
  /** `minikube image load` / `k3d image import` into this cluster. */
  | { kind: 'minikube' | 'k3d'; cluster: string; local: true }
  /** The cluster shares the local Docker daemon (Docker Desktop): nothing to do. */
  | { kind: 'daemon'; local: true }
  /** A remote cluster: push every image to its own registry. */
  | { kind: 'remote'; local: false };

/** An object devloop applied, as recorded in the inventory. */
export type ObjectRef = ObjectKey;

export interface DeployOptions {
  /** Built references by image name: manifests naming these images are rewritten to them. */
  images: ReadonlyMap<string, string>;
  /** Take over existing objects devloop did not create. */
  adopt?: boolean;
  /** Only re-apply (no wait), e.g. when the dev loop re-applies a changed manifest. */
  wait?: boolean;
  /** The caller's watch of the project's pods, read by the rollout wait instead of a watch of its own. */
  pods?: PodFeed;
  /** Called once every rendered object is applied, before the rollout wait (must not throw). */
  onApplied?: () => void;
  signal: AbortSignal;
  sink: EventSink;
}

export interface DeployResult {
  applied: ObjectRef[];
  pruned: ObjectRef[];
}

export interface Deployer {
  /**
   * Where images must go for this cluster: the config's default repo when one is set, else what the
   * cluster announces (KEP-1755 ConfigMap, read once). Says which on `sink` (info for a default
   * repo, debug for the rest).
   */
  imageTarget(signal: AbortSignal, sink?: EventSink): Promise<ImageTarget>;
  /** Renders, records the inventory, applies server-side, prunes, waits. Throws FailureError on a failed rollout. */
  deploy(config: Config, options: DeployOptions): Promise<DeployResult>;
  /**
   * Starts the reads of the next deploy(config) that do not depend on image tags (manifests,
   * discovery, the ownership check's live objects, the in-cluster record), so they run while the
   * build does. Never throws; deploy reads again when the prefetch failed or rendered other objects.
   */
  prefetch?(config: Config, signal: AbortSignal, sink?: EventSink): void;
  /**
   * Renders the config's manifests with `images` substituted (`devloop render`); touches the cluster
   * only for discovery. Throws ConfigError for a manifest problem.
   */
  render(config: Config, images: ReadonlyMap<string, string>, signal: AbortSignal, sink?: EventSink): Promise<RenderedObject[]>;
  /**
   * The workloads of this process's last deploy whose pods run `image` (a built reference) and that
   * are no longer in the cluster (deleted outside devloop since), as `Kind/namespace/name`. Empty
   * before the first deploy.
   */
  vanishedWorkloads?(image: string, signal: AbortSignal): Promise<string[]>;
  /** What this process has recorded as applied (a copy; empty before the first deploy), for teardown on exit. */
  inventory(): ObjectRef[];
  /** The namespace objects that name none go to: deploy.namespace, else the kubeconfig context's. */
  namespace(config?: Config): string;
}
