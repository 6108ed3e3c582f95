import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { UsageError } from '../errors.js';
import { pairImages, sameName, scanProject } from './discover.js';
import { parseAnswer, planTreeInit, questionText, writeTreeConfig } from './from-tree.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-init-tree-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const workload = (kind: string, name: string, images: string[]) => `apiVersion: ${kind === 'Pod' ? 'v1' : 'apps/v1'}
kind: ${kind}
metadata: { name: ${name} }
spec:
${kind === 'Pod' ? '' : `  selector: { matchLabels: { app: ${name} } }\n  template:\n    metadata: { labels: { app: ${name} } }\n    spec:\n`}${kind === 'Pod' ? '  ' : '      '}containers:
${images.map((image, i) => `${kind === 'Pod' ? '    ' : '        '}- { name: c${i}, image: "${image}" }`).join('\n')}
`;

const SHOP = {
  'services/orders/Dockerfile': 'FROM scratch\n',
  'services/payments-service/Dockerfile': 'FROM scratch\n',
  'web/Dockerfile.frontend': 'FROM scratch\n',
  'tools/Dockerfile': 'FROM scratch\n',
  'deploy/k8s/orders.yaml': workload('Deployment', 'orders', ['ghcr.io/acme/orders:v3', 'redis:7']),
  'deploy/k8s/payments.yaml': workload('StatefulSet', 'payments', ['acme/payments']),
  'deploy/k8s/frontend.yaml': workload('Pod', 'frontend', ['localhost:5000/frontend@sha256:' + 'a'.repeat(64)]),
  'deploy/k8s/notes.yaml': 'title: not a manifest\n',
  'deploy/k8s/kustomize/kustomization.yaml': 'resources: [../orders.yaml]\n',
  'charts/shop/Chart.yaml': 'apiVersion: v2\nname: shop\n',
  'charts/shop/templates/d.yaml': '{{ .Values.x }}\n',
  'node_modules/pkg/Dockerfile': 'FROM scratch\n',
  'node_modules/pkg/deploy.yaml': workload('Pod', 'nm', ['nm/pkg']),
  'generated/Dockerfile': 'FROM scratch\n',
  'generated/gen.yaml': workload('Pod', 'gen', ['gen/x']),
  '.gitignore': '# build output\ngenerated/\n',
  'skaffold-like.yaml': 'apiVersion: skaffold/v4beta14\nkind: Config\nmetadata: { name: x }\n',
};

describe('finding Dockerfiles and manifests', () => {
  it('skips node_modules, .gitignored directories, chart templates and non-manifest YAML', () => {
    const scan = scanProject(project(SHOP));
    expect(scan.dockerfiles.map((d) => d.file)).toEqual(['services/orders/Dockerfile', 'services/payments-service/Dockerfile', 'tools/Dockerfile', 'web/Dockerfile.frontend']);
    expect(scan.manifests).toEqual(['deploy/k8s/frontend.yaml', 'deploy/k8s/orders.yaml', 'deploy/k8s/payments.yaml']);
    expect(scan.images.map((u) => u.image)).toEqual(['acme/payments', 'ghcr.io/acme/orders', 'localhost:5000/frontend', 'redis']);
    expect(scan.charts).toEqual(['charts/shop']);
    expect(scan.kustomizations).toEqual(['deploy/k8s/kustomize']);
  });

  it('pairs by the last path segment of the image and the directory (or Dockerfile.NAME) name', () => {
    const scan = scanProject(project(SHOP));
    const pairing = pairImages(scan, 'shop');
    expect(pairing.artifacts.map(({ image, context, dockerfile }) => ({ image, context, dockerfile }))).toEqual([
      { image: 'ghcr.io/acme/orders', context: 'services/orders', dockerfile: 'Dockerfile' },
      { image: 'acme/payments', context: 'services/payments-service', dockerfile: 'Dockerfile' },
      { image: 'localhost:5000/frontend', context: 'web', dockerfile: 'Dockerfile.frontend' },
    ]);
    expect(pairing.questions.map((q) => [q.dockerfile.file, q.suggested, q.candidates])).toEqual([['tools/Dockerfile', 'tools', ['redis']]]);
    expect(pairing.external.map((u) => u.image)).toEqual(['redis']);
  });

  it('asks when two Dockerfiles claim one image, or one Dockerfile several images', () => {
    const scan = scanProject(
      project({
        'api/Dockerfile': 'FROM scratch\n',
        'api/Dockerfile.dev': 'FROM scratch\n',
        'k8s/a.yaml': workload('Pod', 'a', ['shop/api', 'other/api']),
      }),
    );
    const { artifacts, questions } = pairImages(scan, 'p');
    expect(artifacts).toEqual([]);
    expect(questions.map((q) => q.why)).toEqual([
      'the manifests use several images named "api": other/api, shop/api',
      'the manifests use several images named "api": other/api, shop/api',
    ]);
  });

  it('pairs with images used inside a kustomization, without taking its files as raw manifests', () => {
    const scan = scanProject(
      project({
        'svc/worker/Dockerfile': 'FROM scratch\n',
        'deploy/base/kustomization.yaml': 'resources: [worker.yaml]\n',
        'deploy/base/worker.yaml': workload('Deployment', 'worker', ['acme/worker']),
      }),
    );
    expect(scan.manifests).toEqual([]);
    expect(scan.kustomizations).toEqual(['deploy/base']);
    expect(pairImages(scan, 'p').artifacts.map((a) => [a.image, a.context])).toEqual([['acme/worker', 'svc/worker']]);
  });

  it('deploys the one kustomization no other uses when there are no raw manifests', () => {
    const dir = project({
      'svc/worker/Dockerfile': 'FROM scratch\n',
      'deploy/base/kustomization.yaml': 'resources: [worker.yaml]\n',
      'deploy/base/worker.yaml': workload('Deployment', 'worker', ['acme/worker']),
      'deploy/overlays/dev/kustomization.yaml': 'resources: [../../base]\n',
    });
    const plan = planTreeInit(dir);
    expect(plan.scan.topKustomizations).toEqual(['deploy/overlays/dev']);
    const { file, text } = writeTreeConfig(plan, new Map());
    const config = parseConfig(text, file);
    expect(config.deploy.kustomize.paths).toEqual(['deploy/overlays/dev']);
    expect(config.deploy.kubectl.manifests).toEqual([]);
    expect(text).toContain('# the kustomization found in the tree that no other one uses');
    expect(text).not.toContain('Not read');
    expect(text).not.toContain("(left out: devloop's default is the same)");
  });

  it('notes build args a FROM line needs and the Dockerfile gives no default', () => {
    const scan = scanProject(
      project({
        'a/Dockerfile': 'ARG BASE\nARG VERSION=1\nFROM ${BASE}:$VERSION AS build\nARG LATE\nFROM scratch\n',
        'b/Dockerfile': 'ARG IMAGE=busybox\nFROM $IMAGE\n',
        'k8s/a.yaml': workload('Pod', 'a', ['x/a', 'x/b']),
      }),
    );
    expect(scan.dockerfiles.map((d) => [d.file, d.fromArgs])).toEqual([
      ['a/Dockerfile', ['BASE']],
      ['b/Dockerfile', []],
    ]);
    const { file, text } = writeTreeConfig({ root: scan.root, name: 'p', scan, pairing: pairImages(scan, 'p') }, new Map());
    expect(text).toContain('# Its Dockerfile builds FROM ${BASE} and gives BASE no default');
    expect(parseConfig(text, file).build.artifacts).toHaveLength(2);
  });

  it('names match ignoring case, separators and a service/svc/server/app suffix', () => {
    expect(sameName('payments', 'payments-service')).toBe(true);
    expect(sameName('Orders_SVC', 'orders')).toBe(true);
    expect(sameName('app', 'app')).toBe(true);
    expect(sameName('web', 'webhooks')).toBe(false);
  });
});

describe('the config written from the tree', () => {
  it('loads with devloop\'s loader, globs whole manifest directories, and writes open questions as comments', () => {
    const dir = project(SHOP);
    const plan = planTreeInit(dir);
    const { file, text } = writeTreeConfig(plan, new Map());
    const config = parseConfig(text, file);
    expect(config.name).toBe(path.basename(dir).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, ''));
    expect(config.build.artifacts.map((a) => [a.image, path.relative(dir, a.dockerfilePath)])).toEqual([
      ['ghcr.io/acme/orders', 'services/orders/Dockerfile'],
      ['acme/payments', 'services/payments-service/Dockerfile'],
      ['localhost:5000/frontend', 'web/Dockerfile.frontend'],
    ]);
    // deploy/k8s holds a YAML file that is not a manifest: the files are listed, not globbed.
    expect(config.deploy.kubectl.manifests).toEqual(['deploy/k8s/frontend.yaml', 'deploy/k8s/orders.yaml', 'deploy/k8s/payments.yaml']);
    expect(text).toContain('# built from services/orders/Dockerfile\n    # deployed by deploy/k8s/orders.yaml: Deployment/orders');
    expect(text).toContain('# Deployed as written (no Dockerfile here builds them): redis.');
    expect(text).toContain('# Not read: the Helm chart in charts/shop/');
    expect(text).toContain('# Not read: the kustomization in deploy/k8s/kustomize/');
    expect(text).toContain('# Unanswered: which image does tools/Dockerfile build? (no manifest uses an image named "tools")\n# Images the manifests use: redis.\n# To build it, add under build.artifacts:\n#   - image: tools\n#     context: tools\n');
  });

  it('applies answers: a chosen image becomes an artifact, an empty answer leaves the Dockerfile out', () => {
    const dir = project({ ...SHOP, 'batch/Dockerfile': 'FROM scratch\n', 'deploy/jobs/job.yaml': workload('Deployment', 'cron', ['acme/nightly']) });
    const plan = planTreeInit(dir);
    const [batch, tools] = plan.pairing.questions;
    expect([batch.dockerfile.file, tools.dockerfile.file]).toEqual(['batch/Dockerfile', 'tools/Dockerfile']);
    expect(questionText(batch)).toContain('  1) acme/nightly\n  2) redis\n');
    const answers = new Map([
      [batch, parseAnswer(batch, '1')],
      [tools, parseAnswer(tools, '')],
    ]);
    const { file, text } = writeTreeConfig(plan, answers);
    const config = parseConfig(text, file);
    expect(config.build.artifacts.map((a) => a.image)).toContain('acme/nightly');
    expect(config.deploy.kubectl.manifests).toContain('deploy/jobs/*.yaml');
    expect(text).toContain('# Left out, as answered: tools/Dockerfile.');
    expect(text).not.toContain('Unanswered');
  });

  it('takes a typed image name, and rejects a choice or name that is not valid', () => {
    const plan = planTreeInit(project(SHOP));
    const [tools] = plan.pairing.questions;
    expect(parseAnswer(tools, ' acme/tools ')).toBe('acme/tools');
    expect(() => parseAnswer(tools, '7')).toThrow(UsageError);
    expect(() => parseAnswer(tools, 'Acme/Tools:latest')).toThrow(/not an image name without a tag/);
  });

  it('refuses a directory with nothing to configure', () => {
    expect(() => planTreeInit(project({ 'README.md': '# empty\n' }))).toThrow(/found no skaffold.yaml, Dockerfile or Kubernetes manifest/);
  });
});
