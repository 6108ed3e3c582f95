/**
 * The one wrapper around the Docker engine API. Nothing else in devloop imports dockerode.
 *
 * Quirks handled here:
 * - A failed build answers HTTP 200; the failure is an `errorDetail`/`error` object inside the
 *   JSON event stream. `build()` parses the stream and throws `ImageBuildError` (a FailureError)
 *   carrying the failing step ("Step 3/5 : RUN ...") and that step's output.
 * - A failed push also answers 200 with `errorDetail` in the stream; `push()` throws
 *   EnvironmentError with a hint (registry unreachable, authentication).
 * - The push endpoint insists on an `X-Registry-Auth` header even for registries without auth;
 *   an empty auth object is sent when the user's Docker config has no credentials for the registry.
 * - Credentials come from the user's Docker config as the Docker CLI reads it (credentials.ts):
 *   the registry's own for push and the registry query (X-Registry-Auth), all of them for a build
 *   (X-Registry-Config, so private base images can be pulled). A refusal (401, denied) is a
 *   RegistryAuthError naming the registry, where the credentials came from and `docker login`.
 * - Importing dockerode (and its ssh2 dependency) costs ~150 ms. The calls made on every run —
 *   ping, image inspect and the registry query of a cached deploy — go straight over HTTP to the
 *   engine's unix socket or tcp address (the registry query to a loopback registry itself first),
 *   so a no-op `devloop build` or a cached `devloop deploy` never loads dockerode. It is loaded on
 *   the first build, tag or push, or earlier by `warmUp` (the dev loop, once idle). DOCKER_HOST
 *   schemes other than unix:// and tcp:// (ssh://, TLS) use dockerode for everything.
 * - An unreachable engine (socket missing, connection refused, permission denied) is an
 *   EnvironmentError "cannot reach the Docker engine at <socket>" with what to do next.
 * - BuildKit (`builder: 'buildkit'`) is `POST /build?version=2` through dockerode, which opens a
 *   session on `/session` serving registry credentials only. Progress comes as
 *   `moby.buildkit.trace` events (buildkit-trace.ts decodes them); a failed step answers 200 with
 *   only "executor failed running [...]: exit code: N" in `errorDetail`: the step and its output
 *   come from the trace. Without a session that serves them, a secret or ssh mount fails with "no
 *   active sessions" (with dockerode's session, an optional secret is silently absent instead,
 *   which is why the build phase refuses such mounts before building). A `# syntax=` line makes
 *   the engine pull that frontend; failing that, the failed vertex is "resolve image config for
 *   <frontend>". Both are classified here as `ImageBuildError.problem`.
 */
import http from 'node:http';
import type { Readable } from 'node:stream';
import { EnvironmentError, FailureError, InterruptedError } from '../errors.js';
import { createCredentialSource, type CredentialSource, type RegistryCredentials } from './credentials.js';
import { BuildkitProgress, decodeTrace } from './buildkit-trace.js';

export interface BuildImageOptions {
  /** Dockerfile path relative to the context root, `/`-separated. */
  dockerfile: string;
  /** References to tag the result with (`name:tag`). */
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  /** `buildkit`: BuildKit (`version=2`), only where `EngineInfo.buildkit`; `classic`: the classic builder. */
  builder: 'buildkit' | 'classic';
  /**
   * BuildKit: the one registry every base image comes from (build/dockerfile-lines.ts
   * soleBaseRegistry); its credential, if the user has one, answers the build's session.
   */
  baseRegistry?: string;
  signal: AbortSignal;
  /** Called with every line of build output, in order ("Step 2/5 : COPY . /app", " ---> 3f2a..."; BuildKit: the steps' output). */
  onLine?(line: string): void;
  /**
   * Called when a step starts or ends. Classic: "Step 2/5 : COPY . /app". BuildKit (see
   * BuildkitProgress): "[left 1/2] RUN make", "CACHED [base 1/1] COPY rootfs/ /",
   * "DONE [left 1/2] RUN make 1.3s", "ERROR [left 1/2] RUN make: <error>".
   */
  onStep?(step: string): void;
}

