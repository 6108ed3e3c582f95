/**
 * The sync agent: a POSIX sh loop started once per container over a persistent exec stream
 * (src/kube/exec.ts), which applies batches of deletes and a tar stream and acknowledges each.
 *
 * Protocol (client -> agent, on stdin):
 *   `B <id> <tarBytes> <deleteCount> <checkCount> <partCount>[ z]\n`, then deleteCount lines, each
 *   an absolute path to remove (`rm -rf`; paths may hold spaces and any unicode, not newlines), then
 *   checkCount lines (see in place, below; -1: none, and not in place), then, when partCount > 1,
 *   partCount lines with each part's byte count, a line with a count of directories and that many
 *   lines, each a directory (see parts, below), then exactly tarBytes bytes.
 *   One part: a tar stream, extracted at `/` with `head -c tarBytes | tar -x`; with `z`, the bytes
 *   are the tar gzipped (`head -c tarBytes | gunzip -c | tar -x`).
 * Agent -> client, on stdout:
 *   `Z` when the container has gunzip (the client may then send gzipped batches), `O` when it can
 *   write in place with busybox tar (below), `P` when it can take parts, then `R <workdir>` once
 *   ready (sh, tar, head, rm and cat present), or `E <code> <message>` and exit (code: no-tar,
 *   no-head, no-rm, no-cat); then `A <id> ok` or `A <id> err <message>` per batch.
 *
 * Parts. Writing a burst of small files is the container's file system's work, and one tar does it
 * one file at a time: in a pod of the test cluster (overlay on ext4, 2 cores, both replicas at
 * once), 1,000 files took ~200 ms with one tar and ~135 ms with four extracting a quarter each. So
 * a large batch may come as several archives of consecutive entries (each with its end blocks,
 * gzipped each with `z`). The agent reads each part's exact byte count with `dd bs=N count=1
 * iflag=fullblock` (a single read of the whole part, nothing beyond it: unlike `head`) into a file
 * in /dev/shm (or /tmp), starts a tar on it in the background, and acks once every tar exited. It
 * says `P` only when dd reads exactly, mkdir exists and one of those directories is writable. The
 * directories the entries go into are created first (`mkdir -p`; existing ones are left as they
 * are): GNU tar fails a file whose missing directory another tar creates at the same moment.
 *
 * In place. By default a tar unlinks an existing file and creates it again: the file gets a new
 * inode, and a watcher of the file rather than its directory (`node --watch` on Linux, in an alpine
 * image as much as a Debian one) sees the first change only. So files are rewritten in place:
 * - GNU tar always gets `--overwrite`: it rewrites an existing regular file in place (O_TRUNC,
 *   O_NOFOLLOW: a symlink at the destination is replaced, never written through).
 * - Busybox tar's `--overwrite` opens with O_TRUNC but follows a symlink at the destination, writes
 *   into every name of a hard-linked file, and cannot put a symlink over an existing file. So it is
 *   used only for a batch the client marks (checkCount >= 0: it holds no symlink entry) and only
 *   when none of the checkCount directories its regular files go into holds a symlink or a
 *   multiply-linked file (one `find -maxdepth 1`; a directory that does not exist yet is new).
 *   Otherwise the batch is extracted the default way. A batch that fails in place is sent again by
 *   the client not in place (AgentChannel.send), as a file the container's user may replace but
 *   not rewrite (its directory writable, the file not) would.
 * Speed is not the reason: in a pod of the test cluster (overlay on ext4), rewriting 1,000 small
 * files in place took as long as recreating them once their data was on disk (about 240 ms), and
 * longer (260 against 115 ms) when the previous copy was a second old (probably ext4 writing out a
 * file truncated and rewritten at once, its auto_da_alloc; not verified). One file: 6 ms either way.
 *
 * Large batches are gzipped (GZIP_MIN_BYTES): a burst of small files is mostly tar headers and
 * padding (1,000 files of a line each: 1 MB of tar, 30 KB gzipped), and every byte crosses the API
 * server, the kubelet and the runtime's stream before `tar` sees it.
 *
 * The client sends one batch at a time and waits for its ack: busybox `head -c N` reads ahead of
 * N bytes from a pipe through stdio buffering (checked with busybox 1.35: `printf 'abcdef\nB 2\n' |
 * { head -c 3; cat; }` prints `abc` and cat gets nothing), which is harmless only when nothing
 * follows the batch in the pipe. `read` takes one byte at a time from a pipe, so header, delete and
 * check lines never eat into the tar. `tar` alone cannot frame the stream: busybox tar also consumes
 * what follows the archive. After tar exits, `cat` drains what remains of the N bytes (tar stops at the
 * end-of-archive blocks), so the next header is always read at a batch boundary.
 * Contract: `AgentChannel.send` resolves only once the agent acknowledged the batch, i.e. the files
 * are written in the container.
 */
