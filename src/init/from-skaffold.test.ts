import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildOrder } from '../shared/artifact-graph.js';
import { FileHashCache } from '../build/hash-cache.js';
import { computeInputs } from '../build/inputs.js';
import { loadConfig, parseConfig, type Config } from '../config/load.js';
import { renderOffline, toYaml } from '../deploy/index.js';
import { planChanges } from '../plan/index.js';
import { initFromSkaffold, INIT_FILE_NAME } from './from-skaffold.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project directory holding `files` (path -> content). */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-init-sk-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const deployment = (name: string, image: string, namespace = '') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
${namespace ? `  namespace: ${namespace}\n` : ''}spec:
  replicas: 2
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
        - name: ${name}
          image: ${image}
          ports: [{ name: http, containerPort: 8080 }]
`;

/** Shapes of Skaffold projects (our own, not Skaffold's examples). */
const PROJECTS: Record<string, Record<string, string>> = {
  'v2beta with deploy.kubectl.manifests, a namespace and gitCommit tags': {
    'skaffold.yaml': `apiVersion: skaffold/v2beta29
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
        dockerfile: build/Dockerfile.dev
        target: dev
        buildArgs:
          NODE_ENV: development
deploy:
  kubeContext: kind-shop
  statusCheckDeadlineSeconds: 90
  kubectl:
    defaultNamespace: shop
    manifests:
      - deploy/*.yaml
portForward:
  - resourceType: Service
    resourceName: api
    port: 80
    localPort: 9080
test:
  - image: shop/api
    structureTests: [./structure.yaml]
`,
    'api/build/Dockerfile.dev': 'FROM scratch AS dev\nCOPY . /app\n',
    'api/server.js': 'console.log(1)\n',
    'deploy/api.yaml': deployment('api', 'shop/api'),
    'deploy/svc.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: api }\nspec: { selector: { app: api }, ports: [{ port: 80, targetPort: 8080 }] }\n',
  },
  'v4beta with rawYaml, a required base image and sync rules with dest: .': {
    'skaffold.yaml': `apiVersion: skaffold/v4beta14
kind: Config
metadata:
  name: blog
build:
  tagPolicy:
    sha256: {}
  artifacts:
    - image: blog/base
      context: base
    - image: blog/posts
      context: services/posts
      requires:
        - image: blog/base
          alias: BASE
      sync:
        manual:
          - src: "src/**/*.js"
            dest: .
          - src: "public/**"
            dest: /srv/static
            strip: public/
manifests:
  rawYaml:
    - k8s/namespace.yaml
    - k8s/posts.yaml
deploy:
  logs:
    prefix: container
portForward:
  - resourceType: deployment
    resourceName: posts
    namespace: blog
    port: 8080
`,
    'base/Dockerfile': 'FROM scratch\n',
    'services/posts/Dockerfile': 'ARG BASE\nFROM ${BASE}\nWORKDIR /app\nCOPY . .\n',
    'services/posts/src/index.js': 'console.log("posts")\n',
    'services/posts/public/a.css': 'body{}\n',
    'services/posts/.dockerignore': 'node_modules\n*.md\n',
    'services/posts/README.md': '# posts\n',
    'k8s/namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: { name: blog }\n',
    'k8s/posts.yaml': deployment('posts', 'blog/posts', 'blog'),
  },
  'no metadata.name, no manifests (Skaffold\'s k8s/*.yaml), a bare Pod rebuilt from the root context': {
    'skaffold.yaml': `apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
    - image: worker
  local:
    concurrency: 0
`,
    Dockerfile: 'FROM scratch\nCOPY . /\n',
    'main.go': 'package main\n',
    'k8s/pod.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: { name: worker }\nspec: { containers: [{ name: worker, image: worker }] }\n',
  },
  'a profile without activation and keys that do not matter to a dev loop': {
    'skaffold.yaml': `apiVersion: skaffold/v4beta14
kind: Config
metadata:
  name: tools
build:
  artifacts:
    - image: localhost:5000/tools/cli
      context: cli
      docker:
        buildArgs:
          GOFLAGS: -mod=vendor