/** What the engine said about itself when pinged. */
export interface EngineInfo {
  /** e.g. "1.41"; undefined when the engine did not say. */
  apiVersion?: string;
  /** e.g. "linux". */
  osType?: string;
  /** Whether `POST /build?version=2` (BuildKit) is available: API 1.39 or later on Linux. */
  buildkit: boolean;
}

/** BuildKit through the Engine API: Docker 18.09 (API 1.39) and later, Linux engines only. */
export function engineOffersBuildkit(apiVersion: string | undefined, osType: string | undefined): boolean {
  if (!apiVersion || (osType ?? '').toLowerCase() !== 'linux') return false;
  const [major, minor] = apiVersion.split('.').map(Number);
  return major > 1 || (major === 1 && minor >= 39);
}

/** What a container of an image runs when its pod names no command (Kubernetes: command = ENTRYPOINT, args = CMD). */
export interface ImageCommand {
  entrypoint: string[];
  cmd: string[];
}

export interface BuildImageResult {
  /** The image id (`sha256:...`) when the engine reported it. */
  imageId?: string;
  /** Every output line of the build. */
  output: string[];
}

export interface PushProgress {
  /** Layer id, when the event is about one layer. */
  layer?: string;
  status: string;
}

export interface DockerClient {
  /** Human description of where the engine is, e.g. `unix:///var/run/docker.sock`. */
  readonly endpoint: string;
  /** Resolves when the engine answers, with what it says about itself; throws EnvironmentError otherwise. */
  ping(signal?: AbortSignal): Promise<EngineInfo>;
  /** Whether the engine has an image for `ref` (`name:tag`). */
  imageExists(ref: string, signal?: AbortSignal): Promise<boolean>;
  /** The image's ENTRYPOINT and CMD (its Config), or undefined when the engine has no such image. */
  imageCommand(ref: string, signal?: AbortSignal): Promise<ImageCommand | undefined>;
  /**
   * Whether the registry named in `ref` has that tag (asked through the engine's distribution
   * endpoint, so the engine's registry config and credentials apply). Throws EnvironmentError
   * when the registry cannot be reached. A registry on this machine's loopback address, with the
   * engine on this machine (a unix socket), is first asked directly (`HEAD /v2/<name>/manifests/<tag>`
   * over HTTP, about 2 ms against the engine's 15-50): only its 200 is taken; any other answer, or
   * none, goes to the engine as above.
   */
  registryHasImage(ref: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * Builds from a tar stream of the context. Throws ImageBuildError when the Dockerfile fails,
   * EnvironmentError when the engine is unreachable, InterruptedError on abort.
   */
  build(context: Readable, options: BuildImageOptions): Promise<BuildImageResult>;
  /** Adds the reference `target` (`repo:tag`) to the image `source`. */
  tag(source: string, target: string): Promise<void>;
  /** Pushes `ref` (`registry/name:tag`); throws EnvironmentError with a hint on failure. */
  push(ref: string, options: { signal: AbortSignal; onProgress?(p: PushProgress): void }): Promise<{ digest?: string }>;
  /**
   * Loads dockerode now, so the next build, tag or push does not wait for it (~110 ms of the main
   * thread, once). For a caller with time to spare (the dev loop once it watches); never fails.
   */
  warmUp(): void;
}

/**
 * Failures the engine reports in words that only make sense once explained:
 * - `needs-session`: a `RUN --mount=type=secret|ssh` (`mount`, when the step names it) met a
 *   build without a session serving it ("no active sessions").
 * - `frontend-unavailable`: the engine could not pull the Dockerfile frontend named by a
 *   `# syntax=` line (`frontend`, e.g. docker.io/docker/dockerfile:1.4); `cause` is why.
 */
export type BuildProblem =
  | { kind: 'needs-session'; mount?: 'secret' | 'ssh' }
  | { kind: 'frontend-unavailable'; frontend: string; cause: string };

/**
 * A Dockerfile step failed. `step` is the failing step ("Step N/M : ..." classic, "[stage 1/2] RUN ..."
 * BuildKit), `output` its (last) output lines, `problem` a classified cause when known.
 */
export class ImageBuildError extends FailureError {
  constructor(
    message: string,
    readonly step: string | undefined,
    readonly output: string[],
    readonly problem?: BuildProblem,
  ) {
    super(step ? `${step}: ${message}` : message, { details: output });
  }
}

/**
 * The build context could not be sent as listed: a file changed size or vanished while it was read
 * (an editor saving, a tool writing into the context). The image was not built; building again
 * reads the context anew.
 */
export class BuildContextChangedError extends FailureError {
  constructor(cause: Error) {
    super(`reading the build context failed: ${cause.message}`, {
      hint: 'A file changed or vanished while it was being sent; run the build again.',
      cause,
    });
    this.name = 'BuildContextChangedError';
  }
}

/** The classified cause of a failed BuildKit build, from its error and failed vertex name. */
export function classifyBuildkitFailure(message: string, failedStep: string | undefined): BuildProblem | undefined {
  if (/no active sessions?/i.test(message)) {
    const mount = /--mount=\S*\btype=(secret|ssh)\b/.exec(failedStep ?? '')?.[1] as 'secret' | 'ssh' | undefined;
    return { kind: 'needs-session', ...(mount ? { mount } : {}) };
  }
  const frontend = /^resolve image config for (\S+)$/.exec(failedStep ?? '')?.[1];
  if (frontend || /frontend gateway\.v0/.test(message)) {
    const cause = message.replace(/^(failed to solve with frontend [\w.]+: )+/, '').trim();
    return { kind: 'frontend-unavailable', frontend: frontend ?? /for ([^\s:]+(?::[^\s:]+)?)/.exec(message)?.[1] ?? 'the frontend', cause };
  }
  return undefined;
}

/** Splits `name:tag` (a registry host may carry a port: `localhost:5000/a/b:t`). */
export function splitReference(ref: string): { repository: string; tag: string } {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repository: ref, tag: 'latest' };
}

