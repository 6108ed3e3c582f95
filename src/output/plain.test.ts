import { describe, expect, it } from 'vitest';
import { timePhase, CollectingSink } from '../events.js';
import { initialModel, reduceDashboard } from '../ui/model.js';
import { createPalette } from './color.js';
import { PlainRenderer } from './plain.js';

describe('phase events', () => {
  it('are timed by timePhase, started then finished, and a failure still ends the phase', async () => {
    const sink = new CollectingSink();
    expect(await timePhase(sink, 'deploy/render', async () => 7)).toBe(7);
    await expect(timePhase(sink, 'deploy/apply/objects', () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(sink.ofType('phase').map((e) => `${e.name} ${e.status}`)).toEqual([
      'deploy/render started',
      'deploy/render finished',
      'deploy/apply/objects started',
      'deploy/apply/objects failed',
    ]);
    const [start, end] = sink.ofType('phase');
    expect(end.atMs).toBeGreaterThanOrEqual(start.atMs);
    expect(end.durationMs).toBeGreaterThanOrEqual(0);
    expect(start.durationMs).toBeUndefined();
  });

  it('print as a timeline with -v only, and leave the dashboard as it was', () => {
    const lines = (verbose: boolean) => {
      let out = '';
      new PlainRenderer({ write: (c: string) => (out += c) }, { write: () => true }, createPalette(false), verbose).emit({ type: 'phase', name: 'deploy/render', status: 'finished', atMs: 1234, durationMs: 56 });
      return out;
    };
    expect(lines(true)).toBe('+1234ms deploy/render finished (56ms)\n');
    expect(lines(false)).toBe('');
    const model = initialModel('blog');
    expect(reduceDashboard(model, { type: 'phase', name: 'deploy/render', status: 'started', atMs: 1 })).toBe(model);
  });
});

describe('hook and restart events', () => {
  const failed = {
    type: 'hook' as const,
    phase: 'sync' as const,
    when: 'after' as const,
    index: 1,
    kind: 'container' as const,
    status: 'failed' as const,
    command: ['npm', 'install'],
    artifact: 'blog/posts',
    namespace: 'blog',
    pod: 'posts-7d9f8c6b5-x2k4q',
    container: 'posts',
    exitCode: 1,
    durationMs: 1200,
    output: ['npm ERR! missing script'],
  };

  it('plain lines: the failure with its exit code, command and output; hook output marked in the pod\'s log; a restart', () => {
    let out = '';
    const plain = new PlainRenderer({ write: (c: string) => (out += c) }, { write: () => true }, createPalette(false));
    plain.emit({ type: 'hook', phase: 'sync', when: 'after', index: 1, kind: 'container', status: 'running', command: ['npm', 'install'], pod: 'p', container: 'c' });
    plain.emit({ type: 'log', namespace: 'blog', pod: 'posts-7d9f8c6b5-x2k4q', container: 'posts', line: 'added 3 packages', hook: 'sync/after #1' });
    plain.emit(failed);
    plain.emit({ type: 'hook', phase: 'sync', when: 'after', index: 2, kind: 'host', status: 'output', command: ['./notify.sh'], line: 'notified' });
    plain.emit({ type: 'restart', artifact: 'blog/posts', namespace: 'blog', pod: 'posts-7d9f8c6b5-x2k4q', container: 'posts', status: 'restarted', durationMs: 150, message: 'new pid 42' });
    expect(out).toBe(
      [
        'posts-7d9f8c6b5-x2k4q/posts [hook sync/after #1] added 3 packages',
        'blog/posts: sync/after #1 hook: failed with exit code 1 in posts-7d9f8c6b5-x2k4q/posts (1.2s): npm install',
        '  npm ERR! missing script',
        '[hook sync/after #2] notified',
        'blog/posts: restarted the main process in posts-7d9f8c6b5-x2k4q/posts (new pid 42) (150ms)',
        '',
      ].join('\n'),
    );
  });

  it('the dashboard: hook output as marked lines of the pod, a failure as error lines under the artifact', () => {
    let model = initialModel('blog');
    model = reduceDashboard(model, { type: 'log', namespace: 'blog', pod: 'posts-7d9f8c6b5-x2k4q', container: 'posts', line: 'added 3 packages', hook: 'sync/after #1' });
    model = reduceDashboard(model, failed);
    expect(model.logs.map((l) => [l.prefix, l.text, l.kind])).toEqual([
      ['posts-x2k4q', '[hook sync/after #1] added 3 packages', 'marker'],
      ['posts-x2k4q', 'hook sync/after #1 failed with exit code 1: npm install', 'error'],
      ['posts-x2k4q', 'npm ERR! missing script', 'error'],
    ]);
    expect(model.logs[1].row).toBe('blog/posts');
  });
});