import { DevloopError } from '../errors.js';
import { redactExecUrls, type ExecStream } from '../kube/exec.js';
import { isForbidden } from '../kube/errors.js';
import type { ContainerRef } from '../kube/types.js';

/** Starts `sh -c AGENT_SCRIPT` somewhere (a container through src/kube/exec.ts; a local process in unit tests). */
export type AgentLauncher = (
  target: ContainerRef,
  command: string[],
  handlers: { onStdout(chunk: Buffer): void; onStderr(chunk: Buffer): void },
) => Promise<ExecStream>;

export const AGENT_SCRIPT = [
  'for t in tar head rm cat; do command -v "$t" >/dev/null 2>&1 || { echo "E no-$t $t is not installed in the container"; exit 3; }; done',
  'command -v gunzip >/dev/null 2>&1 && echo Z',
  // ow: GNU tar's --overwrite, always; io: busybox tar's, for a checked batch (find must work)
  'ow=; io=; case "$(tar --version 2>/dev/null)" in *GNU*) ow=--overwrite;; *) case "$(tar --help 2>&1)" in *--overwrite*) find / -maxdepth 0 \\( -type l -o -type f -links +1 \\) >/dev/null 2>&1 && io=--overwrite && echo O;; esac;; esac',
  // pf: where parts are stored while their tar runs (removed after); set only when dd reads exactly
  'pf=; if command -v mkdir >/dev/null 2>&1 && [ "$(printf abc | dd bs=3 count=1 iflag=fullblock 2>/dev/null)" = abc ]; then for t in /dev/shm /tmp; do if : 2>/dev/null > "$t/.devloop-sync-$$"; then rm -f "$t/.devloop-sync-$$"; pf=$t/.devloop-sync-$$; echo P; break; fi; done; fi',
  'echo "R $(pwd)"',
  'while IFS= read -r line; do',
  '  set -f; set -- $line; set +f',
  '  [ "$1" = B ] || { echo "A ? err protocol error: unexpected line"; exit 4; }',
  '  id=$2; n=$3; d=$4; c=$5; q=$6; z=$7; err=""; i=0; m=$ow',
  '  while [ "$i" -lt "$d" ]; do',
  '    IFS= read -r p',
  '    if [ -z "$err" ]; then out=$(rm -rf -- "$p" 2>&1) || err="${out:-rm -rf $p failed}"; fi',
  '    i=$((i+1))',
  '  done',
  '  if [ "$c" -ge 0 ]; then',
  '    set --; i=0',
  '    while [ "$i" -lt "$c" ]; do IFS= read -r p; [ -d "$p" ] && set -- "$@" "$p/"; i=$((i+1)); done',
  '    if [ -n "$io" ]; then',
  '      if [ $# -eq 0 ]; then m=$io; else l=$(find "$@" -maxdepth 1 \\( -type l -o -type f -links +1 \\) 2>/dev/null) && [ -z "$l" ] && m=$io; fi',
  '    fi',
  '  fi',
  '  if [ "$q" -gt 1 ]; then',
  '    set --; i=0',
  '    while [ "$i" -lt "$q" ]; do IFS= read -r s; set -- "$@" "$s"; i=$((i+1)); done',
  '    IFS= read -r k; i=0',
  '    while [ "$i" -lt "$k" ]; do IFS= read -r s; mkdir -p -- "$s" 2>/dev/null; i=$((i+1)); done',
  '    i=0',
  '    for s in "$@"; do',
  '      f=$pf.$i; i=$((i+1))',
  '      dd bs="$s" count=1 iflag=fullblock of="$f" 2>/dev/null',
  '      if [ "$z" = z ]; then ( e=$( { gunzip -c "$f" | tar -x -o $m -f - -C /; } 2>&1 ) || echo "${e:-tar -x failed}" > "$f.err"; rm -f "$f" ) &',
  '      else ( e=$(tar -x -o $m -f "$f" -C / 2>&1) || echo "${e:-tar -x failed}" > "$f.err"; rm -f "$f" ) &',
  '      fi',
  '    done',
  '    wait',
  '    i=0',
  '    while [ "$i" -lt "$q" ]; do f=$pf.$i.err; if [ -e "$f" ]; then err="${err:+$err; }$(cat "$f")"; rm -f "$f"; fi; i=$((i+1)); done',
  '  elif [ "$n" -gt 0 ] && [ "$z" = z ]; then',
  '    out=$(head -c "$n" | { { gunzip -c | tar -x -o $m -f - -C /; } 2>&1; r=$?; cat >/dev/null; exit $r; }) || err="${err:+$err; }${out:-tar -x failed}"',
  '  elif [ "$n" -gt 0 ]; then',
  '    out=$(head -c "$n" | { tar -x -o $m -f - -C / 2>&1; r=$?; cat >/dev/null; exit $r; }) || err="${err:+$err; }${out:-tar -x failed}"',
  '  fi',
  // Unquoted $err (globbing off) joins its lines with spaces: one ack line whatever tar printed.
  '  if [ -z "$err" ]; then echo "A $id ok"; else set -f; echo "A $id err" $err; set +f; fi',
  'done',
].join('\n');

