/**
 * Turns the watcher's stream of events into batches.
 *
 * - Leading edge: a change that arrives after a quiet period (no event for `quietMs`) is flushed
 *   without waiting for the quiet window: a `change` of a file on the next turn of the event loop,
 *   an `add` or `unlink` `leadingMs` later (a few ms, so the sibling events of a save through a
 *   temporary file, delivered together by the kernel, join it).
 * - Trailing batches: changes that follow within `quietMs` of the previous event are batched, and
 *   the batch is flushed once `quietMs` passed without a new event (or `maxWaitMs` after its first
 *   event under a constant stream). So a burst (a checkout, a build writing its output) is acted on
 *   as its first change, then as one batch once it is over, never as a half-written set.
 * Each batch is the net change per path (see `netChanges`).
 *
 * Editors that save through a temporary file (write `.x.tmp`, rename it over `x`) leave an `add`
 * of a file that is already gone, whose `unlink` chokidar reports up to 100 ms later (its atomic
 * window): at flush, an `add` of a path that no longer exists is dropped, and so is its later
 * `unlink`. The save then comes out as one `change` of the real file. A leading flush left with
 * nothing (only such vanished files) does not count as activity: the real file's change that
 * follows is a leading edge again. Editors that unlink then re-create `x` are reported by chokidar
 * as one `change` (its `atomic` option, on with file-system events).
 *
 * Contract: `onBatch` is called from a timer, never re-entrantly, never with an empty batch, and
 * never after `close()`.
 */
import { lstatSync } from 'node:fs';
import { netChanges, type FileChange } from './changes.js';

export interface CoalescerOptions {
  quietMs: number;
  maxWaitMs: number;
  /** How long a leading-edge batch that starts with an add or unlink collects the events of the same save; default LEADING_EDGE_MS. */
  leadingMs?: number;
  onBatch(changes: FileChange[]): void;
  /** Whether a path exists now (lstat: a dangling symlink exists). Injected by tests. */
  exists?(path: string): boolean;
}

/**
 * A leading-edge batch is flushed this long after its first event: the events of one save (create
 * temp, write, rename over the file) come from one read of the kernel's queue, and chokidar emits
 * them within a millisecond or two of each other.
 */
export const LEADING_EDGE_MS = 4;

const existsNow = (p: string) => lstatSync(p, { throwIfNoEntry: false }) !== undefined;

export class BatchCoalescer {
  private pending: FileChange[] = [];
  private leadingTimer: NodeJS.Timeout | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private capTimer: NodeJS.Timeout | undefined;
  /** Set while events came within the last `quietMs`; a change arriving while it is clear is a leading edge. */
  private activeTimer: NodeJS.Timeout | undefined;
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
    const quiet = this.activeTimer === undefined;
    clearTimeout(this.activeTimer);
    this.activeTimer = setTimeout(() => (this.activeTimer = undefined), this.options.quietMs);
    if (this.leadingTimer) return; // joins the leading batch being collected
    if (quiet && this.quietTimer === undefined) {
      const settle = change.kind === 'change' ? 0 : (this.options.leadingMs ?? LEADING_EDGE_MS);
      this.leadingTimer = setTimeout(() => this.flush(true), settle);
      return;
    }
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.options.quietMs);
    this.capTimer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
  }

  /** Flushes what is pending now. `leading`: the flush of a leading-edge batch. */
  flush(leading = false): void {
    clearTimeout(this.leadingTimer);
    clearTimeout(this.quietTimer);
    clearTimeout(this.capTimer);
    this.leadingTimer = this.quietTimer = this.capTimer = undefined;
    const exists = this.options.exists ?? existsNow;
    const batch = netChanges(this.pending).filter((c) => {
      if (c.kind !== 'add' || exists(c.path)) return true;
      this.vanished.add(c.path);
      return false;
    });
    this.pending = [];
    if (this.vanished.size > 10_000) this.vanished.clear(); // bounded: unlinks normally follow within 100 ms
    if (leading && batch.length === 0) {
      // only a temp file that is gone: the save's real change, still to come, is a leading edge
      clearTimeout(this.activeTimer);
      this.activeTimer = undefined;
    }
    if (batch.length > 0 && !this.closed) this.options.onBatch(batch);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.leadingTimer);
    clearTimeout(this.quietTimer);
    clearTimeout(this.capTimer);
    clearTimeout(this.activeTimer);
    this.pending = [];
  }
}
