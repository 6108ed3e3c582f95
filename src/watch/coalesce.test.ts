import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FileChange } from './index.js';
import { BatchCoalescer } from './coalesce.js';

let batches: FileChange[][];
let existing: Set<string>;
const make = () =>
  new BatchCoalescer({ quietMs: 50, maxWaitMs: 1000, onBatch: (b) => batches.push(b), exists: (p) => existing.has(p) });

beforeEach(() => {
  vi.useFakeTimers();
  batches = [];
  existing = new Set(['/r/a.txt', '/r/b.txt']);
});
afterEach(() => vi.useRealTimers());

describe('BatchCoalescer', () => {
  it('flushes after the quiet window, once', () => {
    const c = make();
    c.push({ path: '/r/a.txt', kind: 'change' });
    vi.advanceTimersByTime(30);
    c.push({ path: '/r/b.txt', kind: 'change' });
    vi.advanceTimersByTime(49);
    expect(batches).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(batches).toEqual([[{ path: '/r/a.txt', kind: 'change' }, { path: '/r/b.txt', kind: 'change' }]]);
    vi.advanceTimersByTime(2000);
    expect(batches).toHaveLength(1);
  });

  it('flushes at the cap under a constant stream', () => {
    const c = make();
    for (let t = 0; t < 1500; t += 20) {
      c.push({ path: '/r/a.txt', kind: 'change' });
      vi.advanceTimersByTime(20);
    }
    expect(batches.length).toBe(1);
    vi.advanceTimersByTime(100);
    expect(batches.length).toBe(2);
  });

  it('an atomic save whose temp file chokidar saw comes out as one change of the real file', () => {
    const c = make();
    // write .a.txt.tmp, rename it over a.txt: chokidar reports the temp add and the real change,
    // and the temp unlink only after its 100 ms atomic window.
    c.push({ path: '/r/.a.txt.tmp', kind: 'add' });
    c.push({ path: '/r/a.txt', kind: 'change' });
    vi.advanceTimersByTime(50);
    expect(batches).toEqual([[{ path: '/r/a.txt', kind: 'change' }]]);
    c.push({ path: '/r/.a.txt.tmp', kind: 'unlink' });
    vi.advanceTimersByTime(1000);
    expect(batches).toHaveLength(1);
  });

  it('a vanished file that comes back is reported again', () => {
    const c = make();
    c.push({ path: '/r/new.txt', kind: 'add' });
    vi.advanceTimersByTime(50);
    existing.add('/r/new.txt');
    c.push({ path: '/r/new.txt', kind: 'add' });
    vi.advanceTimersByTime(50);
    expect(batches).toEqual([[{ path: '/r/new.txt', kind: 'add' }]]);
  });

  it('reports nothing after close', () => {
    const c = make();
    c.push({ path: '/r/a.txt', kind: 'change' });
    c.close();
    vi.advanceTimersByTime(2000);
    expect(batches).toEqual([]);
  });
});
