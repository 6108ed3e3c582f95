import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectingSink } from '../events.js';
import { runHostHook } from './host.js';
import { buildHookEnv, LineTail, syncHookEnv, type HookRef } from './types.js';

const ref: HookRef = { phase: 'sync', when: 'after', index: 1, artifact: 'blog/posts' };

describe('runHostHook (real processes)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'devloop-hook-'));
    dirs.push(d);
    return d;
  };

  it('runs in cwd with the environment, streams each line, and reports success', async () => {
    const sink = new CollectingSink();
    const cwd = tmp();
    const outcome = await runHostHook(ref, { command: ['sh', '-c', 'pwd; echo "$DEVLOOP_IMAGE"; echo err >&2'], cwd, env: { DEVLOOP_IMAGE: 'x/y:1' }, timeoutMs: 10_000 }, { signal: new AbortController().signal, sink });
    expect(outcome).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(outcome.output).toEqual(expect.arrayContaining([cwd, 'x/y:1', 'err']));
    const hooks = sink.ofType('hook');
    expect(hooks[0]).toMatchObject({ status: 'running', phase: 'sync', when: 'after', index: 1, kind: 'host', artifact: 'blog/posts' });
    expect(hooks.filter((h) => h.status === 'output').map((h) => h.line)).toEqual(expect.arrayContaining([cwd, 'x/y:1', 'err']));
    expect(hooks.at(-1)).toMatchObject({ status: 'succeeded', exitCode: 0 });
  });

  it('reports a non-zero exit with the output', async () => {
    const sink = new CollectingSink();
    const outcome = await runHostHook(ref, { command: ['sh', '-c', 'echo broken; exit 4'], cwd: tmp(), env: {}, timeoutMs: 10_000 }, { signal: new AbortController().signal, sink });
    expect(outcome).toMatchObject({ status: 'failed', exitCode: 4, output: ['broken'] });
    expect(sink.ofType('hook').at(-1)).toMatchObject({ status: 'failed', exitCode: 4, output: ['broken'] });
  });

  it('stops the hook and what it started at the deadline', async () => {
    const sink = new CollectingSink();
    const started = Date.now();
    // the grandchild (sleep) must die too: the whole process group is signalled
    const outcome = await runHostHook(ref, { command: ['sh', '-c', 'sleep 30 & wait'], cwd: tmp(), env: {}, timeoutMs: 300 }, { signal: new AbortController().signal, sink });
    expect(outcome.status).toBe('timed-out');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stops on abort (Ctrl-C) and says it was interrupted', async () => {
    const sink = new CollectingSink();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const outcome = await runHostHook(ref, { command: ['sleep', '30'], cwd: tmp(), env: {}, timeoutMs: 30_000 }, { signal: controller.signal, sink });
    expect(outcome.status).toBe('interrupted');
    expect(sink.ofType('hook').at(-1)?.status).toBe('interrupted');
  });

  it('reports a program that does not exist as a failure naming it', async () => {
    const sink = new CollectingSink();
    const outcome = await runHostHook(ref, { command: ['./no-such-script.sh'], cwd: tmp(), env: {}, timeoutMs: 10_000 }, { signal: new AbortController().signal, sink });
    expect(outcome).toMatchObject({ status: 'failed' });
    expect(outcome.message).toContain('./no-such-script.sh: no such program');
  });
});

describe('hook environments', () => {
  it('sets devloop\'s and Skaffold\'s names for a sync batch, paths joined with ";"', () => {
    const env = syncHookEnv({ imageRef: 'localhost:5000/blog/posts:abc', contextDir: '/p/posts', added: ['/p/posts/a.js', '/p/posts/b.js'], deleted: [], namespaces: ['blog'] });
    expect(env).toMatchObject({
      DEVLOOP_IMAGE: 'localhost:5000/blog/posts:abc',
      SKAFFOLD_IMAGE: 'localhost:5000/blog/posts:abc',
      DEVLOOP_FILES_ADDED_OR_MODIFIED: '/p/posts/a.js;/p/posts/b.js',
      SKAFFOLD_FILES_ADDED_OR_MODIFIED: '/p/posts/a.js;/p/posts/b.js',
      DEVLOOP_FILES_DELETED: '',
      SKAFFOLD_FILES_DELETED: '',
      SKAFFOLD_BUILD_CONTEXT: '/p/posts',
      SKAFFOLD_NAMESPACES: 'blog',
    });
  });

  it('splits a build reference into repo and tag as Skaffold does', () => {
    expect(buildHookEnv({ imageRef: 'localhost:5000/blog/posts:abc', contextDir: '/p', push: true })).toMatchObject({
      SKAFFOLD_IMAGE: 'localhost:5000/blog/posts:abc',
      SKAFFOLD_IMAGE_REPO: 'localhost:5000/blog/posts',
      SKAFFOLD_IMAGE_TAG: 'abc',
      SKAFFOLD_PUSH_IMAGE: 'true',
      DEVLOOP_IMAGE_TAG: 'abc',
    });
  });
});

describe('LineTail', () => {
  it('hands over whole lines across chunks and keeps only the last ones', () => {
    const seen: string[] = [];
    const tail = new LineTail((l) => seen.push(l), 2);
    tail.push('a\nb');
    tail.push('c\r\nd');
    tail.flush();
    expect(seen).toEqual(['a', 'bc', 'd']);
    expect(tail.lines).toEqual(['bc', 'd']);
  });
});
