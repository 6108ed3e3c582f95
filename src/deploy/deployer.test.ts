import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { EnvironmentError } from '../errors.js';
import { CollectingSink } from '../events.js';
import { startFakeApi } from '../kube/fake-api-server.js';
import { immutableFields, KubeApiError, rejectionMessage } from '../kube/errors.js';
import { collisionHint, KubeDeployer } from './deployer.js';
import { InventoryStore, readClusterInventory } from './inventory.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** A new temporary directory, removed after the test. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A project whose manifests put a Namespace and a ConfigMap in namespace `ns`. */
function project(dir: string, ns: string): void {
  writeFileSync(path.join(dir, 'devloop.config.yaml'), `apiVersion: devloop/v1\nkind: Config\nmetadata:\n  name: shop\ndeploy:\n  namespace: ${ns}\n  kubectl:\n    manifests: ["k8s/*.yaml"]\n`);
  mkdirSync(path.join(dir, 'k8s'), { recursive: true });
  writeFileSync(path.join(dir, 'k8s', 'app.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: ${ns}\ndata:\n  mode: dev\n`);
}

/** Project `shop` with no deploy.namespace (objects name theirs) and an empty k8s/ for the test's manifests. */
function projectWithoutNamespace(dir: string): void {
  writeFileSync(path.join(dir, 'devloop.config.yaml'), 'apiVersion: devloop/v1\nkind: Config\nmetadata:\n  name: shop\ndeploy:\n  kubectl:\n    manifests: ["k8s/*.yaml"]\n');
  mkdirSync(path.join(dir, 'k8s'));
}

describe('KubeDeployer prune of a Namespace no longer rendered', () => {
  it('keeps it (and its record) while it holds an object devloop did not apply, deletes it once it does not', async () => {
    const dir = tempDir('devloop-prune-');
    const { kube, live } = await startFakeApi([], {}, cleanups);
    const deploy = async () => {
      const config = loadConfig({ cwd: dir, skipFileChecks: true });
      const sink = new CollectingSink();
      await new KubeDeployer(config, kube).deploy(config, { images: new Map(), wait: false, signal: new AbortController().signal, sink });
      return sink.ofType('prune');
    };
    const journal = () => new InventoryStore(dir, 'fake', 'shop').objects().map((r) => `${r.kind}/${r.namespace ?? ''}/${r.name}`).sort();

    project(dir, 'shop');
    expect(await deploy()).toEqual([]);
    expect(live.has('ConfigMap/shop/kube-root-ca.crt')).toBe(true); // the fake's control plane set the namespace up
    live.set('ConfigMap/shop/user-notes', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'user-notes', namespace: 'shop', uid: 'notes-uid' }, data: { keep: 'me' } });

    // The project moves to namespace shop2: ConfigMap/shop/app-config and Namespace/shop are stale.
    project(dir, 'shop2');
    const pruned = await deploy();
    expect(pruned.map((e) => `${e.status} ${e.object}`)).toEqual(['deleting ConfigMap/shop/app-config', 'deleted ConfigMap/shop/app-config', 'kept Namespace/shop']);
    const kept = pruned.at(-1)!;
    expect(kept.heldBy).toEqual(['ConfigMap/shop/user-notes']);
    expect(kept.message).toContain('it holds ConfigMap/user-notes, which devloop did not apply');
    expect(kept.message).toContain('kubectl delete namespace shop');
    expect(live.get('ConfigMap/shop/user-notes')?.data).toEqual({ keep: 'me' });
    expect(live.get('Namespace//shop')?.metadata.deletionTimestamp).toBeUndefined();
    expect(journal()).toEqual(['ConfigMap/shop2/app-config', 'Namespace//shop', 'Namespace//shop2']);

    // Once the person's ConfigMap is gone, the next deploy prunes the namespace.
    live.delete('ConfigMap/shop/user-notes');
    const again = await deploy();
    expect(again.map((e) => `${e.status} ${e.object}`)).toEqual(['deleting Namespace/shop', 'deleted Namespace/shop']);
    expect(journal()).toEqual(['ConfigMap/shop2/app-config', 'Namespace//shop2']);
  });
});