type Endpoint = { kind: 'socket'; socketPath: string; text: string } | { kind: 'tcp'; host: string; port: number; text: string } | { kind: 'other'; text: string };

function endpointFrom(env: NodeJS.ProcessEnv): Endpoint {
  const host = env.DOCKER_HOST;
  if (!host) return { kind: 'socket', socketPath: '/var/run/docker.sock', text: 'unix:///var/run/docker.sock' };
  if (host.startsWith('unix://')) return { kind: 'socket', socketPath: host.slice('unix://'.length), text: host };
  if (host.startsWith('tcp://') && env.DOCKER_TLS_VERIFY !== '1' && !env.DOCKER_CERT_PATH) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    return { kind: 'tcp', host: url.hostname, port: Number(url.port || 2375), text: host };
  }
  return { kind: 'other', text: host };
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

export function unreachable(endpoint: string, cause?: unknown): EnvironmentError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const permission = code === 'EACCES';
  return new EnvironmentError(`cannot reach the Docker engine at ${endpoint}${code ? ` (${code})` : ''}`, {
    hint: permission
      ? 'Your user may not use the Docker socket: add it to the docker group (then log in again) or run with sudo.'
      : 'Start the Docker daemon (dockerd, Docker Desktop, or `bash test/cluster/docker-up.sh` in this repository), or point DOCKER_HOST at a running engine.',
    cause,
  });
}

function isUnreachable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && UNREACHABLE.has(code);
}

function isAbort(error: unknown, signal?: AbortSignal): boolean {
  return Boolean(signal?.aborted) || (error as Error | undefined)?.name === 'AbortError';
}

interface EngineEvent {
  stream?: string;
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  /** An object, except in `moby.buildkit.trace` events: base64 protobuf there (see `trace`). */
  aux?: { ID?: string; Digest?: string; Tag?: string };
  progress?: string;
}

