/**
 * The one wrapper around the Kubernetes API. Everything else in devloop talks to the cluster through
 * `KubeClient`; only src/kube/ imports @kubernetes/client-node.
 *
 * What client-node gives us: kubeconfig loading (KUBECONFIG, contexts, exec/token/cert auth). The
 * calls themselves are plain REST over one keep-alive HTTPS agent, because devloop handles arbitrary
 * kinds (CRDs included) and needs exact control of a few quirks:
 * - server-side apply must be asked for explicitly (client-node's patch defaults to strategic
 *   merge): PATCH with `Content-Type: application/apply-patch+yaml` and `fieldManager=devloop`;
 * - watches end (server timeout, 410 Gone) and must be restarted from the last resourceVersion;
 * - a network failure is an environment problem with a next step, 403 names the user and verb.
 *
 * Contract: every method takes an optional AbortSignal; aborting rejects with an AbortError-named
 * error (mapped to InterruptedError by cli/main.ts). No method writes to stdout.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { EnvironmentError, UsageError } from '../errors.js';
import { kubeconfigFiles, loadStaticCredentials, type StaticCredentials } from './kubeconfig.js';
import { ClusterUnreachableError, httpError, KubeApiError, KubeUnknownKindError, networkError, UNREACHABLE_HINT, type KubeStatus } from './errors.js';
import { sleep } from '../shared/abort.js';
import { backoffMs } from '../shared/backoff.js';
import {
  joinApiVersion,
  splitApiVersion,
  type KubeObject,
  type ObjectKey,
  type ResourceInfo,
  type WatchEventType,
} from './types.js';

export * from './types.js';
export { KubeApiError, isNotFound } from './errors.js';

/** The field manager of every server-side apply devloop makes. */
export const FIELD_MANAGER = 'devloop';

export interface KubeClientOptions {
  /** Context to use instead of the kubeconfig's current context (deploy.kubeContext). */
  context?: string;
}

interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  /** Milliseconds before the request is abandoned (default 30 s; watches and logs pass 0 = none). */
  timeoutMs?: number;
}

interface RawResponse {
  status: number;
  text: string;
}

// client-node, imported on first need: clients created with { lightweight: true } import it only
// when `kubeConfig` is first asked for (exec, logs, port-forward).
import { loadClientNode, type ClientNode } from './client-node.js';

/**
 * Loads the kubeconfig (KUBECONFIG or ~/.kube/config) and selects `options.context` or the current
 * context. Throws EnvironmentError when there is no usable context, listing the available ones.
 */
export async function createKubeClient(config: { deploy?: { kubeContext?: string } } | KubeClientOptions = {}, options: { lightweight?: boolean } = {}): Promise<KubeClient> {
  const context = 'deploy' in config ? config.deploy?.kubeContext : (config as KubeClientOptions).context;
  if (options.lightweight) {
    // Skips client-node's import (~0.9 s) when the kubeconfig is plain: REST calls need only its
    // credentials; client-node is imported when `kubeConfig` is first used.
    const credentials = loadStaticCredentials(context);
    if (credentials) return new KubeClient(undefined, { ...credentials, credentials });
  }
  const files = kubeconfigFiles();
  if (!files.some((f) => existsSync(f)) && !process.env.KUBERNETES_SERVICE_HOST) {
    // client-node would fall back to an unauthenticated http://localhost:8080 "loaded-context".
    throw new EnvironmentError(`no kubeconfig: ${process.env.KUBECONFIG ? `KUBECONFIG=${process.env.KUBECONFIG} names no existing file` : '~/.kube/config does not exist and KUBECONFIG is not set'}`, {
      hint: 'Start a local cluster (kind, minikube, k3d, Docker Desktop) or point KUBECONFIG at a kubeconfig. For the test cluster: npm run cluster:up, then export KUBECONFIG=/var/lib/devloop-cluster/kubeconfig.',
    });
  }
  const kc = await loadKubeConfig(context);
  const where = process.env.KUBECONFIG ? `KUBECONFIG=${process.env.KUBECONFIG}` : '~/.kube/config';
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new EnvironmentError(`kube context "${kc.getCurrentContext()}" names no cluster in ${where}`, { hint: 'Fix the context entry in the kubeconfig.' });
  }
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return new KubeClient(kc, {
    context: kc.getCurrentContext(),
    server: cluster.server,
    user: kc.getCurrentUser()?.name ?? ctx?.user ?? 'unknown',
    namespace: ctx?.namespace || 'default',
  });
}

