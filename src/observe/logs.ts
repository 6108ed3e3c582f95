/**
 * Streams the logs of every container of every project pod, from the moment it runs (never muted
 * during a rollout), as `log` events prefixed by the renderers with `pod/container`.
 *
 * Contract:
 * - one follower per pod/container, for the pod's whole life; it attaches when the container has an
 *   instance with logs (running, or terminated/crash-looping with output to show);
 * - a dropped stream is re-attached with `sinceTime` and lines already emitted are skipped (by
 *   timestamp, then by text among lines of the same timestamp), so nothing is duplicated or lost;
 *   a stream that drops or is refused (cluster unreachable) is retried on the shared backoff
 *   (src/backoff.ts: 250 ms doubling to 4 s) for as long as the pod lives;
 * - a restart emits a marker line `container restarted (exit code N, reason R)` and the follower
 *   attaches to the new instance;
 * - `stop()` ends every stream; no event is emitted after it resolves.
 */
import { backoffMs } from '../shared/backoff.js';
import type { EventSink } from '../events.js';
import { comparableTimestamp, type ContainerRef, type FollowOptions, type StreamEnd, type TimestampedLine } from '../kube/logs.js';
import type { ContainerSnapshot, PodUpdate } from './pods.js';

/** `followContainerLog` bound to a kubeconfig; a fake in unit tests. */
export type FollowLog = (ref: ContainerRef, options: FollowOptions, onLine: (line: TimestampedLine) => void) => Promise<StreamEnd>;

export interface LogStreamer {
  /** Feed every pod update from the pod watcher. Never throws. */
  update(update: PodUpdate): void;
  stop(): Promise<void>;
}


export function restartMarker(exitCode: number | undefined, reason: string | undefined): string {
  return `container restarted (exit code ${exitCode ?? 'unknown'}, reason ${reason ?? 'unknown'})`;
}

class ContainerFollower {
  private container: ContainerSnapshot;
  /** Newest timestamp emitted (comparable form), and the texts emitted at exactly that time. */
  private lastTimestamp = '';
  private emittedAtLast: string[] = [];
  /** Lines at `lastTimestamp` the current attachment will repeat (sinceTime has second precision). */
  private expectedAgain: string[] = [];
  private wake?: () => void;
  private readonly controller = new AbortController();
  readonly done: Promise<void>;

  constructor(
    private readonly ref: ContainerRef,
    container: ContainerSnapshot,
    private readonly follow: FollowLog,
    private readonly emitLine: (line: string) => void,
  ) {
    this.container = container;
    this.done = this.run();
  }

  update(container: ContainerSnapshot): void {
    this.container = container;
    this.wake?.();
  }

  stop(): Promise<void> {
    this.controller.abort();
    this.wake?.();
    return this.done;
  }

  private hasLogs(c: ContainerSnapshot): boolean {
    return c.state === 'running' || c.state === 'terminated' || (c.state === 'waiting' && c.restartCount > 0);
  }

  private waitForChange(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(resolve, timeoutMs);
      this.wake = () => {
        if (timer) clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /**
   * Emits a line unless it was already emitted: older than the newest timestamp seen, or one of
   * the lines of that newest timestamp expected again after a re-attach.
   */
  private accept(line: TimestampedLine): void {
    if (line.timestamp === '') {
      this.emitLine(line.text);
      return;
    }
    const ts = comparableTimestamp(line.timestamp);
    if (ts < this.lastTimestamp) return;
    if (ts === this.lastTimestamp) {
      const index = this.expectedAgain.indexOf(line.text);
      if (index >= 0) {
        this.expectedAgain.splice(index, 1);
        return;
      }
      this.emittedAtLast.push(line.text);
    } else {
      this.lastTimestamp = ts;
      this.emittedAtLast = [line.text];
      this.expectedAgain = [];
    }
    this.emitLine(line.text);
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    let attachedInstance: string | undefined;
    let quickEnds = 0;
    while (!signal.aborted) {
      const c = this.container;
      const newInstance = c.containerID !== attachedInstance;
      const dropped = !newInstance && c.state === 'running';
      if (!this.hasLogs(c) || (!newInstance && !dropped)) {
        await this.waitForChange();
        continue;
      }
      if (dropped) {
        quickEnds++;
        await this.waitForChange(backoffMs(quickEnds - 1));
        if (signal.aborted) break;
      }
      attachedInstance = c.containerID;
      this.expectedAgain = [...this.emittedAtLast];
      const sinceTime = this.lastTimestamp ? `${this.lastTimestamp.slice(0, 19)}Z` : undefined;
      const started = Date.now();
      const end = await this.follow(this.ref, { signal, ...(sinceTime ? { sinceTime } : {}) }, (line) => this.accept(line));
      if (Date.now() - started > 10_000) quickEnds = 0;
      if (end.ended === 'gone' || end.ended === 'aborted') break;
      if (end.ended === 'not-running') {
        // refused: the container waits, or the cluster cannot be reached. Retried on the shared
        // backoff (at most 4 s apart) for as long as the pod lives, sooner when its state changes.
        attachedInstance = undefined;
        quickEnds++;
        await this.waitForChange(backoffMs(quickEnds - 1));
      }
    }
  }
}

export function createLogStreamer(follow: FollowLog, sink: EventSink): LogStreamer {
  const followers = new Map<string, ContainerFollower>();
  let stopped = false;
  return {
    update({ snapshot, deleted, transitions }) {
      if (stopped) return;
      for (const container of snapshot.containers) {
        const id = `${snapshot.namespace}/${snapshot.name}/${container.name}`;
        let follower = followers.get(id);
        if (deleted) {
          if (follower) {
            followers.delete(id);
            void follower.stop();
          }
          continue;
        }
        const restart = transitions.find((t) => t.kind === 'restarted' && t.container.name === container.name);
        if (restart && restart.kind === 'restarted') {
          sink.emit({
            type: 'log',
            pod: snapshot.name,
            container: container.name,
            namespace: snapshot.namespace,
            line: restartMarker(restart.exitCode, restart.reason),
            marker: true,
          });
        }
        if (!follower) {
          const ref = { namespace: snapshot.namespace, pod: snapshot.name, container: container.name };
          follower = new ContainerFollower(ref, container, follow, (line) => {
            if (!stopped) sink.emit({ type: 'log', ...ref, line });
          });
          followers.set(id, follower);
        } else {
          follower.update(container);
        }
      }
    },
    async stop() {
      stopped = true;
      await Promise.all([...followers.values()].map((f) => f.stop()));
      followers.clear();
    },
  };
}