/** Reads a JSON-lines stream of engine events, calling `onEvent` for each. Resolves at the end. */
function readEvents(stream: NodeJS.ReadableStream, onEvent: (e: EngineEvent) => void, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const flush = (final: boolean) => {
      const parts = buffered.split(/\r?\n/);
      buffered = final ? '' : (parts.pop() ?? '');
      for (const part of parts) {
        const text = part.trim();
        if (!text) continue;
        try {
          onEvent(JSON.parse(text) as EngineEvent);
        } catch {
          onEvent({ stream: `${text}\n` });
        }
      }
    };
    const onAbort = () => {
      (stream as Readable).destroy?.();
      reject(new InterruptedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer | string) => {
      buffered += chunk.toString();
      flush(false);
    });
    stream.on('end', () => {
      signal?.removeEventListener('abort', onAbort);
      flush(true);
      resolve();
    });
    stream.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    // A stream destroyed without an error closes without 'end': settle anyway (callers check why).
    stream.on('close', () => {
      signal?.removeEventListener('abort', onAbort);
      flush(true);
      resolve();
    });
  });
}

const STEP = /^Step \d+\/\d+ : /;

/** Creates the client for DOCKER_HOST (default unix:///var/run/docker.sock). Connects lazily. */
export function createDockerClient(env: NodeJS.ProcessEnv = process.env, credentials: CredentialSource = createCredentialSource(env)): DockerClient {
  const endpoint = endpointFrom(env);
  const credentialsFor = (ref: string, signal?: AbortSignal) => credentials.forHost(registryHostOf(ref), signal ?? new AbortController().signal);
  const authHeader = (found: RegistryCredentials | undefined) => Buffer.from(JSON.stringify(found?.auth ?? {})).toString('base64');
  // dockerode, loaded on first use (see the module comment).
  let dockerode: Promise<import('dockerode')> | undefined;
  const engine = () =>
    (dockerode ??= import('dockerode').then(({ default: Docker }) =>
      endpoint.kind === 'socket' ? new Docker({ socketPath: endpoint.socketPath }) : new Docker(),
    ));

  /** A GET over plain HTTP to the engine; `undefined` means "use dockerode instead". */
  const get = (apiPath: string, signal?: AbortSignal, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> | undefined => {
    if (endpoint.kind === 'other') return undefined;
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          ...(endpoint.kind === 'socket' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port }),
          path: apiPath,
          method: 'GET',
          headers,
          signal,
          timeout: 30_000,
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (d: string) => (body += d));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers }));
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      request.on('error', reject);
      request.end();
    });
  };

  const wrap = async <T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (isAbort(error, signal)) throw new InterruptedError();
      if (isUnreachable(error)) throw unreachable(endpoint.text, error);
      throw error;
    }
  };

  return {
    endpoint: endpoint.text,

    warmUp: () => void engine().catch(() => undefined),

    ping: (signal) =>
      wrap(async () => {
        const direct = get('/_ping', signal);
        if (direct) {
          const { status, headers } = await direct;
          if (status !== 200) throw new EnvironmentError(`the Docker engine at ${endpoint.text} answered ${status} to a ping`, { hint: 'Check the daemon logs (journalctl -u docker) or restart it.' });
          const apiVersion = headerText(headers['api-version']);
          const osType = headerText(headers['ostype']);
          return { apiVersion, osType, buildkit: engineOffersBuildkit(apiVersion, osType) };
        }
        const version = (await (await engine()).version()) as { ApiVersion?: string; Os?: string };
        return { apiVersion: version.ApiVersion, osType: version.Os, buildkit: engineOffersBuildkit(version.ApiVersion, version.Os) };
      }, signal),

    imageExists: (ref, signal) =>
      wrap(async () => {
        const direct = get(`/images/${ref}/json`, signal);
        if (direct) {
          const { status, body } = await direct;
          if (status === 200) return true;
          if (status === 404) return false;
          throw new EnvironmentError(`the Docker engine answered ${status} when asked for image ${ref}: ${body.trim()}`);
        }
        try {
          await (await engine()).getImage(ref).inspect();
          return true;
        } catch (error) {
          if ((error as { statusCode?: number }).statusCode === 404) return false;
          throw error;
        }
      }, signal),

    imageCommand: (ref, signal) =>
      wrap(async () => {
        const direct = get(`/images/${ref}/json`, signal);
        let config: { Entrypoint?: string[] | null; Cmd?: string[] | null } | undefined;
        if (direct) {
          const { status, body } = await direct;
          if (status === 404) return undefined;
          if (status !== 200) throw new EnvironmentError(`the Docker engine answered ${status} when asked for image ${ref}: ${body.trim()}`);
          config = (JSON.parse(body) as { Config?: typeof config }).Config;
        } else {
          try {
            config = ((await (await engine()).getImage(ref).inspect()) as { Config?: typeof config }).Config;
          } catch (error) {
            if ((error as { statusCode?: number }).statusCode === 404) return undefined;
            throw error;
          }
        }
        return { entrypoint: config?.Entrypoint ?? [], cmd: config?.Cmd ?? [] };
      }, signal),

    registryHasImage: (ref, signal) =>
      wrap(async () => {
        if (endpoint.kind === 'socket' && (await loopbackRegistryHas(ref, signal))) return true;
        // Straight over HTTP like ping: a cached deploy asks this of every image, and loading
        // dockerode for it alone would cost more than the question.
        const found = await credentialsFor(ref, signal);
        const direct = get(`/distribution/${ref}/json`, signal, { 'X-Registry-Auth': authHeader(found) });
        if (direct) {
          const { status, body } = await direct;
          if (status === 200) return true;
          let message = body.trim();
          try {
            message = (JSON.parse(body) as { message?: string }).message ?? message;
          } catch {
            // not JSON: the body itself is the message
          }
          if (status === 401 || status === 404 || /manifest unknown|not found|does not exist/i.test(message)) return false;
          throw registryError(ref, message, undefined, found, credentials.configPath);
        }
        try {
          await (await engine()).getImage(ref).distribution({ authconfig: found?.auth ?? {}, abortSignal: signal } as object);
          return true;
        } catch (error) {
          const status = (error as { statusCode?: number }).statusCode;
          const message = describe(error);
          if (status === 401 || status === 404 || /manifest unknown|not found|does not exist/i.test(message)) return false;
          if (isUnreachable(error)) throw error;
          throw registryError(ref, message, error, found, credentials.configPath);
        }
      }, signal),

    build: (context, options) =>
      wrap(async () => {
        const docker = await engine();
        // every credential the user has, as `docker build` sends them (private base images)
        const registryconfig = await credentials.all(options.signal);
        const output: string[] = [];
        let step: string | undefined;
        let stepOutput: string[] = [];
        let imageId: string | undefined;
        let failure: string | undefined;
        let partial = '';
        const buildkit = options.builder === 'buildkit';
        const line = (text: string) => {
          output.push(text);
          if (STEP.test(text)) {
            step = text;
            stepOutput = [];
            options.onStep?.(text);
          } else {
            stepOutput.push(text);
          }
          options.onLine?.(text);
        };
        const progress = new BuildkitProgress(
          (s) => options.onStep?.(s),
          (l) => {
            output.push(l);
            options.onLine?.(l);
          },
        );
        // A context that fails mid-way (a file vanished or changed size) must end the request,
        // which would otherwise wait forever for the rest of the body.
        const contextFailed = new AbortController();
        let contextError: Error | undefined;
        context.on('error', (error) => {
          contextError = error;
          contextFailed.abort();
        });
        const asContextError = (error: unknown): never => {
          if (contextError && !options.signal.aborted) {
            throw new BuildContextChangedError(contextError);
          }
          throw error;
        };
        const stream = await docker
          .buildImage(context as unknown as NodeJS.ReadableStream, {
            dockerfile: options.dockerfile,
            t: options.tags,
            buildargs: options.buildArgs,
            ...(options.target ? { target: options.target } : {}),
            ...(Object.keys(registryconfig).length > 0 ? { registryconfig } : {}),
            ...(buildkit ? { version: '2', ...sessionAuth(registryconfig, options.baseRegistry) } : {}),
            rm: true,
            forcerm: true,
            abortSignal: AbortSignal.any([options.signal, contextFailed.signal]),
          } as object)
          .catch(asContextError);
        contextFailed.signal.addEventListener('abort', () => (stream as unknown as Readable).destroy?.(), { once: true });
        await readEvents(
          stream,
          (event) => {
            const trace = event.id === 'moby.buildkit.trace' ? (event.aux as unknown) : undefined;
            if (typeof trace === 'string') {
              progress.apply(decodeTrace(trace));
              return;
            }
            if (event.stream !== undefined) {
              partial += event.stream;
              const lines = partial.split('\n');
              partial = lines.pop() ?? '';
              for (const l of lines) if (l.trim() !== '') line(l.replace(/\r$/, ''));
            }
            if (event.aux?.ID) imageId = event.aux.ID;
            if (event.errorDetail || event.error) failure = event.errorDetail?.message ?? event.error ?? 'build failed';
          },
          options.signal,
        ).catch(asContextError);
        if (contextError) asContextError(contextError);
        if (partial.trim() !== '') line(partial);
        if (failure !== undefined && buildkit) {
          // BuildKit's error names the command only: the step and its output are in the trace.
          const failed = progress.failed();
          // A base image the registry would not give out without (valid) credentials, as below.
          const base = failed?.name ? /^\[internal\] load metadata for (\S+)/.exec(failed.name)?.[1] : undefined;
          if (base && (PULL_UNAUTHORIZED.test(failure) || /\b401\b/.test(failure))) {
            const found = await credentialsFor(base, options.signal).catch(() => undefined);
            throw new RegistryAuthError(registryHostOf(base), base, failure.trim(), found, credentials.configPath);
          }
          throw new ImageBuildError(failure.trim(), failed?.name, failed?.output ?? [], classifyBuildkitFailure(failure, failed?.name));
        }
        if (failure !== undefined) {
          // Docker prints the failing command's output before the error: those are the step's lines.
          // The classic builder's own bookkeeping lines are not the step's output.
          const ownLines = /^( ---> |Removing intermediate container |Successfully (built|tagged) )/;
          // A base image the registry would not give out without (valid) credentials: an
          // environment problem with the same fix as a refused push, not the Dockerfile's.
          const base = step ? /^Step \d+\/\d+ : FROM\s+(?:--platform=\S+\s+)?(\S+)/i.exec(step)?.[1] : undefined;
          if (base && PULL_UNAUTHORIZED.test(failure)) {
            const found = await credentialsFor(base, options.signal).catch(() => undefined);
            throw new RegistryAuthError(registryHostOf(base), base, failure.trim(), found, credentials.configPath);
          }
          throw new ImageBuildError(failure.trim(), step, stepOutput.filter((l) => !ownLines.test(l)));
        }
        const successId = output.map((l) => /^Successfully built ([0-9a-f]+)/.exec(l)?.[1]).find(Boolean);
        return { imageId: imageId ?? successId, output };
      }, options.signal),

    tag: (source, target) =>
      wrap(async () => {
        const { repository, tag } = splitReference(target);
        await (await engine()).getImage(source).tag({ repo: repository, tag });
      }),

    push: (ref, options) =>
      wrap(async () => {
        const docker = await engine();
        const found = await credentialsFor(ref, options.signal);
        const { repository, tag } = splitReference(ref);
        let failure: string | undefined;
        let digest: string | undefined;
        try {
          const stream = (await docker.getImage(repository).push({ tag, abortSignal: options.signal } as object, undefined as never, found?.auth ?? {})) as unknown as NodeJS.ReadableStream;
          await readEvents(
            stream,
            (event) => {
              if (event.errorDetail || event.error) failure = event.errorDetail?.message ?? event.error;
              else if (event.aux?.Digest) digest = event.aux.Digest;
              else if (event.status) options.onProgress?.({ layer: event.id, status: event.status });
            },
            options.signal,
          );
        } catch (error) {
          if (isAbort(error, options.signal) || isUnreachable(error)) throw error;
          throw registryError(ref, describe(error), error, found, credentials.configPath);
        }
        if (failure !== undefined) throw registryError(ref, failure, undefined, found, credentials.configPath);
        return { digest };
      }, options.signal),
  };
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function describe(error: unknown): string {
  const json = (error as { json?: { message?: string } }).json;
  return json?.message ?? (error as Error).message ?? String(error);
}

