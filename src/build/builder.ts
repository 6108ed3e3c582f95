/**
 * The real Builder: builds artifacts on the Docker engine in `requires` order, up to
 * build.concurrency builds and pushes at once, and skips every image whose tag already exists (the
 * look-ups, hashing and registry checks, are not bounded by build.concurrency: they run at once).
 *
 * For each artifact: list and hash its inputs (inputs.ts), derive the tag (tagPolicy), look for
 * the image (in the registry when pushing, else in the engine), and build only when it is missing.
 * A required image's built reference is passed as the build arg named by its `alias`. An image
 * that requires another waits only for that one's reference (its tag is part of its own inputs)
 * to look for itself; it waits for that one's build only when it has to be built itself. So a
 * cached image is found without waiting for the registry check of what it requires.
 *
 * The builder of each artifact (BuildKit or classic) is chosen by builder-choice.ts from what the
 * engine answered to the ping; a fallback of `auto` to classic is noted once per Builder.
 * Before a BuildKit build, RUN mounts that need a session devloop's does not serve (secret, ssh)
 * fail the artifact with the Dockerfile line (see the docker client's module comment).
 *
 * Failures: a failed build gives a `failed` result and its dependents `skipped`; independent
 * builds go on. Environment errors (engine or registry unreachable) stop new work, let running
 * builds finish, and then reject. Abort (Ctrl-C) rejects with InterruptedError.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Artifact, Config } from '../config/load.js';
import { DevloopError, EnvironmentError, InterruptedError, throwIfAborted, UsageError } from '../errors.js';
import type { EventSink } from '../events.js';
import { BuildContextChangedError, createDockerClient, ImageBuildError, splitReference, type BuildProblem, type DockerClient, type EngineInfo } from '../docker/client.js';
import { chooseBuilder, type BuilderChoice } from './builder-choice.js';
import { sessionMounts, soleBaseRegistry, syntaxDirective } from './dockerfile-lines.js';
import { tarContext } from './context.js';
import { buildOrder, unknownImage } from '../shared/artifact-graph.js';
import { FileHashCache } from './hash-cache.js';
import { computeInputs, explainChange, inputDigestTag, readLastManifest, writeLastManifest, type InputsResult } from './inputs.js';
import { dateTimeTag, gitCommitTag } from './tag-policy.js';
import type { BuildOptions, BuildResult, Builder } from './types.js';
import { suggestBuildFix } from './problems.js';
import { substituteDefaultRepo } from './default-repo.js';
// host.ts and types.ts only: the hooks' index also loads the Kubernetes client, which a build never needs
import { runHostHook } from '../hooks/host.js';
import { buildHookEnv, describeOutcome, hookLabel } from '../hooks/types.js';

export function createBuilder(docker: DockerClient = createDockerClient(), env: NodeJS.ProcessEnv = process.env): Builder {
  const noted = new Set<string>();
  return { build: (config, options) => runBuilds(docker, config, options, env, noted), warmUp: () => docker.warmUp() };
}

/** Whether an image name already names a registry (`localhost:5000/x`, `ghcr.io/x`). */
export function hasRegistryHost(image: string): boolean {
  const first = image.split('/')[0];
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
}

/**
 * The reference of `image:tag` in `registry`. An image that already names a registry host keeps
 * its path under the new registry (`ghcr.io/acme/api` -> `localhost:5000/acme/api`).
 */
export function registryRef(registry: string, image: string, tag: string): string {
  const path = hasRegistryHost(image) ? image.slice(image.indexOf('/') + 1) : image;
  return `${registry}/${path}:${tag}`;
}

/** The artifacts to build for `images`: those named, plus requirements not resolved by `previous`. */
export function selectArtifacts(config: Config, images: readonly string[] | undefined, previous?: ReadonlyMap<string, BuildResult>): Artifact[] {
  const all = config.build.artifacts;
  if (!images || images.length === 0) return [...all];
  const byImage = new Map(all.map((a) => [a.image, a]));
  const named = new Set(images);
  const wanted = new Set<string>();
  const visit = (image: string, isNamed: boolean) => {
    if (wanted.has(image)) return;
    const prior = previous?.get(image);
    if (!isNamed && prior && (prior.status === 'built' || prior.status === 'cached')) return;
    wanted.add(image);
    for (const r of byImage.get(image)?.requires ?? []) visit(r.image, named.has(r.image));
  };
  for (const image of images) {
    if (!byImage.has(image)) throw unknownImage(image, [...byImage.keys()]);
    visit(image, true);
  }
  return all.filter((a) => wanted.has(a.image));
}