type KubeConfigLike = InstanceType<ClientNode['KubeConfig']>;

/**
 * client-node's KubeConfig of the default kubeconfig files, with `context` (or the current context)
 * selected. Throws EnvironmentError when that context is missing, listing the available ones.
 */
async function loadKubeConfig(context: string | undefined): Promise<KubeConfigLike> {
  const k8s = await loadClientNode();
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (error) {
    throw new EnvironmentError(`cannot read the kubeconfig: ${(error as Error).message}`, {
      hint: 'Check the file named by KUBECONFIG (or ~/.kube/config).',
    });
  }
  const names = kc.getContexts().map((c) => c.name);
  const where = process.env.KUBECONFIG ? `KUBECONFIG=${process.env.KUBECONFIG}` : '~/.kube/config';
  if (context) {
    if (!names.includes(context)) {
      throw new EnvironmentError(`kube context "${context}" (deploy.kubeContext) is not in the kubeconfig (${where})`, {
        hint: names.length ? `Available contexts: ${names.join(', ')}. Set deploy.kubeContext to one of them.` : 'The kubeconfig defines no context: create one, or point KUBECONFIG at the right file.',
      });
    }
    kc.setCurrentContext(context);
  } else if (!kc.getCurrentContext() || !names.includes(kc.getCurrentContext())) {
    throw new EnvironmentError(`no current kube context in ${where}`, {
      hint: names.length
        ? `Available contexts: ${names.join(', ')}. Run \`kubectl config use-context NAME\` or set deploy.kubeContext.`
        : 'Start a local cluster (kind, minikube, k3d, Docker Desktop) or point KUBECONFIG at a kubeconfig. For the test cluster: npm run cluster:up.',
    });
  }
  return kc;
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  signal: AbortSignal;
}

export class KubeClient {
  /** The selected context's name, e.g. `kind-dev`. */
  readonly context: string;
  /** The API server URL, e.g. `https://127.0.0.1:6443`. */
  readonly server: string;
  /** The kubeconfig user of the context, for messages. */
  readonly user: string;
  /** The context's namespace, else `default`. */
  readonly defaultNamespace: string;
  private readonly loadedKubeConfig?: KubeConfigLike;
  private kubeConfigLoad?: Promise<KubeConfigLike>;
  private readonly credentials?: StaticCredentials;

  private agent?: http.Agent;
  private discoveryCache?: Promise<ResourceInfo[]>;
  private readonly groupVersionCache = new Map<string, Promise<ResourceInfo[]>>();
  /** Start times of requests sent and not yet answered (watches excluded: they wait by design). */
  private readonly unanswered = new Set<{ since: number }>();

  constructor(kubeConfig: KubeConfigLike | undefined, info: { context: string; server: string; user: string; namespace: string; credentials?: StaticCredentials }) {
    this.loadedKubeConfig = kubeConfig;
    this.credentials = info.credentials;
    this.context = info.context;
    this.server = info.server.replace(/\/+$/, '');
    this.user = info.user;
    this.defaultNamespace = info.namespace;
  }

  /**
   * The underlying client-node config, to hand to src/kube/ helpers (exec, logs, port-forward)
   * only. A client created with `lightweight` imports client-node and reads the kubeconfig (same
   * context) on the first read of this property, once; reading it early starts that import.
   */
  get kubeConfig(): Promise<KubeConfigLike> {
    this.kubeConfigLoad ??= this.loadedKubeConfig ? Promise.resolve(this.loadedKubeConfig) : loadKubeConfig(this.context);
    return this.kubeConfigLoad;
  }

