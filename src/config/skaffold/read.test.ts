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
    expect(loadConfig({ cwd: sub }).source).toEqual({ format: 'skaffold', apiVersion: 'skaffold/v2beta29', ignored: [], files: [file] });
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

  it.each([
    ['gitCommit: {}', 'gitCommit'],
    ['inputDigest: {}', 'inputDigest'],
    ['sha256: {}', 'inputDigest'],
    ['dateTime: { format: "2006-01-02" }', 'dateTime'],
  ])('maps build.tagPolicy %s to %s', (policy, expected) => {
    writeSkaffold(`apiVersion: skaffold/v4beta14\nkind: Config\nbuild:\n  tagPolicy: { ${policy} }\n`);
    expect(loadConfig({ cwd: dir }).build.tagPolicy).toBe(expected);
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
    expect(loadConfig({ cwd: dir }).source?.ignored).toEqual(['test', 'verify', 'deploy.logs']);
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
    // key refusals are reported (all of them) before values are checked against the schema
    expect(
      problemsOf(`apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
    - image: shop/api
      context: api
deploy:
  kubectl:
    hooks:
      after:
        - action: { name: smoke }
`),
    ).toEqual([expect.stringMatching(/skaffold\.yaml:11:11: deploy\.kubectl\.hooks\.after\[0\]\.action: Skaffold dispatches a custom action as a hook; devloop does not support this \(use a host or container hook\)/)]);
    expect(
      problemsOf(`apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
    - image: shop/api
      context: api
      hooks:
        before:
          - command: []
`),
    ).toEqual([expect.stringMatching(/skaffold\.yaml:9:\d+: build\.artifacts\[0\]\.hooks\.before\[0\]\.command: command must name a program/)]);
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
    releases: [{ name: web, remoteChart: bitnami/nginx }]
portForwrd: []
`);
    expect(problems).toEqual([
      expect.stringMatching(/skaffold\.yaml:9:7: build\.artifacts\[0\]\.jib: Skaffold builds the image with Jib; devloop does not support this \(build it with a Dockerfile/),
      expect.stringMatching(/skaffold\.yaml:11:9: build\.artifacts\[0\]\.sync\.infer: Skaffold infers sync rules .* \(write the rules as sync\.manual/),
      expect.stringMatching(/skaffold\.yaml:15:9: build\.artifacts\[1\]\.docker\.dockerfle: unknown key "dockerfle" \(did you mean "dockerfile"\?\)/),
      expect.stringMatching(/skaffold\.yaml:17:20: build\.artifacts\[1\]\.docker\.buildArgs\.VERSION: Skaffold expands \{\{\.\.\.\}\} templates/),
      expect.stringMatching(/skaffold\.yaml:20:29: manifests\.helm\.releases\[0\]\.remoteChart: Skaffold installs a chart from a chart repository; devloop does not support this \(vendor the chart/),
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
});

describe('refusals of Skaffold meanings devloop does not follow yet', () => {
  it('says why a require needs an alias', () => {
    const problems = problemsOf(`apiVersion: skaffold/v4beta14
kind: Config
build:
  artifacts:
    - image: acme/base
      context: base
    - image: acme/web
      context: web
      requires: [{ image: acme/base }]
`);
    expect(problems).toEqual([
      expect.stringMatching(/skaffold\.yaml:9:18: build\.artifacts\[1\]\.requires\[0\]\.alias: a required image without alias only orders the builds .* \(add alias: NAME/),
    ]);
  });
});

describe('several configs: requires and multi-document files', () => {
  const base = `apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: base }
build:
  artifacts:
    - image: acme/base
      context: .
`;
  beforeEach(() => {
    mkdirSync(path.join(dir, 'libs', 'base'), { recursive: true });
    writeFileSync(path.join(dir, 'libs', 'base', 'Dockerfile'), 'FROM scratch\n');
    mkdirSync(path.join(dir, 'web', 'k8s'), { recursive: true });
    writeFileSync(path.join(dir, 'web', 'k8s', 'web.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web }\n');
  });

  it('reads required configs by path, first, each with paths relative to its own file', () => {
    writeFileSync(path.join(dir, 'libs', 'base', 'skaffold.yaml'), base);
    writeFileSync(
      path.join(dir, 'web', 'skaffold.yaml'),
      `apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: web }