/** A counting semaphore: at most `limit` holders at once, served in request order. */
function semaphore(limit: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return {
    async acquire(): Promise<() => void> {
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      active++;
      return () => {
        active--;
        waiting.shift()?.();
      };
    },
  };
}

async function runBuilds(docker: DockerClient, config: Config, options: BuildOptions, env: NodeJS.ProcessEnv, noted: Set<string>): Promise<BuildResult[]> {
  const { signal, sink } = options;
  const selected = selectArtifacts(config, options.images, options.previous);
  for (const a of selected) {
    const rel = path.relative(a.contextDir, a.dockerfilePath);
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new UsageError(`the Dockerfile of ${a.image} (${a.dockerfilePath}) is outside its context ${a.contextDir}`, {
        hint: 'devloop sends only the context to the engine: move the Dockerfile into the context directory, or widen build.artifacts[].context.',
      });
    }
    if (options.push && !options.registry && !options.defaultRepo && !hasRegistryHost(a.image)) {
      throw new UsageError(`cannot push ${a.image}: its name has no registry and no registry was given`, {
        hint: 'Name the image with its registry in the config (e.g. image: registry.example.com/blog/posts); with devloop build you can also pass --registry HOST:PORT (e.g. --registry localhost:5000).',
      });
    }
  }
  if (selected.length === 0) return [];
  throwIfAborted(signal);
  // The engine is asked while the hash cache is read.
  const [engine, hashes]: [EngineInfo, FileHashCache] = await Promise.all([docker.ping(signal), FileHashCache.load(config.rootDir)]);
  const choices = new Map(selected.map((a) => [a.image, chooseBuilder(config, a, engine, env)]));
  for (const choice of choices.values()) {
    if (choice.note && !noted.has(choice.note)) {
      noted.add(choice.note);
      sink.emit({ type: 'message', level: 'info', text: choice.note });
    }
  }

  const slots = semaphore(Math.max(1, config.build.concurrency));
  const results = new Map<string, Promise<BuildResult>>();
  const selectedImages = new Set(selected.map((a) => a.image));
  let fatal: DevloopError | undefined;

  // Each artifact's reference is known once its inputs are hashed, before its cache check: an
  // artifact that requires it needs only that to compute its own tag and check its own cache.
  const refs = new Map(selected.map((a) => [a.image, deferred<string | undefined>()]));

  /** The results of the images `artifact` requires, or its `skipped` result when one did not build. */
  const requiredResults = async (artifact: Artifact): Promise<Record<string, BuildResult> | BuildResult> => {
    const required: Record<string, BuildResult> = {};
    for (const r of artifact.requires) {
      const result = selectedImages.has(r.image) ? await results.get(r.image) : options.previous?.get(r.image);
      if (!result || result.status === 'failed' || result.status === 'skipped') {
        const why = !result ? 'was not built' : result.status === 'failed' ? 'failed' : 'was skipped';
        return skipped(artifact.image, `requires ${r.image}, which ${why}`, sink);
      }
      required[r.image] = result;
    }
    return required;
  };

  const startArtifact = async (artifact: Artifact): Promise<BuildResult> => {
    const ownRef = refs.get(artifact.image)!;
    try {
      const requiredRefs: Record<string, string> = {};
      for (const r of artifact.requires) {
        const prior = options.previous?.get(r.image);
        const ref = selectedImages.has(r.image) ? await refs.get(r.image)!.promise : prior?.status === 'built' || prior?.status === 'cached' ? prior.tag : undefined;
        if (!ref) {
          const required = await requiredResults(artifact);
          if (isResult(required)) return required;
          throw new Error(`internal: ${r.image} built without a reference`);
        }
        requiredRefs[r.image] = ref;
      }
      if (fatal) return skipped(artifact.image, `not started: ${fatal.message}`, sink);
      throwIfAborted(signal);
      // A slot is taken only for engine work (build, push): the cache check runs at once for all.
      return await buildOne(docker, config, artifact, { refs: requiredRefs, results: () => requiredResults(artifact) }, hashes, options, choices.get(artifact.image)!, ownRef.resolve, async () => {
        const release = await slots.acquire();
        if (fatal) {
          release();
          throw fatal;
        }
        return release;
      });
    } catch (error) {
      if (fatal && error === fatal) return skipped(artifact.image, `not started: ${fatal.message}`, sink);
      if (error instanceof DevloopError && (error.kind === 'environment' || error.kind === 'interrupted' || error.kind === 'user')) {
        fatal ??= error;
        // the hint says what to do (start the engine, check the registry): it belongs on the event
        const hint = error.hint ? { hint: error.hint } : {};
        if (error.kind !== 'interrupted') sink.emit({ type: 'build', image: artifact.image, status: 'failed', reason: error.message, ...hint });
        return { image: artifact.image, tag: '', status: 'failed', reason: error.message, ...hint };
      }
      throw error;
    } finally {
      // no reference: the images that require this one learn why from its result
      ownRef.resolve(undefined);
    }
  };

  for (const artifact of buildOrder(selected)) results.set(artifact.image, startArtifact(artifact));
  try {
    const settled = await Promise.all(selected.map((a) => results.get(a.image)!));
    if (signal.aborted) throw new InterruptedError();
    if (fatal) throw fatal;
    return settled;
  } finally {
    // Prune entries of deleted files only when every context was hashed in this run.
    await hashes.save({ prune: selected.length === config.build.artifacts.length && !signal.aborted && !fatal });
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function isResult(x: Record<string, BuildResult> | BuildResult): x is BuildResult {
  return typeof (x as BuildResult).status === 'string' && typeof (x as BuildResult).image === 'string';
}

function skipped(image: string, reason: string, sink: EventSink): BuildResult {
  sink.emit({ type: 'build', image, status: 'failed', skipped: true, reason });
  return { image, tag: '', status: 'skipped', reason };
}

async function buildOne(
  docker: DockerClient,
  config: Config,
  artifact: Artifact,
  required: { refs: Record<string, string>; results: () => Promise<Record<string, BuildResult> | BuildResult> },
  hashes: FileHashCache,
  options: BuildOptions,
  choice: BuilderChoice,
  onRef: (ref: string) => void,
  engineSlot: () => Promise<() => void>,
): Promise<BuildResult> {
  const { signal, sink } = options;
  const registry = options.defaultRepo ?? options.registry;
  const image = artifact.image;
  let started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);

  const requiredTags = Object.fromEntries(Object.entries(required.refs).map(([name, ref]) => [name, splitReference(ref).tag]));
  let inputs: InputsResult;
  try {
    inputs = await computeInputs(artifact, requiredTags, hashes, signal);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (error instanceof DevloopError || !e.code || !e.path) throw error;
    // An unreadable file in the context: this artifact fails, as `docker build` would.
    const reason = `cannot read ${path.relative(config.rootDir, e.path).split(path.sep).join('/')}: ${e.code}`;
    sink.emit({ type: 'build', image, status: 'failed', reason, durationMs: elapsed() });
    return { image, tag: '', status: 'failed', reason, durationMs: elapsed() };
  }
  const policy = config.build.tagPolicy;
  const tag =
    policy === 'inputDigest' ? inputDigestTag(inputs.digest) : policy === 'gitCommit' ? await gitCommitTag(artifact.contextDir, signal) : dateTimeTag();
  const localRef = `${image}:${tag}`;
  const ref = options.defaultRepo
    ? `${substituteDefaultRepo(options.defaultRepo, image)}:${tag}`
    : options.registry
      ? registryRef(options.registry, image, tag)
      : localRef;
  const reusable = policy === 'inputDigest' || (policy === 'gitCommit' && !tag.endsWith('-dirty'));
  onRef(ref);

  // Is it there already?
  let inRegistry = false;
  let inEngine = false;
  if (reusable) {
    if (options.push) inRegistry = await docker.registryHasImage(ref, signal);
    if (!inRegistry) {
      inEngine = await docker.imageExists(ref, signal);
      if (!inEngine && ref !== localRef && (await docker.imageExists(localRef, signal))) {
        if (!options.dryRun) await docker.tag(localRef, ref);
        inEngine = true;
      }
    }
  }
  const previous = await readLastManifest(config.rootDir, image);
  if (inRegistry || inEngine) {
    if (!options.dryRun && previous?.tag !== tag) await writeLastManifest(config.rootDir, inputs.manifest, tag);
    if (options.push && !inRegistry) {
      if (options.dryRun) {
        sink.emit({ type: 'build', image, status: 'planned', tag: ref, reason: `built, not yet in ${registry ?? 'the registry'}: would push` });
        return { image, tag: ref, status: 'planned', reason: 'would push' };
      }
      const release = await engineSlot();
      try {
        await push(docker, image, ref, options);
      } finally {
        release();
      }
      return { image, tag: ref, status: 'cached', pushed: true, durationMs: elapsed() };
    }
    sink.emit({ type: 'build', image, status: 'cached', tag: ref, durationMs: elapsed(), reason: inRegistry ? `in ${registry ?? 'the registry'}` : 'in the engine' });
    return { image, tag: ref, status: 'cached', pushed: options.push ? true : undefined, durationMs: elapsed() };
  }

  // To be built: what it requires (its FROM) must be built or cached first (not counted as its time).
  const waitedFrom = performance.now();
  const requiredResults = await required.results();
  started += performance.now() - waitedFrom;
  if (isResult(requiredResults)) return requiredResults;
  const reason = buildReason(policy, tag, previous, inputs.manifest, path.relative(config.rootDir, artifact.contextDir).split(path.sep).join('/'), ref);
  if (options.dryRun) {
    sink.emit({ type: 'build', image, status: 'planned', tag: ref, reason });
    return { image, tag: ref, status: 'planned', reason };
  }

  const release = await engineSlot();
  try {
    return await buildAndPush(docker, config, artifact, requiredResults, inputs, { tag, ref, localRef, reason, started }, options, choice);
  } finally {
    release();
  }
}

