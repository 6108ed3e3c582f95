import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FileChange } from './index.js';
import { BatchCoalescer, LEADING_EDGE_MS } from './coalesce.js';

let batches: FileChange[][];
let existing: Set<string>;
const make = () =>
  new BatchCoalescer({ quietMs: 50, maxWaitMs: 1000, onBatch: (b) => batches.push(b), exists: (p) => existing.has(p) });
const change = (p: string, kind: FileChange['kind'] = 'change'): FileChange => ({ path: p, kind });

beforeEach(() => {
  vi.useFakeTimers();
  batches = [];
  existing = new Set(['/r/a.txt', '/r/b.txt', '/r/c.txt']);
});
afterEach(() => vi.useRealTimers());

describe('BatchCoalescer', () => {
  it('acts on a change after a quiet period at once (leading edge), not after the quiet window', () => {
    const c = make();
    c.push(change('/r/a.txt'));
    expect(batches).toEqual([]); // never from inside push
    vi.advanceTimersByTime(0);
    expect(batches).toEqual([[change('/r/a.txt')]]);
    // quiet again: the next change is a leading edge too
    vi.advanceTimersByTime(50);
    c.push(change('/r/b.txt'));
    vi.advanceTimersByTime(0);
    expect(batches).toEqual([[change('/r/a.txt')], [change('/r/b.txt')]]);
  });

  it('an add after a quiet period waits LEADING_EDGE_MS for the rest of its save', () => {
    const c = make();
    c.push(change('/r/a.txt', 'add'));
    vi.advanceTimersByTime(LEADING_EDGE_MS - 1);
    expect(batches).toEqual([]);
    c.push(change('/r/b.txt'));
    vi.advanceTimersByTime(1);
    expect(batches).toEqual([[change('/r/a.txt', 'add'), change('/r/b.txt')]]);
  });

  it('batches the changes that follow within the window, after the leading one, once the burst is over', () => {
    const c = make();
    c.push(change('/r/a.txt'));
    vi.advanceTimersByTime(10);
    expect(batches).toEqual([[change('/r/a.txt')]]);
    c.push(change('/r/b.txt'));
    vi.advanceTimersByTime(30);
    c.push(change('/r/c.txt'));
    vi.advanceTimersByTime(49);
    expect(batches).toHaveLength(1); // the burst goes on: nothing half-written is acted on
    vi.advanceTimersByTime(1);
    expect(batches).toEqual([[change('/r/a.txt')], [change('/r/b.txt'), change('/r/c.txt')]]);
    vi.advanceTimersByTime(2000);
    expect(batches).toHaveLength(2);
  });

  it('the events of one save, delivered together, make one leading batch', () => {
    const c = make();
    c.push(change('/r/a.txt'));
    c.push(change('/r/b.txt', 'unlink'));
    vi.advanceTimersByTime(0);
    expect(batches).toEqual([[change('/r/a.txt'), change('/r/b.txt', 'unlink')]]);
  });

  it('flushes at the cap under a constant stream', () => {
    const c = make();
    for (let t = 0; t < 1500; t += 20) {
      c.push(change('/r/a.txt'));
      vi.advanceTimersByTime(20);
    }
    // the leading change, then the stream capped at 1 s after its first trailing event
    expect(batches.length).toBe(2);
    vi.advanceTimersByTime(100);
    expect(batches.length).toBe(3);
  });

  it('an atomic save whose temp file chokidar saw comes out as one change of the real file', () => {
    const c = make();
    // write .a.txt.tmp, rename it over a.txt: chokidar reports the temp add and the real change,
    // and the temp unlink only after its 100 ms atomic window.
    c.push(change('/r/.a.txt.tmp', 'add'));
    c.push(change('/r/a.txt'));
    vi.advanceTimersByTime(LEADING_EDGE_MS);
    expect(batches).toEqual([[change('/r/a.txt')]]);
    c.push(change('/r/.a.txt.tmp', 'unlink'));
    vi.advanceTimersByTime(1000);
    expect(batches).toHaveLength(1);
  });

  it('an atomic save whose rename arrives after the leading flush still acts at once, as one change', () => {
    const c = make();
    c.push(change('/r/.a.txt.tmp', 'add'));
    vi.advanceTimersByTime(LEADING_EDGE_MS);
    expect(batches).toEqual([]); // the temp file is gone: nothing to act on, and no activity
    c.push(change('/r/a.txt'));
    vi.advanceTimersByTime(LEADING_EDGE_MS);
    expect(batches).toEqual([[change('/r/a.txt')]]);
    c.push(change('/r/.a.txt.tmp', 'unlink'));
    vi.advanceTimersByTime(1000);
    expect(batches).toHaveLength(1);
  });

  it('a vanished file that comes back is reported again', () => {
    const c = make();
    c.push(change('/r/new.txt', 'add'));
    vi.advanceTimersByTime(50);
    existing.add('/r/new.txt');
    c.push(change('/r/new.txt', 'add'));
    vi.advanceTimersByTime(50);
    expect(batches).toEqual([[change('/r/new.txt', 'add')]]);
  });

  it('reports nothing after close', () => {
    const c = make();
    c.push(change('/r/a.txt'));
    c.close();
    vi.advanceTimersByTime(2000);
    expect(batches).toEqual([]);
  });
});
