import { describe, expect, it } from 'vitest';
import { CollectingSink } from '../events.js';
import type { StreamEnd, TimestampedLine } from '../kube/logs.js';
import { createLogStreamer, type FollowLog } from './logs.js';
import type { PodSnapshot } from './pods.js';

function snapshot(restartCount: number, containerID: string, state: 'running' | 'waiting' = 'running'): PodSnapshot {
  return {
    namespace: 'blog', name: 'posts-1', uid: 'u', owner: 'deployment/posts', labels: {}, phase: 'Running', state: 'Running', terminating: false,
    containers: [{ name: 'posts', image: 'blog/posts:1', ready: true, restartCount, containerID, state, ...(restartCount ? { lastTerminated: { exitCode: 2, reason: 'Error' } } : {}) }],
    ready: 1, total: 1, restarts: restartCount,
  };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('log streamer', () => {
  it('re-attaches after a dropped stream without duplicating or losing lines', async () => {
    const attachments: Array<string | undefined> = [];
    const scripts: TimestampedLine[][] = [
      [
        { timestamp: '2026-01-01T00:00:01.1Z', text: 'a' },
        { timestamp: '2026-01-01T00:00:01.25Z', text: 'b' },
      ],
      // the server repeats the whole second after sinceTime, then new lines
      [
        { timestamp: '2026-01-01T00:00:01.1Z', text: 'a' },
        { timestamp: '2026-01-01T00:00:01.25Z', text: 'b' },
        { timestamp: '2026-01-01T00:00:01.25Z', text: 'b2' },
        { timestamp: '2026-01-01T00:00:02Z', text: 'c' },
      ],
    ];
    const follow: FollowLog = async (_ref, options, onLine) => {
      attachments.push(options.sinceTime);
      const script = scripts.shift();
      if (!script) {
        await new Promise((r) => options.signal.addEventListener('abort', r));
        return { ended: 'aborted' } satisfies StreamEnd;
      }
      script.forEach(onLine);
      return { ended: 'closed' };
    };
    const sink = new CollectingSink();
    const streamer = createLogStreamer(follow, sink);
    streamer.update({ snapshot: snapshot(0, 'c1'), deleted: false, transitions: [] });
    await until(() => attachments.length >= 3);
    await streamer.stop();
    expect(sink.ofType('log').map((e) => e.line)).toEqual(['a', 'b', 'b2', 'c']);
    expect(attachments[1]).toBe('2026-01-01T00:00:01Z');
  });

  it('marks a restart with exit code and reason and follows the new instance', async () => {
    const follow: FollowLog = async (_ref, options, onLine) => {
      onLine({ timestamp: `2026-01-01T00:00:0${attached++}Z`, text: `line ${attached}` });
      // the instance exits shortly after its line: the stream closes
      await new Promise((r) => setTimeout(r, 30));
      return options.signal.aborted ? { ended: 'aborted' } : { ended: 'closed' };
    };
    let attached = 0;
    const sink = new CollectingSink();
    const streamer = createLogStreamer(follow, sink);
    const first = snapshot(0, 'c1');
    streamer.update({ snapshot: first, deleted: false, transitions: [] });
    await until(() => sink.ofType('log').length >= 1);
    const second = snapshot(1, 'c2');
    streamer.update({ snapshot: second, previous: first, deleted: false, transitions: [{ kind: 'restarted', container: second.containers[0], exitCode: 2, reason: 'Error' }] });
    await until(() => sink.ofType('log').length >= 3);
    await streamer.stop();
    const lines = sink.ofType('log');
    expect(lines[1]).toMatchObject({ line: 'container restarted (exit code 2, reason Error)', marker: true });
    expect(lines.map((l) => l.line)).toContain('line 2');
  });

  it('keeps retrying while the cluster refuses, then resumes from where it was: no line lost, none repeated', async () => {
    const attachments: Array<string | undefined> = [];
    const ends: StreamEnd[] = [];
    const scripts: Array<TimestampedLine[] | 'refused'> = [
      [
        { timestamp: '2026-01-01T00:00:01.1Z', text: 'a' },
        { timestamp: '2026-01-01T00:00:01.5Z', text: 'b' },
      ],
      'refused',
      'refused',
      [
        { timestamp: '2026-01-01T00:00:01.1Z', text: 'a' },
        { timestamp: '2026-01-01T00:00:01.5Z', text: 'b' },
        { timestamp: '2026-01-01T00:00:03Z', text: 'written during the outage' },
        { timestamp: '2026-01-01T00:00:04Z', text: 'd' },
      ],
    ];
    const follow: FollowLog = async (_ref, options, onLine) => {
      attachments.push(options.sinceTime);
      const script = scripts.shift();
      if (!script) {
        await new Promise((r) => options.signal.addEventListener('abort', r));
        return { ended: 'aborted' } satisfies StreamEnd;
      }
      const end: StreamEnd = script === 'refused' ? { ended: 'not-running', message: 'connect ECONNREFUSED 127.0.0.1:6443' } : { ended: 'closed' };
      if (script !== 'refused') script.forEach(onLine);
      ends.push(end);
      return end;
    };
    const sink = new CollectingSink();
    const streamer = createLogStreamer(follow, sink);
    streamer.update({ snapshot: snapshot(0, 'c1'), deleted: false, transitions: [] });
    for (let i = 0; i < 400 && attachments.length < 5; i++) await new Promise((r) => setTimeout(r, 10));
    await streamer.stop();
    expect(attachments.length).toBe(5);
    // every retry asks from the newest line seen: during the outage, then after the last line
    expect(attachments.slice(1)).toEqual(['2026-01-01T00:00:01Z', '2026-01-01T00:00:01Z', '2026-01-01T00:00:01Z', '2026-01-01T00:00:04Z']);
    expect(sink.ofType('log').map((e) => e.line)).toEqual(['a', 'b', 'written during the outage', 'd']);
  });
});