/** The registry host of a reference: its first component when that is a host, else Docker Hub. */
const LOOPBACK_REGISTRY = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::(\d+))?$/;
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/**
 * Whether a registry on this machine's loopback address answers 200 to a HEAD of `ref`'s manifest
 * (plain HTTP, no credentials, 2 s at most). False for any other registry, answer or failure: the
 * caller then asks the engine, which decides.
 */
async function loopbackRegistryHas(ref: string, signal?: AbortSignal): Promise<boolean> {
  const host = registryHostOf(ref);
  const loopback = LOOPBACK_REGISTRY.exec(host);
  if (!loopback || !ref.startsWith(`${host}/`) || ref.includes('@')) return false;
  const { repository, tag } = splitReference(ref.slice(host.length + 1));
  return new Promise<boolean>((resolve) => {
    const request = http.request(
      {
        host: loopback[1].replace(/^\[|\]$/g, ''),
        port: Number(loopback[2] ?? 80),
        path: `/v2/${repository}/manifests/${encodeURIComponent(tag)}`,
        method: 'HEAD',
        headers: { accept: MANIFEST_TYPES },
        signal,
        timeout: 2_000,
      },
      (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      },
    );
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
    request.end();
  });
}

export function registryHostOf(ref: string): string {
  const first = ref.split('/')[0];
  return ref.includes('/') && (/[.:]/.test(first) || first === 'localhost') ? first : 'docker.io';
}

