/**
 * Skaffold projects run unchanged, end to end on the real cluster: bin/devloop driven in copies of
 * fixtures/skaffold-shop (several configs joined by `requires`, a Helm chart, a kustomize overlay,
 * profiles activated by kube context and environment, named port-forwards, sync rules with
 * `dest: .`) and fixtures/skaffold-v2 (skaffold/v2beta29 with deploy.kubectl.manifests, a bare Pod
 * whose image is rebuilt, a Dockerfile FROM golang and alpine).
 *
 * Set-up: helm is built from its Go module (test/helm/build-helm.sh, cached); the public golang and
 * alpine images are stand-ins built here from a busybox rootfs and tagged with those names
 * (nothing can be pulled; devloop never knows). Each copy gets a unique project name and namespace.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelledObjects } from './deploy-helpers.js';
import { DevSession, eventually, pods, readInPod } from './dev-session.js';
import { copyFixture, docker, kubectl, kubectlBin, localPortBase, parseJsonLines, repoRoot, requireCluster, requireDocker, runDevloop } from './helpers.js';

async function httpGet(port: number, urlPath: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`, { signal: AbortSignal.timeout(10_000) });
  return response.text();
}

/** Replaces every `from` in the text files of `dir` (names of the project, namespace, ports). */
function rewriteTree(dir: string, replacements: Array<[RegExp, string]>): void {
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (entry === 'rootfs' || entry === '.devloop') continue;
    if (statSync(full).isDirectory()) rewriteTree(full, replacements);
    else {
      const text = readFileSync(full, 'utf8');
      const next = replacements.reduce((t, [from, to]) => t.replace(from, to), text);
      if (next !== text) writeFileSync(full, next);
    }
  }
}

function namespaceGone(ns: string): boolean {
  return kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name']).trim() === '';
}

const saved: Record<string, string | undefined> = {};
function setEnv(name: string, value: string): void {
  if (!(name in saved)) saved[name] = process.env[name];
  process.env[name] = value;
}