/** Why a container cannot take syncs. */
export type UnusableReason = 'no-sh' | 'no-tar' | 'missing-tool' | 'read-only' | 'permission';

/** The agent could not start or could not write: the image or pod needs a change, not a retry. */
export class AgentUnusableError extends Error {
  constructor(
    readonly reason: UnusableReason,
    message: string,
  ) {
    super(message);
    this.name = 'AgentUnusableError';
  }
}

/** The channel broke (pod deleted, connection lost) or the agent reported a failure. */
export class AgentError extends Error {
  constructor(
    message: string,
    readonly broken: boolean,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}

/** Maps a tar/rm error message to an unusable reason, when it is one. */
export function classifyWriteError(message: string): UnusableReason | undefined {
  if (/read-only file system/i.test(message)) return 'read-only';
  if (/permission denied|operation not permitted/i.test(message)) return 'permission';
  return undefined;
}

interface PendingAck {
  id: number;
  resolve(): void;
  reject(error: Error): void;
}

/** One agent process in one container. Batches are sent one at a time, in call order. */
export class AgentChannel {
  private stream!: ExecStream;
  private buffered = '';
  private stderrText = '';
  private pending: PendingAck | undefined;
  private queue: Promise<void> = Promise.resolve();
  private nextId = 1;
  private brokenMessage: string | undefined;
  /** The agent's working directory (the container's WORKDIR), known once open resolves. */
  workdir = '/';
  /** Whether the container has gunzip: `send` may then be given a gzipped tar. Known once open resolves. */
  gunzip = false;
  /**
   * Whether busybox tar may write a checked batch in place (the `O` line). Known once open
   * resolves; cleared when a batch failed in place and then succeeded the default way.
   */
  inPlace = false;
  /** Whether `send` may be given a batch in several parts (the `P` line). Known once open resolves. */
  parts = false;

  private constructor(readonly target: ContainerRef) {}

  get broken(): boolean {
    return this.brokenMessage !== undefined;
  }

