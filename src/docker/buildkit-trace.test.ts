import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildkitProgress, decodeTrace } from './buildkit-trace.js';

/** The `aux` of every trace event of a recorded build (testdata/README.md says how they were recorded). */
function traces(name: string): string[] {
  const text = readFileSync(path.join(import.meta.dirname, 'testdata', name), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id?: string; aux?: unknown })
    .filter((e) => e.id === 'moby.buildkit.trace')
    .map((e) => e.aux as string);
}

function follow(name: string) {
  const steps: string[] = [];
  const output: string[] = [];
  const progress = new BuildkitProgress((s) => steps.push(s), (l) => output.push(l));
  for (const aux of traces(name)) progress.apply(decodeTrace(aux));
  return { steps, output, failed: progress.failed() };
}

describe('decodeTrace', () => {
  it('decodes vertexes with names, times and cache hits, and logs by vertex', () => {
    const updates = traces('buildkit-two-stages.jsonl').map(decodeTrace);
    const vertexes = updates.flatMap((u) => u.vertexes);
    const run = vertexes.filter((v) => v.name === '[right 2/2] RUN echo right-out && cp /app.txt /right.txt');
    const done = run.find((v) => v.completedMs !== undefined)!;
    expect(done.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(done.startedMs).toBeGreaterThan(Date.UTC(2026, 0, 1));
    expect(done.completedMs! - done.startedMs!).toBeGreaterThan(0);
    expect(done.cached).toBe(false);
    const logs = updates.flatMap((u) => u.logs);
    expect(logs).toEqual([{ vertex: done.digest, stream: 1, text: 'right-out\n' }]);
  });
});

describe('BuildkitProgress', () => {
  it('reports both stages of a first build, the cache mount step included, with durations', () => {
    const { steps, output, failed } = follow('buildkit-two-stages.jsonl');
    expect(failed).toBeUndefined();
    expect(steps).toContain("[left 1/1] RUN --mount=type=cache,target=/cache sh -c 'echo left >> /cache/log; cat /cache/log | wc -l > /left.txt'");
    expect(steps).toContainEqual(expect.stringMatching(/^DONE \[left 1\/1\] RUN --mount=type=cache.* \d+\.\ds$/));
    expect(steps).toContainEqual(expect.stringMatching(/^DONE \[right 2\/2\] RUN echo right-out .* \d+\.\ds$/));
    expect(steps).toContainEqual(expect.stringMatching(/^DONE \[stage-3 2\/2\] COPY --from=right/));
    // BuildKit's bookkeeping is not a step
    expect(steps.some((s) => s.includes('[internal]') || s.includes('copy /context'))).toBe(false);
    // each step is reported once per state
    expect(new Set(steps).size).toBe(steps.length);
    expect(output).toEqual(['right-out']);
  });

  it('reports every step of an unchanged rebuild as cached', () => {
    const { steps } = follow('buildkit-cached.jsonl');
    const own = steps.filter((s) => !s.includes('exporting to image'));
    expect(own).toEqual([
      'CACHED [base 1/1] COPY rootfs/ /',
      "CACHED [left 1/1] RUN --mount=type=cache,target=/cache sh -c 'echo left >> /cache/log; cat /cache/log | wc -l > /left.txt'",
      'CACHED [stage-3 1/2] COPY --from=left /left.txt /left.txt',
      'CACHED [right 1/2] COPY app.txt /app.txt',
      'CACHED [right 2/2] RUN echo right-out && cp /app.txt /right.txt',
      'CACHED [stage-3 2/2] COPY --from=right /right.txt /right.txt',
    ]);
  });

  it('names the failing step with its output, stdout and stderr in arrival order', () => {
    const { failed, steps } = follow('buildkit-failing-run.jsonl');
    expect(failed).toEqual({
      name: '[a 1/1] RUN echo one; echo two; echo three >&2; exit 3',
      error: 'executor failed running [/bin/sh -c echo one; echo two; echo three >&2; exit 3]: exit code: 3',
      output: ['three', 'one', 'two'],
    });
    expect(steps).toContain('ERROR [a 1/1] RUN echo one; echo two; echo three >&2; exit 3: executor failed running [/bin/sh -c echo one; echo two; echo three >&2; exit 3]: exit code: 3');
  });

  it('keeps only the last lines of a long step output, and a trailing partial line', () => {
    const progress = new BuildkitProgress(() => {});
    const digest = 'sha256:1';
    progress.apply({ vertexes: [{ digest, name: '[1/1] RUN seq 100', cached: false, startedMs: 1 }], logs: [] });
    progress.apply({ vertexes: [], logs: [{ vertex: digest, stream: 1, text: Array.from({ length: 100 }, (_, i) => `${i + 1}\n`).join('') + 'no newline' }] });
    progress.apply({ vertexes: [{ digest, name: '[1/1] RUN seq 100', cached: false, startedMs: 1, completedMs: 2, error: 'exit code: 1' }], logs: [] });
    const output = progress.failed()!.output;
    expect(output).toHaveLength(40);
    expect(output.at(-1)).toBe('no newline');
    expect(output.at(-2)).toBe('100');
  });

  it('names the vertex of a secret mount without a session and of an unpullable frontend', () => {
    expect(follow('buildkit-secret-no-session.jsonl').failed).toMatchObject({ name: '[2/2] RUN --mount=type=secret,id=npmrc cat /run/secrets/npmrc', error: 'no active sessions' });
    expect(follow('buildkit-syntax-unpullable.jsonl').failed).toMatchObject({ name: 'resolve image config for docker.io/docker/dockerfile:1.4', error: expect.stringContaining('registry-1.docker.io') });
  });
});