/** The engine's part of `buildOne`: build the image from its inputs, then push it when asked. */
async function buildAndPush(
  docker: DockerClient,
  config: Config,
  artifact: Artifact,
  required: Record<string, BuildResult>,
  inputs: InputsResult,
  what: { tag: string; ref: string; localRef: string; reason: string; started: number },
  options: BuildOptions,
  choice: BuilderChoice,
): Promise<BuildResult> {
  const { signal, sink } = options;
  const { tag, ref, localRef, reason } = what;
  const image = artifact.image;
  const elapsed = () => Math.round(performance.now() - what.started);
  sink.emit({ type: 'build', image, status: 'building', tag: ref, reason, builder: choice.builder, builderReason: choice.reason });
  const dockerfileLabel = path.relative(config.rootDir, artifact.dockerfilePath).split(path.sep).join('/');
  const dockerfileText = choice.builder === 'buildkit' ? await readFile(artifact.dockerfilePath, 'utf8') : '';
  const fail = (failure: string, hint: string, extra: { step?: string; output?: string[] } = {}): BuildResult => {
    sink.emit({ type: 'build', image, status: 'failed', tag: ref, reason: failure, hint, ...extra, durationMs: elapsed() });
    return { image, tag: ref, status: 'failed', reason: failure, hint, durationMs: elapsed() };
  };
  const needsSession = sessionMounts(dockerfileText)[0];
  if (needsSession) {
    const explained = explainProblem({ kind: 'needs-session', mount: needsSession.type }, dockerfileLabel, dockerfileText);
    return fail(explained.reason, explained.hint);
  }
  const hookFailure = await runBuildHooks('before', artifact, ref, options);
  if (hookFailure) {
    sink.emit({ type: 'build', image, status: 'failed', tag: ref, reason: hookFailure.reason, output: hookFailure.output, durationMs: elapsed() });
    return { image, tag: ref, status: 'failed', reason: hookFailure.reason, durationMs: elapsed() };
  }
  const buildArgs: Record<string, string> = { ...artifact.buildArgs };
  for (const r of artifact.requires) buildArgs[r.alias] = required[r.image].tag;
  try {
    await docker.build(await tarContext(inputs.entries, signal), {
      dockerfile: inputs.manifest.dockerfile.path,
      tags: [...new Set([localRef, ref])],
      buildArgs,
      target: artifact.target,
      builder: choice.builder,
      ...(choice.builder === 'buildkit' ? { baseRegistry: soleBaseRegistry(dockerfileText, buildArgs) } : {}),
      signal,
      onStep: (step) => sink.emit({ type: 'build', image, status: 'step', step }),
    });
  } catch (error) {
    if (error instanceof ImageBuildError && error.problem) {
      const explained = explainProblem(error.problem, dockerfileLabel, dockerfileText, error.step);
      return fail(explained.reason, explained.hint, { step: error.step, output: error.output });
    }
    if (error instanceof ImageBuildError) {
      const failure = describeBuildFailure(error);
      const hint = suggestBuildFix({ step: error.step, message: error.message, context: contextLabel(config, artifact) });
      sink.emit({ type: 'build', image, status: 'failed', tag: ref, reason: failure, hint, step: error.step, output: error.output, durationMs: elapsed() });
      return { image, tag: ref, status: 'failed', reason: failure, hint, durationMs: elapsed() };
    }
    if (error instanceof BuildContextChangedError) {
      // a file changed while it was sent: this build failed, the next one reads the context anew
      // (devloop dev's watcher has the change and rebuilds)
      return fail(error.message, error.hint ?? '');
    }
    if (error instanceof DevloopError) throw error;
    // The engine refused the request itself (bad Dockerfile name, invalid target...): the user's input.
    const raw = (error as { json?: { message?: string } }).json?.message ?? (error as Error).message;
    const dockerfile = path.relative(config.rootDir, artifact.dockerfilePath).split(path.sep).join('/');
    const message = `${dockerfile}: ${raw.replace(/^\(HTTP code \d+\) [\w ]+ - /, '').trim()}`;
    const hint = suggestBuildFix({ message: raw, context: contextLabel(config, artifact) });
    sink.emit({ type: 'build', image, status: 'failed', tag: ref, reason: message, hint, durationMs: elapsed() });
    return { image, tag: ref, status: 'failed', reason: message, hint, durationMs: elapsed() };
  }
  const afterFailure = await runBuildHooks('after', artifact, ref, options);
  if (afterFailure) {
    // the manifest is not recorded: the next build explains itself from the last good one
    sink.emit({ type: 'build', image, status: 'failed', tag: ref, reason: afterFailure.reason, output: afterFailure.output, durationMs: elapsed() });
    return { image, tag: ref, status: 'failed', reason: afterFailure.reason, durationMs: elapsed() };
  }
  await writeLastManifest(config.rootDir, inputs.manifest, tag);
  sink.emit({ type: 'build', image, status: 'built', tag: ref, durationMs: elapsed(), reason });
  if (options.push) {
    await push(docker, image, ref, options);
    return { image, tag: ref, status: 'built', reason, durationMs: elapsed(), pushed: true };
  }
  return { image, tag: ref, status: 'built', reason, durationMs: elapsed() };
}

