/**
 * `devloop build` against the real Docker engine (and the cluster's registry at localhost:5000),
 * driven through bin/devloop on a copy of fixtures/blog.
 *
 * Images are named by the fixture (blog/*) and shared with other suites, so an image may already
 * exist before the first build here: assertions that need a build use a per-run nonce written
 * into the copy, which gives inputs (and so a tag) no one has built before.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFixture, devloopBin, docker, parseJsonLines, repoRoot, requireDocker, runDevloop } from './helpers.js';

const IMAGES = ['blog/base', 'blog/posts', 'blog/comments', 'blog/query', 'blog/client'];
const REGISTRY = 'localhost:5000';
const nonce = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

let project: { dir: string; cleanup(): void };
const cwd = () => project.dir;

/**
 * References this suite built from per-run (nonce) inputs: no other run can have them, so they are
 * removed afterwards. Images of the unchanged fixture are shared with other suites and are kept.
 */
const createdRefs = new Set<string>();
async function devloop(args: string[], env?: NodeJS.ProcessEnv) {
  const result = await runDevloop(args, { cwd: cwd(), env });
  for (const m of result.stdout.matchAll(/"status":"built","tag":"([^"]+)"|: built (\S+)/g)) {
    const ref = m[1] ?? m[2];
    createdRefs.add(ref);
    if (ref.startsWith(`${REGISTRY}/`)) createdRefs.add(ref.slice(REGISTRY.length + 1));
  }
  return result;
}

type BuildEvent = { type: 'build'; image: string; status: string; tag?: string; reason?: string; step?: string; output?: string[]; skipped?: boolean };
function buildEvents(stdout: string): BuildEvent[] {
  return parseJsonLines(stdout).filter((e) => e.type === 'build') as BuildEvent[];
}
/** The final status of each image in a JSON run. */
function finalStatus(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of buildEvents(stdout)) if (e.status !== 'step' && e.status !== 'building' && e.status !== 'pushing') out[e.image] = e.skipped ? 'skipped' : e.status;
  return out;
}
function imageExists(ref: string): boolean {
  try {
    docker(['image', 'inspect', '--format', '{{.Id}}', ref], 30_000);
    return true;
  } catch {
    return false;
  }
}

/** What the engine says about an image: its ID and creation time (a rebuild changes at least one). */
function engineImage(ref: string): { id: string; created: string } {
  const [id, created] = docker(['image', 'inspect', '--format', '{{.Id}} {{.Created}}', ref], 30_000).trim().split(' ');
  return { id, created };
}
/**
 * The engine's events that make or remove an image name (tag, untag, delete, import, load) between
 * two instants (Docker event timestamps, in seconds). Pulls are left out: the cluster's kubelet may pull.
 */
function engineImageEvents(since: number, until: number): string[] {
  const actions = ['tag', 'untag', 'delete', 'import', 'load'].flatMap((a) => ['--filter', `event=${a}`]);
  return docker(['events', '--since', String(since), '--until', String(until), '--filter', 'type=image', ...actions, '--format', '{{.Action}} {{.Actor.Attributes.name}}'], 30_000)
    .split('\n')
    .filter(Boolean);
}

/** The tag of each image after the first build, in the fixture's unchanged state. */
let firstTags: Record<string, string> = {};

beforeAll(async () => {
  requireDocker();
  project = copyFixture('blog');
  // Bring every image up to date once; later tests measure from this state.
  const first = await runDevloop(['build', '-o', 'json'], { cwd: cwd() });
  expect(first.exitCode, first.stderr).toBe(0);
  for (const e of buildEvents(first.stdout)) if ((e.status === 'built' || e.status === 'cached') && e.tag) firstTags[e.image] = e.tag;
});
afterAll(() => {
  project?.cleanup();
  for (const ref of createdRefs) {
    try {
      docker(['rmi', ref], 30_000);
    } catch {
      // already gone, or used by a container: leave it
    }
  }
});

