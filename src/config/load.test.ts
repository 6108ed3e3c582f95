import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, UsageError } from '../errors.js';
import { findConfigFile, loadConfig, parseConfig } from './load.js';
import { mergeOverride } from './profiles.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-config-'));
  for (const svc of ['posts', 'base']) {
    mkdirSync(path.join(dir, svc), { recursive: true });
    writeFileSync(path.join(dir, svc, 'Dockerfile'), 'FROM scratch\n');
  }
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const file = () => path.join(dir, 'devloop.config.yaml');

function write(text: string): string {
  writeFileSync(file(), text);
  return file();
}

function problemsOf(text: string, profiles: string[] = []): string[] {
  write(text);
  try {
    loadConfig({ cwd: dir, profiles });
  } catch (error) {
    if (error instanceof ConfigError) return error.details;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const valid = `apiVersion: devloop/v1
kind: Config
metadata: { name: blog }
build:
  artifacts:
    - image: blog/base
      context: base
    - image: blog/posts
      context: posts
      requires: [{ image: blog/base, alias: BASE }]
      sync:
        manual:
          - { src: "src/**/*.js", dest: /app/src, strip: "src/" }
deploy:
  kubectl: { manifests: ["k8s/*.yaml"] }
profiles:
  - name: ci
    build: { push: true }
`;

describe('loadConfig', () => {
  it('loads a valid config with defaults and absolute paths', () => {
    write(valid);
    const config = loadConfig({ cwd: dir });
    expect(config.name).toBe('blog');
    expect(config.rootDir).toBe(dir);
    expect(config.build.tagPolicy).toBe('inputDigest');
    expect(config.build.concurrency).toBe(2);
    expect(config.build.push).toBe('auto');
    expect(config.build.artifacts[1].contextDir).toBe(path.join(dir, 'posts'));
    expect(config.build.artifacts[1].dockerfilePath).toBe(path.join(dir, 'posts', 'Dockerfile'));
    expect(config.deploy.statusCheckDeadlineSeconds).toBe(120);
    expect(config.deploy.kubectl.manifests).toEqual(['k8s/*.yaml']);
    expect(config.portForward).toEqual([]);
    expect(config.watch.debounceMs).toBe(50);
  });

  it('finds the config in a parent directory', () => {
    write(valid);
    expect(findConfigFile(path.join(dir, 'posts'))).toBe(file());
  });

  it('says what to do when there is no config', () => {
    expect(() => findConfigFile(path.join(dir, 'posts'), undefined)).toThrow(UsageError);
    expect(() => findConfigFile(dir, 'missing.yaml')).toThrow(/does not exist/);
  });

  it('applies profiles: objects merge, lists replace', () => {
    write(valid);
    const config = loadConfig({ cwd: dir, profiles: ['ci'] });
    expect(config.build.push).toBe(true);
    expect(config.build.artifacts).toHaveLength(2);
    expect(mergeOverride({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
  });

  it('rejects an unknown profile with a suggestion', () => {
    write(valid);
    expect(() => loadConfig({ cwd: dir, profiles: ['cj'] })).toThrow(UsageError);
    expect(() => loadConfig({ cwd: dir, profiles: ['cj'] })).toThrow(expect.objectContaining({ hint: expect.stringContaining('-p ci') }));
  });
});

describe('config validation reports every problem as file:line:column', () => {
  it('unknown key with did-you-mean, at the key', () => {
    const problems = problemsOf(valid.replace('      context: posts', '      contxt: posts'));
    expect(problems).toEqual([`${file()}:9:7: build.artifacts[1].contxt: unknown key "contxt" (did you mean "context"?)`]);
  });

  it('wrong type, at the value', () => {
    const problems = problemsOf(valid.replace('build:\n', 'build:\n  concurrency: two\n'));
    expect(problems).toEqual([`${file()}:5:16: build.concurrency: expected number, got string "two"`]);
  });

  it('missing required key, at the parent', () => {
    const problems = problemsOf(valid.replace('metadata: { name: blog }', 'metadata: {}'));
    expect(problems).toEqual([`${file()}:3:11: metadata.name: missing required key "name"`]);
  });

  it('wrong apiVersion says the fix', () => {
    // (an apiVersion skaffold/... is read as a Skaffold config: src/config/skaffold/)
    const problems = problemsOf(valid.replace('devloop/v1', 'devloop/v2'));
    expect(problems[0]).toMatch(/:1:13: apiVersion: .*\(set apiVersion: devloop\/v1\)$/);
  });

  it('missing context directory and missing Dockerfile', () => {
    const problems = problemsOf(
      valid.replace('      context: base', '      context: nowhere').replace('      context: posts', '      context: posts\n      dockerfile: Dockerfile.dev'),
    );
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/:7:16: build\.artifacts\[0\]\.context: context directory .*nowhere does not exist/);
    expect(problems[1]).toMatch(/:10:19: build\.artifacts\[1\]\.dockerfile: Dockerfile .*Dockerfile\.dev does not exist/);
  });

  it('duplicate image names', () => {
    const problems = problemsOf(valid.replace('image: blog/posts', 'image: blog/base').replace('requires: [{ image: blog/base, alias: BASE }]', 'requires: []'));
    expect(problems).toEqual([expect.stringMatching(/:8:14: build\.artifacts\[1\]\.image: duplicate image "blog\/base" \(also at build\.artifacts\[0\]\)/)]);
  });

  it('a cycle in requires', () => {
    const problems = problemsOf(valid.replace('      context: base', '      context: base\n      requires: [{ image: blog/posts, alias: P }]'));
    expect(problems).toEqual([expect.stringMatching(/requires form a cycle: blog\/base -> blog\/posts -> blog\/base/)]);
  });

  it('requires naming an unknown image', () => {
    const problems = problemsOf(valid.replace('requires: [{ image: blog/base, alias: BASE }]', 'requires: [{ image: blog/bse, alias: BASE }]'));
    expect(problems).toEqual([expect.stringMatching(/requires "blog\/bse", which is not an artifact \(did you mean "blog\/base"\?\)/)]);
  });

  it('a sync dest that escapes with ..', () => {
    const problems = problemsOf(valid.replace('dest: /app/src', 'dest: ../etc'));
    expect(problems).toEqual([expect.stringMatching(/:13:41: build\.artifacts\[1\]\.sync\.manual\[0\]\.dest: dest "\.\.\/etc" escapes with "\.\."/)]);
  });

  it('reports all problems at once', () => {
    const problems = problemsOf(valid.replace('kind: Config', 'kind: Conf').replace('concurrency', 'x').replace('      context: posts', '      contxt: posts'));
    expect(problems.length).toBe(2);
  });

  it('invalid YAML names the line', () => {
    const problems = problemsOf('apiVersion: devloop/v1\nkind: Config\nmetadata: { name: blog\nbuild: [\n');
    expect(problems[0]).toMatch(new RegExp(`^${file().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: invalid YAML`));
  });

  it('a profile with an unknown key is located in the profile', () => {
    const problems = problemsOf(valid.replace('build: { push: true }', 'build: { psh: true }'));
    expect(problems).toEqual([`${file()}:18:14: profiles[0].build.psh: unknown key "psh" (did you mean "push"?)`]);
  });

  it('parseConfig accepts text without touching the filesystem when asked', () => {
    const config = parseConfig(valid.replace('context: base', 'context: nowhere'), file(), { skipFileChecks: true });
    expect(config.build.artifacts[0].contextDir).toBe(path.join(dir, 'nowhere'));
  });
});

describe('devloop.config.example.yaml', () => {
  it('is a valid config (every documented field parses)', async () => {
    const { readFileSync } = await import('node:fs');
    const example = path.resolve(__dirname, '../../devloop.config.example.yaml');
    const config = parseConfig(readFileSync(example, 'utf8'), example, { skipFileChecks: true, profiles: ['ci'] });
    expect(config.build.artifacts.map((a) => a.image)).toEqual(['blog/base', 'blog/posts']);
    expect(config.build.push).toBe(true);
    expect(config.portForward[0].address).toBe('127.0.0.1');
  });

  it('the fixture config is valid', () => {
    const config = loadConfig({ cwd: path.resolve(__dirname, '../../fixtures/blog') });
    expect(config.build.artifacts).toHaveLength(5);
  });
});

describe('image names', () => {
  const withImage = (image: string) => valid.replace('image: blog/posts', `image: ${image}`).replace('requires: [{ image: blog/base, alias: BASE }]', 'requires: []');
  it.each(['blog/posts', 'localhost:5000/blog/posts', 'ghcr.io/acme/api', 'registry.example.com:443/team/svc_a', 'a__b/c-d'])('accepts %s', (image) => {
    write(withImage(image));
    expect(loadConfig({ cwd: dir }).build.artifacts[1].image).toBe(image);
  });
  it.each(['Blog/Posts', 'blog/posts:latest', 'blog//posts', '-blog'])('rejects %s with the expected form', (image) => {
    expect(problemsOf(withImage(image))[0]).toMatch(/image must be an image name without a tag/);
  });
});

describe('build.defaultRepo and its overrides', () => {
  const text = (repo: string) => `apiVersion: devloop/v1\nkind: Config\nmetadata: {name: app}\nbuild:\n  defaultRepo: ${repo}\n  artifacts: [{image: blog/posts, context: posts}]\n`;

  it('reads build.defaultRepo, and lets the flag and the environment override it', () => {
    write(text('registry.example.com/team/'));
    expect(loadConfig({ cwd: dir }).build.defaultRepo).toEqual({ repo: 'registry.example.com/team', source: 'build.defaultRepo' });
    expect(loadConfig({ cwd: dir, defaultRepo: { env: { SKAFFOLD_DEFAULT_REPO: '127.0.0.1:5443' } } }).build.defaultRepo).toEqual({ repo: '127.0.0.1:5443', source: 'SKAFFOLD_DEFAULT_REPO' });
    expect(loadConfig({ cwd: dir, defaultRepo: { flag: 'flag.example.com', env: { DEVLOOP_DEFAULT_REPO: 'x.example.com' } } }).build.defaultRepo).toEqual({ repo: 'flag.example.com', source: '--default-repo' });
  });

  it('locates a malformed build.defaultRepo', () => {
    expect(problemsOf(text('"https://registry.example.com"'))).toEqual([expect.stringMatching(/devloop\.config\.yaml:5:\d+: build\.defaultRepo: defaultRepo must be HOST\[:PORT\]\[\/PATH\]/)]);
  });
});

describe('portForward ports', () => {
  const text = (port: string) => `apiVersion: devloop/v1
kind: Config
metadata: { name: shop }
portForward:
  - { resourceType: service, resourceName: web, port: ${port} }
`;
  it('takes a number or a port name', () => {
    expect(parseConfig(text('8080'), '/tmp/devloop.config.yaml', { skipFileChecks: true }).portForward[0].port).toBe(8080);
    expect(parseConfig(text('http'), '/tmp/devloop.config.yaml', { skipFileChecks: true }).portForward[0].port).toBe('http');
  });
  it('refuses a name that cannot be a port name, located', () => {
    expect(() => parseConfig(text('Web_Port'), '/tmp/devloop.config.yaml', { skipFileChecks: true })).toThrow(ConfigError);
    try {
      parseConfig(text('Web_Port'), '/tmp/devloop.config.yaml', { skipFileChecks: true });
    } catch (error) {
      expect((error as ConfigError).details[0]).toMatch(/devloop\.config\.yaml:5:\d+: portForward\[0\]\.port/);
    }
  });
});

describe('profiles that activate themselves', () => {
  const text = `apiVersion: devloop/v1
kind: Config
metadata: { name: shop }
build:
  push: auto
profiles:
  - name: kind
    activation:
      - kubeContext: ^kind-
    build: { push: false }
  - name: ci
    activation:
      - env: CI=^true$
        command: build|deploy
    build: { concurrency: 1 }
`;
  const load = (options: { env?: Record<string, string>; kubeContext?: string; command?: string; profiles?: string[] }) =>
    parseConfig(text, '/tmp/devloop.config.yaml', { skipFileChecks: true, env: {}, kubeContext: 'prod', ...options });

  it('activate by kube context, or by env and command together, and say why', () => {
    const config = load({ kubeContext: 'kind-dev', env: { CI: 'true' }, command: 'deploy' });
    expect(config.profiles).toEqual(['kind', 'ci']);
    expect(config.build).toMatchObject({ push: false, concurrency: 1 });
    expect(config.activatedProfiles).toEqual(['kind (kubeContext "kind-dev" matches "^kind-")', 'ci (env CI=^true$ and command deploy matches "build|deploy")']);
    expect(load({ env: { CI: 'true' }, command: 'dev' }).profiles).toEqual([]);
  });

  it('-p -NAME deactivates one, -p NAME adds one', () => {
    const config = load({ kubeContext: 'kind-dev', profiles: ['-kind', 'ci'] });
    expect(config.profiles).toEqual(['ci']);
    expect(config.build.push).toBe('auto');
  });
});