  /** Releases the keep-alive sockets so the process can exit. Safe to call twice. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  // ---------------------------------------------------------------- transport

  private async connection(): Promise<{ agent: http.Agent; headers: Record<string, string> }> {
    if (this.credentials) {
      const c = this.credentials;
      this.agent ??= this.server.startsWith('https:')
        ? new https.Agent({ keepAlive: true, maxSockets: 16, ca: c.ca, cert: c.cert, key: c.key, servername: c.servername, ...(c.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) })
        : new http.Agent({ keepAlive: true, maxSockets: 16 });
      return { agent: this.agent, headers: c.headers };
    }
    const opts: https.RequestOptions & { headers?: Record<string, string> } = {};
    await (await this.kubeConfig).applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    if (!this.agent) {
      const tls = this.server.startsWith('https:');
      const agentOptions: https.AgentOptions = {
        keepAlive: true,
        maxSockets: 16,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        servername: (opts as { servername?: string }).servername,
      };
      if (opts.rejectUnauthorized !== undefined) agentOptions.rejectUnauthorized = opts.rejectUnauthorized;
      this.agent = tls ? new https.Agent(agentOptions) : new http.Agent({ keepAlive: true, maxSockets: 16 });
    }
    return { agent: this.agent, headers };
  }

  private url(urlPath: string, query?: RequestOptions['query']): URL {
    const url = new URL(this.server + urlPath);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async send(method: string, urlPath: string, options: RequestOptions, onResponse?: (res: http.IncomingMessage) => Promise<RawResponse>): Promise<RawResponse> {
    const { agent, headers } = await this.connection();
    const url = this.url(urlPath, options.query);
    const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<RawResponse>((resolve, reject) => {
      if (options.signal?.aborted) return reject(abortError());
      const req = lib.request(url, {
        method,
        agent,
        headers: {
          ...headers,
          Accept: options.accept ?? 'application/json',
          ...(body !== undefined ? { 'Content-Type': options.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}),
        },
      });
      const onAbort = () => req.destroy(abortError());
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const timeoutMs = options.timeoutMs ?? 30_000;
      const pending = { since: Date.now() };
      if (timeoutMs > 0) {
        this.unanswered.add(pending);
        req.on('close', () => this.unanswered.delete(pending));
      }
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      }
      req.on('error', (error) => {
        this.unanswered.delete(pending);
        options.signal?.removeEventListener('abort', onAbort);
        if ((error as Error).name === 'AbortError') return reject(error);
        reject(networkError(error, this.server, this.context) ?? new EnvironmentError(`request to the cluster at ${this.server} failed: ${(error as Error).message}`, { hint: UNREACHABLE_HINT, cause: error }));
      });
      req.on('response', (res) => {
        this.unanswered.delete(pending);
        const done = (p: Promise<RawResponse>) =>
          p.then(
            (r) => {
              options.signal?.removeEventListener('abort', onAbort);
              resolve(r);
            },
            (e) => {
              options.signal?.removeEventListener('abort', onAbort);
              reject(e);
            },
          );
        if (onResponse && res.statusCode && res.statusCode < 300) return done(onResponse(res));
        done(readAll(res).then((text) => ({ status: res.statusCode ?? 0, text })));
      });
      req.end(body);
    });
  }

  /**
   * One API call; resolves with the parsed JSON body. Errors: network -> EnvironmentError naming the
   * server; 401/403 -> EnvironmentError naming the user; other >= 400 -> KubeApiError.
   */
  async request<T = unknown>(method: string, urlPath: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, urlPath, options);
    const parsed = parseJson(res.text);
    if (res.status >= 400) {
      throw httpError(res.status, method, urlPath, parsed as KubeStatus | undefined, { server: this.server, context: this.context, user: this.user });
    }
    return parsed as T;
  }

  /** Checks that the API server answers; throws ClusterUnreachableError (an EnvironmentError) otherwise. */
  async ping(signal?: AbortSignal, timeoutMs = 10_000): Promise<void> {
    await this.request('GET', '/version', { signal, timeoutMs });
  }

  /**
   * Whether the API server is back to serving: GET /readyz (answered without credentials on every
   * conformant cluster), with a short timeout. Rejects with ClusterUnreachableError when there is no
   * answer, and when it answers not ready (starting up): either way, calls would still fail.
   */
  async probeReady(signal?: AbortSignal, timeoutMs = 3_000): Promise<void> {
    const res = await this.send('GET', '/readyz', { signal, timeoutMs, accept: 'text/plain' });
    if (res.status >= 200 && res.status < 300) return;
    throw new ClusterUnreachableError(`the cluster at ${this.server} (context ${this.context}) is not ready yet: GET /readyz answered ${res.status}`);
  }

  /**
   * How long the oldest request in flight has waited for an answer (response headers), in ms; 0
   * when none waits. Watches are not counted. Lets the dev loop say "waiting for the cluster".
   */
  oldestUnansweredMs(now = Date.now()): number {
    let oldest = now;
    for (const p of this.unanswered) oldest = Math.min(oldest, p.since);
    return now - oldest;
  }

  // ---------------------------------------------------------------- discovery

  /**
   * Every served resource type (all versions, preferred first within a group), from aggregated
   * discovery (one call per /api and /apis) with a fallback to per-group discovery. Cached for the
   * client's life; `refreshDiscovery()` forgets it (after CRDs were installed).
   */
  discover(signal?: AbortSignal): Promise<ResourceInfo[]> {
    if (!this.discoveryCache) {
      this.discoveryCache = this.loadDiscovery(signal);
      this.discoveryCache.catch(() => (this.discoveryCache = undefined));
    }
    return this.discoveryCache;
  }

  refreshDiscovery(): void {
    this.discoveryCache = undefined;
    this.groupVersionCache.clear();
  }

  private async loadDiscovery(signal?: AbortSignal): Promise<ResourceInfo[]> {
    const accept = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
    const [core, groups] = await Promise.all([
      this.request<AggregatedList | { versions: string[] }>('GET', '/api', { accept, signal }),
      this.request<AggregatedList | { groups: LegacyGroup[] }>('GET', '/apis', { accept, signal }),
    ]);
    if ((core as AggregatedList).kind === 'APIGroupDiscoveryList' && (groups as AggregatedList).kind === 'APIGroupDiscoveryList') {
      return [...fromAggregated(core as AggregatedList), ...fromAggregated(groups as AggregatedList)];
    }
    // Legacy discovery: one call per group version.
    const gvs: Array<{ group: string; version: string }> = [];
    for (const v of (core as { versions?: string[] }).versions ?? []) gvs.push({ group: '', version: v });
    for (const g of (groups as { groups?: LegacyGroup[] }).groups ?? []) {
      const preferred = g.preferredVersion?.version;
      const ordered = [...g.versions].sort((a, b) => Number(b.version === preferred) - Number(a.version === preferred));
      for (const v of ordered) gvs.push({ group: g.name, version: v.version });
    }
    const lists = await Promise.all(gvs.map((gv) => this.groupVersionResources(gv.group, gv.version, signal).catch(() => [] as ResourceInfo[])));
    return lists.flat();
  }

  private groupVersionResources(group: string, version: string, signal?: AbortSignal): Promise<ResourceInfo[]> {
    const key = joinApiVersion(group, version);
    let cached = this.groupVersionCache.get(key);
    if (!cached) {
      const urlPath = group ? `/apis/${group}/${version}` : `/api/${version}`;
      cached = this.request<{ resources: Array<{ name: string; kind: string; namespaced: boolean; verbs: string[] }> }>('GET', urlPath, { signal }).then((list) =>
        list.resources
          .filter((r) => !r.name.includes('/'))
          .map((r) => ({ group, version, kind: r.kind, resource: r.name, namespaced: r.namespaced, verbs: r.verbs ?? [] })),
      );
      cached.catch(() => this.groupVersionCache.delete(key));
      this.groupVersionCache.set(key, cached);
    }
    return cached;
  }

  /**
   * The resource type serving `kind` at `apiVersion`. Throws a UsageError when the server has no
   * such type ("is the CRD installed?"). Looks again, bypassing the cache, before giving up, so a
   * CRD applied a moment ago is found.
   */
  async resourceFor(apiVersion: string, kind: string, signal?: AbortSignal): Promise<ResourceInfo> {
    const { group, version } = splitApiVersion(apiVersion);
    const find = (list: ResourceInfo[]) => list.find((r) => r.group === group && r.version === version && r.kind === kind);
    let found = find(await this.discover(signal));
    if (!found) {
      this.groupVersionCache.delete(joinApiVersion(group, version));
      found = find(await this.groupVersionResources(group, version, signal).catch(() => []));
    }
    if (!found) {
      const all = await this.discover(signal);
      const sameKind = all.filter((r) => r.kind === kind).map((r) => joinApiVersion(r.group, r.version));
      throw new KubeUnknownKindError(`the cluster has no resource type ${kind} in ${apiVersion}`, {
        hint: sameKind.length
          ? `${kind} is served as ${[...new Set(sameKind)].join(', ')}: change apiVersion in the manifest.`
          : `Is the CRD that defines ${kind} installed? Install it first (or add it to the manifests), then run again.`,
      });
    }
    return found;
  }

  /** The URL path of a collection (`name` omitted) or of one object. */
  pathFor(resource: ResourceInfo, namespace: string | undefined, name?: string): string {
    const base = resource.group ? `/apis/${resource.group}/${resource.version}` : `/api/${resource.version}`;
    const ns = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${base}${ns}/${resource.resource}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
  }

  // ---------------------------------------------------------------- objects

  /** The object, or undefined when it does not exist. */
  async get(ref: ObjectKey, signal?: AbortSignal): Promise<KubeObject | undefined> {
    const resource = await this.resourceFor(joinApiVersion(ref.group, ref.version), ref.kind, signal);
    try {
      return await this.request<KubeObject>('GET', this.pathFor(resource, ref.namespace, ref.name), { signal });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /**
   * Server-side apply of one object with field manager `devloop`. `force` takes over fields owned by
   * other managers: pass it only for objects devloop owns. `dryRun` asks the server to validate only.
   */
  async apply(obj: KubeObject, options: { force: boolean; dryRun?: boolean; signal?: AbortSignal }): Promise<KubeObject> {
    const resource = await this.resourceFor(obj.apiVersion, obj.kind, options.signal);
    const name = obj.metadata.name;
    if (!name) throw new UsageError(`${obj.kind} without metadata.name cannot be applied (generateName is not supported)`);
    return this.request<KubeObject>('PATCH', this.pathFor(resource, obj.metadata.namespace, name), {
      query: { fieldManager: FIELD_MANAGER, force: options.force ? 'true' : undefined, dryRun: options.dryRun ? 'All' : undefined },
      body: obj,
      contentType: 'application/apply-patch+yaml',
      signal: options.signal,
    });
  }

  /**
   * Deletes one object (background propagation). With `uid`, the server deletes only that exact
   * object (precondition), so a same-named object created by someone else since is never touched.
   * Resolves 'absent' when it was already gone, 'conflict' when the UID precondition failed.
   */
  async delete(ref: ObjectKey, options: { uid?: string; signal?: AbortSignal; propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' } = {}): Promise<'deleted' | 'absent' | 'conflict'> {
    const resource = await this.resourceFor(joinApiVersion(ref.group, ref.version), ref.kind, options.signal);
    try {
      await this.request('DELETE', this.pathFor(resource, ref.namespace, ref.name), {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: options.propagationPolicy ?? 'Background',
          ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
        },
        signal: options.signal,
      });
      return 'deleted';
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return 'absent';
      if (error instanceof KubeApiError && error.status === 409) return 'conflict';
      throw error;
    }
  }

  /** Every object of one resource type (in `namespace`, or in all namespaces when undefined), paged. */
  async list(resource: ResourceInfo, options: { namespace?: string; labelSelector?: string; fieldSelector?: string; signal?: AbortSignal } = {}): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    let continueToken: string | undefined;
    const apiVersion = joinApiVersion(resource.group, resource.version);
    for (let page = 0; page < 100; page++) {
      const list = await this.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>('GET', this.pathFor(resource, options.namespace), {
        query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector, limit: 500, continue: continueToken },
        signal: options.signal,
      });
      // List items omit apiVersion and kind: fill them so the objects can be passed back.
      for (const item of list.items ?? []) items.push({ ...item, apiVersion, kind: resource.kind });
      continueToken = list.metadata?.continue || undefined;
      if (!continueToken) break;
    }
    return items;
  }

  /** Pods in `namespace` (all namespaces when undefined) matching a label selector. */
  listPods(namespace: string | undefined, labelSelector: string, signal?: AbortSignal): Promise<KubeObject[]> {
    return this.list(POD_RESOURCE, { namespace, labelSelector, signal });
  }

  /** Events about one object (by involvedObject), newest last. */
  async listEvents(namespace: string, involved: { kind?: string; name: string; uid?: string }, signal?: AbortSignal): Promise<KubeObject[]> {
    const fieldSelector = [`involvedObject.name=${involved.name}`, involved.kind ? `involvedObject.kind=${involved.kind}` : '', involved.uid ? `involvedObject.uid=${involved.uid}` : '']
      .filter(Boolean)
      .join(',');
    const events = await this.list(EVENT_RESOURCE, { namespace, fieldSelector, signal });
    const time = (e: KubeObject) => String(e.lastTimestamp ?? e.eventTime ?? (e.metadata as { creationTimestamp?: string }).creationTimestamp ?? '');
    return events.sort((a, b) => time(a).localeCompare(time(b)));
  }

  /** The last lines of a container's log; `previous` reads the terminated instance before a restart. */
  async podLogs(namespace: string, pod: string, options: { container?: string; previous?: boolean; tailLines?: number; signal?: AbortSignal } = {}): Promise<string> {
    const res = await this.send('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`, {
      query: { container: options.container, previous: options.previous ? 'true' : undefined, tailLines: options.tailLines },
      accept: '*/*', // the log endpoint answers text but refuses Accept: text/plain (406)
      signal: options.signal,
    });
    if (res.status >= 400) {
      throw httpError(res.status, 'GET', `pods/${pod}/log`, parseJson(res.text) as KubeStatus | undefined, { server: this.server, context: this.context, user: this.user });
    }
    return res.text;
  }

  // ---------------------------------------------------------------- watches

  /**
   * Watches a collection until `signal` aborts: lists first (each existing object arrives as
   * ADDED, then `onListed`), then watches from that resourceVersion; when the server ends the watch
   * it resumes from the last resourceVersion, and on 410 Gone it lists again, reporting objects
   * that vanished meanwhile as DELETED. Errors are retried on the shared backoff (250 ms doubling to
   * 4 s, shared/backoff.ts; a watch that ends within 1 s counts as a failure) and reported through
   * `onError`; `onResumed` is called once the first list or event arrives after errors. `onEvent`
   * must not throw. The promise resolves on abort, never rejects.
   */
  async watch(
    resource: ResourceInfo,
    options: WatchOptions & { namespace?: string; onError?: (error: unknown) => void; onListed?: () => void; onResumed?: () => void },
    onEvent: (type: WatchEventType, obj: KubeObject) => void,
  ): Promise<void> {
    const { signal } = options;
    const apiVersion = joinApiVersion(resource.group, resource.version);
    let resourceVersion: string | undefined;
    let failures = 0;
    let troubled = false;
    const resumed = () => {
      if (!troubled) return;
      troubled = false;
      options.onResumed?.();
    };
    const known = new Map<string, KubeObject>();
    while (!signal.aborted) {
      const started = Date.now();
      try {
        if (resourceVersion === undefined) {
          const list = await this.request<{ items?: KubeObject[]; metadata?: { resourceVersion?: string } }>('GET', this.pathFor(resource, options.namespace), {
            query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
            signal,
          });
          const seen = new Set<string>();
          for (const item of list.items ?? []) {
            const obj = { ...item, apiVersion, kind: resource.kind };
            const uid = obj.metadata.uid ?? '';
            seen.add(uid);
            const type: WatchEventType = known.has(uid) ? 'MODIFIED' : 'ADDED';
            known.set(uid, obj);
            onEvent(type, obj);
          }
          // Objects deleted while no watch was open.
          for (const [uid, obj] of known) {
            if (!seen.has(uid)) {
              known.delete(uid);
              onEvent('DELETED', obj);
            }
          }
          resourceVersion = list.metadata?.resourceVersion;
          resumed();
          options.onListed?.();
        }
        let gone = false;
        await this.send(
          'GET',
          this.pathFor(resource, options.namespace),
          {
            query: { watch: 'true', allowWatchBookmarks: 'true', resourceVersion, labelSelector: options.labelSelector, fieldSelector: options.fieldSelector, timeoutSeconds: 300 },
            signal,
            timeoutMs: 0,
          },
          (res) =>
            readLines(res, (line) => {
              const event = parseJson(line) as { type?: string; object?: KubeObject & { code?: number } } | undefined;
              if (!event?.type || !event.object) return;
              if (event.type === 'ERROR') {
                if (event.object.code === 410) gone = true;
                return;
              }
              resumed();
              if (event.object.metadata?.resourceVersion) resourceVersion = event.object.metadata.resourceVersion;
              if (event.type === 'BOOKMARK') return;
              const obj = { ...event.object, apiVersion, kind: resource.kind };
              const uid = obj.metadata.uid ?? '';
              if (event.type === 'DELETED') known.delete(uid);
              else known.set(uid, obj);
              onEvent(event.type as WatchEventType, obj);
            }).then(() => ({ status: 200, text: '' })),
        ).then((res) => {
          if (res.status === 410) gone = true;
          else if (res.status >= 400) throw httpError(res.status, 'GET', `watch ${resource.resource}`, parseJson(res.text) as KubeStatus | undefined, { server: this.server, context: this.context, user: this.user });
        });
        if (gone) resourceVersion = undefined;
        // A server that ends every watch at once must not be asked again in a tight loop.
        failures = Date.now() - started < 1_000 ? failures + 1 : 0;
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        troubled = true;
        options.onError?.(error);
      }
      if (failures > 0 && !signal.aborted) await sleep(backoffMs(failures - 1), signal);
    }
  }
}