describe('KubeDeployer into a namespace nobody created', () => {
  it('says the namespace does not exist and how to create it (the 404 typed in kube/errors.ts)', async () => {
    const dir = tempDir('devloop-nons-');
    const { kube } = await startFakeApi([], {}, cleanups);
    projectWithoutNamespace(dir);
    writeFileSync(path.join(dir, 'k8s', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: nowhere\n');
    const config = loadConfig({ cwd: dir, skipFileChecks: true });
    const error = await new KubeDeployer(config, kube).deploy(config, { images: new Map(), wait: false, signal: new AbortController().signal, sink: new CollectingSink() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).message).toBe('namespace "nowhere" does not exist, so ConfigMap/nowhere/app-config cannot be created');
    expect((error as EnvironmentError).hint).toContain('kubectl create namespace nowhere');
  });
});

describe('KubeDeployer into a new namespace', () => {
  it('applies what starts no pods at once, and workloads only once the namespace has its ServiceAccount and CA', async () => {
    const dir = tempDir('devloop-nssetup-');
    // The controllers of this fake set a new namespace up 300 ms after it is created.
    const { kube, live } = await startFakeApi([], { namespaceSetupMs: 300 }, cleanups);
    project(dir, 'shop');
    writeFileSync(
      path.join(dir, 'k8s', 'web.yaml'),
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers: [{name: web, image: nginx}]\n`,
    );
    const config = loadConfig({ cwd: dir, skipFileChecks: true });
    const sink = new CollectingSink();
    await new KubeDeployer(config, kube).deploy(config, { images: new Map(), wait: false, signal: new AbortController().signal, sink });
    const version = (k: string) => Number(live.get(k)?.metadata.resourceVersion);
    // Order of writes on the server: the ConfigMap before the set-up, the Deployment after it.
    expect(version('ConfigMap/shop/app-config')).toBeLessThan(version('ServiceAccount/shop/default'));
    expect(version('ConfigMap/shop/kube-root-ca.crt')).toBeLessThan(version('apps/Deployment/shop/web'));
    expect(version('ServiceAccount/shop/default')).toBeLessThan(version('apps/Deployment/shop/web'));
    const phases = sink.ofType('phase').filter((e) => e.status !== 'started').map((e) => e.name);
    expect(phases).toEqual(expect.arrayContaining(['deploy/render', 'deploy/ownership-check', 'deploy/inventory-read', 'deploy/inventory-write', 'deploy/apply/namespaces', 'deploy/namespace-setup', 'deploy/apply/objects', 'deploy/apply/workloads', 'deploy/inventory-uids']));
    const setup = sink.ofType('phase').find((e) => e.name === 'deploy/namespace-setup' && e.status === 'finished')!;
    expect(setup.durationMs).toBeGreaterThanOrEqual(250);
    expect(setup.durationMs).toBeLessThan(2_000);
  });
});

describe('KubeDeployer apply order', () => {
  it("creates what pods read (a pull Secret, a ConfigMap) before the workloads listed ahead of them, and a Service alongside", async () => {
    const dir = tempDir('devloop-inputs-');
    // Writes of Secrets and ConfigMaps take 150 ms on this server: a workload applied at the same
    // time would be written first.
    const { kube, live } = await startFakeApi([], { applyDelayMs: { secrets: 150, configmaps: 150 } }, cleanups);
    projectWithoutNamespace(dir);
    writeFileSync(
      path.join(dir, 'k8s', 'web.yaml'),
      [
        'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      imagePullSecrets: [{name: regcred}]\n      containers: [{name: web, image: nginx, envFrom: [{configMapRef: {name: web-env}}]}]\n',
        'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n',
        'apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: default\ntype: Opaque\ndata: {}\n',
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-env\n  namespace: default\ndata: {MODE: dev}\n',
      ].join('---\n'),
    );
    const config = loadConfig({ cwd: dir, skipFileChecks: true });
    const sink = new CollectingSink();
    await new KubeDeployer(config, kube).deploy(config, { images: new Map(), wait: false, signal: new AbortController().signal, sink });
    const version = (k: string) => Number(live.get(k)?.metadata.resourceVersion);
    expect(version('Secret/default/regcred')).toBeLessThan(version('apps/Deployment/default/web'));
    expect(version('ConfigMap/default/web-env')).toBeLessThan(version('apps/Deployment/default/web'));
    // the Service did not wait for the slow writes
    expect(version('Service/default/web')).toBeLessThan(version('Secret/default/regcred'));
    const finished = sink.ofType('phase').filter((e) => e.status === 'finished').map((e) => e.name);
    expect(finished).toEqual(expect.arrayContaining(['deploy/apply/pod-inputs', 'deploy/apply/objects', 'deploy/apply/workloads']));
    expect(finished.indexOf('deploy/apply/pod-inputs')).toBeLessThan(finished.indexOf('deploy/apply/workloads'));
  });
});

describe('KubeDeployer and fields that cannot change', () => {
  it("deletes and creates again a Job whose template changed (a rebuilt image), says so, and records the new one", async () => {
    const dir = tempDir('devloop-replace-');
    const { kube, live, deletes } = await startFakeApi([], {}, cleanups);
    projectWithoutNamespace(dir);
    const job = (image: string) => `apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: default\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: migrate, image: ${image}}]\n`;
    const deploy = async (image: string) => {
      writeFileSync(path.join(dir, 'k8s', 'job.yaml'), job(image));
      const config = loadConfig({ cwd: dir, skipFileChecks: true });
      const sink = new CollectingSink();
      await new KubeDeployer(config, kube).deploy(config, { images: new Map(), wait: false, signal: new AbortController().signal, sink });
      return sink;
    };
    await deploy('tools:1');
    const first = live.get('batch/Job/default/migrate')!;
    const sink = await deploy('tools:2');
    const second = live.get('batch/Job/default/migrate')!;
    expect(second.metadata.uid).not.toBe(first.metadata.uid);
    expect(JSON.stringify(second.spec)).toContain('tools:2');
    expect(deletes).toContain('batch/Job/default/migrate');
    expect(sink.ofType('deploy').filter((e) => e.status === 'replaced').map((e) => `${e.object} ${e.message}`)).toEqual([
      'Job/default/migrate deleted and created again: spec.template cannot change on an existing object',
    ]);
    // the inventory holds the new object
    const record = await readClusterInventory(kube, 'shop');
    expect(record.objects.find((r) => r.kind === 'Job')?.uid).toBe(second.metadata.uid);
  });

  it('reports any other refusal at the manifest, without the value the server quotes in full', async () => {
    const error = new KubeApiError(422, 'PATCH', '/apis/batch/v1/namespaces/default/jobs/migrate', {
      kind: 'Status',
      reason: 'Invalid',
      code: 422,
      message: `Job.batch "migrate" is invalid: [spec.template: Invalid value: {"x":"${'y'.repeat(500)}"}: field is immutable, spec.parallelism: Invalid value: -1: must be greater than or equal to 0]`,
      details: {
        name: 'migrate',
        kind: 'Job',
        causes: [
          { reason: 'FieldValueInvalid', message: `Invalid value: {"x":"${'y'.repeat(500)}"}: field is immutable`, field: 'spec.template' },
          { reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0', field: 'spec.parallelism' },
        ],
      },
    });
    // one cause is not about immutability: not a case for replacing
    expect(immutableFields(error)).toEqual([]);
    expect(rejectionMessage(error)).toBe('Job "migrate" is invalid: spec.template: field is immutable; spec.parallelism: Invalid value: -1: must be greater than or equal to 0');
  });
});

describe('KubeDeployer.vanishedWorkloads', () => {
  it('names the workloads of the last deploy that run an image and are gone from the cluster', async () => {
    const dir = tempDir('devloop-vanished-');
    const { kube, live } = await startFakeApi([], {}, cleanups);
    projectWithoutNamespace(dir);
    const deployment = (name: string, image: string) =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers: [{name: ${name}, image: ${image}}]\n`;
    writeFileSync(path.join(dir, 'k8s', 'all.yaml'), [deployment('web', 'reg/web:1'), deployment('api', 'reg/api:1')].join('---\n'));
    const config = loadConfig({ cwd: dir, skipFileChecks: true });
    const deployer = new KubeDeployer(config, kube);
    const signal = new AbortController().signal;
    expect(await deployer.vanishedWorkloads('reg/web:1', signal)).toEqual([]);
    await deployer.deploy(config, { images: new Map(), wait: false, signal, sink: new CollectingSink() });
    expect(await deployer.vanishedWorkloads('reg/web:1', signal)).toEqual([]);
    live.delete('apps/Deployment/default/web');
    expect(await deployer.vanishedWorkloads('reg/web:1', signal)).toEqual(['Deployment/default/web']);
    expect(await deployer.vanishedWorkloads('reg/api:1', signal)).toEqual([]);
  });
});

describe('KubeDeployer with a CRD and its custom objects', () => {
  it('applies the custom objects once the API server serves their kind, which comes after the CRD is Established', async () => {
    const dir = tempDir('devloop-crd-');
    // As on a real server: Established at once, the kind served 300 ms later.
    const { kube, live } = await startFakeApi([], { crdServedMs: 300 }, cleanups);
    project(dir, 'shop');
    writeFileSync(
      path.join(dir, 'k8s', 'widgets.yaml'),
      [
        'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.test\nspec:\n  group: example.test\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets, singular: widget}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n',
        'apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: gear\n  namespace: shop\nspec:\n  teeth: 12\n',
      ].join('---\n'),
    );
    const config = loadConfig({ cwd: dir, skipFileChecks: true });
    const sink = new CollectingSink();
    const started = Date.now();
    await new KubeDeployer(config, kube).deploy(config, { images: new Map(), wait: false, signal: new AbortController().signal, sink });
    expect(live.get('example.test/Widget/shop/gear')?.spec).toEqual({ teeth: 12 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(sink.ofType('deploy').filter((e) => e.status === 'ready').map((e) => `${e.object} ${e.message}`)).toEqual(['CustomResourceDefinition/widgets.example.test established']);
  });
});

describe('KubeDeployer.prefetch', () => {
  it('reads while the build would run, and the ownership check still holds, also when the prefetch rendered other objects', async () => {
    const dir = tempDir('devloop-prefetch-');
    const foreign = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: 'shop', uid: 'theirs' }, data: { mine: 'no' } };
    const { kube, live } = await startFakeApi([foreign], {}, cleanups);
    const deploy = async (prefetchDir: string) => {
      const config = loadConfig({ cwd: dir, skipFileChecks: true });
      const deployer = new KubeDeployer(config, kube);
      const sink = new CollectingSink();
      const prefetchConfig = prefetchDir === dir ? config : loadConfig({ cwd: prefetchDir, skipFileChecks: true });
      deployer.prefetch(prefetchConfig, new AbortController().signal, sink);
      const outcome = await deployer.deploy(config, { images: new Map(), wait: false, signal: new AbortController().signal, sink }).then(() => 'deployed', (e: Error) => e.message);
      return { outcome, phases: sink.ofType('phase').filter((e) => e.status === 'finished').map((e) => e.name) };
    };
    project(dir, 'shop');
    const same = await deploy(dir);
    expect(same.outcome).toBe('ConfigMap/shop/app-config already exists and was not created by devloop for project "shop": nothing was applied');
    // The reads ran once, inside the prefetch.
    expect(same.phases.filter((n) => n === 'deploy/ownership-check')).toHaveLength(1);
    expect(same.phases.indexOf('deploy/ownership-check')).toBeLessThan(same.phases.indexOf('deploy/prefetch'));

    // A prefetch of another project's objects is not taken for this deploy's.
    const other = tempDir('devloop-prefetch-other-');
    project(other, 'elsewhere');
    const mismatched = await deploy(other);
    expect(mismatched.outcome).toContain('ConfigMap/shop/app-config already exists');
    expect(live.get('ConfigMap/shop/app-config')?.data).toEqual({ mine: 'no' });
  });
});

describe('collisionHint', () => {
  const unlabelled = { metadata: { name: 'web' } };
  it('names `skaffold delete` and --adopt for a Skaffold config or objects Skaffold labelled', () => {
    expect(collisionHint({ source: { format: 'skaffold', apiVersion: 'skaffold/v4beta14', ignored: [] } }, [unlabelled])).toMatch(/`skaffold delete`.*--adopt/);
    expect(collisionHint({}, [{ metadata: { name: 'web', labels: { 'app.kubernetes.io/managed-by': 'skaffold' } } }])).toMatch(/`skaffold delete`.*--adopt/);
    expect(collisionHint({}, [unlabelled])).not.toMatch(/skaffold/);
    expect(collisionHint({}, [unlabelled])).toMatch(/--adopt/);
  });
});