build:
  artifacts:
    - image: acme/web
      context: .
      requires: [{ image: acme/base, alias: BASE }]
manifests:
  rawYaml: [k8s/*.yaml]
`,
    );
    const root = writeSkaffold(`apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: shop }
requires:
  - path: web
  - path: ./libs/base/skaffold.yaml
`);
    const config = loadConfig({ cwd: dir });
    expect(config.name).toBe('shop');
    expect(config.build.artifacts.map((a) => [a.image, a.contextDir])).toEqual([
      ['acme/web', path.join(dir, 'web')],
      ['acme/base', path.join(dir, 'libs', 'base')],
    ]);
    // The root config names no manifests: Skaffold's default k8s/*.yaml, relative to the root.
    expect(config.deploy.kubectl.manifests).toEqual(['web/k8s/*.yaml', 'k8s/*.yaml']);
    expect(config.source?.files).toEqual([path.join(dir, 'web', 'skaffold.yaml'), path.join(dir, 'libs', 'base', 'skaffold.yaml'), root]);
  });

  it('uses every config of a multi-document file; requires select configs by metadata.name', () => {
    writeFileSync(
      path.join(dir, 'libs', 'base', 'skaffold.yaml'),
      `${base}---
apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: unused }
build:
  artifacts: [{ image: acme/unused, context: . }]
`,
    );
    writeSkaffold(`apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: web }
requires:
  - path: libs/base
    configs: [base]
build:
  artifacts: [{ image: acme/web, context: web }]
---
apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: api }
requires:
  - configs: [web]
build:
  artifacts: [{ image: acme/api, context: api }]
`);
    expect(loadConfig({ cwd: dir }).build.artifacts.map((a) => a.image)).toEqual(['acme/base', 'acme/web', 'acme/api']);
  });

  it('reports a cycle of requires, an unknown config name and a missing path, located', () => {
    writeFileSync(path.join(dir, 'libs', 'base', 'skaffold.yaml'), `${base}requires:\n  - path: ../..\n`);
    const problems = problemsOf(`apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: shop }
requires:
  - path: libs/base
  - path: libs/base
    configs: [bsae]
  - path: nowhere
`);
    expect(problems).toEqual([
      expect.stringMatching(/skaffold\.yaml:7:14: requires\[1\]\.configs: libs\/base\/skaffold\.yaml holds no config named "bsae" \(did you mean "base"\?\)/),
      expect.stringMatching(/skaffold\.yaml:8:11: requires\[2\]\.path: .*nowhere does not exist/),
      expect.stringMatching(/libs\/base\/skaffold\.yaml:9:5: requires\[0\]: requires form a cycle: shop in skaffold\.yaml -> base in libs\/base\/skaffold\.yaml -> shop in skaffold\.yaml/),
    ]);
  });
});

describe('profiles', () => {
  const withProfiles = `apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: shop }
build:
  artifacts:
    - image: shop/api
      context: api
manifests:
  rawYaml: [k8s/base.yaml]
profiles:
  - name: local
    activation:
      - kubeContext: "^kind-"
    build:
      local: { push: false }
  - name: debug
    activation:
      - env: SHOP_DEBUG=^(1|true)$
      - command: render
    patches:
      - op: add
        path: /build/artifacts/0/docker
        value: { buildArgs: { DEBUG: "1" } }
      - op: replace
        path: /manifests/rawYaml/0
        value: k8s/debug.yaml
  - name: web
    build:
      artifacts:
        - image: shop/web
          context: web
`;

  it('activates by kubeContext and env, applies overlays then patches, and says why', () => {
    writeSkaffold(withProfiles);
    const config = loadConfig({ cwd: dir, kubeContext: 'kind-shop', env: { SHOP_DEBUG: 'true' }, command: 'dev' });
    expect(config.build.push).toBe(false);
    expect(config.build.artifacts[0].buildArgs).toEqual({ DEBUG: '1' });
    expect(config.deploy.kubectl.manifests).toEqual(['k8s/debug.yaml']);
    expect(config.activatedProfiles).toEqual(['local (kubeContext "kind-shop" matches "^kind-")', 'debug (env SHOP_DEBUG=^(1|true)$)']);
  });

  it('activates by command, and not when nothing matches', () => {
    writeSkaffold(withProfiles);
    expect(loadConfig({ cwd: dir, kubeContext: 'prod', env: {}, command: 'render' }).activatedProfiles).toEqual(['debug (command render matches "render")']);
    const none = loadConfig({ cwd: dir, kubeContext: 'prod', env: { SHOP_DEBUG: '0' }, command: 'dev' });
    expect(none.activatedProfiles).toEqual([]);
    expect(none.build.push).toBe('auto');
  });

  it('-p name activates a profile, -p -name deactivates an auto-activated one', () => {
    writeSkaffold(withProfiles);
    const config = loadConfig({ cwd: dir, kubeContext: 'kind-x', env: {}, command: 'dev', profiles: ['web', '-local'] });
    expect(config.activatedProfiles).toEqual(['web (-p)']);
    expect(config.build.artifacts.map((a) => a.image)).toEqual(['shop/web']);
    expect(config.build.push).toBe('auto');
  });

  it('names an undefined -p profile with a did-you-mean', () => {
    writeSkaffold(withProfiles);
    expect(() => loadConfig({ cwd: dir, kubeContext: 'x', env: {}, profiles: ['webb'] })).toThrow(UsageError);
    try {
      loadConfig({ cwd: dir, kubeContext: 'x', env: {}, profiles: ['webb'] });
    } catch (error) {
      expect((error as UsageError).hint).toBe('Did you mean -p web?');
    }
  });

  it('reports a patch whose path is not in the config, at the patch', () => {
    writeSkaffold(withProfiles.replace('path: /manifests/rawYaml/0', 'path: /manifests/kustomize/paths/0'));
    let problems: string[] = [];
    try {
      loadConfig({ cwd: dir, kubeContext: 'x', env: {}, profiles: ['debug'] });
    } catch (error) {
      problems = (error as ConfigError).details;
    }
    expect(problems).toEqual([expect.stringMatching(/skaffold\.yaml:24:9: profiles\[1\]\.patches\[1\]: profile debug: path \/manifests\/kustomize\/paths\/0 does not exist in the config/)]);
  });

  it('refuses keys of a profile only when it applies, and checks what its patches bring in', () => {
    const text = `apiVersion: skaffold/v4beta14
kind: Config
build:
  artifacts: [{ image: shop/api, context: api }]
profiles:
  - name: gcb
    build:
      googleCloudBuild: {}
  - name: jib
    patches:
      - op: add
        path: /build/artifacts/0/jib
        value: {}
`;
    writeSkaffold(text);
    expect(loadConfig({ cwd: dir, env: {}, kubeContext: 'x' }).build.artifacts).toHaveLength(1);
    expect(problemsOf(text, ['gcb'])).toEqual([expect.stringMatching(/skaffold\.yaml:8:7: profiles\[0\]\.build\.googleCloudBuild: Skaffold builds on Google Cloud Build/)]);
    expect(problemsOf(text, ['jib'])).toEqual([expect.stringMatching(/skaffold\.yaml:4:\d+: build\.artifacts\[0\]\.jib: Skaffold builds the image with Jib/)]);
  });

  it('passes activeProfiles to a required config when the requiring one has an activatedBy profile', () => {
    mkdirSync(path.join(dir, 'lib'), { recursive: true });
    writeFileSync(path.join(dir, 'lib', 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(
      path.join(dir, 'lib', 'skaffold.yaml'),
      `apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: lib }
build:
  artifacts: [{ image: shop/lib, context: . }]
profiles:
  - name: fast
    build: { local: { concurrency: 8 } }
`,
    );
    writeSkaffold(`apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: shop }
requires:
  - path: lib
    activeProfiles:
      - name: fast
        activatedBy: [ci]
profiles:
  - name: ci
`);
    expect(loadConfig({ cwd: dir, env: {}, kubeContext: 'x' }).build.concurrency).toBe(2);
    const config = loadConfig({ cwd: dir, env: {}, kubeContext: 'x', profiles: ['ci'] });
    expect(config.build.concurrency).toBe(8);
    expect(config.activatedProfiles).toEqual(['ci of shop (-p)', 'fast of lib (activeProfiles of shop)']);
  });
});

describe('kustomize, helm, named ports', () => {
  it('maps manifests.kustomize.paths and manifests.helm.releases (local charts)', () => {
    writeSkaffold(`apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: shop }
manifests:
  kustomize:
    paths: [k8s/overlays/dev]
  helm:
    releases:
      - name: web
        chartPath: charts/web
        namespace: web
        valuesFiles: [charts/web/values-dev.yaml]
        setValues: { replicas: 2 }
`);
    const config = loadConfig({ cwd: dir });
    expect(config.deploy.kubectl.manifests).toEqual([]);
    expect(config.deploy.kustomize.paths).toEqual(['k8s/overlays/dev']);
    expect(config.deploy.helm.releases).toEqual([
      { name: 'web', chart: 'charts/web', namespace: 'web', valuesFiles: ['charts/web/values-dev.yaml'], setValues: { replicas: '2' } },
    ]);
  });

  it('maps the v2 forms deploy.kustomize and deploy.helm (artifactOverrides as setValues)', () => {
    writeSkaffold(`apiVersion: skaffold/v2beta29
kind: Config
build:
  artifacts: [{ image: shop/api, context: api }]
deploy:
  kustomize:
    defaultNamespace: shop
  helm:
    releases:
      - name: api
        chartPath: chart
        artifactOverrides: { image: shop/api }
`);
    const config = loadConfig({ cwd: dir });
    expect(config.deploy.kustomize.paths).toEqual(['.']);
    expect(config.deploy.namespace).toBe('shop');
    expect(config.deploy.helm.releases[0]).toMatchObject({ chart: 'chart', setValues: { image: 'shop/api' } });
  });

  it('reads named ports for every resource type', () => {
    writeSkaffold(`apiVersion: skaffold/v4beta14
kind: Config
portForward:
  - { resourceType: Deployment, resourceName: web, port: http }
  - { resourceType: service, resourceName: web, port: web-http, localPort: 9000 }
  - { resourceType: StatefulSet, resourceName: db, port: 5432 }
`);
    expect(loadConfig({ cwd: dir }).portForward.map((p) => [p.resourceType, p.port, p.localPort])).toEqual([
      ['deployment', 'http', undefined],
      ['service', 'web-http', 9000],
      ['statefulset', 5432, undefined],
    ]);
  });

  it('maps sync rules so that a file matching several rules is copied for each, as Skaffold does', () => {
    writeSkaffold(v4beta);
    expect(loadConfig({ cwd: dir }).build.artifacts[1].sync?.everyMatch).toBe(true);
  });
});

describe('build.local.useBuildkit', () => {
  const withLocal = (local: string) => `apiVersion: skaffold/v4beta14
kind: Config
build:
  local:
${local}
  artifacts:
    - image: api
      context: api
`;
  it('maps true to builder buildkit, false to classic, and unset to the default (auto)', () => {
    writeSkaffold(withLocal('    useBuildkit: true'));
    expect(loadConfig({ cwd: dir }).build.builder).toBe('buildkit');
    writeSkaffold(withLocal('    useBuildkit: false'));
    expect(loadConfig({ cwd: dir }).build.builder).toBe('classic');
    writeSkaffold(withLocal('    push: false'));
    const config = loadConfig({ cwd: dir });
    expect(config.build.builder).toBe('auto');
    expect(config.source?.ignored).toEqual([]);
  });
  it('locates a value that is not a boolean at the Skaffold key', () => {
    expect(problemsOf(withLocal('    useBuildkit: sometimes'))).toEqual([expect.stringMatching(/skaffold\.yaml:5:18: build\.local\.useBuildkit: /)]);
  });
});
