import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../config/load.js';
import { EnvironmentError, UsageError } from '../errors.js';
import { CollectingSink } from '../events.js';
import { BuildContextChangedError, ImageBuildError, unreachable, type BuildImageOptions, type DockerClient, type EngineInfo } from '../docker/client.js';
import { createBuilder, describeBuildFailure } from './builder.js';
import type { BuildOptions } from './types.js';

/** An in-memory engine: records what it is asked, builds by adding tags. */
class FakeDocker implements DockerClient {
  readonly endpoint = 'unix:///fake.sock';
  images = new Set<string>();
  registry = new Set<string>();
  builds: Array<{ tags: string[]; buildArgs: Record<string, string>; target?: string; builder: string; files: string[] }> = [];
  pushes: string[] = [];
  failing = new Map<string, string>();
  /** Errors thrown as they are, by image name. */
  failWith = new Map<string, Error>();
  down = false;
  pushFails = false;
  active = 0;
  maxActive = 0;
  /** What ping answers; like a Docker 20.10 engine on Linux unless a test changes it. */
  engineInfo: EngineInfo = { apiVersion: '1.41', osType: 'linux', buildkit: true };
  warmUp() {}
  async ping() {
    if (this.down) throw unreachable(this.endpoint, Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' }));
    return this.engineInfo;
  }
  async imageExists(ref: string) {
    return this.images.has(ref);
  }
  /** How long a registry check takes (a round trip to the registry), and how many ran at once at most. */
  registryDelayMs = 0;
  registryChecksActive = 0;
  registryChecksMax = 0;
  async registryHasImage(ref: string) {
    this.registryChecksMax = Math.max(this.registryChecksMax, ++this.registryChecksActive);
    try {
      if (this.registryDelayMs > 0) await new Promise((r) => setTimeout(r, this.registryDelayMs));
      return this.registry.has(ref);
    } finally {
      this.registryChecksActive--;
    }
  }
  async build(context: Readable, options: BuildImageOptions) {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      const files: string[] = [];
      const tar = await import('tar-stream');
      const extract = tar.extract();
      extract.on('entry', (header, stream, next) => {
        files.push(header.name);
        stream.resume();
        stream.on('end', next);
      });
      context.pipe(extract);
      await new Promise<void>((resolve, reject) => extract.on('finish', () => resolve()).on('error', reject));
      await new Promise((r) => setTimeout(r, 20));
      const image = options.tags[0].split(':')[0];
      this.builds.push({ tags: options.tags, buildArgs: options.buildArgs, target: options.target, builder: options.builder, files });
      const thrown = this.failWith.get(image);
      if (thrown) throw thrown;
      const failure = this.failing.get(image);
      if (failure) throw new ImageBuildError(failure, 'Step 3/4 : RUN sh -c "echo boom; exit 3"', ['boom']);
      options.tags.forEach((t) => this.images.add(t));
      return { output: [] };
    } finally {
      this.active--;
    }
  }
  async tag(source: string, target: string) {
    if (this.images.has(source)) this.images.add(target);
  }
  async push(ref: string) {
    if (this.pushFails) throw new EnvironmentError(`cannot reach the registry for ${ref}`, { hint: 'start it' });
    this.pushes.push(ref);
    this.registry.add(ref);
    return {};
  }
  built() {
    return this.builds.map((b) => b.tags[0].split(':')[0]);
  }
}

let root: string;
let docker: FakeDocker;