/**
 * The registry refused the request for want of valid credentials (401, denied, forbidden). The
 * message names the registry, what devloop sent (and from where) and `docker login`.
 */
/**
 * The credential a BuildKit build's session answers with. dockerode's session serves one,
 * whatever registry BuildKit asks about, so it is given only when every base image comes from one
 * registry (`baseRegistry`) and the user has a username and password for it: no other registry
 * could be asked, and none is sent another's password. Otherwise BuildKit pulls without, and a
 * private base image fails as a RegistryAuthError naming its registry.
 */
function sessionAuth(registryconfig: Record<string, { username?: string; password?: string; serveraddress: string }>, baseRegistry: string | undefined): { authconfig?: { username: string; password: string; serveraddress: string } } {
  const auth = baseRegistry ? registryconfig[baseRegistry] : undefined;
  if (!auth?.username || !auth.password) return {};
  return { authconfig: { username: auth.username, password: auth.password, serveraddress: auth.serveraddress } };
}

export class RegistryAuthError extends EnvironmentError {
  constructor(
    readonly registry: string,
    ref: string,
    detail: string,
    credentials: RegistryCredentials | undefined,
    configPath: string,
    cause?: unknown,
  ) {
    const sent = credentials ? `with the credentials from ${credentials.origin}` : `with no credentials (none for ${registry} in ${configPath})`;
    super(`the registry ${registry} refused ${ref} ${sent}: ${detail}; log in with \`docker login ${registry}\``, {
      hint: `Run \`docker login ${registry}\` (it stores the credentials devloop reads from ${configPath}), or check that this account may push to the repository.`,
      cause,
    });
  }
}