describe('devloop build', () => {
  it('builds every artifact of the fixture, then a second build builds nothing (checked in the engine)', async () => {
    expect(Object.keys(firstTags).sort()).toEqual([...IMAGES].sort());
    const before = Object.fromEntries(IMAGES.map((i) => [i, engineImage(firstTags[i])]));
    // Docker event times have one-second resolution: start on a fresh second so the window is exact.
    const since = Math.floor(Date.now() / 1000) + 1;
    await new Promise((r) => setTimeout(r, since * 1000 - Date.now()));
    const again = await devloop(['build', '-o', 'json']);
    const until = Math.ceil(Date.now() / 1000) + 1;
    expect(again.exitCode, again.stderr).toBe(0);
    expect(finalStatus(again.stdout)).toEqual(Object.fromEntries(IMAGES.map((i) => [i, 'cached'])));
    expect(buildEvents(again.stdout).filter((e) => e.status === 'building')).toEqual([]);
    // The engine agrees: the same images (ID and creation time) under the same tags, and no image
    // was built, tagged or removed while devloop ran.
    for (const e of buildEvents(again.stdout)) expect(e.tag).toBe(firstTags[e.image]);
    expect(Object.fromEntries(IMAGES.map((i) => [i, engineImage(firstTags[i])]))).toEqual(before);
    await new Promise((r) => setTimeout(r, Math.max(0, until * 1000 - Date.now())));
    expect(engineImageEvents(since, until)).toEqual([]);
  });

  it('a content change: --dry-run names the file and builds nothing; then only that image is rebuilt', async () => {
    appendFileSync(path.join(cwd(), 'services/posts/public/index.html'), `<!-- ${nonce()} -->\n`);
    const dry = await devloop(['build', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const planned = /blog\/posts: would build (\S+) \(services\/posts\/public\/index\.html changed\)/.exec(dry.stdout);
    expect(planned, dry.stdout).not.toBeNull();
    expect(imageExists(planned![1])).toBe(false);
    for (const other of IMAGES.filter((i) => i !== 'blog/posts')) expect(dry.stdout).toMatch(new RegExp(`${other}: cached`));

    const since = Math.floor(Date.now() / 1000);
    const run = await devloop(['build', '-o', 'json']);
    const until = Math.ceil(Date.now() / 1000) + 1;
    expect(run.exitCode, run.stderr).toBe(0);
    expect(finalStatus(run.stdout)).toEqual({ 'blog/base': 'cached', 'blog/posts': 'built', 'blog/comments': 'cached', 'blog/query': 'cached', 'blog/client': 'cached' });
    const built = buildEvents(run.stdout).find((e) => e.status === 'built')!;
    expect(built.tag).toBe(planned![1]);
    // The engine's events show a build (the probe the no-op test relies on sees one when it happens).
    await new Promise((r) => setTimeout(r, Math.max(0, until * 1000 - Date.now())));
    expect(engineImageEvents(since, until)).toContain(`tag ${built.tag}`);
    expect(imageExists(built.tag!)).toBe(true);
    expect(docker(['run', '--rm', built.tag!, 'cat', '/app/public/index.html'])).toMatch(/<!-- /);
  });

  it('a change in the base image rebuilds it and every image built on it', async () => {
    writeFileSync(path.join(cwd(), 'base/rootfs/etc/devloop-test'), nonce());
    const run = await devloop(['build', '-o', 'json']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(finalStatus(run.stdout)).toEqual(Object.fromEntries(IMAGES.map((i) => [i, 'built'])));
    const reasons = Object.fromEntries(buildEvents(run.stdout).filter((e) => e.status === 'building').map((e) => [e.image, e.reason]));
    expect(reasons['blog/base']).toBe('base/rootfs/etc/devloop-test added');
    expect(reasons['blog/client']).toBe('required image blog/base changed');
    // The dependents were built FROM the new base (its tag went in as the BASE build arg).
    const client = buildEvents(run.stdout).find((e) => e.image === 'blog/client' && e.status === 'built')!;
    expect(docker(['run', '--rm', client.tag!, 'cat', '/etc/devloop-test'])).toBe(readFileSync(path.join(cwd(), 'base/rootfs/etc/devloop-test'), 'utf8'));
  });

  it('a failing step exits 1 and shows the step and its output; independent images still build', async () => {
    const dockerfile = path.join(cwd(), 'services/query/Dockerfile');
    const original = readFileSync(dockerfile, 'utf8');
    const marker = `boom-${nonce()}`;
    writeFileSync(dockerfile, original.replace('COPY . /app\n', `COPY . /app\nRUN sh -c 'echo ${marker}; exit 3'\n`));
    appendFileSync(path.join(cwd(), 'services/comments/public/index.html'), `<!-- ${nonce()} -->\n`);
    try {
      const run = await devloop(['build']);
      expect(run.exitCode).toBe(1);
      // auto picks BuildKit on this engine: it names the step "[2/3] RUN ..." (the classic builder "Step 2/3 : RUN ...")
      expect(run.stdout).toMatch(new RegExp(`blog/query: failed \\[\\d+/\\d+\\] RUN sh -c 'echo ${marker}; exit 3': exited with code 3`));
      expect(run.stdout).toMatch(new RegExp(`^  ${marker}$`, 'm'));
      expect(run.stdout).toMatch(/blog\/comments: built/);
      expect(run.stderr).toMatch(/error: 1 of 5 images failed to build: blog\/query/);
    } finally {
      writeFileSync(dockerfile, original);
    }
  });

  it('when the base fails, its dependents are skipped with the reason', async () => {
    const dockerfile = path.join(cwd(), 'base/Dockerfile');
    const original = readFileSync(dockerfile, 'utf8');
    writeFileSync(dockerfile, `${original}COPY no-such-file-${nonce()} /\n`);
    try {
      const run = await devloop(['build', '-o', 'json']);
      expect(run.exitCode).toBe(1);
      expect(finalStatus(run.stdout)).toEqual({ 'blog/base': 'failed', 'blog/posts': 'skipped', 'blog/comments': 'skipped', 'blog/query': 'skipped', 'blog/client': 'skipped' });
      const skipped = buildEvents(run.stdout).find((e) => e.image === 'blog/posts')!;
      expect(skipped.reason).toBe('requires blog/base, which failed');
      const error = parseJsonLines(run.stdout).find((e) => e.type === 'error') as { error: { kind: string; details: string[] } };
      expect(error.error.kind).toBe('failure');
      expect(error.error.details).toContain('blog/posts: skipped, requires blog/base, which failed');
    } finally {
      writeFileSync(dockerfile, original);
    }
  });

  it('--file-output lists the images present in the engine', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'devloop-file-output-')), 'builds.json');
    const run = await devloop(['build', '--file-output', out]);
    expect(run.exitCode, run.stderr).toBe(0);
    const { builds } = JSON.parse(readFileSync(out, 'utf8')) as { builds: Array<{ imageName: string; tag: string }> };
    expect(builds.map((b) => b.imageName).sort()).toEqual([...IMAGES].sort());
    for (const b of builds) {
      expect(b.tag).toMatch(new RegExp(`^${b.imageName}:[0-9a-f]{16}$`));
      expect(imageExists(b.tag)).toBe(true);
    }
    rmSync(path.dirname(out), { recursive: true, force: true });
  });

  it('names an unknown image with a did-you-mean (exit 2)', async () => {
    const run = await devloop(['build', 'blog/post']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/"blog\/post" is not an artifact of this config/);
    expect(run.stderr).toMatch(/Did you mean blog\/posts\?/);
  });

  it('says how to fix an unreachable Docker engine (exit 1)', async () => {
    const run = await devloop(['build'], { DOCKER_HOST: 'unix:///tmp/devloop-no-such-docker.sock' });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/cannot reach the Docker engine at unix:\/\/\/tmp\/devloop-no-such-docker\.sock/);
    expect(run.stderr).toMatch(/next: .*test\/cluster\/docker-up\.sh.*DOCKER_HOST/);
  });

  it('never loads ink or react (module resolution traced at run time)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-trace-'));
    const log = path.join(dir, 'resolved.log');
    writeFileSync(
      path.join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}
