import { describe, expect, it } from 'vitest';
import { initialModel, LOG_BUFFER_LINES, logPrefix, reduceDashboard } from './model.js';

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
});