/**
 * Runs an artifact's build hooks (`hooks.before` / `hooks.after`, host commands in the context
 * directory with DEVLOOP_IMAGE and Skaffold's build variables), in order, only around an actual
 * build (a cached image runs none, as in Skaffold). Resolves with the first failure, which fails
 * the build; InterruptedError when the build was interrupted meanwhile.
 */
async function runBuildHooks(when: 'before' | 'after', artifact: Artifact, ref: string, options: BuildOptions): Promise<{ reason: string; output: string[] } | undefined> {
  const list = artifact.hooks?.[when] ?? [];
  for (const [i, hook] of list.entries()) {
    const hookRef = { phase: 'build' as const, when, index: i + 1, artifact: artifact.image };
    const outcome = await runHostHook(
      hookRef,
      {
        command: hook.host.command,
        cwd: path.resolve(artifact.contextDir, hook.host.dir ?? '.'),
        env: buildHookEnv({ imageRef: ref, contextDir: artifact.contextDir, push: options.push }),
        timeoutMs: hook.timeoutSeconds * 1000,
      },
      { signal: options.signal, sink: options.sink },
    );
    if (outcome.status === 'interrupted') throw new InterruptedError();
    if (outcome.status !== 'succeeded') return { reason: `${hookLabel(hookRef)} hook ${describeOutcome(outcome)}: ${hook.host.command.join(' ')}`, output: outcome.output };
  }
  return undefined;
}

