/**
 * `devloop build` with BuildKit against the real Docker engine (20.10 here: `auto` picks BuildKit),
 * driven through bin/devloop on a copy of fixtures/buildkit: bk/app is built FROM bk/base (requires),
 * with a target, a build arg, two independent stages and a cache mount.
 *
 * Every copy gets per-run content (a nonce), so its tags are new and its images are removed after.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFixture, docker, parseJsonLines, requireDocker, runDevloop } from './helpers.js';

const nonce = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

type BuildEvent = { type: 'build'; image: string; status: string; tag?: string; reason?: string; step?: string; output?: string[]; hint?: string; builder?: string; builderReason?: string };

let project: { dir: string; cleanup(): void };
const createdRefs = new Set<string>();
const file = (rel: string) => path.join(project.dir, rel);

async function build(args: string[] = []) {
  const run = await runDevloop(['build', '-o', 'json', ...args], { cwd: project.dir, timeoutMs: 240_000 });
  const events = parseJsonLines(run.stdout).filter((e) => e.type === 'build') as BuildEvent[];
  for (const e of events) if (e.status === 'built' && e.tag) createdRefs.add(e.tag);
  const final = (image: string) => events.filter((e) => e.image === image && !['step', 'building'].includes(e.status)).at(-1);
  return { ...run, events, final };
}
const imageId = (ref: string) => docker(['image', 'inspect', '--format', '{{.Id}}', ref], 30_000).trim();
const runImage = (ref: string, ...command: string[]) => docker(['run', '--rm', ref, ...command], 60_000);

beforeAll(() => {
  requireDocker();
  project = copyFixture('buildkit');
  const id = nonce();
  writeFileSync(file('base/rootfs/etc/devloop-buildkit-test'), `${id}\n`);
  writeFileSync(file('app/src/nonce.txt'), `${id}\n`);
});

afterAll(() => {
  for (const ref of createdRefs) {
    try {
      docker(['image', 'rm', '-f', ref], 60_000);
    } catch {
      // already gone
    }
  }
  project?.cleanup();
});

describe('devloop build with BuildKit (builder: auto on this engine)', () => {
  let appTag = '';

  it('builds an image FROM a required one, with two stages in parallel, a cache mount, the target and build args', async () => {
    const run = await build();
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.final('bk/base')?.status).toBe('built');
    expect(run.final('bk/app')?.status).toBe('built');
    const building = run.events.find((e) => e.image === 'bk/app' && e.status === 'building')!;
    expect(building.builder).toBe('buildkit');
    expect(building.builderReason).toMatch(/^build\.builder: auto, and the engine \(API 1\.\d+, linux\) offers BuildKit$/);
    const steps = run.events.filter((e) => e.image === 'bk/app' && e.status === 'step').map((e) => e.step!);
    // Both stages started before either finished (each sleeps 1 s): BuildKit ran them together.
    const started = (stage: string) => steps.findIndex((s) => s.startsWith(`[${stage} 3/3] RUN`));
    const finished = (stage: string) => steps.findIndex((s) => s.startsWith(`DONE [${stage} 3/3] RUN`));
    expect(started('left')).toBeGreaterThanOrEqual(0);
    expect(started('right')).toBeGreaterThanOrEqual(0);
    expect(Math.max(started('left'), started('right'))).toBeLessThan(Math.min(finished('left'), finished('right')));
    expect(steps).toContainEqual(expect.stringMatching(/^DONE \[left 3\/3\] RUN --mount=type=cache.* \d+\.\ds$/));
    // The stage after the target was never built (it would have failed).
    expect(steps.some((s) => s.includes('after-target'))).toBe(false);
    appTag = run.final('bk/app')!.tag!;
    const right = runImage(appTag);
    expect(right).toContain(readFileSync(file('app/src/nonce.txt'), 'utf8').trim());
    expect(right).toContain('hello-from-build-args');
    expect(Number(runImage(appTag, 'cat', '/left-runs').trim())).toBeGreaterThanOrEqual(1);
    // FROM ${BASE} is the base devloop just built
    expect(runImage(appTag, 'cat', '/etc/devloop-buildkit-test')).toBe(readFileSync(file('base/rootfs/etc/devloop-buildkit-test'), 'utf8'));
  });

  it('a second build is a no-op: cached, and the engine still has the same image ID under the tag', async () => {
    const before = imageId(appTag);
    const run = await build();
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.final('bk/app')).toMatchObject({ status: 'cached', tag: appTag });
    expect(run.events.some((e) => e.status === 'building')).toBe(false);
    expect(imageId(appTag)).toBe(before);
  });

  it('one changed file reruns only its stage; the cache mount keeps its content across builds', async () => {
    const runsBefore = Number(runImage(appTag, 'cat', '/left-runs').trim());
    appendFileSync(file('app/src/a.txt'), `changed ${nonce()}\n`);
    const right = await build();
    expect(right.exitCode, right.stderr).toBe(0);
    const steps = right.events.filter((e) => e.image === 'bk/app' && e.status === 'step').map((e) => e.step!);
    expect(steps).toContainEqual(expect.stringMatching(/^CACHED \[left 3\/3\] RUN --mount=type=cache/));
    expect(steps).toContainEqual(expect.stringMatching(/^DONE \[right 3\/3\] RUN /));
    expect(right.final('bk/base')?.status).toBe('cached');
    // Now the cache-mount stage itself reruns: it finds the runs counted by earlier builds.
    appendFileSync(file('app/left.txt'), `changed ${nonce()}\n`);
    const left = await build();
    expect(left.exitCode, left.stderr).toBe(0);
    expect(Number(runImage(left.final('bk/app')!.tag!, 'cat', '/left-runs').trim())).toBeGreaterThan(runsBefore);
  });

  it('a failing RUN names its step, exit code and last output lines', async () => {
    const dockerfile = file('app/Dockerfile');
    const original = readFileSync(dockerfile, 'utf8');
    const marker = `boom-${nonce()}`;
    writeFileSync(dockerfile, original.replace("echo \"$GREETING\" >> /right.txt; sleep 1'\n", `echo "$GREETING" >> /right.txt; sleep 1'\nRUN sh -c 'echo ${marker}-out; echo ${marker}-err >&2; exit 7'\n`));
    try {
      const run = await runDevloop(['build'], { cwd: project.dir, timeoutMs: 240_000 });
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toMatch(new RegExp(`bk/app: failed \\[right 4/4\\] RUN sh -c 'echo ${marker}-out; echo ${marker}-err >&2; exit 7': exited with code 7`));
      expect(run.stdout).toMatch(new RegExp(`^  ${marker}-out$`, 'm'));
      expect(run.stdout).toMatch(new RegExp(`^  ${marker}-err$`, 'm'));
    } finally {
      writeFileSync(dockerfile, original);
    }
  });

  it('a secret mount fails with the Dockerfile line and what to do; nothing is built', async () => {
    const dockerfile = file('app/Dockerfile');
    const original = readFileSync(dockerfile, 'utf8');
    writeFileSync(dockerfile, `${original}\nFROM \${BASE} AS with-secret\nRUN --mount=type=secret,id=token cat /run/secrets/token\n`);
    const line = readFileSync(dockerfile, 'utf8').split('\n').findIndex((l) => l.includes('type=secret')) + 1;
    try {
      const run = await build();
      expect(run.exitCode).toBe(1);
      expect(run.final('bk/app')).toMatchObject({
        status: 'failed',
        reason: `app/Dockerfile:${line}: RUN --mount=type=secret needs a BuildKit session that serves secrets; devloop's session serves registry credentials only`,
        hint: expect.stringMatching(/^Remove the secret mount from this RUN/),
      });
    } finally {
      writeFileSync(dockerfile, original);
    }
  });

  it('a # syntax= frontend the engine cannot pull fails naming the line and the built-in frontend', async () => {
    const dockerfile = file('app/Dockerfile');
    const original = readFileSync(dockerfile, 'utf8');
    writeFileSync(dockerfile, `# syntax=docker/dockerfile:1.4\n${original}`);
    try {
      const run = await build();
      expect(run.exitCode).toBe(1);
      const failed = run.final('bk/app')!;
      expect(failed.status).toBe('failed');
      expect(failed.reason).toMatch(/^app\/Dockerfile:1: the engine cannot pull the Dockerfile frontend docker\.io\/docker\/dockerfile:1\.4 named by # syntax=docker\/dockerfile:1\.4: /);
      expect(failed.hint).toMatch(/^Remove the `# syntax=` line to build with the engine's built-in Dockerfile frontend/);
    } finally {
      writeFileSync(dockerfile, original);
    }
  });

  it('builder: classic still builds with the classic builder', async () => {
    const config = file('devloop.config.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace('      context: base\n', '      context: base\n      builder: classic\n'));
    writeFileSync(file('base/rootfs/etc/devloop-buildkit-test'), `${nonce()}\n`);
    const run = await build(['bk/base']);
    expect(run.exitCode, run.stderr).toBe(0);
    const base = run.final('bk/base')!;
    expect(base.status).toBe('built');
    expect(run.events.find((e) => e.image === 'bk/base' && e.status === 'building')).toMatchObject({ builder: 'classic', builderReason: 'build.artifacts[bk/base].builder: classic' });
    expect(run.events.filter((e) => e.image === 'bk/base' && e.status === 'step').map((e) => e.step)).toEqual(['Step 1/4 : FROM scratch', 'Step 2/4 : COPY rootfs/ /', 'Step 3/4 : ENV PATH=/bin', 'Step 4/4 : CMD ["sh"]']);
    expect(runImage(base.tag!, 'cat', '/etc/devloop-buildkit-test')).toBe(readFileSync(file('base/rootfs/etc/devloop-buildkit-test'), 'utf8'));
  });
});
