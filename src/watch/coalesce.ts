/**
 * Turns the watcher's stream of events into batches: a batch is flushed once `quietMs` passed
 * without a new event, or `maxWaitMs` after its first event under a constant stream. Each batch is
 * the net change per path (see `netChanges`).
 *
 * Editors that save through a temporary file (write `.x.tmp`, rename it over `x`) leave an `add`
 * of a file that is already gone, whose `unlink` chokidar reports up to 100 ms later (its atomic
 * window): at flush, an `add` of a path that no longer exists is dropped, and so is its later
 * `unlink`. The save then comes out as one `change` of the real file.
 *
 * Contract: `onBatch` is called from a timer, never re-entrantly, never with an empty batch, and
 * never after `close()`.
 */
import { lstatSync } from 'node:fs';
import { netChanges, type FileChange } from './changes.js';

export interface CoalescerOptions {
  quietMs: number;
  maxWaitMs: number;
  onBatch(changes: FileChange[]): void;
  /** Whether a path exists now (lstat: a dangling symlink exists). Injected by tests. */
  exists?(path: string): boolean;
}

const existsNow = (p: string) => lstatSync(p, { throwIfNoEntry: false }) !== undefined;

export class BatchCoalescer {
  private pending: FileChange[] = [];
  private quietTimer: NodeJS.Timeout | undefined;
  private capTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Paths whose `add` was dropped because they were gone at flush: their `unlink` is dropped too. */
  private readonly vanished = new Set<string>();

  constructor(private readonly options: CoalescerOptions) {}

  push(change: FileChange): void {
    if (this.closed) return;
    if (this.vanished.has(change.path)) {
      this.vanished.delete(change.path);
      if (change.kind === 'unlink') return;
    }
    this.pending.push(change);
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.options.quietMs);
    this.capTimer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
  }

  flush(): void {
    clearTimeout(this.quietTimer);
    clearTimeout(this.capTimer);
    this.quietTimer = this.capTimer = undefined;
    const exists = this.options.exists ?? existsNow;
    const batch = netChanges(this.pending).filter((c) => {
      if (c.kind !== 'add' || exists(c.path)) return true;
      this.vanished.add(c.path);
      return false;
    });
    this.pending = [];
    if (this.vanished.size > 10_000) this.vanished.clear(); // bounded: unlinks normally follow within 100 ms
    if (batch.length > 0 && !this.closed) this.options.onBatch(batch);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.quietTimer);
    clearTimeout(this.capTimer);
    this.pending = [];
  }
}