function buildReason(
  policy: Config['build']['tagPolicy'],
  tag: string,
  previous: Awaited<ReturnType<typeof readLastManifest>>,
  current: Parameters<typeof explainChange>[1],
  prefix: string,
  ref: string,
): string {
  if (policy === 'dateTime') return 'tagPolicy dateTime builds every time';
  if (policy === 'gitCommit' && tag.endsWith('-dirty')) return 'uncommitted changes in the context (tagPolicy gitCommit)';
  const changes = explainChange(previous, current, prefix);
  if (changes.length > 0) return changes.join(', ');
  return `${ref} is not in the engine`;
}

async function push(docker: DockerClient, image: string, ref: string, options: BuildOptions): Promise<void> {
  const started = performance.now();
  options.sink.emit({ type: 'build', image, status: 'pushing', tag: ref });
  try {
    // Layer progress goes out as `step` events (shown with --verbose), one per layer state change.
    const states = new Map<string, string>();
    await docker.push(ref, {
      signal: options.signal,
      onProgress: ({ layer, status }) => {
        if (!layer || states.get(layer) === status || !/^(Pushing|Pushed|Layer already exists|Mounted from)/.test(status)) return;
        states.set(layer, status);
        options.sink.emit({ type: 'build', image, status: 'step', step: `push ${layer}: ${status}` });
      },
    });
  } catch (error) {
    if (error instanceof DevloopError) throw error;
    throw new EnvironmentError(`pushing ${ref} failed: ${(error as Error).message}`, { hint: 'Check the registry, then run the command again.', cause: error });
  }
  options.sink.emit({ type: 'build', image, status: 'pushed', tag: ref, durationMs: Math.round(performance.now() - started) });
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0];
}