/** How the engine words a registry's refusal for want of (valid) credentials. */
const AUTH_REFUSED = /unauthorized|authentication required|no basic auth credentials|denied|forbidden|401|403/i;
/**
 * The same for a base image's pull, narrower: Docker Hub answers "pull access denied ... may require
 * 'docker login'" for a repository that does not exist, which stays a Dockerfile problem (problems.ts).
 */
const PULL_UNAUTHORIZED = /no basic auth credentials|unauthorized|authentication required/i;

/** A registry problem, classified: unreachable, authentication, or other. */
export function registryError(ref: string, message: string, cause?: unknown, credentials?: RegistryCredentials, configPath = '~/.docker/config.json'): EnvironmentError {
  const registry = registryHostOf(ref);
  if (AUTH_REFUSED.test(message)) {
    return new RegistryAuthError(registry, ref, message, credentials, configPath, cause);
  }
  if (/connection refused|no such host|dial tcp|i\/o timeout|EOF|server gave HTTP response|tls|x509|Client.Timeout/i.test(message)) {
    return new EnvironmentError(`cannot reach the registry ${registry} for ${ref}: ${message}`, {
      hint: `Check that the registry is running and listening at ${registry} (for the test cluster: \`bash test/cluster/status.sh\`).`,
      cause,
    });
  }
  return new EnvironmentError(`pushing ${ref} to ${registry} failed: ${message}`, {
    hint: `Check the registry at ${registry}, then run the command again.`,
    cause,
  });
}
