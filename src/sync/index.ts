/**
 * The Syncer: copies and deletes files in running containers without rebuilding, over one
 * persistent channel per container (an agent loop in `sh` over a websocket exec, see agent.ts), so
 * a sync costs one round trip, not an exec handshake.
 *
 * Who calls: the dev loop (src/dev/) with each plan's SyncOps and the containers of that image, and
 * with `replay` when a container of the image (re)starts. Calls may overlap; batches to one
 * container are applied in call order.
 *
 * Errors: a container that cannot take syncs (no sh, no tar, read-only filesystem, permission
 * denied) rejects with `SyncUnusableError` (a FailureError saying why and that a rebuild is done
 * instead); the caller adds the image to `PlanState.syncDisabled`. A broken channel (pod deleted,
 * connection lost, no ack) is reopened once; if that fails, FailureError. A cluster that cannot be
 * reached rejects with `ClusterUnreachableError` (classified in src/kube, passed through untouched:
 * the caller waits for the cluster, it does not rebuild). A container whose pod is gone (404 on
 * reopening) is skipped with a `debug` message: its replacement gets the op from the ledger when it
 * starts. Never a silent no-op otherwise.
 */
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { DevloopError, FailureError, InterruptedError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { SyncOp } from '../plan/index.js';
import type { KubeClient } from '../kube/client.js';
import { isClusterUnreachable, isNotFound } from '../kube/errors.js';
import { openExecStream } from '../kube/exec.js';
import { AgentChannel, AgentError, AgentUnusableError, type AgentLauncher, type UnusableReason } from './agent.js';
import { SyncLedger } from './ledger.js';
import { buildTar, splitTar, type BuiltTar } from './tar.js';
import { parseRestartAnswer, RESTART_SCRIPT } from './restart.js';

export type { SyncOp } from '../plan/index.js';

export interface ContainerTarget {
  namespace: string;
  pod: string;
  container: string;
  /** The artifact's image name from the config, e.g. `blog/posts`. */
  image: string;
  /** Base of relative sync destinations (image WORKDIR); default: the agent's working directory. */
  workdir?: string;
}

export interface Syncer {
  /**
   * Applies one SyncOp to every target, in parallel, over one persistent channel per container
   * (opened on first use, reopened when broken). Resolves once the files are written in every
   * container. Emits a `sync` event per container with files and duration. Records the op in the
   * image's ledger once it reached at least one container.
   */
  sync(op: SyncOp, targets: ContainerTarget[], signal: AbortSignal): Promise<void>;
  /**
   * Replays the ledger of files synced for target.image since its image was built, into a container
   * that (re)started. Resolves with the op it replayed (undefined: nothing to replay), so the caller
   * can re-run the `after` container hooks those files trigger.
   */
  replay(target: ContainerTarget, signal: AbortSignal): Promise<SyncOp | undefined>;
  /**
   * Restarts the main process of a container that runs under the restart supervisor (restart.ts),
   * after every earlier batch to it was written. Emits `restart` events; rejects with FailureError
   * when it could not (no supervisor, the process did not come back), ClusterUnreachableError as is.
   */
  restart(target: ContainerTarget, timeoutSeconds: number, signal: AbortSignal): Promise<void>;
  /** Forgets the ledger of an image (after it was rebuilt). */
  resetImage(image: string): void;
  /** Closes the channel of a container that is gone. */
  forget(target: Pick<ContainerTarget, 'namespace' | 'pod' | 'container'>): void;
  close(): Promise<void>;
}

/** What the Syncer needs of the deploy helper's KubeClient. */
export interface SyncKubeClient {
  readonly kubeConfig: KubeClient['kubeConfig'];
}

const UNUSABLE_WHY: Record<UnusableReason, string> = {
  'no-sh': 'the image has no sh',
  'no-tar': 'the image has no tar',
  'missing-tool': 'the image lacks a tool the sync agent needs',
  'read-only': 'the container filesystem is read-only',
  permission: 'the container user may not write there',
};

/** A container cannot take syncs; the dev loop rebuilds the image instead. */
export class SyncUnusableError extends FailureError {
  constructor(
    readonly image: string,
    readonly reason: UnusableReason,
    target: Pick<ContainerTarget, 'namespace' | 'pod' | 'container'>,
    detail: string,
  ) {
    super(`cannot sync into ${target.namespace}/${target.pod}/${target.container} (${image}): ${UNUSABLE_WHY[reason]} (${detail}); rebuilding ${image} instead`, {
      hint:
        reason === 'no-sh' || reason === 'no-tar' || reason === 'missing-tool'
          ? 'Sync needs sh, tar and head in the image (busybox provides all three). Add them, or remove the sync rules of this artifact.'
          : reason === 'read-only'
            ? 'Sync writes into the container: drop readOnlyRootFilesystem in development, or sync into a writable volume (emptyDir) mounted at the destination.'
            : 'Make the destination writable by the container user (chown it in the Dockerfile), or run the container as that owner.',
    });
  }
}

function key(t: Pick<ContainerTarget, 'namespace' | 'pod' | 'container'>): string {
  return `${t.namespace}/${t.pod}/${t.container}`;
}

/** A container path resolved against the workdir, normalised. Relative destinations must not escape. */
export function resolveContainerPath(containerPath: string, workdir: string): string {
  return path.posix.resolve(workdir || '/', containerPath);
}

export interface SyncerOptions {
  /** Where agents run; default: in the container, through the Kubernetes exec API. Unit tests pass local processes. */
  launch?: AgentLauncher;
}

/** A tar at least this large is sent gzipped to a container that has gunzip (see agent.ts). */
export const GZIP_MIN_BYTES = 64 * 1024;

const gzip = promisify(gzipCallback);

/**
 * Which batches busybox tar may write in place (agent.ts): any with regular files and no symlink
 * entry whose files go into at most IN_PLACE_MAX_DIRS directories. The agent's shell reads each
 * directory's line a byte at a time, about 40 us a line (busybox sh on this project's test machine):
 * 512 lines cost ~20 ms, next to the hundreds of ms that writing files in that many directories
 * takes. Returns the directories to check, or undefined: the default way.
 */
export const IN_PLACE_MAX_DIRS = 512;
export function inPlaceDirs(built: Pick<BuiltTar, 'fileDirs' | 'symlinks'>): string[] | undefined {
  if (built.symlinks || built.fileDirs.length === 0 || built.fileDirs.length > IN_PLACE_MAX_DIRS || !allLines(built.fileDirs)) return undefined;
  return built.fileDirs;
}

/** Whether every path can go on a line of its own to the agent (a name may hold a newline). */
const allLines = (paths: readonly string[]) => paths.every((p) => !/[\n\r\0]/.test(p));

/**
 * Which batches go as PARTS archives extracted at once (agent.ts, parts): those of at least
 * PARTS_MIN_ENTRIES entries, at most PARTS_MAX_BYTES of tar (each part is read into memory and
 * stored in the container's /dev/shm or /tmp while its tar runs) and entries in at most
 * IN_PLACE_MAX_DIRS directories (created first, one line each, as for in place: none may hold a
 * newline). Below that many entries, the few ms of starting four tars outweigh what they save.
 */
export const PARTS = 4;
export const PARTS_MIN_ENTRIES = 64;
export const PARTS_MAX_BYTES = 16 * 1024 * 1024;
export function inParts(built: Pick<BuiltTar, 'tar' | 'entryEnds' | 'parentDirs'>): boolean {
  return built.entryEnds.length >= PARTS_MIN_ENTRIES && built.tar.length <= PARTS_MAX_BYTES && built.parentDirs.length <= IN_PLACE_MAX_DIRS && allLines(built.parentDirs);
}

export function createSyncer(kube: SyncKubeClient, sink: EventSink, options: SyncerOptions = {}): Syncer {
  const launch: AgentLauncher = options.launch ?? ((target, command, handlers) => openExecStream(kube.kubeConfig, target, command, handlers));
  const channels = new Map<string, Promise<AgentChannel>>();
  const ledger = new SyncLedger();
  /**
   * What one container gets of a built tar: the tar, or its PARTS archives, gzipped or not; made
   * once however many containers get it (gzip level 1: fast; tar padding compresses anyway).
   */
  const payloads = new WeakMap<BuiltTar, Map<string, Promise<Buffer[]>>>();
  const payloadOf = (built: BuiltTar, split: boolean, gzipped: boolean): Promise<Buffer[]> => {
    let forBuilt = payloads.get(built);
    if (!forBuilt) payloads.set(built, (forBuilt = new Map()));
    const kind = `${split}/${gzipped}`;
    let result = forBuilt.get(kind);
    if (!result) {
      const archives = split ? splitTar(built, PARTS) : [built.tar];
      result = gzipped ? Promise.all(archives.map((archive) => gzip(archive, { level: 1 }))) : Promise.resolve(archives);
      forBuilt.set(kind, result);
    }
    return result;
  };
  /** Per container, the tail of its work: ops are read from disk and sent strictly in call order. */
  const tails = new Map<string, Promise<unknown>>();
  let closed = false;

  const inOrder = <T>(target: ContainerTarget, work: () => Promise<T>): Promise<T> => {
    const k = key(target);
    const result = (tails.get(k) ?? Promise.resolve()).then(work, work);
    const tail = result.catch(() => undefined);
    tails.set(k, tail);
    void tail.then(() => {
      if (tails.get(k) === tail) tails.delete(k);
    });
    return result;
  };

  const channelFor = async (target: ContainerTarget, signal: AbortSignal): Promise<AgentChannel> => {
    const k = key(target);
    const existing = channels.get(k);
    if (existing) {
      const channel = await existing.catch(() => undefined);
      if (channel && !channel.broken) return channel;
      channels.delete(k);
    }
    const opening = AgentChannel.open(launch, target, signal);
    channels.set(k, opening);
    opening.catch(() => channels.delete(k));
    return opening;
  };

  /**
   * The tar of an op for one container working directory, built once and shared by every container
   * with that workdir: the files are read once per op, so every replica gets identical content.
   */
  const tarsOf = (op: SyncOp) => {
    const byWorkdir = new Map<string, Promise<BuiltTar>>();
    return (workdir: string): Promise<BuiltTar> => {
      let built = byWorkdir.get(workdir);
      if (!built) {
        built = buildTar(op.copy.map((c) => ({ localPath: c.localPath, containerPath: resolveContainerPath(c.containerPath, workdir) })));
        byWorkdir.set(workdir, built);
      }
      return built;
    };
  };

  /** Sends one op to one container, reopening a broken channel once. Emits one `sync` event. */
  const apply = async (
    op: SyncOp,
    target: ContainerTarget,
    signal: AbortSignal,
    status: 'synced' | 'replayed',
    tarFor: (workdir: string) => Promise<BuiltTar> = tarsOf(op),
  ): Promise<void> => {
    const started = performance.now();
    let attempt = 0;
    for (;;) {
      if (signal.aborted) throw new InterruptedError();
      try {
        const channel = await channelFor(target, signal);
        const workdir = target.workdir || channel.workdir;
        const built = await tarFor(workdir);
        const deletes = [...op.delete.map((d) => resolveContainerPath(d, workdir)), ...built.missing];
        if (deletes.length === 0 && built.tar.length === 0) return;
        const compress = channel.gunzip && built.tar.length >= GZIP_MIN_BYTES;
        const split = channel.parts && inParts(built);
        const payload = await payloadOf(built, split, compress);
        await channel.send(deletes, payload, signal, { gzipped: compress, inPlaceDirs: inPlaceDirs(built), ...(split ? { partDirs: built.parentDirs } : {}) });
        sink.emit({
          type: 'sync',
          artifact: op.image,
          status,
          pod: target.pod,
          container: target.container,
          copied: built.written,
          deleted: deletes,
          durationMs: Math.round(performance.now() - started),
        });
        return;
      } catch (error) {
        if (signal.aborted) throw new InterruptedError();
        if (isClusterUnreachable(error)) {
          channels.delete(key(target));
          throw error;
        }
        if (isNotFound(error)) {
          channels.delete(key(target));
          sink.emit({ type: 'message', level: 'debug', text: `${key(target)} is gone; its replacement gets ${op.image}'s synced files when it starts` });
          return;
        }
        const failure = toFailure(error, op.image, target);
        const retriable = error instanceof AgentError && error.broken && attempt === 0;
        if (retriable) {
          attempt++;
          channels.delete(key(target));
          continue;
        }
        sink.emit({
          type: 'sync',
          artifact: op.image,
          status: 'failed',
          pod: target.pod,
          container: target.container,
          copied: [],
          deleted: [],
          durationMs: Math.round(performance.now() - started),
          message: failure.message,
        });
        throw failure;
      }
    }
  };

  return {
    async sync(op, targets, signal) {
      if (closed) throw new FailureError('the syncer is closed');
      if (op.copy.length === 0 && op.delete.length === 0) return;
      // Recorded up front, in call order, even if a container fails: the working tree is the truth,
      // and a container that missed the op is replayed when it restarts (or rebuilt when sync is
      // unusable there).
      ledger.record(op);
      const tarFor = tarsOf(op);
      const results = await Promise.allSettled(targets.map((t) => inOrder(t, () => apply(op, t, signal, 'synced', tarFor))));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    async replay(target, signal) {
      if (closed) throw new FailureError('the syncer is closed');
      const op = ledger.replayOp(target.image);
      if (!op) return undefined;
      await inOrder(target, () => apply(op, target, signal, 'replayed'));
      return op;
    },
    async restart(target, timeoutSeconds, signal) {
      if (closed) throw new FailureError('the syncer is closed');
      await inOrder(target, () => restartMainProcess(launch, target, timeoutSeconds, signal, sink));
    },
    resetImage(image) {
      ledger.reset(image);
    },
    forget(target) {
      const k = key(target);
      const channel = channels.get(k);
      channels.delete(k);
      void channel?.then((c) => c.close()).catch(() => undefined);
    },
    async close() {
      closed = true;
      const all = [...channels.values()];
      channels.clear();
      await Promise.all(all.map((c) => c.then((ch) => ch.close()).catch(() => undefined)));
    },
  };
}

function toFailure(error: unknown, image: string, target: ContainerTarget): FailureError {
  if (error instanceof FailureError) return error;
  if (error instanceof AgentUnusableError) return new SyncUnusableError(image, error.reason, target, error.message);
  const message = error instanceof Error ? error.message : String(error);
  return new FailureError(`sync into ${key(target)} (${image}) failed: ${message}`, {
    hint: 'The next change retries the sync; a restarted container gets every synced file replayed.',
    cause: error,
  });
}

/** Runs RESTART_SCRIPT in the container (one exec) and reports it with `restart` events. */
async function restartMainProcess(launch: AgentLauncher, target: ContainerTarget, timeoutSeconds: number, signal: AbortSignal, sink: EventSink): Promise<void> {
  const where = { artifact: target.image, namespace: target.namespace, pod: target.pod, container: target.container };
  const started = performance.now();
  sink.emit({ type: 'restart', ...where, status: 'restarting' });
  let stdout = '';
  let stderr = '';
  let stream;
  try {
    stream = await launch(target, ['sh', '-c', RESTART_SCRIPT, 'devloop-restart', String(timeoutSeconds)], {
      onStdout: (chunk) => (stdout += chunk.toString('utf8')),
      onStderr: (chunk) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)),
    });
  } catch (error) {
    if (isClusterUnreachable(error) || error instanceof DevloopError) throw error;
    throw new FailureError(`cannot restart the main process of ${key(target)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const limitMs = (timeoutSeconds + 15) * 1000;
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => stream.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await Promise.race([
      stream.exited,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), limitMs);
      }),
    ]);
    if (signal.aborted) throw new InterruptedError();
    if (exit?.unreachable) throw exit.unreachable;
    const answer = parseRestartAnswer(stdout);
    if (!answer.ok) {
      const why = exit === undefined ? `no answer within ${Math.round(limitMs / 1000)} s` : answer.code === 'no-answer' ? `${exit.message}${stderr.trim() ? `: ${stderr.trim()}` : ''}` : answer.message;
      sink.emit({ type: 'restart', ...where, status: 'failed', durationMs: Math.round(performance.now() - started), message: why });
      throw new FailureError(`restarting the main process of ${key(target)} (${target.image}) failed: ${why}`, {
        hint:
          answer.ok === false && answer.code === 'no-supervisor'
            ? 'The pod was deployed without sync.restart: it runs when devloop redeploys (edit a manifest or press r), or delete the pod.'
            : 'Check that the program stops on SIGTERM; the next sync tries again.',
      });
    }
    sink.emit({ type: 'restart', ...where, status: 'restarted', durationMs: Math.round(performance.now() - started), message: `new pid ${answer.pid}` });
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    stream.close();
  }
}