/** "Step 5/8 : RUN make: exited with code 3" from the engine's longer wording. */
function contextLabel(config: Config, artifact: { contextDir: string }): string {
  return path.relative(config.rootDir, artifact.contextDir).split(path.sep).join('/') || '.';
}

export function describeBuildFailure(error: ImageBuildError): string {
  const message = firstLine(error.step && error.message.startsWith(error.step) ? error.message.slice(error.step.length + 2) : error.message).replace(
    /^(failed to solve with frontend dockerfile\.v0: )?(failed to create LLB definition: )?/,
    '',
  );
  // classic: "returned a non-zero code: 3"; BuildKit: "executor failed running [...]: exit code: 3"
  const code = /returned a non-zero code: (\d+)|^executor failed running .*: exit code: (\d+)$/.exec(message)?.slice(1).find(Boolean);
  const short = code !== undefined ? `exited with code ${code}` : message;
  return error.step ? `${error.step}: ${short}` : short;
}

/**
 * The failure message (naming the Dockerfile line) and what to do, for a classified BuildKit
 * problem. `dockerfileText` may be empty (then the line is found from `step`, or not named).
 */
export function explainProblem(problem: BuildProblem, dockerfile: string, dockerfileText: string, step?: string): { reason: string; hint: string } {
  if (problem.kind === 'needs-session') {
    const mounts = sessionMounts(dockerfileText);
    const stepCommand = step?.replace(/^\[[^\]]*\]\s*/, '');
    const mount = mounts.find((m) => m.instruction === stepCommand) ?? mounts.find((m) => m.type === problem.mount) ?? mounts[0];
    const type = mount?.type ?? problem.mount;
    const where = mount ? `${dockerfile}:${mount.line}` : dockerfile;
    const flag = type ? `RUN --mount=type=${type}` : 'a RUN --mount';
    return {
      reason: `${where}: ${flag} needs a BuildKit session that serves ${type === 'ssh' ? 'an ssh agent' : type === 'secret' ? 'secrets' : 'it'}; devloop's session serves registry credentials only`,
      hint:
        type === 'ssh'
          ? `Remove the ssh mount from this RUN (or add required=false so the step runs without it); to fetch private sources, vendor them into the build context.`
          : `Remove the secret mount from this RUN (or add required=false so the step runs without it); for a development image, pass the value with build.artifacts[].buildArgs or a file in the context that .dockerignore does not exclude.`,
    };
  }
  const directive = syntaxDirective(dockerfileText);
  const where = directive ? `${dockerfile}:${directive.line}` : dockerfile;
  const named = directive ? `# syntax=${directive.image}` : `the syntax directive (${problem.frontend})`;
  return {
    reason: `${where}: the engine cannot pull the Dockerfile frontend ${problem.frontend} named by ${named}: ${firstLine(problem.cause)}`,
    hint: `Remove the \`# syntax=\` line to build with the engine's built-in Dockerfile frontend, or make ${problem.frontend} pullable by the engine (its registry reachable, or the image loaded with docker load).`,
  };
}
