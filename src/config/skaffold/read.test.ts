import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, UsageError } from '../../errors.js';
import { findConfigFile, loadConfig } from '../load.js';
import { projectNameFrom, unsupportedVersion } from './read.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-skaffold-'));
  for (const svc of ['api', 'base', 'web']) {
    mkdirSync(path.join(dir, svc), { recursive: true });
    writeFileSync(path.join(dir, svc, 'Dockerfile'), 'FROM scratch\n');
  }
  writeFileSync(path.join(dir, 'web', 'Dockerfile.dev'), 'FROM scratch\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeSkaffold(text: string, name = 'skaffold.yaml'): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

function problemsOf(text: string, profiles: string[] = []): string[] {
  writeSkaffold(text);
  try {
    loadConfig({ cwd: dir, profiles });
  } catch (error) {
    if (error instanceof ConfigError) return error.details;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

// The shape of an older project: v2beta, manifests under deploy.kubectl, a default namespace.
const v2beta = `apiVersion: skaffold/v2beta29
kind: Config
metadata:
  name: shop
build:
  tagPolicy:
    gitCommit: {}
  local:
    push: false
    concurrency: 3
  artifacts:
    - image: shop/api
      context: api
      docker:
        buildArgs:
          NODE_ENV: development
deploy:
  kubeContext: kind-shop
  statusCheckDeadlineSeconds: 90
  kubectl:
    defaultNamespace: shop
    manifests:
      - deploy/*.yaml
      - deploy/extra/service.yaml
portForward:
  - resourceType: Deployment
    resourceName: api
    port: 8080
    localPort: 18080
`;

// The shape of a current project: v4beta, rawYaml, a base image required by alias, sync rules.
const v4beta = `apiVersion: skaffold/v4beta14
kind: Config
build:
  tagPolicy:
    sha256: {}
  artifacts:
    - image: acme/base
      context: base
    - image: acme/web
      context: web
      docker:
        dockerfile: Dockerfile.dev
        target: dev
      requires:
        - image: acme/base
          alias: BASE
      sync:
        manual:
          - src: "src/**/*.js"
            dest: .
          - src: "static/**"
            dest: /srv/static
            strip: static/
manifests:
  rawYaml:
    - k8s/web.yaml
portForward:
  - resourceType: service
    resourceName: web
    namespace: acme
    port: 80
`;

describe('discovery', () => {
  it('reads skaffold.yaml when no devloop config is in the directory or a parent', () => {
    const file = writeSkaffold(v2beta);
    const sub = path.join(dir, 'api');
    expect(findConfigFile(sub)).toBe(file);
    expect(loadConfig({ cwd: sub }).source).toEqual({ format: 'skaffold', apiVersion: 'skaffold/v2beta29', ignored: [] });
  });

  it('prefers a devloop config in a parent over a nearer skaffold.yaml', () => {
    const devloop = path.join(dir, 'devloop.config.yaml');
    writeFileSync(devloop, 'apiVersion: devloop/v1\nkind: Config\nmetadata: { name: x }\n');
    writeFileSync(path.join(dir, 'api', 'skaffold.yaml'), v2beta);
    expect(findConfigFile(path.join(dir, 'api'))).toBe(devloop);
  });

  it('reads any file given with -f whose apiVersion is skaffold/...', () => {
    writeSkaffold(v4beta, 'dev-stack.yml');
    const config = loadConfig({ cwd: dir, file: 'dev-stack.yml' });
    expect(config.source?.apiVersion).toBe('skaffold/v4beta14');
    expect(config.build.artifacts.map((a) => a.image)).toEqual(['acme/base', 'acme/web']);
  });

  it('names an old version and `skaffold fix`', () => {
    writeSkaffold(v2beta.replace('skaffold/v2beta29', 'skaffold/v1beta13'));
    let caught: unknown;
    try {
      loadConfig({ cwd: dir });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(2);
    expect((caught as UsageError).message).toMatch(/skaffold\.yaml:1:\d+: skaffold\/v1beta13 is older .*skaffold fix/);
  });

  it('knows the supported range of versions', () => {
    for (const v of ['skaffold/v2beta1', 'skaffold/v2beta29', 'skaffold/v3alpha1', 'skaffold/v3', 'skaffold/v4beta1', 'skaffold/v4beta14']) {
      expect(unsupportedVersion(v), v).toBeUndefined();
    }
    expect(unsupportedVersion('skaffold/v2alpha4')).toMatch(/older.*skaffold fix/);
    expect(unsupportedVersion('skaffold/v4beta15')).toMatch(/newer/);
    expect(unsupportedVersion('skaffold/latest')).toMatch(/not a Skaffold schema version/);
  });
});

describe('mapping', () => {
  it('maps a v2beta config with deploy.kubectl.manifests', () => {
    const file = writeSkaffold(v2beta);
    const config = loadConfig({ cwd: dir });
    expect(config.file).toBe(file);
    expect(config.name).toBe('shop');
    expect(config.build).toMatchObject({ tagPolicy: 'gitCommit', push: false, concurrency: 3 });
    expect(config.build.artifacts[0]).toMatchObject({
      image: 'shop/api',
      contextDir: path.join(dir, 'api'),
      dockerfilePath: path.join(dir, 'api', 'Dockerfile'),
      buildArgs: { NODE_ENV: 'development' },
      requires: [],
    });
    expect(config.deploy).toMatchObject({
      kubeContext: 'kind-shop',
      namespace: 'shop',
      statusCheckDeadlineSeconds: 90,
      kubectl: { manifests: ['deploy/*.yaml', 'deploy/extra/service.yaml'] },
    });
    expect(config.portForward).toEqual([
      { resourceType: 'deployment', resourceName: 'api', port: 8080, localPort: 18080, address: '127.0.0.1' },
    ]);
  });

  it('maps a v4beta config with rawYaml, a required base image and sync rules', () => {
    writeSkaffold(v4beta);
    const config = loadConfig({ cwd: dir });
    expect(config.name).toBe(projectNameFrom(dir));
    expect(config.build.tagPolicy).toBe('inputDigest');
    expect(config.build.push).toBe('auto');
    const web = config.build.artifacts[1];
    expect(web).toMatchObject({
      dockerfilePath: path.join(dir, 'web', 'Dockerfile.dev'),
      target: 'dev',
      requires: [{ image: 'acme/base', alias: 'BASE' }],
    });
    expect(web.sync?.manual).toEqual([
      { src: 'src/**/*.js', dest: '.' },
      { src: 'static/**', dest: '/srv/static', strip: 'static/' },
    ]);
    expect(config.deploy.kubectl.manifests).toEqual(['k8s/web.yaml']);
    expect(config.deploy.namespace).toBeUndefined();
    expect(config.portForward[0]).toMatchObject({ resourceType: 'service', namespace: 'acme', port: 80 });
  });

  it("uses Skaffold's default k8s/*.yaml when the config names no manifests", () => {
    writeSkaffold('apiVersion: skaffold/v4beta6\nkind: Config\nmetadata: { name: bare }\n');
    expect(loadConfig({ cwd: dir }).deploy.kubectl.manifests).toEqual(['k8s/*.yaml']);
  });

  it('derives the default project name from the directory as a DNS label', () => {
    expect(projectNameFrom('/home/me/My_Shop.v2')).toBe('my-shop-v2');
    expect(projectNameFrom('/')).toBe('project');
  });

  it('lists keys that do not matter to a dev loop as ignored, without failing', () => {
    writeSkaffold(`${v4beta}test:
  - image: acme/web
    structureTests: [./test/*.yaml]
verify:
  - name: smoke
    container: { name: smoke, image: alpine }
deploy:
  logs:
    prefix: container
profiles:
  - name: ci
    build: { local: { push: true } }
`);
    expect(loadConfig({ cwd: dir }).source?.ignored).toEqual(['test', 'verify', 'deploy.logs', 'profiles[0]']);
  });
});

describe('lifecycle hooks', () => {
  it('maps sync, build and deploy hooks onto devloop\'s, dropping host hooks for another os', () => {
    writeSkaffold(`apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
    - image: shop/api
      context: api
      hooks:
        before:
          - command: ["sh", "-c", "./pre.sh"]
            os: [darwin, linux]
          - command: ["cmd.exe", "/C", "pre.bat"]
            os: [windows]
        after:
          - command: ["./post.sh"]
            dir: scripts
      sync:
        manual: [{ src: "*.js", dest: . }]
        hooks:
          before:
            - host: { command: ["./notify.sh"], os: [windows] }
          after:
            - container: { command: ["npm", "install"] }
            - host: { command: ["./notify.sh"], dir: . }
deploy:
  kubectl:
    hooks:
      before:
        - host: { command: ["./migrate.sh"] }
      after:
        - container: { command: ["sh", "-c", "echo ok"], podName: "api-*", containerName: api }
`);
    const config = loadConfig({ cwd: dir });
    const api = config.build.artifacts[0];
    expect(api.hooks).toEqual({
      // Skaffold runs host hooks in the config's directory (dir relative to it); devloop's dir is context-relative
      before: [{ host: { command: ['sh', '-c', './pre.sh'], dir: '..' }, timeoutSeconds: 120 }],
      after: [{ host: { command: ['./post.sh'], dir: '../scripts' }, timeoutSeconds: 120 }],
    });
    expect(api.sync?.hooks).toEqual({
      before: [],
      after: [
        { container: { command: ['npm', 'install'], where: 'each' }, timeoutSeconds: 120, onFailure: 'warn' },
        { host: { command: ['./notify.sh'], dir: '..' }, timeoutSeconds: 120, onFailure: 'warn' },
      ],
    });
    expect(config.deploy.hooks).toEqual({
      before: [{ host: { command: ['./migrate.sh'] }, timeoutSeconds: 120 }],
      after: [{ container: { command: ['sh', '-c', 'echo ok'], podName: 'api-*', containerName: 'api' }, timeoutSeconds: 120 }],
    });
  });

  it('refuses action hooks and locates bad hooks at their Skaffold key', () => {
    const problems = problemsOf(`apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
    - image: shop/api
      context: api
      hooks:
        before:
          - command: []
deploy:
  kubectl:
    hooks:
      after:
        - action: { name: smoke }
`);
    expect(problems).toEqual([
      expect.stringMatching(/skaffold\.yaml:9:22: build\.artifacts\[0\]\.hooks\.before\[0\]\.command: command must name a program/),
      expect.stringMatching(/skaffold\.yaml:14:11: deploy\.kubectl\.hooks\.after\[0\]\.action: Skaffold dispatches a custom action as a hook; devloop does not support this \(use a host or container hook\)/),
    ]);
  });
});

describe('problems', () => {
  it('reports every refused and unknown key at once, located, with what to do instead', () => {
    const problems = problemsOf(`apiVersion: skaffold/v4beta11
kind: Config
metadata:
  name: shop
build:
  artifacts:
    - image: shop/api
      context: api
      jib: {}
      sync:
        infer: ["**/*.go"]
    - image: shop/web
      context: web
      docker:
        dockerfle: Dockerfile.dev
        buildArgs:
          VERSION: "{{.VERSION}}"
manifests:
  helm:
    releases: [{ name: web, chartPath: chart }]
portForwrd: []
`);
    expect(problems).toEqual([
      expect.stringMatching(/skaffold\.yaml:9:7: build\.artifacts\[0\]\.jib: Skaffold builds the image with Jib; devloop does not support this \(build it with a Dockerfile/),
      expect.stringMatching(/skaffold\.yaml:11:9: build\.artifacts\[0\]\.sync\.infer: Skaffold infers sync rules .* \(write the rules as sync\.manual/),
      expect.stringMatching(/skaffold\.yaml:15:9: build\.artifacts\[1\]\.docker\.dockerfle: unknown key "dockerfle" \(did you mean "dockerfile"\?\)/),
      expect.stringMatching(/skaffold\.yaml:17:20: build\.artifacts\[1\]\.docker\.buildArgs\.VERSION: Skaffold expands \{\{\.\.\.\}\} templates/),
      expect.stringMatching(/skaffold\.yaml:19:3: manifests\.helm: Skaffold deploys with Helm; devloop does not support this/),
      expect.stringMatching(/skaffold\.yaml:21:1: portForwrd: unknown key "portForwrd" \(did you mean "portForward"\?\)/),
    ]);
  });

  it("locates devloop's own checks at the Skaffold key they came from", () => {
    const problems = problemsOf(`apiVersion: skaffold/v2beta20
kind: Config
build:
  artifacts:
    - image: shop/api
      context: api
      docker:
        dockerfile: Missing.Dockerfile
    - image: shop/web
      context: web
      requires:
        - image: shop/apy
          alias: API
deploy:
  kubectl:
    manifests: [k8s/a.yaml, 7]
portForward:
  - resourceType: replicaset
    resourceName: api
    port: 80
`);
    expect(problems).toEqual([
      expect.stringMatching(/skaffold\.yaml:8:21: build\.artifacts\[0\]\.docker\.dockerfile: Dockerfile .*Missing\.Dockerfile does not exist/),
      expect.stringMatching(/skaffold\.yaml:12:18: build\.artifacts\[1\]\.requires\[0\]\.image: requires "shop\/apy", which is not an artifact \(did you mean "shop\/api"\?\)/),
      expect.stringMatching(/skaffold\.yaml:16:29: deploy\.kubectl\.manifests\[1\]: expected string/),
      expect.stringMatching(/skaffold\.yaml:18:19: portForward\[0\]\.resourceType: must be one of/),
    ]);
  });

  it('refuses what this version does not read yet: multi-config, activated profiles, -p', () => {
    const text = `apiVersion: skaffold/v4beta14
kind: Config
profiles:
  - name: minikube
    activation:
      - kubeContext: minikube
---
apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: second }
`;
    expect(problemsOf(text)).toEqual([
      expect.stringMatching(/skaffold\.yaml:5:5: profiles\[0\]\.activation: Skaffold activates this profile automatically/),
      expect.stringMatching(/skaffold\.yaml:8:1: the file holds 2 Skaffold configs/),
    ]);
    expect(problemsOf(text, ['minikube'])).toContainEqual(expect.stringMatching(/skaffold\.yaml:3:1: profiles: -p minikube: devloop does not read Skaffold profiles yet/));
  });
});

describe('refusals of Skaffold meanings devloop does not follow yet', () => {
  it('says why a require needs an alias and that named ports need a number', () => {
    const problems = problemsOf(`apiVersion: skaffold/v4beta14
kind: Config
build:
  artifacts:
    - image: acme/base
      context: base
    - image: acme/web
      context: web
      requires: [{ image: acme/base }]
portForward:
  - { resourceName: web, port: http }
`);
    expect(problems).toEqual([
      expect.stringMatching(/skaffold\.yaml:9:18: build\.artifacts\[1\]\.requires\[0\]\.alias: a required image without alias only orders the builds .* \(add alias: NAME/),
      expect.stringMatching(/skaffold\.yaml:11:32: portForward\[0\]\.port: expected number, got string "http": named ports are not read yet \(use the port number\)/),
    ]);
  });
});
