/**
 * BuildKit's progress as the engine streams it for `POST /build?version=2`: JSON lines
 * `{"id":"moby.buildkit.trace","aux":"<base64>"}`, each `aux` a protobuf `StatusResponse`
 * (moby/buildkit api/services/control/control.proto) with vertexes (the steps: name, cached,
 * started, completed, error), statuses (sub-progress, e.g. "exporting layers") and logs (a
 * step's output, by vertex digest). A vertex is sent again whenever it changes.
 *
 * Decoding uses the schema dockerode ships for this (`dockerode/lib/proto/buildkit_status.proto`)
 * with the protobufjs copy dockerode depends on, both loaded on the first BuildKit build.
 * dockerode's own `followProgress` turns the trace into text lines only, which loses which step
 * a log line belongs to and when a step finished: the failing step's output needs both.
 *
 * Pure apart from that lazy load; recorded real traces are in testdata/ (see its README).
 */
import { createRequire } from 'node:module';
import path from 'node:path';

export interface TraceVertex {
  digest: string;
  /** "[left 1/2] RUN make", "[internal] load remote build context", "exporting to image". */
  name: string;
  cached: boolean;
  /** Epoch milliseconds. */
  startedMs?: number;
  completedMs?: number;
  error?: string;
}

export interface TraceLog {
  /** Digest of the vertex whose output this is. */
  vertex: string;
  /** 1 stdout, 2 stderr. */
  stream: number;
  text: string;
}

/** One decoded `StatusResponse`. */
export interface TraceUpdate {
  vertexes: TraceVertex[];
  logs: TraceLog[];
}

interface ProtoTimestamp {
  seconds?: string;
  nanos?: number;
}
interface ProtoStatus {
  vertexes?: Array<{ digest?: string; name?: string; cached?: boolean; started?: ProtoTimestamp; completed?: ProtoTimestamp; error?: string }>;
  logs?: Array<{ vertex?: string; stream?: string; msg?: Uint8Array }>;
}
interface MessageType {
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: object): ProtoStatus;
}

let statusResponse: MessageType | undefined;

/** dockerode's StatusResponse type, loaded once. Throws if dockerode no longer ships it. */
function statusResponseType(): MessageType {
  if (statusResponse) return statusResponse;
  const dockerodeMain = createRequire(import.meta.url).resolve('dockerode');
  const protobuf = createRequire(dockerodeMain)('protobufjs') as { loadSync(file: string): { lookupType(name: string): MessageType } };
  const root = protobuf.loadSync(path.join(path.dirname(dockerodeMain), 'proto', 'buildkit_status.proto'));
  statusResponse = root.lookupType('moby.buildkit.v1.StatusResponse');
  return statusResponse;
}

const epochMs = (t?: ProtoTimestamp): number | undefined => (t?.seconds === undefined ? undefined : Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6);

/** Decodes the `aux` of a `moby.buildkit.trace` event. Throws on bytes that are not a StatusResponse. */
export function decodeTrace(aux: string): TraceUpdate {
  const type = statusResponseType();
  const status = type.toObject(type.decode(Buffer.from(aux, 'base64')), { longs: String, defaults: false });
  return {
    vertexes: (status.vertexes ?? []).map((v) => ({
      digest: v.digest ?? '',
      name: v.name ?? '',
      cached: v.cached ?? false,
      startedMs: epochMs(v.started),
      completedMs: epochMs(v.completed),
      ...(v.error ? { error: v.error } : {}),
    })),
    logs: (status.logs ?? []).map((l) => ({ vertex: l.vertex ?? '', stream: Number(l.stream ?? 1), text: Buffer.from(l.msg ?? []).toString('utf8') })),
  };
}

/** The failed step of a BuildKit build, as the trace told it. */
export interface FailedVertex {
  name: string;
  error: string;
  /** The step's last output lines (stdout and stderr, in arrival order). */
  output: string[];
}

/** How many output lines of a step are kept for its failure report. */
export const KEPT_OUTPUT_LINES = 40;

/** Vertexes of BuildKit's own bookkeeping, not steps of the user's Dockerfile. */
const BOOKKEEPING = /^(\[internal\] |copy \/context \/$)/;

/**
 * Follows a build's trace: reports steps as they start and finish, keeps each step's last output
 * lines, and remembers the first step that failed.
 *
 * Step lines, in order of the trace: "[right 2/2] RUN make" when a step starts,
 * "CACHED [base 1/1] COPY rootfs/ /" for a cache hit, "DONE [right 2/2] RUN make 1.3s" when it
 * finishes, "ERROR [a 1/1] RUN exit 3: <error>" when it fails. BuildKit's bookkeeping vertexes
 * ("[internal] ...", the context copy) are reported only when they fail.
 */
export class BuildkitProgress {
  private readonly vertexes = new Map<string, { name: string; reported: Set<string>; output: string[]; partial: Map<number, string> }>();
  private failure: FailedVertex | undefined;
  private failedDigest: string | undefined;

  constructor(
    private readonly onStep: (step: string) => void,
    private readonly onOutput: (line: string) => void = () => {},
  ) {}

  apply(update: TraceUpdate): void {
    for (const v of update.vertexes) {
      const state = this.state(v.digest, v.name);
      const once = (key: string, line: string) => {
        if (state.reported.has(key)) return;
        state.reported.add(key);
        this.onStep(line);
      };
      const own = !BOOKKEEPING.test(v.name);
      if (v.error) {
        once('error', `ERROR ${v.name}: ${v.error}`);
        if (!this.failedDigest) this.failedDigest = v.digest;
      } else if (v.cached && v.completedMs !== undefined) {
        if (own) once('cached', `CACHED ${v.name}`);
      } else if (v.completedMs !== undefined && v.startedMs !== undefined) {
        if (own) once('done', `DONE ${v.name} ${((v.completedMs - v.startedMs) / 1000).toFixed(1)}s`);
      } else if (v.startedMs !== undefined) {
        if (own) once('started', v.name);
      }
      if (v.error && this.failedDigest === v.digest) this.failure = { name: v.name, error: v.error, output: state.output };
    }
    for (const log of update.logs) {
      const state = this.state(log.vertex, '');
      const text = (state.partial.get(log.stream) ?? '') + log.text;
      const lines = text.split('\n');
      state.partial.set(log.stream, lines.pop() ?? '');
      for (const raw of lines) this.keep(state.output, raw.replace(/\r$/, ''));
    }
  }

  /** The first step that failed, with its last output lines (a trailing partial line included). */
  failed(): FailedVertex | undefined {
    if (!this.failure || !this.failedDigest) return undefined;
    const state = this.vertexes.get(this.failedDigest)!;
    const output = [...state.output];
    for (const rest of state.partial.values()) if (rest.trim() !== '') output.push(rest);
    return { ...this.failure, output: output.slice(-KEPT_OUTPUT_LINES) };
  }

  private keep(output: string[], line: string): void {
    this.onOutput(line);
    output.push(line);
    if (output.length > KEPT_OUTPUT_LINES) output.shift();
  }

  private state(digest: string, name: string) {
    let state = this.vertexes.get(digest);
    if (!state) {
      state = { name, reported: new Set(), output: [], partial: new Map() };
      this.vertexes.set(digest, state);
    }
    if (name) state.name = name;
    return state;
  }
}
