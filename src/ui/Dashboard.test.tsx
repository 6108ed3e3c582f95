import React from 'react';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import type { DashboardAction } from './actions.js';
import { Dashboard } from './Dashboard.js';
import { createDashboardStore } from './index.js';

const tick = () => new Promise((r) => setTimeout(r, 30));

function session() {
  const store = createDashboardStore('blog');
  store.emit({ type: 'build', image: 'blog/posts', status: 'built', tag: 'localhost:5000/blog/posts:3f2a9c1d77', durationMs: 1200 });
  store.emit({ type: 'build', image: 'blog/query', status: 'step', step: 'Step 2/5 : COPY . /app' });
  store.emit({ type: 'build', image: 'blog/client', status: 'failed', reason: 'Step 3/5 : RUN false', output: ['/bin/sh: false: exit code 1'] });
  for (const [pod, ready] of [['posts-7d9-a', 1], ['posts-7d9-b', 0]] as const) {
    store.emit({ type: 'pod', pod, namespace: 'blog', owner: 'deployment/posts', phase: 'Running', state: ready ? 'Running' : 'CrashLoopBackOff', ready, total: 1, restarts: ready ? 0 : 3, images: ['localhost:5000/blog/posts:3f2a9c1d77'] });
  }
  store.emit({ type: 'pod', pod: 'query-1', namespace: 'blog', owner: 'deployment/query', phase: 'Running', state: 'Running', ready: 1, total: 1, restarts: 0, images: ['localhost:5000/blog/query:1'] });
  store.emit({ type: 'sync', artifact: 'blog/posts', status: 'synced', pod: 'posts-7d9-a', container: 'posts', copied: ['/app/public/a', '/app/public/b'], deleted: [], durationMs: 42 });
  store.emit({ type: 'portForward', status: 'connected', resource: 'deployment/posts', address: '127.0.0.1', localPort: 14000, remotePort: 4000, pod: 'posts-7d9-a' });
  store.emit({ type: 'log', pod: 'posts-7d9-a', container: 'posts', namespace: 'blog', line: 'posts listening on 4000' });
  store.emit({ type: 'log', pod: 'query-1', container: 'query', namespace: 'blog', line: 'query listening on 4002' });
  store.emit({ type: 'log', pod: 'posts-7d9-b', container: 'posts', namespace: 'blog', line: 'container restarted (exit code 1, reason Error)', marker: true });
  store.emit({ type: 'change', path: '/p/services/posts/public/index.html', artifact: 'blog/posts', action: 'sync', reason: 'matches sync rule public/**' });
  return store;
}

describe('dashboard rows', () => {
  it('shows build state, pods ready/total with restarts, last sync and port-forward URL per artifact, in 80 columns', async () => {
    const store = session();
    const { lastFrame, unmount } = render(<Dashboard store={store} onAction={() => undefined} columns={80} rows={24} />);
    await tick();
    const frame = lastFrame() ?? '';
    const lines = frame.split('\n');
    const posts = lines.find((l) => l.includes('blog/posts')) ?? '';
    expect(posts).toContain('built 3f2a9c');
    expect(posts).toContain('1/2 CrashLoop 3↻');
    expect(posts).toContain('synced 2f 42ms');
    expect(posts).toContain('127.0.0.1:14000');
    expect(lines.find((l) => l.includes('blog/query'))).toContain('building 2/5');
    expect(lines.find((l) => l.includes('blog/client'))).toContain('failed');
    expect(frame).toContain('/bin/sh: false: exit code 1');
    expect(frame).toContain('container restarted (exit code 1, reason Error)');
    expect(frame).not.toContain('matches sync rule');
    expect(lines.length).toBeLessThanOrEqual(24);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    unmount();
  });
});

/** Waits (bounded) until `check` holds: Ink handles input asynchronously, slower under load. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (check()) return;
    await tick();
  }
  throw new Error(`never happened: ${what}`);
}

/** The dashboard of session(), once Ink listens to its stdin (keys written before that are lost). */
async function mountWithKeys() {
  const store = session();
  const actions: DashboardAction[] = [];
  const { lastFrame, stdin, unmount } = render(<Dashboard store={store} onAction={(a) => actions.push(a)} columns={80} rows={24} />);
  await until(() => stdin.listenerCount('readable') > 0, 'Ink to read stdin');
  return { store, actions, stdin, unmount, frame: () => lastFrame() ?? '' };
}

describe('dashboard keys', () => {
  it('selects with arrows, filters logs with enter, returns with esc, and dispatches r, s, a and q', async () => {
    const { store, actions, stdin, unmount, frame } = await mountWithKeys();
    stdin.write('r');
    await until(() => actions.length === 1, 'r');
    stdin.write('\u001b[B'); // down: blog/query
    await until(() => frame().includes('›blog/query'), 'down arrow');
    stdin.write('s');
    await until(() => actions.length === 2, 's');
    stdin.write('\r'); // enter: only blog/query logs
    await until(() => frame().includes('logs of blog/query'), 'enter');
    expect(frame()).toContain('query listening on 4002');
    expect(frame()).not.toContain('posts listening on 4000');
    stdin.write('\u001b'); // esc: all logs again
    await until(() => frame().includes('posts listening on 4000'), 'esc');
    stdin.write('e');
    await until(() => frame().includes('· explain'), 'e');
    store.emit({ type: 'change', path: '/p/client/src/app.js', artifact: 'blog/client', action: 'sync', reason: 'rule 1' });
    await until(() => frame().includes('sync [blog/client]: rule 1'), 'an explain line');
    stdin.write('?');
    await until(() => frame().includes('rebuild the selected image'), 'help');
    stdin.write('\u001b');
    await until(() => !frame().includes('rebuild the selected image'), 'help closed');
    stdin.write('a');
    await until(() => actions.length === 3, 'a');
    stdin.write('q');
    await until(() => actions.length === 4, 'q');
    expect(actions).toEqual([
      { type: 'rebuild', image: 'blog/posts' },
      { type: 'sync', image: 'blog/query' },
      { type: 'apply' },
      { type: 'quit' },
    ]);
    unmount();
  });

  it('counts every key of a chunk that holds several (keys typed faster than a render)', async () => {
    const { stdin, unmount, frame } = await mountWithKeys();
    stdin.write('\u001b[B\u001b[B'); // two downs in one chunk: posts -> query -> client
    await until(() => frame().includes('›blog/client'), 'two down arrows');
    stdin.write('\u001b[A\u001b[A\u001b[A'); // three ups: stops at the first row
    await until(() => frame().includes('›blog/posts'), 'three up arrows');
    unmount();
  });

  it('acts on the row selected by the key before it when no render came between (a key handler a render behind)', async () => {
    const { actions, stdin, unmount, frame } = await mountWithKeys();
    // down, sync, enter, written at once (no render between them): all for blog/query, the row the down arrow selected
    stdin.write('\u001b[B');
    stdin.write('s');
    stdin.write('\r');
    await until(() => frame().includes('logs of blog/query'), 'enter right after down');
    expect(actions).toEqual([{ type: 'sync', image: 'blog/query' }]);
    unmount();
  });
});