manifests:
  rawYaml: [manifests/*.yaml]
verify:
  - name: smoke
    container: { name: smoke, image: alpine }
profiles:
  - name: fast
    build:
      local:
        concurrency: 4
`,
    'cli/Dockerfile': 'FROM scratch\n',
    'manifests/cli.yaml': deployment('cli', 'localhost:5000/tools/cli:latest'),
  },
};

/** Every regular file under dir, absolute (the changes a watcher could report). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((rel) => path.join(dir, rel))
    .filter((f) => statSync(f).isFile() && !f.includes(`${path.sep}.devloop${path.sep}`));
}

/** What a config makes devloop do, without Docker or a cluster: build order and inputs, rendered manifests, plans. */
async function behaviour(config: Config, otherConfigFile: string) {
  const order = buildOrder(config.build.artifacts).map((a) => a.image);
  const hashes = await FileHashCache.load(config.rootDir);
  const tags: Record<string, string> = {};
  const inputs: Record<string, string> = {};
  for (const image of order) {
    const artifact = config.build.artifacts.find((a) => a.image === image)!;
    const required = Object.fromEntries(artifact.requires.map((r) => [r.image, tags[r.image]]));
    const { digest } = await computeInputs(artifact, required, hashes);
    inputs[image] = digest;
    tags[image] = digest.slice(0, 12);
  }
  const images = new Map(order.map((image) => [image, `${image}:${tags[image]}`]));
  const rendered = toYaml(await renderOffline(config, images, new AbortController().signal));
  // Every file edited, one batch per file; the two config files are each other's plain files.
  const plans = filesUnder(config.rootDir)
    .filter((f) => f !== config.file && f !== otherConfigFile)
    .map((f) => [path.relative(config.rootDir, f), planChanges([{ path: f, kind: 'change' }], config, { manifestFiles: new Set(), syncDisabled: new Set() })]);
  return { order, inputs, rendered, plans };
}

describe('devloop init from a Skaffold config', () => {
  for (const [shape, files] of Object.entries(PROJECTS)) {
    it(`writes a file that behaves as the Skaffold file: ${shape}`, async () => {
      const dir = project(files);
      const skaffoldFile = path.join(dir, 'skaffold.yaml');
      const result = initFromSkaffold(skaffoldFile);
      expect(result.file).toBe(path.join(dir, INIT_FILE_NAME));
      writeFileSync(result.file, result.text);

      // Both files in the tree, each read explicitly: same tree, two configs.
      const fromSkaffold = loadConfig({ cwd: dir, file: skaffoldFile });
      const fromDevloop = loadConfig({ cwd: dir });
      expect(fromDevloop.file).toBe(result.file);
      expect(fromDevloop.source).toBeUndefined();
      const a = await behaviour(fromSkaffold, result.file);
      const b = await behaviour(fromDevloop, skaffoldFile);
      expect(b.order).toEqual(a.order);
      expect(b.inputs).toEqual(a.inputs);
      expect(b.rendered).toBe(a.rendered);
      expect(b.rendered).toContain('kind:'); // something was rendered
      expect(b.plans).toEqual(a.plans);
      const { file: _f, source: _s, activatedProfiles: _ap, ...sameA } = fromSkaffold;
      const { file: _g, source: _t, activatedProfiles: _aq, ...sameB } = fromDevloop;
      expect(sameB).toEqual(sameA);
    });
  }

  it('says in comments where each part came from', () => {
    const dir = project(PROJECTS['v4beta with rawYaml, a required base image and sync rules with dest: .']);
    const { text } = initFromSkaffold(path.join(dir, 'skaffold.yaml'));
    expect(text).toMatch(/^# Written by `devloop init` from skaffold.yaml \(skaffold\/v4beta14\)/);
    expect(text).toContain('# from skaffold.yaml:9 build.artifacts[0]\n    - image: blog/base');
    expect(text).toContain('# from skaffold.yaml:11 build.artifacts[1]\n    - image: blog/posts');
    expect(text).toContain('# from skaffold.yaml:24 manifests.rawYaml');
    expect(text).toContain("Skaffold's sha256");
    expect(text).toContain('# from skaffold.yaml:31 portForward[0]');
    expect(text).toContain('Not carried over, as they do not change a dev loop: deploy.logs.');
  });

  it('names the default manifests and the directory name where the Skaffold file names none', () => {
    const dir = project(PROJECTS["no metadata.name, no manifests (Skaffold's k8s/*.yaml), a bare Pod rebuilt from the root context"]);
    const { text } = initFromSkaffold(path.join(dir, 'skaffold.yaml'));
    expect(text).toContain("Skaffold's default, k8s/*.yaml");
    expect(text).toContain('names no metadata.name');
    expect(text).toMatch(/concurrency: 64/); // Skaffold's 0 (no limit) as devloop's maximum
  });

  it('writes each Skaffold profile it can as a devloop profile, and names the others', () => {
    const dir = project(PROJECTS['a profile without activation and keys that do not matter to a dev loop']);
    const skaffoldFile = path.join(dir, 'skaffold.yaml');
    const result = initFromSkaffold(skaffoldFile);
    if (result.skippedProfiles.length > 0) {
      expect(result.skippedProfiles[0]).toMatch(/^profile "fast" is not written: /);
      expect(result.text).toContain(result.skippedProfiles[0]);
      return;
    }
    const fromDevloop = parseConfig(result.text, result.file, { profiles: ['fast'] });
    const fromSkaffold = loadConfig({ cwd: dir, file: skaffoldFile, profiles: ['fast'] });
    expect(fromDevloop.build).toEqual(fromSkaffold.build);
  });
});
