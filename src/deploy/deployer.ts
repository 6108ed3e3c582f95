/**
 * The real Deployer: render -> check ownership (with the in-cluster record read meanwhile) ->
 * record the inventory -> apply (namespaces, then CRDs, then the rest: what pods read (Secrets,
 * ConfigMaps, ...: POD_INPUT_KINDS) and other objects that start no pods at once, also while a new
 * namespace is set up; the workloads once the inputs are in and the namespace is set up) -> then,
 * at the same time, record UIDs and prune what is no longer rendered, and wait for the rollout.
 * Each step is a `phase` event (timePhase), so `-v` and `--output json` show where the time goes.
 *
 * Contract: the local journal and the in-cluster record list every object before the first apply
 * call, so a crash at any point leaves `devloop down` able to delete everything. Objects devloop did
 * not create for this project are never changed (collision error unless `adopt`) nor deleted.
 * Long steps honour `options.signal`; progress goes to `options.sink` as `deploy` / `prune` / `pod`.
 */
import type { Config } from '../config/load.js';
import { ConfigError, EnvironmentError, FailureError, InterruptedError, throwIfAborted } from '../errors.js';
import { timePhase, type EventSink } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import { immutableFields, isForbidden, isUnknownKind, KubeApiError, KubeNamespaceNotFoundError, rejectionMessage } from '../kube/errors.js';
import { describeObject, identity, keyOf, joinApiVersion, type KubeObject, type ObjectKey } from '../kube/types.js';
import { detectImageTarget } from './image-target.js';
import { imagesIn } from './images.js';
import { InventoryStore, mergeRefs, readClusterInventory, writeClusterInventory } from './inventory.js';
import { describeOwner, isOwnedBy } from './labels.js';
import { formatSource, readManifests } from './manifests.js';
import { offlineScope, renderObjects, type RenderedObject, type ScopeLookup } from './render.js';
import { describeKeptNamespace, namespaceHolders } from './namespace-guard.js';
import { waitForRollout } from './rollout.js';
import { runDeployHooks } from './hooks.js';
import { createDockerClient, type DockerClient, type ImageCommand } from '../docker/client.js';
import { mapLimit } from '../shared/concurrency.js';
import { sleep } from '../shared/abort.js';
import { backoffMs } from '../shared/backoff.js';
import type { DeployOptions, DeployResult, Deployer, ImageTarget, ObjectRef } from './types.js';

export function refOf(obj: KubeObject, uid?: string): ObjectRef {
  const { namespace, ...rest } = keyOf(obj);
  return { ...rest, ...(namespace ? { namespace } : {}), ...(uid ? { uid } : {}) };
}

/**
 * Kinds whose objects make pods (directly or through a controller): applied only once new
 * namespaces are set up (see waitForNamespaceSetup) and the pods' inputs are in. Everything else
 * goes in meanwhile.
 */
