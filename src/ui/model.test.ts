import { describe, expect, it } from 'vitest';
import { PlainRenderer } from '../output/plain.js';
import { createPalette } from '../output/color.js';
import { describeCluster, describeRow, initialModel, LOG_BUFFER_LINES, logPrefix, reduceDashboard } from './model.js';

describe('dashboard model', () => {
  it('shortens ReplicaSet pod names and omits a container named like its workload', () => {
    expect(logPrefix('posts-7d9f8c6b5-x2k4q', 'posts')).toBe('posts-x2k4q');
    expect(logPrefix('posts-7d9f8c6b5-x2k4q', 'sidecar')).toBe('posts-x2k4q/sidecar');
    expect(logPrefix('db-0', 'db')).toBe('db-0/db');
  });

  it('keeps a bounded log buffer and files pod lines under the artifact row', () => {
    let model = initialModel('blog');
    model = reduceDashboard(model, { type: 'build', image: 'blog/posts', status: 'built', tag: 'r/blog/posts:1' });
    model = reduceDashboard(model, { type: 'pod', pod: 'posts-1', namespace: 'blog', owner: 'deployment/posts', phase: 'Running', state: 'Running', ready: 1, total: 1, restarts: 0, images: ['r/blog/posts:1'] });
    for (let i = 0; i < LOG_BUFFER_LINES + 50; i++) model = reduceDashboard(model, { type: 'log', pod: 'posts-1', container: 'posts', namespace: 'blog', line: `line ${i}` });
    expect(model.logs).toHaveLength(LOG_BUFFER_LINES);
    expect(model.logs.at(-1)).toMatchObject({ row: 'blog/posts', text: `line ${LOG_BUFFER_LINES + 49}` });
    expect(model.rows.map((r) => r.key)).toEqual(['blog/posts']);
  });

  it('shows a namespace kept by teardown or prune as a warning with its reason', () => {
    let model = initialModel('blog');
    model = reduceDashboard(model, { type: 'teardown', status: 'kept', object: 'Namespace/blog', heldBy: ['ConfigMap/blog/user-notes'], message: 'because it holds ConfigMap/user-notes' });
    model = reduceDashboard(model, { type: 'prune', status: 'kept', object: 'Namespace/old', heldBy: ['Secret/old/s'], message: 'because it holds Secret/s' });
    expect(model.logs.map((l) => [l.prefix, l.kind, l.text])).toEqual([
      ['teardown', 'warn', 'kept Namespace/blog because it holds ConfigMap/user-notes'],
      ['prune', 'warn', 'kept Namespace/old because it holds Secret/s'],
    ]);
  });

  it('shows the cluster unreachable (since, next retry, files to sync) in the header until it is reachable again; plain output says the same', () => {
    const now = Date.parse('2026-01-01T10:00:10Z');
    let model = initialModel('blog');
    model = reduceDashboard(model, { type: 'cluster', status: 'waiting', noAnswerMs: 3_100 });
    expect(describeCluster(model, now)).toBe('waiting for the cluster (no answer for 3s)');
    const unreachable = { type: 'cluster' as const, status: 'unreachable' as const, since: '2026-01-01T10:00:02Z', nextRetry: '2026-01-01T10:00:14Z', attempt: 4, pendingFiles: 2, message: 'ECONNREFUSED' };
    model = reduceDashboard(model, unreachable);
    model = reduceDashboard(model, { ...unreachable, attempt: 5 });
    expect(describeCluster(model, now)).toBe('cluster unreachable since 10:00:02, retry in 4s, 2 file(s) to sync');
    expect(model.logs.filter((l) => l.prefix === 'cluster')).toHaveLength(1);
    model = reduceDashboard(model, { type: 'cluster', status: 'reachable', since: unreachable.since, pendingFiles: 2 });
    expect(describeCluster(model, now)).toBeUndefined();
    expect(model.logs.at(-1)?.text).toBe('reachable again; re-syncing 2 file(s)');

    const lines: string[] = [];
    const plain = new PlainRenderer({ write: (l: string) => lines.push(l) }, { write: () => undefined }, createPalette(false));
    plain.emit({ type: 'cluster', status: 'waiting', noAnswerMs: 2_400 });
    plain.emit({ ...unreachable, attempt: 0 });
    plain.emit({ ...unreachable, attempt: 2 }); // repeated probe failures are not all printed
    plain.emit({ type: 'cluster', status: 'reachable', since: unreachable.since, pendingFiles: 2 });
    expect(lines.map((l) => l.trim().replace(/retry in \d+s/, 'retry in Ns'))).toEqual([
      'waiting for the cluster (no answer for 2s)',
      'cluster unreachable since 10:00:02: ECONNREFUSED; 2 edited file(s) will be synced when it answers; next retry in Ns',
      'cluster reachable again (unreachable since 10:00:02); re-syncing 2 file(s)',
    ]);
  });

  it('shows unwatched artifacts and the changes held by trigger manual; plain output lists them too', () => {
    let model = initialModel('blog');
    model = reduceDashboard(model, { type: 'build', image: 'blog/posts', status: 'built', tag: 'r/blog/posts:1' });
    const ready = { type: 'watch' as const, status: 'ready' as const, fileCount: 9, trigger: 'manual' as const, unwatched: ['blog/query'], message: 'watching 9 files under 4 root(s), changes applied on request; not watched: blog/query' };
    model = reduceDashboard(model, ready);
    expect(model.rows.map((r) => [r.key, describeRow(r).sync])).toEqual([
      ['blog/posts', '-'],
      ['blog/query', 'not watched'],
    ]);
    expect(model.held).toEqual([]);
    const held = { type: 'watch' as const, status: 'held' as const, held: ['change services/posts/public/a.html'], message: '1 change(s) waiting (trigger manual): press a in the dashboard, or send a line on stdin, to apply them' };
    model = reduceDashboard(model, held);
    expect(model.held).toEqual(['change services/posts/public/a.html']);

    const lines: string[] = [];
    const plain = new PlainRenderer({ write: (l: string) => lines.push(l) }, { write: () => undefined }, createPalette(false));
    plain.emit(ready);
    plain.emit(held);
    expect(lines.join('').split('\n').filter(Boolean)).toEqual([
      'watch: ready, 9 files, trigger manual; not watched (built and deployed once): blog/query',
      'watch: 1 change(s) waiting (trigger manual): press a in the dashboard, or send a line on stdin, to apply them',
      '  change services/posts/public/a.html',
    ]);
  });
});