beforeAll(() => {
  requireDocker();
  requireCluster();
  const helmBin = execFileSync('bash', [path.join(repoRoot, 'test/helm/build-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_500_000 }).trim();
  setEnv('DEVLOOP_HELM', path.join(helmBin, 'helm'));
  setEnv('DEVLOOP_KUBECTL', kubectlBin);
  // The stand-ins for the public images the v2 fixture's Dockerfile names (built from the busybox rootfs).
  docker(['build', '-q', '-t', 'golang:1.23', '-t', 'alpine:3.20', path.join(repoRoot, 'fixtures/skaffold-v2/base')], 300_000);
}, 1_600_000);

afterAll(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('a multi-config Skaffold project (fixtures/skaffold-shop)', () => {
  const name = `sks-${randomBytes(3).toString('hex')}`;
  const base = localPortBase(10);
  const ports = { web: base, api: base + 1 };
  let dir = '';
  let cleanup = () => {};
  let session: DevSession | undefined;

  beforeAll(() => {
    ({ dir, cleanup } = copyFixture('skaffold-shop'));
    // project, namespace and page text; the image names (skshop/...) stay
    rewriteTree(dir, [
      [/\bskshop\b(?!\/)/g, name],
      [/localPort: 19080/, `localPort: ${ports.web}`],
      [/localPort: 19081/, `localPort: ${ports.api}`],
    ]);
    setEnv('SKSHOP_TIER', 'e2e');
  });

  afterAll(async () => {
    await session?.dispose();
    if (dir) await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 }).catch(() => undefined);
    try {
      kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false'], 30_000);
    } catch {
      /* already gone */
    }
    cleanup();
  });

  it('deploys until ready: the required configs, the Helm release and the kustomize overlay, with the profiles applied', async () => {
    const result = await runDevloop(['deploy', '--output', 'json'], { cwd: dir, timeoutMs: 400_000 });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const events = parseJsonLines(result.stdout);
    const messages = events.filter((e) => e.type === 'message').map((e) => String(e.text));
    expect(messages).toContain(`reading ${path.join(dir, 'skaffold.yaml')}: a Skaffold config (skaffold/v4beta14), requiring base/skaffold.yaml, web/skaffold.yaml`);
    expect(messages).toContain(
      `Skaffold profiles activated: local of ${name} (kubeContext "devloop-local" matches "^devloop-local$"), e2e of ${name} (env SKSHOP_TIER=^e2e$), quick of web (activeProfiles of ${name})`,
    );
    const ready = events.filter((e) => e.type === 'deploy' && e.status === 'ready').map((e) => e.object);
    expect(ready.sort()).toEqual([`Deployment/${name}/api`, `Deployment/${name}/web`]);

    const api = JSON.parse(kubectl(['get', 'deployment', 'api', '-n', name, '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
      spec: { replicas: number; template: { spec: { containers: Array<{ image: string; env: Array<{ name: string; value: string }> }> } } };
    };
    // helm template with the values file, setValues, and the `local` profile's patch
    expect(api.metadata.labels.chart).toBe('api-0.1.0');
    expect(api.spec.replicas).toBe(1);
    expect(api.spec.template.spec.containers[0].env).toEqual([{ name: 'GREETING', value: 'hello-from-local' }]);
    expect(api.spec.template.spec.containers[0].image).toMatch(/^localhost:5000\/skshop\/api:[0-9a-f]+$/);
    // the overlay's patch and label
    const web = JSON.parse(kubectl(['get', 'deployment', 'web', '-n', name, '-o', 'json'])) as { metadata: { labels: Record<string, string> }; spec: { replicas: number } };
    expect(web.spec.replicas).toBe(1);
    expect(web.metadata.labels.overlay).toBe('dev');
    expect(web.metadata.labels['devloop.dev/project']).toBe(name);
  }, 450_000);

  it('dev: named port-forwards, a synced edit (dest: . is the WORKDIR), a rebuilt edit seen in the logs', async () => {
    session = new DevSession(dir, name, { posts: ports.web, client: ports.api }, ['--explain']);
    await session.waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 400_000, 0, 'the loop to be ready');
    await session.waitFor((e) => e.type === 'portForward' && e.resource === 'service/web' && e.status === 'connected', 60_000, 0, 'the web forward');
    await session.waitFor((e) => e.type === 'portForward' && e.resource === 'deployment/api' && e.status === 'connected', 60_000, 0, 'the api forward');
    const forwards = session.ofType('portForward').filter((e) => e.status === 'listening');
    // service port "http" (80) -> targetPort "http" (8080 in the pod); deployment port "http" -> 9090
    expect(forwards.find((e) => e.resource === 'service/web')).toMatchObject({ localPort: ports.web, remotePort: 8080 });
    expect(forwards.find((e) => e.resource === 'deployment/api')).toMatchObject({ localPort: ports.api, remotePort: 9090 });
    expect(await httpGet(ports.web, '/index.html')).toContain(`${name} web v1`);
    expect(await httpGet(ports.api, '/')).toBe('api says hello-from-local\n');

    // synced: public/** with dest: . lands under WORKDIR /app
    let from = session.events.length;
    const content = `synced ${Date.now()}\n`;
    writeFileSync(path.join(dir, 'web/public/e2e.html'), content);
    const decision = await session.waitFor((e) => e.type === 'change' && e.action === 'sync' && String(e.path).endsWith('e2e.html'), 30_000, from, 'the sync decision');
    expect(decision.reason).toBe('matched sync rule 1 "public/**" -> public/e2e.html');
    const [replica] = pods(name, 'web').filter((p) => p.running && !p.terminating);
    await session.waitFor((e) => e.type === 'sync' && e.status === 'synced' && (e.copied as string[]).includes('/app/public/e2e.html'), 30_000, from, 'the sync');
    expect(readInPod(name, replica.name, '/app/public/e2e.html')).toBe(content);
    expect(await httpGet(ports.web, '/e2e.html')).toBe(content);
    expect(session.ofType('build', from).filter((e) => e.status === 'building')).toEqual([]);

    // rebuilt: VERSION is outside the sync rules
    from = session.events.length;
    const version = `2-${name}`;
    writeFileSync(path.join(dir, 'web/VERSION'), `${version}\n`);
    await session.waitFor((e) => e.type === 'build' && e.image === 'skshop/web' && e.status === 'built', 180_000, from, 'the rebuild of web');
    await session.waitFor((e) => e.type === 'log' && String(e.pod).startsWith('web-') && String(e.line).includes(`web starting (version ${version})`), 180_000, from, 'the new version in the logs');
  }, 900_000);

  it('Ctrl-C deletes what dev applied; down then finds nothing left', async () => {
    expect(await session!.interrupt()).toBe(0);
    session = undefined;
    const down = await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
    expect(down.exitCode, down.stdout + down.stderr).toBe(0);
    await eventually(`namespace ${name} gone`, 120_000, () => namespaceGone(name));
    expect(labelledObjects(name)).toEqual([]);
  }, 600_000);
});

describe('a skaffold/v2beta29 project (fixtures/skaffold-v2)', () => {
  const name = `skv2-${randomBytes(3).toString('hex')}`;
  let dir = '';
  let cleanup = () => {};
  let session: DevSession | undefined;

  beforeAll(() => {
    ({ dir, cleanup } = copyFixture('skaffold-v2'));
    rewriteTree(dir, [[/\bskv2\b(?!\/)/g, name]]);
  });

  afterAll(async () => {
    await session?.dispose();
    if (dir) await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 }).catch(() => undefined);
    try {
      kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false'], 30_000);
    } catch {
      /* already gone */
    }
    cleanup();
  });

  it('stops on objects a `skaffold run` left (no devloop labels), naming skaffold delete and --adopt; --adopt takes them over', async () => {
    // What `skaffold run` would have left: the namespace and the ConfigMap, without devloop labels.
    kubectl(['create', 'namespace', name]);
    kubectl(['create', 'configmap', 'tool-config', '-n', name, '--from-literal=mode=skaffold']);
    const refused = await runDevloop(['deploy'], { cwd: dir, timeoutMs: 300_000 });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('2 objects already exist and were not created by devloop');
    expect(refused.stderr).toContain('`skaffold delete`');
    expect(refused.stderr).toContain('--adopt');
    expect(kubectl(['get', 'configmap', 'tool-config', '-n', name, '-o', 'jsonpath={.data.mode}'])).toBe('skaffold');

    const adopted = await runDevloop(['deploy', '--adopt', '--output', 'json'], { cwd: dir, timeoutMs: 300_000 });
    expect(adopted.exitCode, adopted.stdout + adopted.stderr).toBe(0);
    const events = parseJsonLines(adopted.stdout);
    expect(events.filter((e) => e.type === 'deploy' && e.status === 'ready').map((e) => e.object)).toEqual([`Pod/${name}/tool`]);
    expect(kubectl(['get', 'configmap', 'tool-config', '-n', name, '-o', 'jsonpath={.data.mode}'])).toBe('dev');
    expect(kubectl(['get', 'configmap', 'tool-config', '-n', name, '-o', 'jsonpath={.metadata.labels.devloop\\.dev/project}'])).toBe(name);
  }, 700_000);

  it('dev rebuilds the bare Pod\'s image (FROM golang, FROM alpine stand-ins) and the new version shows in the logs', async () => {
    session = new DevSession(dir, name, { posts: 0, client: 0 }, []);
    await session.waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 300_000, 0, 'the loop to be ready');
    const from = session.events.length;
    writeFileSync(path.join(dir, 'tool/VERSION'), `2-${name}\n`);
    await session.waitFor((e) => e.type === 'build' && e.image === 'skv2/tool' && e.status === 'built', 180_000, from, 'the rebuild');
    await session.waitFor((e) => e.type === 'log' && String(e.line).includes(`tool version 2-${name}`), 180_000, from, 'the new version in the logs');
    expect(await session.interrupt()).toBe(0);
    session = undefined;
  }, 900_000);

  it('down leaves nothing', async () => {
    const down = await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
    expect(down.exitCode, down.stdout + down.stderr).toBe(0);
    await eventually(`namespace ${name} gone`, 120_000, () => namespaceGone(name));
    expect(labelledObjects(name)).toEqual([]);
  }, 600_000);
});