export const POD_MAKING_KINDS = new Set(['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'ReplicationController']);

/**
 * Kinds a pod reads or is admitted against when it is created or started: applied before the pod
 * makers, as `kubectl apply -f` of a file that lists them first and Helm's install order do. A pod
 * whose pull Secret does not exist yet is pulled without it (a private registry refuses it:
 * ImagePullBackOff, retried 10 s later); a missing ConfigMap or Secret in its env or volumes holds
 * the container back (CreateContainerConfigError, retried with back-off); a missing ServiceAccount
 * fails its creation; a LimitRange or ResourceQuota applies only to pods created after it.
 */
export const POD_INPUT_KINDS = new Set(['Secret', 'ConfigMap', 'ServiceAccount', 'PersistentVolumeClaim', 'LimitRange', 'ResourceQuota']);

/** How long a deploy waits for a new namespace's ServiceAccount and CA ConfigMap before going on. */
const NAMESPACE_SETUP_TIMEOUT_MS = 5_000;

/** How long a deploy waits for an object it deleted to be created again (see replace) to be gone. */
const REPLACE_GONE_TIMEOUT_MS = 60_000;

/** How long a deploy waits for the CRDs it applied to be established. */
const CRD_ESTABLISHED_TIMEOUT_MS = 60_000;

/**
 * Runs `watch` (watches given `watchSignal`, which call `stop()` once they saw what they wait for)
 * until it stops, `timeoutMs` passes or `signal` aborts. Resolves true when `stop()` was called,
 * false at the timeout; throws InterruptedError on abort.
 */
async function watchUntil(timeoutMs: number, signal: AbortSignal, watch: (watchSignal: AbortSignal, stop: () => void) => Promise<unknown>): Promise<boolean> {
  const watching = new AbortController();
  let stopped = false;
  const stop = () => {
    stopped = true;
    watching.abort();
  };
  const abort = () => watching.abort();
  const timer = setTimeout(abort, timeoutMs);
  signal.addEventListener('abort', abort, { once: true });
  try {
    await watch(watching.signal, stop);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', abort);
    watching.abort();
  }
  throwIfAborted(signal);
  return stopped;
}

/** The API server refused `o` as it is: a ConfigError at its place in its manifest, in the server's words. */
function rejected(o: RenderedObject, error: KubeApiError): ConfigError {
  return new ConfigError(
    [{ file: o.source.file, line: o.source.line, column: 1, path: `document ${o.source.document}`, message: `the cluster rejected ${describeObject(keyOf(o.object))}: ${rejectionMessage(error)}` }],
    `invalid manifest ${o.source.file}`,
  );
}

/** Apply order: Namespaces, then CRDs, then everything else (in manifest order). */
export function applyPhases(objects: readonly RenderedObject[]): RenderedObject[][] {
  const ns = objects.filter((o) => o.object.kind === 'Namespace');
  const crds = objects.filter((o) => o.object.kind === 'CustomResourceDefinition');
  const rest = objects.filter((o) => o.object.kind !== 'Namespace' && o.object.kind !== 'CustomResourceDefinition');
  return [ns, crds, rest].filter((p) => p.length > 0);
}

/** What a deploy reads before it writes: rendered identities, their live objects, the in-cluster record. */
interface LiveReads {
  ids: string[];
  existing: Array<KubeObject | undefined>;
  cluster: { objects: ObjectRef[]; uid?: string };
}

export class KubeDeployer implements Deployer {
  private target?: Promise<ImageTarget>;
  /** Objects applied by the last deploy of this process, for `down` on Ctrl-C. */
  private lastInventory: ObjectRef[] = [];
  /** The pod makers the last deploy applied, with the images their pods run (see vanishedWorkloads). */
  private lastWorkloads: Array<{ key: ObjectKey; images: string[] }> = [];
  /** The reads started by prefetch(), for the next deploy of the same config. */
  private prefetched?: { config: Config; reads: Promise<LiveReads>; manifests: ReturnType<typeof readManifests> };


  constructor(
    private readonly config: Config,
    readonly kube: KubeClient,
    /** Reads the ENTRYPOINT and CMD of images under sync.restart; created on first use. */
    private docker?: Pick<DockerClient, 'imageCommand'>,
  ) {}

  imageTarget(signal: AbortSignal, sink?: EventSink): Promise<ImageTarget> {
    if (!this.target) {
      this.target = detectImageTarget(this.kube, signal, this.config.build.defaultRepo, sink);
      this.target.catch(() => (this.target = undefined));
    }
    return this.target;
  }

  /** What this process has recorded as applied (journal contents after the last deploy). */
  inventory(): ObjectRef[] {
    return [...this.lastInventory];
  }

  /** The default namespace for objects that name none. */
  namespace(config: Config = this.config): string {
    return config.deploy.namespace ?? this.kube.defaultNamespace;
  }

  /** Renders the config's manifests with `images` substituted; touches the cluster only for discovery. */
  async render(config: Config, images: ReadonlyMap<string, string>, signal: AbortSignal, sink?: EventSink, read?: ReturnType<typeof readManifests>, forApply = false): Promise<RenderedObject[]> {
    const { objects, warnings } = await (read ?? readManifests(config, signal));
    for (const text of warnings) sink?.emit({ type: 'message', level: 'warn', text });
    const scope: ScopeLookup = async (apiVersion, kind) => (await this.kube.resourceFor(apiVersion, kind, signal)).namespaced;
    const restartImages = restartImagesOf(config);
    const restartCommands = await this.imageCommands(restartImages, images, signal);
    return renderObjects(objects, { project: config.name, namespace: this.namespace(config), images, isNamespaced: scope, restartImages, restartCommands, strictRestart: forApply });
  }

  /**
   * ENTRYPOINT and CMD of the built images of artifacts with sync.restart, from the Docker engine
   * (where every build is tagged), for containers whose manifest names no command. An image the
   * engine does not have (or an engine that does not answer) is left out: the wrapper then asks
   * for a command in the manifest.
   */
  private async imageCommands(restartImages: ReadonlySet<string>, images: ReadonlyMap<string, string>, signal: AbortSignal): Promise<Map<string, ImageCommand>> {
    const commands = new Map<string, ImageCommand>();
    const wanted = [...restartImages].filter((image) => images.has(image));
    if (wanted.length === 0) return commands;
    this.docker ??= createDockerClient();
    const docker = this.docker;
    await Promise.all(
      wanted.map(async (image) => {
        const command = await docker.imageCommand(images.get(image)!, signal).catch(() => undefined);
        if (command) commands.set(image, command);
      }),
    );
    return commands;
  }

  prefetch(config: Config, signal: AbortSignal, sink?: EventSink): void {
    // The manifests are read (and parsed) once: the deploy after the build renders the same
    // objects with the image tags (rendering copies them; nothing mutates what was read).
    const manifests = readManifests(config, signal);
    manifests.catch(() => undefined);
    const work = async () => {
      // Image tags change no object's identity: rendering without them names the same objects.
      const rendered = await this.render(config, new Map(), signal, undefined, manifests);
      return { ids: rendered.map((o) => identity(keyOf(o.object))), ...(await this.readLive(rendered, config, signal, sink)) };
    };
    const reads = sink ? timePhase(sink, 'deploy/prefetch', work) : work();
    reads.catch(() => undefined);
    this.prefetched = { config, reads, manifests };
  }

  /** The live objects for the ownership check and the in-cluster record: independent reads, both at once. */
  private async readLive(rendered: readonly RenderedObject[], config: Config, signal: AbortSignal, sink?: EventSink): Promise<Omit<LiveReads, 'ids'>> {
    const time = <T>(name: string, work: () => Promise<T>) => (sink ? timePhase(sink, name, work) : work());
    const [existing, cluster] = await Promise.all([
      time('deploy/ownership-check', () => this.readExisting(rendered, signal)),
      time('deploy/inventory-read', () => readClusterInventory(this.kube, config.name, signal)),
    ]);
    return { existing, cluster };
  }

  async deploy(config: Config, options: DeployOptions): Promise<DeployResult> {
    const { signal, sink } = options;
    const started = Date.now();
    sink.emit({ type: 'deploy', status: 'rendering' });
    const manifests = this.prefetched?.config === config ? this.prefetched.manifests.catch(() => readManifests(config, signal)) : undefined;
    const rendered = await timePhase(sink, 'deploy/render', () => this.render(config, options.images, signal, sink, manifests, true));
    throwIfAborted(signal);

    const store = new InventoryStore(config.rootDir, this.kube.context, config.name, this.kube.server);
    const early = this.prefetched?.config === config ? await this.prefetched.reads.catch(() => undefined) : undefined;
    this.prefetched = undefined;
    const ids = rendered.map((o) => identity(keyOf(o.object)));
    const { existing, cluster } =
      early && early.ids.length === ids.length && early.ids.every((id, i) => id === ids[i])
        ? early
        : await this.readLive(rendered, config, signal, sink);
    throwIfAborted(signal);
    // Ownership: nothing is applied when any rendered object belongs to someone else.
    const collisions = rendered
      .map((o, i) => ({ o, live: existing[i] }))
      .filter(({ live }) => live && !isOwnedBy(live, config.name));
    if (collisions.length > 0 && !options.adopt) {
      const names = collisions.map(({ o }) => describeObject(keyOf(o.object)));
      throw new EnvironmentError(
        `${names.length === 1 ? `${names[0]} already exists and was not created by devloop for project "${config.name}"` : `${names.length} objects already exist and were not created by devloop for project "${config.name}"`}: nothing was applied`,
        {
          details: collisions.map(({ o, live }) => `${describeObject(keyOf(o.object))} (from ${formatSource(o.source)}) belongs to ${describeOwner(live!)}`),
          hint: collisionHint(config, collisions.map(({ live }) => live!)),
        },
      );
    }
    for (const { o } of collisions) sink.emit({ type: 'message', level: 'warn', text: `adopting ${describeObject(keyOf(o.object))} (--adopt): devloop now manages it and down will delete it` });

    const namespaces = [...new Set(rendered.map((o) => o.object.metadata.namespace).filter((n): n is string => Boolean(n)))];
    if (config.deploy.hooks?.before.length) await timePhase(sink, 'deploy/hooks/before', () => runDeployHooks('before', config, this.kube, { namespaces, signal, sink }));
    throwIfAborted(signal);

    // Inventory, before anything is applied.
    const previous = mergeRefs(cluster.objects, store.objects());
    const renderedRefs = rendered.map((o, i) => refOf(o.object, existing[i] && isOwnedBy(existing[i]!, config.name) ? existing[i]!.metadata.uid : undefined));
    let inventory = mergeRefs(previous, renderedRefs);
    await timePhase(sink, 'deploy/inventory-write', async () => {
      store.write(inventory);
      await writeClusterInventory(this.kube, config.name, inventory, signal);
    });
    this.lastInventory = inventory;
    throwIfAborted(signal);

    // Apply.
    sink.emit({ type: 'deploy', status: 'applying', count: rendered.length });
    const appliedObjects: KubeObject[] = [];
    let namespaceSetup: Promise<void> | undefined;
    const apply = (name: string, objects: RenderedObject[]) =>
      timePhase(sink, `deploy/apply/${name}`, () =>
        mapLimit(objects, 8, async (o) => {
          throwIfAborted(signal);
          const live = await this.applyOne(o, existing[rendered.indexOf(o)], signal, sink);
          sink.emit({ type: 'deploy', status: 'applied', object: describeObject(keyOf(o.object)) });
          return live;
        }),
      );
    for (const phase of applyPhases(rendered)) {
      const kind = phase[0].object.kind;
      if (kind === 'Namespace') {
        appliedObjects.push(...(await apply('namespaces', phase)));
        const created = phase.filter((o) => !existing[rendered.indexOf(o)]).map((o) => o.object.metadata.name!);
        if (created.length > 0) namespaceSetup = timePhase(sink, 'deploy/namespace-setup', () => this.waitForNamespaceSetup(created, signal, sink));
      } else if (kind === 'CustomResourceDefinition') {
        const results = await apply('crds', phase);
        appliedObjects.push(...results);
        await timePhase(sink, 'deploy/crds-established', () => this.waitForCrds(results, signal, sink));
      } else {
        // Objects that start no pods go in while new namespaces are still being set up; the pod
        // makers wait for that (see waitForNamespaceSetup) and for the pods' inputs.
        const makesPods = (o: RenderedObject) => POD_MAKING_KINDS.has(o.object.kind);
        const isInput = (o: RenderedObject) => POD_INPUT_KINDS.has(o.object.kind);
        let failed = false;
        const noteFailure = (error: unknown): never => {
          failed = true;
          throw error;
        };
        const podMakers = phase.filter(makesPods);
        const inputsApplied = phase.some(isInput) ? apply('pod-inputs', phase.filter(isInput)).catch(noteFailure) : Promise.resolve([]);
        const [inputs, others, workloads] = await Promise.all([
          inputsApplied,
          apply('objects', phase.filter((o) => !makesPods(o) && !isInput(o))).catch(noteFailure),
          (async () => {
            await namespaceSetup;
            await inputsApplied.catch(() => undefined);
            return failed ? [] : apply('workloads', podMakers);
          })(),
        ]);
        appliedObjects.push(...inputs, ...others, ...workloads);
      }
    }
    await namespaceSetup;
    const appliedRefs = appliedObjects.map((o) => refOf(o, o.metadata.uid));
    this.lastWorkloads = appliedObjects.filter((o) => POD_MAKING_KINDS.has(o.kind)).map((o) => ({ key: keyOf(o), images: imagesIn(o).map((i) => i.image) }));
    inventory = mergeRefs(inventory, appliedRefs);
    sink.emit({ type: 'deploy', status: 'applied', count: appliedObjects.length, durationMs: Date.now() - started });
    options.onApplied?.();

    // The UIDs are recorded while the rollout is watched: neither waits for the other.
    const recordUids = timePhase(sink, 'deploy/inventory-uids', async () => {
      store.write(inventory);
      await writeClusterInventory(this.kube, config.name, inventory, signal);
    });
    this.lastInventory = inventory;
    const rollout =
      options.wait === false
        ? Promise.resolve()
        : timePhase(sink, 'deploy/wait', async () => {
            const target = await this.imageTarget(signal).catch(() => undefined);
            await waitForRollout(this.kube, appliedObjects, {
              project: config.name,
              deadlineSeconds: config.deploy.statusCheckDeadlineSeconds,
              artifacts: config.build.artifacts.map((a) => a.image),
              registry: target?.kind === 'registry' ? target.registry : undefined,
              ...(options.pods ? { pods: options.pods } : {}),
              signal,
              sink,
            });
          });
    // Prune what was applied before and is no longer rendered.
    const pruning = (async () => {
      await recordUids;
      const renderedIds = new Set(rendered.map((o) => identity(keyOf(o.object))));
      const stale = previous.filter((r) => !renderedIds.has(identity(r)));
      if (stale.length === 0) return { deleted: [], forget: [] };
      const pruned = await timePhase(sink, 'deploy/prune', () => this.prune(config.name, stale, signal, sink));
      const forgotten = new Set([...pruned.deleted, ...pruned.forget].map(identity));
      inventory = inventory.filter((r) => !forgotten.has(identity(r)));
      if (forgotten.size > 0) {
        store.write(inventory);
        await writeClusterInventory(this.kube, config.name, inventory, signal);
        this.lastInventory = inventory;
      }
      return pruned;
    })();
    // Both settle before deploy returns or throws: the inventory is never left half-written.
    const [pruneOutcome, rolloutOutcome] = await Promise.allSettled([pruning, rollout]);
    if (pruneOutcome.status === 'rejected') throw pruneOutcome.reason;
    if (rolloutOutcome.status === 'rejected') throw rolloutOutcome.reason;
    if (config.deploy.hooks?.after.length) await timePhase(sink, 'deploy/hooks/after', () => runDeployHooks('after', config, this.kube, { namespaces, signal, sink }));
    return { applied: appliedRefs, pruned: pruneOutcome.value.deleted };
  }

  /**
   * The live object for each rendered one (undefined when absent). Many objects of one type in one
   * namespace are read with a single list; a few with GETs.
   */
  private async readExisting(rendered: readonly RenderedObject[], signal: AbortSignal): Promise<Array<KubeObject | undefined>> {
    const groups = new Map<string, number[]>();
    rendered.forEach((o, i) => {
      const key = `${o.object.apiVersion}|${o.object.kind}|${o.object.metadata.namespace ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const result = new Array<KubeObject | undefined>(rendered.length);
    const unknownKind = (error: unknown) => isUnknownKind(error);
    await mapLimit([...groups.values()], 8, async (indexes) => {
      const first = rendered[indexes[0]].object;
      if (indexes.length >= 5) {
        try {
          const resource = await this.kube.resourceFor(first.apiVersion, first.kind, signal);
          const live = await this.kube.list(resource, { namespace: first.metadata.namespace, signal });
          const byName = new Map(live.map((o) => [o.metadata.name, o]));
          for (const i of indexes) result[i] = byName.get(rendered[i].object.metadata.name);
          return;
        } catch (error) {
          // A custom object whose CRD is applied in this same deploy cannot exist yet.
          if (unknownKind(error)) return;
          if (!isForbidden(error)) throw error;
          // Not allowed to list: read them one by one below.
        }
      }
      await mapLimit(indexes, 8, async (i) => {
        result[i] = await this.kube.get(keyOf(rendered[i].object), signal).catch((error: unknown) => {
          if (unknownKind(error)) return undefined;
          throw error;
        });
      });
    });
    return result;
  }

  async vanishedWorkloads(image: string, signal: AbortSignal): Promise<string[]> {
    const running = this.lastWorkloads.filter((w) => w.images.includes(image));
    const live = await Promise.all(running.map((w) => this.kube.get(w.key, signal)));
    return running.filter((_, i) => !live[i] || live[i]!.metadata.deletionTimestamp).map((w) => describeObject(w.key));
  }

  /**
   * Applies one object. When the API server refuses to change a field it never changes on an
   * existing object (a Job's template when its image was rebuilt, a Deployment's selector: see
   * `immutableFields`), the object, which devloop applied before (or adopted: collisions stop the
   * deploy earlier), is deleted and created again, as Tilt does and `kubectl replace --force` would;
   * a `deploy` event `replaced` says which fields made it so. Any other refusal is a ConfigError at
   * the object's place in its manifest.
   */
  private async applyOne(o: RenderedObject, live: KubeObject | undefined, signal: AbortSignal, sink: EventSink): Promise<KubeObject> {
    try {
      return await this.kube.apply(o.object, { force: true, signal });
    } catch (error) {
      const fields = immutableFields(error);
      if (fields.length > 0 && live) return this.replace(o, live, fields, signal, sink);
      if (error instanceof KubeApiError && (error.status === 422 || error.status === 400)) throw rejected(o, error);
      if (error instanceof KubeNamespaceNotFoundError) {
        const ns = error.namespace;
        throw new EnvironmentError(`namespace "${ns}" does not exist, so ${describeObject(keyOf(o.object))} cannot be created`, {
          hint: `Add a Namespace manifest named ${ns} (devloop applies it first and deletes it on down), or create it yourself: kubectl create namespace ${ns}`,
        });
      }
      throw error;
    }
  }

  /** Deletes `live` (its pods go with it: background propagation), waits until it is gone (a watch), applies `o`. */
  private async replace(o: RenderedObject, live: KubeObject, fields: string[], signal: AbortSignal, sink: EventSink): Promise<KubeObject> {
    const ref = keyOf(o.object);
    const label = describeObject(ref);
    const uid = live.metadata.uid;
    const deleted = await this.kube.delete(ref, { uid, propagationPolicy: 'Background', signal });
    if (deleted === 'deleted') {
      const resource = await this.kube.resourceFor(o.object.apiVersion, o.object.kind, signal);
      let present = false;
      const gone = await watchUntil(REPLACE_GONE_TIMEOUT_MS, signal, (watchSignal, stop) =>
        this.kube.watch(resource, { namespace: ref.namespace, fieldSelector: `metadata.name=${ref.name}`, signal: watchSignal, onListed: () => (present ? undefined : stop()) }, (type, obj) => {
          if (type === 'DELETED' || obj.metadata.uid !== uid) stop();
          else present = true;
        }),
      );
      if (!gone) {
        throw new FailureError(`${label} had to be created again (${fields.join(', ')} cannot change on an existing object), but it was still there ${REPLACE_GONE_TIMEOUT_MS / 1000} s after it was deleted`, {
          hint: `Something holds it back (its finalizers: kubectl get ${ref.kind.toLowerCase()} ${ref.name}${ref.namespace ? ` -n ${ref.namespace}` : ''} -o jsonpath='{.metadata.finalizers}'); once it is gone, deploy again.`,
        });
      }
    }
    // (deleted === 'conflict': another object of that name replaced it meanwhile; the apply says what the server thinks)
    const created = await this.kube.apply(o.object, { force: true, signal }).catch((error: unknown) => {
      throw error instanceof KubeApiError && (error.status === 422 || error.status === 400) ? rejected(o, error) : error;
    });
    sink.emit({ type: 'deploy', status: 'replaced', object: label, message: `deleted and created again: ${fields.join(', ')} cannot change on an existing object` });
    return created;
  }

  /**
   * Waits (up to 5 s) until the controllers have put `kube-root-ca.crt` and the `default`
   * ServiceAccount into freshly created namespaces. Pods created before that are refused (no
   * service account) or wait about 2 s in ContainerCreating ("failed to sync configmap cache") for
   * their service account token volume, which is where the time of a deploy into a new namespace
   * used to swing. Watched (list, then watch), so it ends as soon as the API server knows both.
   * After 5 s it goes on regardless (a debug message says so). Throws InterruptedError on abort.
   */
  private async waitForNamespaceSetup(namespaces: string[], signal: AbortSignal, sink: EventSink): Promise<void> {
    const started = Date.now();
    const missing = new Set(namespaces.flatMap((ns) => [`${ns}/ConfigMap`, `${ns}/ServiceAccount`]));
    await watchUntil(NAMESPACE_SETUP_TIMEOUT_MS, signal, async (watchSignal, stop) => {
      const [configMaps, serviceAccounts] = await Promise.all([this.kube.resourceFor('v1', 'ConfigMap', signal), this.kube.resourceFor('v1', 'ServiceAccount', signal)]);
      const seen = (what: string) => (type: string) => {
        if (type === 'DELETED') return;
        missing.delete(what);
        if (missing.size === 0) stop();
      };
      await Promise.all(
        namespaces.flatMap((ns) => [
          this.kube.watch(configMaps, { namespace: ns, fieldSelector: 'metadata.name=kube-root-ca.crt', signal: watchSignal }, seen(`${ns}/ConfigMap`)),
          this.kube.watch(serviceAccounts, { namespace: ns, fieldSelector: 'metadata.name=default', signal: watchSignal }, seen(`${ns}/ServiceAccount`)),
        ]),
      );
    });
    sink.emit({ type: 'message', level: 'debug', text: `new namespaces ${namespaces.join(', ')} ${missing.size ? `not yet set up after ${NAMESPACE_SETUP_TIMEOUT_MS / 1000} s (missing ${[...missing].join(', ')}); going on` : 'set up'} (${Date.now() - started} ms)` });
  }

  /**
   * Waits (up to 60 s) until every CRD applied is Established, watching each (list, then watch), so
   * custom objects of its kinds can be applied next; then forgets the discovery cache. Throws
   * EnvironmentError when one is not established in time, InterruptedError on abort.
   */
  private async waitForCrds(crds: KubeObject[], signal: AbortSignal, sink: EventSink): Promise<void> {
    const established = (o: KubeObject) =>
      (((o.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [])).some((c) => c.type === 'Established' && c.status === 'True');
    const started = Date.now();
    await Promise.all(
      crds.map(async (crd) => {
        const resource = await this.kube.resourceFor(crd.apiVersion, crd.kind, signal);
        const done =
          established(crd) ||
          (await watchUntil(CRD_ESTABLISHED_TIMEOUT_MS, signal, (watchSignal, stop) =>
            this.kube.watch(resource, { fieldSelector: `metadata.name=${crd.metadata.name}`, signal: watchSignal }, (type, live) => {
              if (type !== 'DELETED' && established(live)) stop();
            }),
          ));
        if (!done) {
          throw new EnvironmentError(`CustomResourceDefinition ${crd.metadata.name} was not established within ${CRD_ESTABLISHED_TIMEOUT_MS / 1000}s`, { hint: 'Check the CRD with kubectl describe crd.' });
        }
        await this.waitForDiscovery(crd, started + CRD_ESTABLISHED_TIMEOUT_MS, signal);
        sink.emit({ type: 'deploy', status: 'ready', object: describeObject(keyOf(crd)), message: 'established' });
      }),
    );
    this.kube.refreshDiscovery();
  }

  /**
   * Waits until discovery serves every version of the kind `crd` defines. The API server publishes
   * a CRD's group version a moment after it reports Established, and discovery has no watch: it is
   * asked again at 50 ms doubling to 1 s, until `deadline` (epoch ms). Throws EnvironmentError at
   * the deadline, InterruptedError on abort.
   */
  private async waitForDiscovery(crd: KubeObject, deadline: number, signal: AbortSignal): Promise<void> {
    const spec = crd.spec as { group?: string; names?: { kind?: string }; versions?: Array<{ name: string; served?: boolean }> } | undefined;
    const kind = spec?.names?.kind;
    if (!spec?.group || !kind) return;
    for (const version of (spec.versions ?? []).filter((v) => v.served !== false)) {
      const apiVersion = joinApiVersion(spec.group, version.name);
      for (let attempt = 0; ; attempt++) {
        try {
          await this.kube.resourceFor(apiVersion, kind, signal);
          break;
        } catch (error) {
          if (!isUnknownKind(error)) throw error;
          if (Date.now() >= deadline) {
            throw new EnvironmentError(`CustomResourceDefinition ${crd.metadata.name} is established, but the API server did not serve ${kind} in ${apiVersion} within ${CRD_ESTABLISHED_TIMEOUT_MS / 1000}s`, {
              hint: 'Check the API server (kubectl api-resources) and run again.',
            });
          }
          await sleep(Math.min(backoffMs(attempt, 50, 1_000), Math.max(0, deadline - Date.now())), signal);
          throwIfAborted(signal);
        }
      }
    }
  }

  /**
   * Deletes stale inventory entries that still carry this project's labels (and, when recorded, the
   * same UID), Namespaces last. A stale Namespace that holds anything devloop did not apply (or
   * cannot be listed in full; objects still rendered into it count too) is kept, with a `prune`
   * event of status `kept`, and stays in the inventory. Returns what was deleted and what can be
   * forgotten (already gone, or not ours).
   */
  private async prune(project: string, stale: ObjectRef[], signal: AbortSignal, sink: EventSink): Promise<{ deleted: ObjectRef[]; forget: ObjectRef[] }> {
    const deleted: ObjectRef[] = [];
    const deletedUids: Array<string | undefined> = [];
    const forget: ObjectRef[] = [];
    const ordered = [...stale.filter((r) => r.kind !== 'Namespace'), ...stale.filter((r) => r.kind === 'Namespace')];
    for (const ref of ordered) {
      throwIfAborted(signal);
      const name = describeObject(ref);
      let live: KubeObject | undefined;
      try {
        live = await this.kube.get(ref, signal);
      } catch (error) {
        if (isUnknownKind(error)) {
          forget.push(ref); // its CRD is gone, and the object with it
          continue;
        }
        throw error;
      }
      if (!live) {
        forget.push(ref);
        continue;
      }
      if (!isOwnedBy(live, project) || (ref.uid && live.metadata.uid !== ref.uid)) {
        sink.emit({ type: 'prune', object: name, status: 'failed', message: `left alone: ${!isOwnedBy(live, project) ? `it belongs to ${describeOwner(live)}` : 'it was recreated since devloop applied it (UID differs)'}` });
        forget.push(ref);
        continue;
      }
      if (ref.kind === 'Namespace' && ref.group === '') {
        // Listed right before its delete, after the stale objects in it were deleted (see namespace-guard.ts).
        const found = await namespaceHolders(this.kube, ref.name, deleted.map((r, i) => ({ ...r, uid: deletedUids[i] })), { signal });
        if (found.holders.length > 0 || found.unlisted.length > 0) {
          // Kept in the inventory: a later prune or down deletes it once it holds only devloop's objects.
          sink.emit({ type: 'prune', object: name, status: 'kept', heldBy: found.holders.map((h) => describeObject(h.ref)), message: describeKeptNamespace(ref.name, found, this.kube.user) });
          continue;
        }
      }
      sink.emit({ type: 'prune', object: name, status: 'deleting', message: 'no longer rendered' });
      const outcome = await this.kube.delete({ ...ref, version: ref.version }, { uid: live.metadata.uid, signal });
      sink.emit({ type: 'prune', object: name, status: outcome === 'conflict' ? 'failed' : 'deleted', ...(outcome === 'conflict' ? { message: 'changed while pruning; left alone' } : {}) });
      if (outcome === 'conflict') forget.push(ref);
      else {
        deleted.push(ref);
        deletedUids.push(live.metadata.uid);
      }
    }
    return { deleted, forget };
  }
}

/** The Deployer for `config`'s cluster. `kube` comes from createKubeClient(config). */
export function createDeployer(config: Config, kube: KubeClient): Deployer {
  return new KubeDeployer(config, kube);
}

/** Render without a cluster: discovery replaced by the built-in table of cluster-scoped kinds. */
export async function renderOffline(config: Config, images: ReadonlyMap<string, string>, signal: AbortSignal, namespace = 'default'): Promise<RenderedObject[]> {
  const { objects } = await readManifests(config, signal);
  return renderObjects(objects, { project: config.name, namespace: config.deploy.namespace ?? namespace, images, isNamespaced: offlineScope, restartImages: restartImagesOf(config) });
}

export { joinApiVersion };

/**
 * The next step for objects devloop did not create. Objects left by Skaffold (`skaffold run`,
 * `skaffold dev --cleanup=false`: the config is a Skaffold one, or they carry Skaffold's labels)
 * are deleted with `skaffold delete`; any of them can be taken over with --adopt.
 */
export function collisionHint(config: Pick<Config, 'source'>, live: ReadonlyArray<Pick<KubeObject, 'metadata'>>): string {
  const bySkaffold = live.some((o) => {
    const labels = o.metadata.labels ?? {};
    return labels['app.kubernetes.io/managed-by'] === 'skaffold' || 'skaffold.dev/run-id' in labels;
  });
  if (bySkaffold || config.source?.format === 'skaffold') {
    return 'devloop never changes or deletes objects it did not create. Objects left by `skaffold run` or `skaffold dev --cleanup=false` carry no devloop labels: delete them with `skaffold delete` (same directory and profiles) and run again, or run with --adopt to take them over (devloop then manages them and `devloop down` deletes them).';
  }
  return 'devloop never changes or deletes objects it did not create. Rename yours in the manifest, delete the existing one yourself, or run with --adopt to take it over.';
}

/** Artifacts whose containers run under the restart supervisor (sync.restart). */
function restartImagesOf(config: Config): ReadonlySet<string> {
  return new Set(config.build.artifacts.filter((a) => a.sync?.restart).map((a) => a.image));
}
