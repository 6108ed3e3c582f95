import { describe, expect, it } from 'vitest';
import { LifecycleStack } from './lifecycle.js';

describe('LifecycleStack', () => {
  it('stops every part in reverse order of start; a failing or hanging stop is reported and the rest still stop', async () => {
    const failures: string[] = [];
    const stack = new LifecycleStack({ onStopFailed: (name, error) => failures.push(`${name}: ${error.message}`), stopTimeoutMs: 50 });
    const stopped: string[] = [];
    stack.push('file watcher', async () => void stopped.push('file watcher'));
    stack.push('sync channels', async () => {
      throw new Error('channel broken');
    });
    stack.push('pod watcher', () => new Promise<void>(() => undefined));
    stack.push('log streams', async () => void stopped.push('log streams'));
    expect(stack.names()).toEqual(['file watcher', 'sync channels', 'pod watcher', 'log streams']);
    await stack.tearDown();
    expect(stopped).toEqual(['log streams', 'file watcher']);
    expect(failures).toEqual(['pod watcher: no answer after 50 ms', 'sync channels: channel broken']);
    expect(stack.names()).toEqual([]);
  });

  it('refuses new parts from the first moment of teardown: a part registered later is stopped at once', async () => {
    const stopped: string[] = [];
    const stack = new LifecycleStack({ onStopFailed: () => undefined });
    let releaseSlow!: () => void;
    stack.push('slow', () => new Promise<void>((r) => (releaseSlow = () => (stopped.push('slow'), r()))));
    const teardown = stack.tearDown();
    expect(stack.tearingDown).toBe(true);
    stack.push('port-forwards', async () => void stopped.push('port-forwards'));
    await new Promise((r) => setTimeout(r, 5));
    expect(stopped).toEqual(['port-forwards']);
    expect(stack.names()).toEqual([]);
    releaseSlow();
    await teardown;
    expect(stopped).toEqual(['port-forwards', 'slow']);
  });

  it('replace() swaps a restarted part in its place, keeping the stop order', async () => {
    const stopped: string[] = [];
    const stack = new LifecycleStack({ onStopFailed: () => undefined });
    stack.push('file watcher', async () => void stopped.push('old watcher'));
    stack.push('sync channels', async () => void stopped.push('sync channels'));
    stack.replace('file watcher', async () => void stopped.push('new watcher'));
    await stack.tearDown();
    expect(stopped).toEqual(['sync channels', 'new watcher']);
  });
});
