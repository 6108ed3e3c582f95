/**
 * `devloop deploy`, `render` and `down` against the real cluster, on copies of the fixtures with a
 * unique project name and namespace per run. One blog deploy is reused by the tests that follow it
 * (render, prune, collision, invalid YAML, down); they run in order.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubectl, kubectlBin, parseJsonLines, repoRoot, requireCluster, requireDocker, runDevloop } from './helpers.js';
import { labelledObjects, uniqueCopy } from './deploy-helpers.js';

const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

function journalFiles(dir: string): string[] {
  const inv = path.join(dir, '.devloop', 'inventory');
  return existsSync(inv) ? readdirSync(inv).filter((f) => f.endsWith('.json')) : [];
}

describe('devloop deploy / render / down (blog fixture)', () => {
  const name = `dl-blog-${runId}`;
  let dir = '';
  let cleanup = () => {};
  const collideName = `dl-collide-${runId}`;

  beforeAll(() => {
    requireDocker();
    requireCluster();
    ({ dir, cleanup } = uniqueCopy('blog', { project: 'blog', namespace: 'blog' }, name));
  });

  afterAll(async () => {
    if (dir) await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
    try {
      kubectl(['delete', 'configmap', collideName, '-n', 'default', '--ignore-not-found']);
    } catch {
      /* best effort */
    }
    cleanup();
  });

  it('deploys every workload Ready, labelled, with the built images and an inventory', async () => {
    const result = await runDevloop(['deploy', '--output', 'json'], { cwd: dir, timeoutMs: 280_000 });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const events = parseJsonLines(result.stdout);
    const ready = events.filter((e) => e.type === 'deploy' && e.status === 'ready').map((e) => e.object);
    expect(ready.sort()).toEqual([`Deployment/${name}/client`, `Deployment/${name}/comments`, `Deployment/${name}/posts`, `Deployment/${name}/query`]);
    expect(events.some((e) => e.type === 'pod')).toBe(true);

    const deployments = JSON.parse(kubectl(['get', 'deployments', '-n', name, '-o', 'json'])) as { items: Array<{ metadata: { name: string; labels: Record<string, string> }; spec: { replicas: number; template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ image: string }> } } }; status: { readyReplicas?: number } }> };
    expect(deployments.items).toHaveLength(4);
    for (const d of deployments.items) {
      expect(d.status.readyReplicas, d.metadata.name).toBe(d.spec.replicas);
      expect(d.metadata.labels['devloop.dev/project']).toBe(name);
      expect(d.metadata.labels['app.kubernetes.io/managed-by']).toBe('devloop');
      expect(d.spec.template.metadata.labels['devloop.dev/project']).toBe(name);
      // Rewritten to the reference built for the cluster's KEP-1755 registry.
      expect(d.spec.template.spec.containers[0].image).toMatch(new RegExp(`^localhost:5000/blog/${d.metadata.name}:[0-9a-f]+$`));
    }
    const pods = kubectl(['get', 'pods', '-n', name, '-l', `devloop.dev/project=${name}`, '-o', 'name']).trim().split('\n');
    expect(pods).toHaveLength(5);
    // Applied server-side by field manager devloop.
    const managers = kubectl(['get', 'deployment', 'posts', '-n', name, '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[*].manager}']);
    expect(managers.split(' ')).toContain('devloop');

    const journals = journalFiles(dir);
    expect(journals).toHaveLength(1);
    const journal = JSON.parse(readFileSync(path.join(dir, '.devloop/inventory', journals[0]), 'utf8')) as { project: string; objects: Array<{ kind: string; name: string; uid?: string }> };
    expect(journal.project).toBe(name);
    expect(journal.objects).toHaveLength(9);
    expect(journal.objects.every((o) => o.uid)).toBe(true);
    const record = kubectl(['get', 'secret', `devloop-inventory-${name}`, '-n', 'default', '-o', 'jsonpath={.data.objects}']);
    expect(JSON.parse(Buffer.from(record, 'base64').toString('utf8'))).toHaveLength(9);
  });

  it('render prints the final YAML with the built references and changes nothing', async () => {
    const before = kubectl(['get', 'deployment', 'posts', '-n', name, '-o', 'jsonpath={.metadata.resourceVersion}']);
    const result = await runDevloop(['render'], { cwd: dir });
    expect(result.exitCode, result.stderr).toBe(0);
    const docs = parseAllDocuments(result.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string; labels: Record<string, string> }; spec?: any });
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toContain('Deployment/posts');
    const ns = docs.find((d) => d.kind === 'Namespace')!;
    expect(ns.metadata.namespace).toBeUndefined();
    const posts = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'posts')!;
    expect(posts.spec.template.spec.containers[0].image).toMatch(/^localhost:5000\/blog\/posts:[0-9a-f]+$/);
    expect(posts.metadata.labels['devloop.dev/project']).toBe(name);
    expect(kubectl(['get', 'deployment', 'posts', '-n', name, '-o', 'jsonpath={.metadata.resourceVersion}'])).toBe(before);
  });

  it('prunes the objects of a removed manifest on the next deploy', async () => {
    rmSync(path.join(dir, 'infra/k8s/query.yaml'));
    const result = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 280_000 });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`prune: deleted Deployment/${name}/query`);
    expect(result.stdout).toContain(`prune: deleted Service/${name}/query`);
    expect(kubectl(['get', 'deployment,service', '-n', name, '-o', 'name']).split('\n').filter(Boolean).sort()).toEqual([
      'deployment.apps/client',
      'deployment.apps/comments',
      'deployment.apps/posts',
      'service/client',
      'service/comments',
      'service/posts',
    ]);
    const journal = JSON.parse(readFileSync(path.join(dir, '.devloop/inventory', journalFiles(dir)[0]), 'utf8')) as { objects: unknown[] };
    expect(journal.objects).toHaveLength(7);
  });

  it('stops on an existing object it did not create, names it, and leaves it untouched', async () => {
    kubectl(['create', 'configmap', collideName, '-n', 'default', '--from-literal=owner=someone-else']);
    const before = kubectl(['get', 'configmap', collideName, '-n', 'default', '-o', 'jsonpath={.metadata.resourceVersion}']);
    const manifest = path.join(dir, 'infra/k8s/zz-collide.yaml');
    writeFileSync(manifest, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${collideName}\n  namespace: default\ndata:\n  owner: devloop\n`);
    try {
      const result = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 280_000 });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`ConfigMap/default/${collideName} already exists and was not created by devloop`);
      expect(result.stderr).toContain('--adopt');
      expect(result.stdout).not.toContain('deploy: applying');
      const cm = JSON.parse(kubectl(['get', 'configmap', collideName, '-n', 'default', '-o', 'json'])) as { metadata: { resourceVersion: string; labels?: Record<string, string> }; data: Record<string, string> };
      expect(cm.metadata.resourceVersion).toBe(before);
      expect(cm.data.owner).toBe('someone-else');
      expect(cm.metadata.labels?.['devloop.dev/project']).toBeUndefined();
    } finally {
      rmSync(manifest);
    }
  });

  it('names the file and line of invalid YAML, and applies nothing', async () => {
    const manifest = path.join(dir, 'infra/k8s/zz-broken.yaml');
    writeFileSync(manifest, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  labels: { a: b\ndata:\n  x: "1"\n');
    try {
      const result = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 120_000 });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/zz-broken\.yaml:\d+:\d+: document 1: invalid YAML/);
      expect(result.stdout).not.toContain('deploy: applying');
    } finally {
      rmSync(manifest);
    }
  });

  it('down deletes every object of the project, leaves the foreign ConfigMap, and empties the inventory; a second down is harmless', async () => {
    const dry = await runDevloop(['down', '--dry-run'], { cwd: dir });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`teardown: planned Deployment/${name}/posts would delete`);
    expect(dry.stdout).toContain(`teardown: planned Namespace/${name} would delete`);
    expect(labelledObjects(name).length).toBeGreaterThan(0);

    const result = await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`teardown: deleted Namespace/${name}`);
    expect(labelledObjects(name)).toEqual([]);
    expect(kubectl(['get', 'namespace', name, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
    expect(kubectl(['get', 'secret', `devloop-inventory-${name}`, '-n', 'default', '--ignore-not-found', '-o', 'name']).trim()).toBe('');
    expect(journalFiles(dir)).toEqual([]);
    expect(kubectl(['get', 'configmap', collideName, '-n', 'default', '-o', 'jsonpath={.data.owner}'])).toBe('someone-else');

    const again = await runDevloop(['down'], { cwd: dir });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('nothing to delete');
  });
});

describe('devloop deploy failures say why', () => {
  beforeAll(() => {
    requireDocker();
    requireCluster();
  });

  it('ImagePullBackOff: names the image, the registry and the likely fix', async () => {
    const name = `dl-pull-${runId}`;
    const { dir, cleanup } = uniqueCopy('pull-fail', { project: 'pull-fail', namespace: 'pull-fail' }, name);
    try {
      const started = Date.now();
      const result = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 120_000 });
      expect(result.exitCode, result.stdout + result.stderr).toBe(1);
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(result.stderr).toContain(`Deployment/${name}/ghost: the cluster cannot pull image localhost:5000/does-not-exist:1 from localhost:5000`);
      expect(result.stderr).toMatch(/ImagePullBackOff|ErrImagePull/);
      expect(result.stderr).toContain('was it pushed? devloop pushes the images it builds to localhost:5000, the registry announced by local-registry-hosting');
    } finally {
      await runDevloop(['down'], { cwd: dir, timeoutMs: 120_000 });
      cleanup();
    }
  });

  it('CrashLoopBackOff: gives the exit code and the last log lines', async () => {
    const name = `dl-crash-${runId}`;
    const { dir, cleanup } = uniqueCopy('crashloop', { project: 'crashloop', namespace: 'crashloop' }, name);
    try {
      const result = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 120_000 });
      expect(result.exitCode, result.stdout + result.stderr).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`Deployment/${name}/crasher: .*container app of pod crasher-\\S+ (keeps crashing \\(CrashLoopBackOff\\)|exited) with exit code 3`));
      expect(result.stderr).toContain('| crashloop: cannot open /etc/app.conf, giving up');
      expect(result.stderr).toContain('kubectl logs --previous');
    } finally {
      await runDevloop(['down'], { cwd: dir, timeoutMs: 120_000 });
      cleanup();
    }
  });
});

describe('errors say what to do; render sources', () => {
  let dir = '';
  const write = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  };
  const config = (deploy: string) => write('devloop.config.yaml', `apiVersion: devloop/v1\nkind: Config\nmetadata:\n  name: dl-err-${runId}\ndeploy:\n  namespace: dl-err-${runId}\n${deploy}`);

  beforeAll(() => {
    requireCluster();
    dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-errors-'));
    write('k8s/cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: "1"\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('an unreachable cluster names the server and the next step', async () => {
    config('  kubectl:\n    manifests: ["k8s/*.yaml"]\n');
    const bad = path.join(dir, 'unreachable.kubeconfig');
    writeFileSync(bad, 'apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: gone\n  context: { cluster: gone, user: me }\nusers:\n- name: me\n  user: { token: x }\ncurrent-context: gone\n');
    const result = await runDevloop(['deploy'], { cwd: dir, env: { KUBECONFIG: bad } });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('cannot reach the cluster at https://127.0.0.1:1 (context gone): ECONNREFUSED');
    expect(result.stderr).toContain('npm run cluster:up');
  });

  it('a forbidden call names the verb, the resource and the user', async () => {
    config('  kubectl:\n    manifests: ["k8s/*.yaml"]\n');
    const ns = `dl-rbac-${runId}`;
    kubectl(['create', 'namespace', ns]);
    try {
      kubectl(['create', 'serviceaccount', 'limited', '-n', ns]);
      const token = kubectl(['create', 'token', 'limited', '-n', ns, '--duration=10m']).trim();
      const ca = kubectl(['config', 'view', '--raw', '--minify', '-o', 'jsonpath={.clusters[0].cluster.certificate-authority-data}']);
      const server = kubectl(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}']);
      const limited = path.join(dir, 'limited.kubeconfig');
      writeFileSync(limited, `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${server}\n    certificate-authority-data: ${ca}\ncontexts:\n- name: limited\n  context: { cluster: c, user: limited }\nusers:\n- name: limited\n  user:\n    token: ${token}\ncurrent-context: limited\n`);
      const result = await runDevloop(['deploy'], { cwd: dir, env: { KUBECONFIG: limited } });
      expect(result.exitCode, result.stdout + result.stderr).toBe(1);
      expect(result.stderr).toMatch(/forbidden: .*User "system:serviceaccount:dl-rbac-\w+:limited" cannot \w+ resource "(configmaps|secrets)"/);
      expect(result.stderr).toContain('ask a cluster admin');
    } finally {
      kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
  });

  it('an unknown context lists the available ones', async () => {
    config('  kubeContext: no-such-context\n  kubectl:\n    manifests: ["k8s/*.yaml"]\n');
    const result = await runDevloop(['deploy'], { cwd: dir });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('kube context "no-such-context" (deploy.kubeContext) is not in the kubeconfig');
    expect(result.stderr).toContain('Available contexts: devloop-local');
  });

  it('an unknown kind names the manifest and asks whether its CRD is installed', async () => {
    config('  kubectl:\n    manifests: ["k8s/*.yaml", "crd/*.yaml"]\n');
    write('crd/widget.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n');
    try {
      const result = await runDevloop(['render'], { cwd: dir });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/crd\/widget\.yaml:5 \(document 2\): the cluster has no resource type Widget in example\.com\/v1/);
      expect(result.stderr).toContain('Is the CRD that defines Widget installed?');
    } finally {
      rmSync(path.join(dir, 'crd'), { recursive: true });
    }
  });

  it('renders kustomizations through kubectl kustomize, and says when helm is missing', async () => {
    write('kust/kustomization.yaml', 'resources: [cm.yaml]\nnamePrefix: k-\n');
    write('kust/cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-kustomize\ndata:\n  b: "2"\n');
    config('  kustomize:\n    paths: [kust]\n');
    const result = await runDevloop(['render'], { cwd: dir, env: { DEVLOOP_KUBECTL: kubectlBin } });
    expect(result.exitCode, result.stderr).toBe(0);
    const [cm] = parseAllDocuments(result.stdout).map((d) => d.toJS() as { metadata: { name: string; namespace: string; labels: Record<string, string> } });
    expect(cm.metadata).toMatchObject({ name: 'k-from-kustomize', namespace: `dl-err-${runId}` });
    expect(cm.metadata.labels['devloop.dev/project']).toBe(`dl-err-${runId}`);

    config('  helm:\n    releases:\n      - { name: web, chart: chart }\n');
    const helm = await runDevloop(['render'], { cwd: dir, env: { PATH: path.dirname(process.execPath) } });
    expect(helm.exitCode).toBe(1);
    expect(helm.stderr).toMatch(/deploy\.helm\.releases .*needs helm, and "?helm"? is not on PATH/);
    expect(helm.stderr).toContain('Install helm');
  });
});

describe('CRDs and cluster-scoped objects', () => {
  it('applies a CRD before its custom objects, waits for it, and down removes both', async () => {
    requireCluster();
    const name = `dl-crd-${runId}`;
    const group = `${runId}.devloop.test`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-crd-'));
    try {
      mkdirSync(path.join(dir, 'k8s'));
      writeFileSync(path.join(dir, 'devloop.config.yaml'), `apiVersion: devloop/v1\nkind: Config\nmetadata:\n  name: ${name}\ndeploy:\n  namespace: ${name}\n  kubectl:\n    manifests: ["k8s/*.yaml"]\n`);
      // The custom object comes first in the file: devloop must still apply the CRD first.
      writeFileSync(
        path.join(dir, 'k8s', 'all.yaml'),
        [
          `apiVersion: ${group}/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n`,
          `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`,
          `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.${group}\nspec:\n  group: ${group}\n  scope: Namespaced\n  names: { plural: widgets, singular: widget, kind: Widget }\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n`,
        ].join('---\n'),
      );
      const result = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 120_000 });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(`deploy: ready CustomResourceDefinition/widgets.${group} established`);
      expect(kubectl(['get', `widgets.${group}`, 'w1', '-n', name, '-o', 'jsonpath={.spec.size}'])).toBe('3');

      const down = await runDevloop(['down'], { cwd: dir, timeoutMs: 120_000 });
      expect(down.exitCode, down.stdout + down.stderr).toBe(0);
      expect(down.stdout).toContain(`teardown: deleted CustomResourceDefinition/widgets.${group}`);
      expect(kubectl(['get', 'crd', `widgets.${group}`, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
      expect(kubectl(['get', 'namespace', name, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
    } finally {
      await runDevloop(['down'], { cwd: dir, timeoutMs: 120_000 });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('objects whose changed fields cannot change in place', () => {
  it('a Job whose image was rebuilt is deleted and created again, and runs the new image', async () => {
    requireDocker();
    requireCluster();
    const name = `dl-job-${runId}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-job-'));
    try {
      const app = path.join(dir, 'app');
      mkdirSync(app);
      mkdirSync(path.join(dir, 'k8s'));
      cpSync(path.join(repoRoot, 'fixtures/blog/base/rootfs'), path.join(app, 'rootfs'), { recursive: true, verbatimSymlinks: true });
      writeFileSync(path.join(app, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCOPY version /version\n');
      writeFileSync(path.join(app, 'version'), `one ${runId}\n`);
      writeFileSync(
        path.join(dir, 'devloop.config.yaml'),
        `apiVersion: devloop/v1\nkind: Config\nmetadata:\n  name: ${name}\nbuild:\n  artifacts:\n    - { image: jobs/migrate, context: app }\ndeploy:\n  namespace: ${name}\n  kubectl:\n    manifests: ["k8s/*.yaml"]\n`,
      );
      writeFileSync(
        path.join(dir, 'k8s', 'all.yaml'),
        `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: ${name}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{ name: migrate, image: jobs/migrate, command: ["cat", "/version"] }]\n`,
      );
      const jobLog = () => kubectl(['logs', '-n', name, 'job/migrate']).trim();
      const first = await runDevloop(['deploy', '--output', 'json'], { cwd: dir, timeoutMs: 180_000 });
      expect(first.exitCode, first.stdout + first.stderr).toBe(0);
      expect(jobLog()).toBe(`one ${runId}`);
      const firstUid = kubectl(['get', 'job', 'migrate', '-n', name, '-o', 'jsonpath={.metadata.uid}']);

      // a new image: the Job's template changes, which the API server refuses on an existing Job
      writeFileSync(path.join(app, 'version'), `two ${runId}\n`);
      const second = await runDevloop(['deploy', '--output', 'json'], { cwd: dir, timeoutMs: 180_000 });
      expect(second.exitCode, second.stdout + second.stderr).toBe(0);
      const events = parseJsonLines(second.stdout);
      expect(events.filter((e) => e.type === 'deploy' && e.status === 'replaced').map((e) => `${e.object} ${e.message}`)).toEqual([
        `Job/${name}/migrate deleted and created again: spec.template cannot change on an existing object`,
      ]);
      expect(events.some((e) => e.type === 'deploy' && e.status === 'ready' && e.object === `Job/${name}/migrate`)).toBe(true);
      expect(kubectl(['get', 'job', 'migrate', '-n', name, '-o', 'jsonpath={.metadata.uid}'])).not.toBe(firstUid);
      expect(jobLog()).toBe(`two ${runId}`);

      const down = await runDevloop(['down'], { cwd: dir, timeoutMs: 120_000 });
      expect(down.exitCode, down.stdout + down.stderr).toBe(0);
      expect(kubectl(['get', 'namespace', name, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
    } finally {
      await runDevloop(['down'], { cwd: dir, timeoutMs: 120_000 });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
