import { describe, expect, it } from 'vitest';
import { WorkQueue } from './queue.js';

/** A job that records its start and end and finishes when released. */
function gate() {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { done, release };
}
const flush = () => new Promise((r) => setTimeout(r, 5));

describe('WorkQueue', () => {
  it('runs one job at a time, in order', async () => {
    const errors: unknown[] = [];
    const queue = new WorkQueue((e) => errors.push(e));
    const log: string[] = [];
    const first = gate();
    queue.push(async () => {
      log.push('start 1');
      await first.done;
      log.push('end 1');
    });
    queue.push(async () => void log.push('run 2'));
    await flush();
    expect(log).toEqual(['start 1']);
    first.release();
    await queue.settled(1_000);
    expect(log).toEqual(['start 1', 'end 1', 'run 2']);
    expect(errors).toEqual([]);
  });

  it('coalesces: a keyed job waiting is not queued again, and takes everything accumulated by the time it starts', async () => {
    const queue = new WorkQueue(() => undefined);
    const pending: string[] = [];
    const batches: string[][] = [];
    const add = (item: string) => {
      pending.push(item);
      queue.push(async () => void batches.push(pending.splice(0)), 'batch');
    };
    const busy = gate();
    queue.push(() => busy.done);
    add('a');
    add('b');
    add('c');
    busy.release();
    await queue.settled(1_000);
    expect(batches).toEqual([['a', 'b', 'c']]);
    // once it started, the key can be queued again: a batch arriving during a batch runs after it
    const slow = gate();
    queue.push(async () => {
      batches.push(pending.splice(0));
      await slow.done;
    }, 'batch');
    pending.push('d');
    await flush();
    add('e');
    slow.release();
    await queue.settled(1_000);
    expect(batches).toEqual([['a', 'b', 'c'], ['d'], ['e']]);
  });

  it('reports a failure and goes on with the next job', async () => {
    const errors: unknown[] = [];
    const queue = new WorkQueue((e) => errors.push(e));
    const log: string[] = [];
    queue.push(async () => {
      throw new Error('boom');
    });
    queue.push(async () => void log.push('after'));
    await queue.settled(1_000);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
    expect(log).toEqual(['after']);
  });

  it('run() hands the outcome to the caller, unreported, and keeps the order', async () => {
    const errors: unknown[] = [];
    const queue = new WorkQueue((e) => errors.push(e));
    const log: string[] = [];
    const failing = queue.run(async () => {
      log.push('strict');
      throw new Error('start-up failed');
    });
    queue.push(async () => void log.push('next'));
    await expect(failing).rejects.toThrow('start-up failed');
    await queue.settled(1_000);
    expect(log).toEqual(['strict', 'next']);
    expect(errors).toEqual([]);
  });

  it('once closed, refuses new jobs and skips the waiting ones; the running one finishes', async () => {
    const queue = new WorkQueue(() => undefined);
    const log: string[] = [];
    const running = gate();
    queue.push(async () => {
      await running.done;
      log.push('running finished');
    });
    queue.push(async () => void log.push('waiting'));
    await flush();
    queue.close();
    queue.push(async () => void log.push('late'));
    const skipped = queue.run(async () => void log.push('late strict'));
    running.release();
    await queue.settled(1_000);
    await skipped;
    expect(log).toEqual(['running finished']);
  });

  it('settled() gives up after its timeout when a job hangs', async () => {
    const queue = new WorkQueue(() => undefined);
    queue.push(() => new Promise<void>(() => undefined));
    const started = Date.now();
    await queue.settled(50);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