`,
    );
    writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${path.join(dir, 'hooks.mjs')}`)});\n`);
    const trace = (args: string[], where: string) => {
      rmSync(log, { force: true });
      try {
        execFileSync(process.execPath, ['--import', path.join(dir, 'register.mjs'), ...args], { cwd: where, stdio: 'pipe', env: { ...process.env, NO_COLOR: '1' } });
      } catch {
        // exit codes are not the point here
      }
      return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    };
    try {
      // The tracer works: it sees ink when something loads it.
      expect(trace(['--input-type=module', '-e', "await import('ink')"], repoRoot).some((u) => /node_modules\/ink\//.test(u))).toBe(true);
      const urls = trace([devloopBin, 'build'], cwd());
      expect(urls.some((u) => u.endsWith('/dist/cli/build.js'))).toBe(true);
      expect(urls.filter((u) => /node_modules\/(ink|react|react-reconciler)\//.test(u))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('devloop build --push', () => {
  beforeAll(async () => {
    const res = await fetch(`http://127.0.0.1:5000/v2/`).catch((error: Error) => error);
    if (res instanceof Error || !res.ok) {
      throw new Error(`the cluster's registry does not answer at http://127.0.0.1:5000/v2/ (${res instanceof Error ? res.message : res.status}): bring the test cluster up (npm run cluster:up)`);
    }
  });

  it(`pushes ${REGISTRY}/IMAGE:TAG, reports it in --file-output, pushes nothing the second time, and trusts the registry over the engine`, async () => {
    appendFileSync(path.join(cwd(), 'client/src/index.html'), `<!-- ${nonce()} -->\n`);
    const out = path.join(cwd(), 'pushed.json');
    const run = await devloop(['build', '--push', '--registry', REGISTRY, '--file-output', out, '-o', 'json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const events = buildEvents(run.stdout);
    const pushed = events.filter((e) => e.status === 'pushed').map((e) => e.image);
    expect(pushed).toContain('blog/client');
    const client = events.find((e) => e.image === 'blog/client' && e.status === 'pushed')!;
    expect(client.tag).toMatch(/^localhost:5000\/blog\/client:[0-9a-f]{16}$/);
    const tag = client.tag!.split(':').pop()!;
    const tags = (await (await fetch('http://127.0.0.1:5000/v2/blog/client/tags/list')).json()) as { tags: string[] };
    expect(tags.tags).toContain(tag);
    const { builds } = JSON.parse(readFileSync(out, 'utf8')) as { builds: Array<{ imageName: string; tag: string }> };
    expect(builds.find((b) => b.imageName === 'blog/client')?.tag).toBe(client.tag);
    expect(builds.every((b) => b.tag.startsWith(`${REGISTRY}/`))).toBe(true);

    const again = await devloop(['build', '--push', '--registry', REGISTRY, '-o', 'json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(finalStatus(again.stdout)).toEqual(Object.fromEntries(IMAGES.map((i) => [i, 'cached'])));
    expect(buildEvents(again.stdout).filter((e) => e.status === 'pushing')).toEqual([]);

    // When pushing, the registry is what counts: with the image gone from the engine (this run's
    // client image is unique to it), nothing is rebuilt because the registry has the tag.
    docker(['rmi', client.tag!, `blog/client:${tag}`]);
    expect(imageExists(client.tag!)).toBe(false);
    const fromRegistry = await devloop(['build', 'blog/client', '--push', '--registry', REGISTRY, '-o', 'json']);
    expect(fromRegistry.exitCode, fromRegistry.stderr).toBe(0);
    const cached = buildEvents(fromRegistry.stdout).find((e) => e.image === 'blog/client')!;
    expect(cached).toMatchObject({ status: 'cached', tag: client.tag, reason: `in ${REGISTRY}` });
  });

  it('an unreachable registry is an environment error with a hint', async () => {
    const run = await devloop(['build', 'blog/base', '--push', '--registry', '127.0.0.1:5999']);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/cannot reach the registry 127\.0\.0\.1:5999/);
    expect(run.stderr).toMatch(/next: Check that the registry is running/);
  });
});