  /**
   * Starts the agent and waits for its `R` line. Rejects with AgentUnusableError when the
   * container has no sh or no tar, with AgentError otherwise (pod gone, timeout).
   */
  static async open(launch: AgentLauncher, target: ContainerRef, signal: AbortSignal, timeoutMs = 20_000): Promise<AgentChannel> {
    const channel = new AgentChannel(target);
    let readyResolve!: () => void;
    let readyReject!: (error: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    let isReady = false;
    const onLine = (line: string) => {
      if (!isReady) {
        if (line === 'Z') channel.gunzip = true;
        else if (line === 'O') channel.inPlace = true;
        else if (line === 'P') channel.parts = true;
        else if (line.startsWith('R ')) {
          channel.workdir = line.slice(2) || '/';
          isReady = true;
          readyResolve();
        } else if (line.startsWith('E ')) {
          const [, code, ...rest] = line.split(' ');
          readyReject(new AgentUnusableError(code === 'no-tar' ? 'no-tar' : 'missing-tool', rest.join(' ') || String(code)));
        }
        return;
      }
      channel.onAgentLine(line);
    };
    try {
      channel.stream = await launch(target, ['sh', '-c', AGENT_SCRIPT], {
        onStdout: (chunk) => {
          channel.buffered += chunk.toString('utf8');
          let newline: number;
          while ((newline = channel.buffered.indexOf('\n')) >= 0) {
            const line = channel.buffered.slice(0, newline);
            channel.buffered = channel.buffered.slice(newline + 1);
            onLine(line);
          }
        },
        onStderr: (chunk) => {
          channel.stderrText = (channel.stderrText + chunk.toString('utf8')).slice(-4000);
        },
      });
    } catch (error) {
      // classified by src/kube/exec.ts: exec not allowed makes this container's sync unusable;
      // the cluster unreachable or the pod gone travels up as it is
      if (isForbidden(error)) throw new AgentError(`cannot exec into ${describe(target)}: ${error.message} (${error.hint ?? 'RBAC needs create on pods/exec'})`, true);
      if (error instanceof DevloopError) throw error;
      throw new AgentError(`cannot exec into ${describe(target)}: ${errorText(error)}`, true);
    }
    void channel.stream.exited.then((exit) => {
      const detail = channel.stderrText.trim();
      channel.brokenMessage = redactExecUrls(`${exit.message}${detail ? `: ${detail}` : ''}`);
      if (exit.unreachable) {
        // the node could not be reached (kubelet or API server restarting): not the container's fault
        if (!isReady) readyReject(exit.unreachable);
        channel.pending?.reject(exit.unreachable);
        channel.pending = undefined;
        return;
      }
      if (!isReady) {
        if (/executable file not found|no such file or directory/i.test(exit.message) && /\bsh\b/.test(exit.message)) {
          const core = /exec: "sh": [^:]*/.exec(exit.message)?.[0] ?? exit.message;
          readyReject(new AgentUnusableError('no-sh', core));
        } else {
          readyReject(new AgentError(`the sync agent did not start in ${describe(target)}: ${channel.brokenMessage}`, true));
        }
      }
      channel.pending?.reject(new AgentError(`the sync channel to ${describe(target)} closed: ${channel.brokenMessage}`, true));
      channel.pending = undefined;
    });
    const timer = setTimeout(() => readyReject(new AgentError(`the sync agent in ${describe(target)} did not answer within ${timeoutMs} ms`, true)), timeoutMs);
    const onAbort = () => readyReject(new AgentError('aborted', true));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await ready;
      return channel;
    } catch (error) {
      channel.close();
      throw error;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private onAgentLine(line: string): void {
    const match = /^A (\S+) (ok|err)(?: (.*))?$/.exec(line);
    const pending = this.pending;
    if (!match || !pending || match[1] !== String(pending.id)) return;
    this.pending = undefined;
    if (match[2] === 'ok') {
      pending.resolve();
      return;
    }
    const message = (match[3] ?? 'unknown error').trim();
    const reason = classifyWriteError(message);
    pending.reject(reason ? new AgentUnusableError(reason, message) : new AgentError(message, false));
  }

  /**
   * Sends one batch: removes `deletes` (absolute container paths), then extracts `tar` at `/`
   * (`gzipped`: `tar` is a gzipped tar; only when `this.gunzip`). `tar` may be several archives
   * (only when `this.parts`, with `partDirs`: every directory their entries go into), extracted at
   * once: they must name different paths. `inPlaceDirs`: the batch may be written in place (see the
   * protocol above; the caller vouches that it holds no symlink entry) after these directories are
   * checked; a batch that then fails is sent once more the default way, and only that attempt's
   * failure is reported.
   * Resolves on the agent's ack; rejects with AgentUnusableError (read-only, permission),
   * AgentError (broken channel, timeout, other failures), or when `signal` aborts. The default
   * timeout is 20 s plus 1 s per MB of tar: the agent acks within milliseconds, so a missing ack
   * means the stream is stuck (frozen API server, dead node); the broken channel is then reopened,
   * and reopening tells an unreachable cluster (ClusterUnreachableError) from a slow container.
   */
  send(
    deletes: readonly string[],
    tar: Buffer | readonly Buffer[],
    signal: AbortSignal,
    options: { gzipped?: boolean; timeoutMs?: number; inPlaceDirs?: readonly string[]; partDirs?: readonly string[] } = {},
  ): Promise<void> {
    const parts = Buffer.isBuffer(tar) ? [tar] : tar;
    const partLines = parts.length > 1 ? [...parts.map((part) => String(part.length)), String(options.partDirs?.length ?? 0), ...(options.partDirs ?? [])] : [];
    const bytes = parts.reduce((sum, part) => sum + part.length, 0);
    const timeoutMs = options.timeoutMs ?? 20_000 + Math.ceil(bytes / 1_000_000) * 1_000;
    if (options.gzipped && !this.gunzip) throw new AgentError(`cannot send a gzipped batch to ${describe(this.target)}: it has no gunzip`, false);
    if (parts.length > 1 && (!this.parts || parts.some((part) => part.length === 0))) throw new AgentError(`cannot send a batch in parts to ${describe(this.target)}: ${this.parts ? 'a part is empty' : 'its agent takes one archive'}`, false);
    for (const d of [...deletes, ...(options.inPlaceDirs ?? []), ...(options.partDirs ?? [])]) {
      if (/[\n\r\0]/.test(d)) throw new AgentError(`cannot sync a path containing a newline: ${JSON.stringify(d)}`, false);
    }
    const attempt = async (checkDirs: readonly string[] | undefined) => {
      if (this.broken) throw new AgentError(`the sync channel to ${describe(this.target)} is closed: ${this.brokenMessage}`, true);
      const id = this.nextId++;
      const acked = new Promise<void>((resolve, reject) => (this.pending = { id, resolve, reject }));
      const timer = setTimeout(() => this.failPending(`no acknowledgement from ${describe(this.target)} within ${timeoutMs} ms`), timeoutMs);
      const onAbort = () => this.failPending('aborted');
      signal.addEventListener('abort', onAbort, { once: true });
      const lines = [...deletes, ...(checkDirs ?? []), ...partLines].map((line) => `${line}\n`).join('');
      const header = `B ${id} ${bytes} ${deletes.length} ${checkDirs ? checkDirs.length : -1} ${parts.length}${options.gzipped ? ' z' : ''}\n${lines}`;
      this.stream.write(bytes > 0 ? Buffer.concat([Buffer.from(header, 'utf8'), ...parts]) : header);
      try {
        await acked;
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      }
    };
    const run = async () => {
      const checkDirs = this.inPlace && bytes > 0 ? options.inPlaceDirs : undefined;
      if (!checkDirs) return attempt(undefined);
      try {
        await attempt(checkDirs);
      } catch (error) {
        if (signal.aborted || this.broken || !(error instanceof AgentError || error instanceof AgentUnusableError)) throw error;
        await attempt(undefined);
        this.inPlace = false; // this container's files can be replaced but not rewritten: not again
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** A batch that cannot be acknowledged leaves the stream at an unknown offset: the channel is dropped. */
  private failPending(message: string): void {
    const pending = this.pending;
    this.pending = undefined;
    this.brokenMessage ??= message;
    this.close();
    pending?.reject(new AgentError(message, true));
  }

  close(): void {
    this.brokenMessage ??= 'closed';
    this.stream?.close();
  }
}

function describe(target: ContainerRef): string {
  return `${target.namespace}/${target.pod}/${target.container}`;
}

function errorText(error: unknown): string {
  // client-node rejects a failed websocket upgrade with an Error, the ErrorEvent or the response body.
  const maybe = error as { message?: string; body?: string } | undefined;
  return redactExecUrls(error instanceof Error ? error.message : (maybe?.message ?? maybe?.body ?? String(error)));
}