/** Pods and events are served by every cluster at v1: no discovery needed for them. */
export const POD_RESOURCE: ResourceInfo = { group: '', version: 'v1', kind: 'Pod', resource: 'pods', namespaced: true, verbs: ['get', 'list', 'watch'] };
const EVENT_RESOURCE: ResourceInfo = { group: '', version: 'v1', kind: 'Event', resource: 'events', namespaced: true, verbs: ['list'] };

interface AggregatedList {
  kind: 'APIGroupDiscoveryList';
  items: Array<{
    metadata: { name?: string };
    versions: Array<{
      version: string;
      resources?: Array<{ resource: string; responseKind?: { group?: string; version?: string; kind: string }; scope: string; verbs?: string[] }>;
    }>;
  }>;
}

interface LegacyGroup {
  name: string;
  versions: Array<{ version: string }>;
  preferredVersion?: { version: string };
}

function fromAggregated(list: AggregatedList): ResourceInfo[] {
  const out: ResourceInfo[] = [];
  for (const group of list.items ?? []) {
    for (const v of group.versions ?? []) {
      for (const r of v.resources ?? []) {
        if (!r.responseKind?.kind) continue;
        out.push({
          group: group.metadata.name ?? '',
          version: v.version,
          kind: r.responseKind.kind,
          resource: r.resource,
          namespaced: r.scope === 'Namespaced',
          verbs: r.verbs ?? [],
        });
      }
    }
  }
  return out;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.trim().slice(0, 500) };
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
  });
}

function readLines(res: http.IncomingMessage, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim()) onLine(line);
      }
    });
    res.on('end', () => {
      if (buffer.trim()) onLine(buffer);
      resolve();
    });
    res.on('error', reject);
    res.on('close', () => resolve());
  });
}

function abortError(): Error {
  const error = new Error('aborted');
  error.name = 'AbortError';
  return error;
}

/** `sleep` lives in src/shared/abort.ts; re-exported for the modules that import it from here. */
export { sleep };