function writeProject(concurrency = 2): Config {
  const file = path.join(root, 'devloop.config.yaml');
  const svc = (name: string) => {
    mkdirSync(path.join(root, name, 'public'), { recursive: true });
    writeFileSync(path.join(root, name, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nCOPY . /app\n');
    writeFileSync(path.join(root, name, 'public', 'index.html'), name);
  };
  mkdirSync(path.join(root, 'base'), { recursive: true });
  writeFileSync(path.join(root, 'base', 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
  writeFileSync(path.join(root, 'base', 'hello'), 'hi');
  ['posts', 'comments', 'query', 'tools'].forEach(svc);
  writeFileSync(
    file,
    `apiVersion: devloop/v1
kind: Config
metadata: { name: t }
build:
  concurrency: ${concurrency}
  artifacts:
    - { image: t/base, context: base }
    - { image: t/posts, context: posts, requires: [{ image: t/base, alias: BASE }], buildArgs: { NODE_ENV: production } }
    - { image: t/comments, context: comments, requires: [{ image: t/base, alias: BASE }] }
    - { image: t/query, context: query, requires: [{ image: t/posts, alias: BASE }] }
    - { image: t/tools, context: tools, target: dev }
`,
  );
  return parseConfig(readFileSync(file, 'utf8'), file);
}


const options = (over: Partial<BuildOptions> = {}): BuildOptions & { sink: CollectingSink } => ({
  push: false,
  signal: new AbortController().signal,
  sink: new CollectingSink(),
  ...over,
}) as BuildOptions & { sink: CollectingSink };

beforeEach(async () => {

  root = mkdtempSync(path.join(os.tmpdir(), 'devloop-builder-'));
  docker = new FakeDocker();
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('Builder', () => {
  it('builds in requires order, passes each required reference as its alias, and sends the context', async () => {
    const config = writeProject();
    const results = await createBuilder(docker).build(config, options());
    expect(results.map((r) => [r.image, r.status])).toEqual([
      ['t/base', 'built'],
      ['t/posts', 'built'],
      ['t/comments', 'built'],
      ['t/query', 'built'],
      ['t/tools', 'built'],
    ]);
    const order = docker.built();
    expect(order.indexOf('t/base')).toBeLessThan(order.indexOf('t/posts'));
    expect(order.indexOf('t/posts')).toBeLessThan(order.indexOf('t/query'));
    const base = results.find((r) => r.image === 't/base')!.tag;
    const posts = docker.builds.find((b) => b.tags[0].startsWith('t/posts:'))!;
    expect(posts.buildArgs).toEqual({ NODE_ENV: 'production', BASE: base });
    expect(posts.files.sort()).toEqual(['Dockerfile', 'public', 'public/index.html']);
    expect(docker.builds.find((b) => b.tags[0].startsWith('t/query:'))!.buildArgs.BASE).toBe(results.find((r) => r.image === 't/posts')!.tag);
    expect(docker.maxActive).toBeLessThanOrEqual(2);
    expect(docker.builds.find((b) => b.tags[0].startsWith('t/tools:'))!.target).toBe('dev');
    expect(posts.target).toBeUndefined();
  });

  it('honours build.concurrency', async () => {
    const config = writeProject(1);
    await createBuilder(docker).build(config, options());
    expect(docker.maxActive).toBe(1);
  });

  it('builds nothing the second time, and only the changed image and its dependents after a change', async () => {
    const config = writeProject();
    await createBuilder(docker).build(config, options());
    expect(docker.builds).toHaveLength(5);
    const again = await createBuilder(docker).build(config, options());
    expect(again.every((r) => r.status === 'cached')).toBe(true);
    expect(docker.builds).toHaveLength(5);

    writeFileSync(path.join(root, 'posts', 'public', 'index.html'), 'changed');
    const sink = new CollectingSink();
    const third = await createBuilder(docker).build(config, options({ sink }));
    expect(third.filter((r) => r.status === 'built').map((r) => r.image)).toEqual(['t/posts', 't/query']);
    const building = sink.ofType('build').filter((e) => e.status === 'building');
    expect(building.map((e) => [e.image, e.reason])).toEqual([
      ['t/posts', 'posts/public/index.html changed'],
      ['t/query', 'required image t/posts changed'],
    ]);
  });

  it('--dry-run says what would build and why, and builds nothing', async () => {
    const config = writeProject();
    await createBuilder(docker).build(config, options());
    writeFileSync(path.join(root, 'base', 'hello'), 'changed');
    const results = await createBuilder(docker).build(config, options({ dryRun: true }));
    expect(docker.builds).toHaveLength(5);
    expect(results.map((r) => [r.image, r.status])).toEqual([
      ['t/base', 'planned'],
      ['t/posts', 'planned'],
      ['t/comments', 'planned'],
      ['t/query', 'planned'],
      ['t/tools', 'cached'],
    ]);
    expect(results[0].reason).toBe('base/hello changed');
    expect(results[1].reason).toBe('required image t/base changed');
  });

  it('a failure skips its dependents and lets independent builds finish', async () => {
    const config = writeProject();
    docker.failing.set('t/posts', "The command '/bin/sh -c sh -c \"echo boom; exit 3\"' returned a non-zero code: 3");
    const sink = new CollectingSink();
    const results = await createBuilder(docker).build(config, options({ sink }));
    expect(results.map((r) => [r.image, r.status])).toEqual([
      ['t/base', 'built'],
      ['t/posts', 'failed'],
      ['t/comments', 'built'],
      ['t/query', 'skipped'],
      ['t/tools', 'built'],
    ]);
    expect(results[1].reason).toBe('Step 3/4 : RUN sh -c "echo boom; exit 3": exited with code 3');
    expect(results[3].reason).toBe('requires t/posts, which failed');
    const failed = sink.ofType('build').find((e) => e.image === 't/posts' && e.status === 'failed')!;
    expect(failed.step).toBe('Step 3/4 : RUN sh -c "echo boom; exit 3"');
    expect(failed.output).toEqual(['boom']);
    expect(sink.ofType('build').find((e) => e.image === 't/query')).toMatchObject({ status: 'failed', skipped: true });
  });

  it('builds only the named images and what they require', async () => {
    const config = writeProject();
    const results = await createBuilder(docker).build(config, options({ images: ['t/query'] }));
    expect(results.map((r) => r.image)).toEqual(['t/base', 't/posts', 't/query']);
    await expect(createBuilder(docker).build(config, options({ images: ['t/qeury'] }))).rejects.toThrow(UsageError);
  });

  it('resolves required images from previous results instead of rebuilding them', async () => {
    const config = writeProject();
    const first = await createBuilder(docker).build(config, options());
    docker.builds = [];
    const previous = new Map(first.map((r) => [r.image, r]));
    const results = await createBuilder(docker).build(config, options({ images: ['t/query'], previous }));
    expect(results.map((r) => [r.image, r.status])).toEqual([['t/query', 'cached']]);
  });

  it('with a registry: tags registry/image:tag, pushes it, and next time finds it in the registry', async () => {
    const config = writeProject();
    const results = await createBuilder(docker).build(config, options({ push: true, registry: 'localhost:5000', images: ['t/tools'] }));
    expect(results[0].tag).toMatch(/^localhost:5000\/t\/tools:[0-9a-f]{16}$/);
    expect(results[0]).toMatchObject({ status: 'built', pushed: true });
    expect(docker.builds[0].tags).toEqual([results[0].tag.replace('localhost:5000/', ''), results[0].tag]);
    expect(docker.pushes).toEqual([results[0].tag]);
    const again = await createBuilder(docker).build(config, options({ push: true, registry: 'localhost:5000', images: ['t/tools'] }));
    expect(again[0]).toMatchObject({ status: 'cached', pushed: true, tag: results[0].tag });
    expect(docker.pushes).toHaveLength(1);
  });

  it('checks the registry for every image at once: an image that requires another waits for its reference, not its check', async () => {
    const config = writeProject();
    const first = await createBuilder(docker).build(config, options({ push: true, registry: 'localhost:5000' }));
    expect(first.map((r) => r.status)).toEqual(['built', 'built', 'built', 'built', 'built']);
    docker.registryDelayMs = 150;
    const started = Date.now();
    const again = await createBuilder(docker).build(config, options({ push: true, registry: 'localhost:5000' }));
    expect(again.map((r) => `${r.image} ${r.status} ${r.tag}`)).toEqual(first.map((r) => `${r.image} cached ${r.tag}`));
    // t/query requires t/posts, which requires t/base: all five checks were in flight together
    expect(docker.registryChecksMax).toBe(5);
    expect(Date.now() - started).toBeLessThan(3 * 150);
  });

  it('with a default repo: renames the image by Skaffold\'s rules, pushes it there, and next time finds it there', async () => {
    const config = writeProject();
    const results = await createBuilder(docker).build(config, options({ push: true, defaultRepo: '192.0.2.2:5443/team', images: ['t/tools'] }));
    expect(results[0].tag).toMatch(/^192\.0\.2\.2:5443\/team\/t_tools:[0-9a-f]{16}$/);
    expect(results[0]).toMatchObject({ status: 'built', pushed: true });
    expect(docker.pushes).toEqual([results[0].tag]);
    const again = await createBuilder(docker).build(config, options({ push: true, defaultRepo: '192.0.2.2:5443/team', images: ['t/tools'] }));
    expect(again[0]).toMatchObject({ status: 'cached', pushed: true, tag: results[0].tag });
    expect(docker.pushes).toHaveLength(1);
  });

  it('pushes an image built earlier without rebuilding it', async () => {
    const config = writeProject();
    await createBuilder(docker).build(config, options({ images: ['t/tools'] }));
    const results = await createBuilder(docker).build(config, options({ push: true, registry: 'localhost:5000', images: ['t/tools'] }));
    expect(docker.builds).toHaveLength(1);
    expect(results[0]).toMatchObject({ status: 'cached', pushed: true });
    expect(docker.pushes).toEqual([results[0].tag]);
  });

  it('refuses to push an image that names no registry when none is given', async () => {
    const config = writeProject();
    await expect(createBuilder(docker).build(config, options({ push: true }))).rejects.toThrow(/has no registry/);
    expect(docker.builds).toHaveLength(0);
  });

  it('rejects with EnvironmentError when the engine is down or a push fails', async () => {
    const config = writeProject();
    docker.down = true;
    await expect(createBuilder(docker).build(config, options())).rejects.toThrow(/cannot reach the Docker engine at unix:\/\/\/fake.sock/);
    docker.down = false;
    docker.pushFails = true;
    await expect(createBuilder(docker).build(config, options({ push: true, registry: 'localhost:5000' }))).rejects.toBeInstanceOf(EnvironmentError);
  });

  it('rejects a Dockerfile outside the context', async () => {
    const config = writeProject();
    config.build.artifacts[4] = { ...config.build.artifacts[4], dockerfilePath: path.join(root, 'Dockerfile.elsewhere') };
    await expect(createBuilder(docker).build(config, options())).rejects.toThrow(/outside its context/);
  });
});

describe('Builder with BuildKit', () => {
  it("uses the builder chooseBuilder picks for each artifact and says which on the building event", async () => {
    const config = writeProject();
    config.build.artifacts.find((a) => a.image === 't/tools')!.builder = 'classic';
    const sink = new CollectingSink();
    await createBuilder(docker, {}).build(config, options({ sink }));
    expect(Object.fromEntries(docker.builds.map((b) => [b.tags[0].split(':')[0], b.builder]))).toEqual({
      't/base': 'buildkit',
      't/posts': 'buildkit',
      't/comments': 'buildkit',
      't/query': 'buildkit',
      't/tools': 'classic',
    });
    const building = sink.events.filter((e) => e.type === 'build' && e.status === 'building');
    expect(building.find((e) => e.type === 'build' && e.image === 't/base')).toMatchObject({ builder: 'buildkit', builderReason: 'build.builder: auto, and the engine (API 1.41, linux) offers BuildKit' });
    expect(building.find((e) => e.type === 'build' && e.image === 't/tools')).toMatchObject({ builder: 'classic', builderReason: 'build.artifacts[t/tools].builder: classic' });
  });

  it('falls back to classic on an engine without BuildKit with one note per builder, not per run', async () => {
    docker.engineInfo = { apiVersion: '1.38', osType: 'linux', buildkit: false };
    const config = writeProject();
    const builder = createBuilder(docker, {});
    const first = new CollectingSink();
    await builder.build(config, options({ sink: first, images: ['t/base'] }));
    const second = new CollectingSink();
    await builder.build(config, options({ sink: second, images: ['t/posts'] }));
    expect(docker.builds.map((b) => b.builder)).toEqual(['classic', 'classic']);
    const notes = (sink: CollectingSink) => sink.events.filter((e) => e.type === 'message' && e.level === 'info');
    expect(notes(first)).toEqual([{ type: 'message', level: 'info', text: 'building with the classic builder: the engine (API 1.38, linux) does not offer BuildKit' }]);
    expect(notes(second)).toEqual([]);
  });

  it('fails an artifact whose Dockerfile needs a secret mount before building it, naming file:line', async () => {
    const config = writeProject();
    writeFileSync(path.join(root, 'tools', 'Dockerfile'), 'FROM scratch AS dev\nCOPY . /\nRUN --mount=type=cache,target=/c \\\n  --mount=type=secret,id=npmrc cat /run/secrets/npmrc\n');
    const sink = new CollectingSink();
    const results = await createBuilder(docker, {}).build(config, options({ sink }));
    const tools = results.find((r) => r.image === 't/tools')!;
    expect(tools.status).toBe('failed');
    expect(tools.reason).toBe("tools/Dockerfile:3: RUN --mount=type=secret needs a BuildKit session that serves secrets; devloop's session serves registry credentials only");
    expect(tools.hint).toMatch(/^Remove the secret mount from this RUN/);
    expect(docker.built()).not.toContain('t/tools');
    // the classic builder gets the Dockerfile as it is (the engine itself refuses --mount there)
    config.build.artifacts.find((a) => a.image === 't/tools')!.builder = 'classic';
    await createBuilder(docker, {}).build(config, options({ images: ['t/tools'] }));
    expect(docker.built()).toContain('t/tools');
  });

  it('fails the one image whose context changed while it was sent, with the hint, and builds the rest', async () => {
    const config = writeProject();
    docker.failWith.set('t/base', new BuildContextChangedError(new Error('Size mismatch')));
    const results = await createBuilder(docker, {}).build(config, options());
    expect(results.find((r) => r.image === 't/base')).toMatchObject({ status: 'failed', reason: 'reading the build context failed: Size mismatch', hint: expect.stringMatching(/changed or vanished/) });
    expect(results.filter((r) => r.image !== 't/base').every((r) => r.status === 'skipped' || r.status === 'built')).toBe(true);
  });

  it('names the # syntax= line when the engine cannot pull the frontend, and says removing it uses the built-in one', async () => {
    const config = writeProject();
    writeFileSync(path.join(root, 'base', 'Dockerfile'), '# syntax=docker/dockerfile:1.4\nFROM scratch\nCOPY . /\n');
    docker.failWith.set('t/base', new ImageBuildError('failed to solve with frontend dockerfile.v0: failed to solve with frontend gateway.v0: failed to do request: dial tcp: lookup registry-1.docker.io: no such host', 'resolve image config for docker.io/docker/dockerfile:1.4', [], {
      kind: 'frontend-unavailable',
      frontend: 'docker.io/docker/dockerfile:1.4',
      cause: 'failed to do request: dial tcp: lookup registry-1.docker.io: no such host',
    }));
    const results = await createBuilder(docker, {}).build(config, options());
    const base = results.find((r) => r.image === 't/base')!;
    expect(base.reason).toBe('base/Dockerfile:1: the engine cannot pull the Dockerfile frontend docker.io/docker/dockerfile:1.4 named by # syntax=docker/dockerfile:1.4: failed to do request: dial tcp: lookup registry-1.docker.io: no such host');
    expect(base.hint).toMatch(/^Remove the `# syntax=` line to build with the engine's built-in Dockerfile frontend/);
  });
});

describe('describeBuildFailure', () => {
  it("shortens BuildKit's wording of a failed RUN as the classic builder's", () => {
    const error = new ImageBuildError('executor failed running [/bin/sh -c exit 3]: exit code: 3', '[a 1/1] RUN exit 3', []);
    expect(describeBuildFailure(error)).toBe('[a 1/1] RUN exit 3: exited with code 3');
    const parse = new ImageBuildError('failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 3: unknown instruction: FROOM', undefined, []);
    expect(describeBuildFailure(parse)).toBe('dockerfile parse error line 3: unknown instruction: FROOM');
  });
});

describe('registryRef', () => {
  it('puts the image under the registry, replacing a registry host it already names', async () => {
    const { registryRef } = await import('./builder.js');
    expect(registryRef('localhost:5000', 'blog/posts', 'abc')).toBe('localhost:5000/blog/posts:abc');
    expect(registryRef('localhost:5000', 'ghcr.io/acme/api', 'abc')).toBe('localhost:5000/acme/api:abc');
    expect(registryRef('localhost:5000', 'localhost:5000/acme/api', 'abc')).toBe('localhost:5000/acme/api:abc');
  });
});

describe('build hooks', () => {
  function withHooks(before: string, after: string): Config {
    const file = path.join(root, 'devloop.config.yaml');
    mkdirSync(path.join(root, 'app'), { recursive: true });
    writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    writeFileSync(path.join(root, 'app', 'main'), 'x');
    writeFileSync(
      file,
      `apiVersion: devloop/v1
kind: Config
metadata: { name: t }
build:
  artifacts:
    - image: t/app
      context: app
      hooks:
        before: [{ host: { command: ["sh", "-c", ${JSON.stringify(before)}], dir: .. } }]
        after: [{ host: { command: ["sh", "-c", ${JSON.stringify(after)}] } }]
`,
    );
    return parseConfig(readFileSync(file, 'utf8'), file);
  }

  it('runs before and after an actual build with the reference being built, and not when cached', async () => {
    const config = withHooks('echo "before $SKAFFOLD_IMAGE $(basename "$PWD")" >> hooks.txt', 'echo "after $DEVLOOP_IMAGE_TAG $SKAFFOLD_BUILD_CONTEXT" >> ../hooks.txt');
    // before runs in dir ".." of the context (the project root), after in the context itself
    const [result] = await createBuilder(docker).build(config, options());
    expect(result.status).toBe('built');
    const tag = result.tag.split(':')[1];
    expect(readFileSync(path.join(root, 'hooks.txt'), 'utf8')).toBe(`before ${result.tag} ${path.basename(root)}\nafter ${tag} ${path.join(root, 'app')}\n`);
    const [again] = await createBuilder(docker).build(config, options());
    expect(again.status).toBe('cached');
    expect(readFileSync(path.join(root, 'hooks.txt'), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('a failing before hook fails the build with its output, and nothing is built', async () => {
    const config = withHooks('echo cannot generate; exit 2', 'true');
    const o = options();
    const [result] = await createBuilder(docker).build(config, o);
    expect(result).toMatchObject({ status: 'failed', reason: expect.stringContaining('build/before #1 hook failed with exit code 2') });
    expect(docker.builds).toEqual([]);
    expect(o.sink.ofType('build').at(-1)).toMatchObject({ status: 'failed', output: ['cannot generate'] });
  });
});
