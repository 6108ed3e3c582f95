/**
 * A private registry as a remote cluster uses one, end to end: the test cluster's second registry
 * (TLS with its own CA, htpasswd auth; test/cluster/registry-auth.sh) reached with `--default-repo`
 * (and its environment variables), credentials from a temporary DOCKER_CONFIG (auths, or a
 * docker-credential-* helper on PATH), pods pulling through an imagePullSecret in the fixture's
 * manifests. The KEP-1755 ConfigMap other suites rely on is left alone: the default repo takes
 * precedence over it, and the run's output shows the ConfigMap was not read.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevSession, pods, readInPod } from './dev-session.js';
import { docker, kubectl, parseJsonLines, repoRoot, requireCluster, requireDocker, runDevloop } from './helpers.js';

const AUTH_DIR = '/var/lib/devloop-cluster/registry-auth';
const USER = 'devloop';

/** The TLS registry's HOST:PORT and password, as up.sh wrote them; fails (never skips) without them. */
function authRegistry(): { host: string; password: string } {
  try {
    return { host: readFileSync(path.join(AUTH_DIR, 'host'), 'utf8').trim(), password: readFileSync(path.join(AUTH_DIR, 'password'), 'utf8').trim() };
  } catch (error) {
    throw new Error(`the test cluster's TLS registry is not set up (${AUTH_DIR}): run \`npm run cluster:up\`. ${(error as Error).message}`);
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A one-image project: busybox httpd serving public/, a Secret for pulling and a Deployment using it. */
function writeProject(dir: string, project: string, host: string, password: string): void {
  const app = path.join(dir, 'app');
  mkdirSync(path.join(app, 'public'), { recursive: true });
  cpSync(path.join(repoRoot, 'fixtures/blog/base/rootfs'), path.join(app, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  writeFileSync(path.join(app, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nWORKDIR /app\nCOPY start.sh /app/start.sh\nCOPY public/ /app/public/\nCMD ["sh", "/app/start.sh"]\n');
  writeFileSync(path.join(app, 'start.sh'), 'echo "registry-e2e serving on 8080"\nexec httpd -f -p 8080 -h /app/public\n');
  // unique per run: a new image, so every run pushes
  writeFileSync(path.join(app, 'public', 'index.html'), `${project}\n`);
  writeFileSync(
    path.join(dir, 'devloop.config.yaml'),
    [
      'apiVersion: devloop/v1',
      'kind: Config',
      `metadata: { name: ${project} }`,
      'build:',
      '  artifacts:',
      '    - image: reg/app',
      '      context: app',
      '      sync: { manual: [{ src: "public/**", dest: /app/public, strip: "public/" }] }',
      'deploy:',
      `  namespace: ${project}`,
      '  statusCheckDeadlineSeconds: 200',
      '  kubectl: { manifests: ["k8s/*.yaml"] }',
      '',
    ].join('\n'),
  );
  const k8s = path.join(dir, 'k8s');
  mkdirSync(k8s);
  writeFileSync(path.join(k8s, '00-namespace.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${project}\n`);
  const pullConfig = JSON.stringify({ auths: { [host]: { username: USER, password, auth: b64(`${USER}:${password}`) } } });
  writeFileSync(
    path.join(k8s, 'app.yaml'),
    `apiVersion: v1
kind: Secret
metadata:
  name: regcred
  namespace: ${project}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: ${b64(pullConfig)}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: ${project}
spec:
  replicas: 1
  selector:
    matchLabels: { app: app }
  template:
    metadata:
      labels: { app: app }
    spec:
      terminationGracePeriodSeconds: 2
      imagePullSecrets: [{ name: regcred }]
      containers:
        - name: app
          image: reg/app
          ports: [{ containerPort: 8080 }]
          readinessProbe:
            tcpSocket: { port: 8080 }
            periodSeconds: 1
`,
  );
}

/** A temporary DOCKER_CONFIG directory holding `config`. */
function dockerConfig(temp: string, name: string, config: object): string {
  const dir = path.join(temp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

function deleteNamespace(ns: string): void {
  try {
    kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], 30_000);
  } catch {
    /* already gone */
  }
}

describe('a private registry with TLS and auth, as a remote cluster uses it', () => {
  let registry: { host: string; password: string };
  let temp: string;

  beforeAll(() => {
    requireDocker();
    requireCluster();
    registry = authRegistry();
    temp = mkdtempSync(path.join(os.tmpdir(), 'devloop-registry-e2e-'));
  });
  afterAll(() => {
    if (temp) rmSync(temp, { recursive: true, force: true });
  });

  it('devloop dev --default-repo pushes with the auths credentials, deploys through the imagePullSecret, syncs, and tears down on Ctrl-C', async () => {
    const { host, password } = registry;
    const project = `registry-e2e-${randomBytes(3).toString('hex')}`;
    const dir = path.join(temp, project);
    mkdirSync(dir);
    writeProject(dir, project, host, password);
    const config = dockerConfig(temp, 'auths', { auths: { [host]: { auth: b64(`${USER}:${password}`) } } });
    const session = new DevSession(dir, project, { posts: 0, client: 0 }, ['--default-repo', host, '-v'], () => undefined, { DOCKER_CONFIG: config });
    try {
      await session.waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 280_000, 0, 'the loop to be ready');

      // the default repo was used, the cluster's KEP-1755 announcement was not
      const messages = session.ofType('message').map((e) => String(e.text));
      expect(messages).toContain(`images go to ${host} (default repo from --default-repo); the cluster's local-registry-hosting announcement is not read`);
      expect(messages.filter((t) => t.includes('announced by the cluster'))).toEqual([]);
      expect(JSON.stringify(session.events)).not.toContain('localhost:5000');

      // built and pushed under the default repo, named by Skaffold's rule (reg/app -> reg_app)
      const pushed = session.ofType('build').find((e) => e.image === 'reg/app' && e.status === 'pushed');
      expect(pushed?.tag, session.describe()).toMatch(new RegExp(`^${host.replace(/\./g, '\\.')}/reg_app:[0-9a-f]{16}$`));

      // the cluster pulled it from the TLS registry (its CA in containerd's certs.d) with the Secret
      const running = pods(project, 'app').filter((p) => p.running && !p.terminating);
      expect(running.map((p) => p.image), session.describe()).toEqual([pushed!.tag]);
      const spec = JSON.parse(kubectl(['get', 'pod', '-n', project, running[0].name, '-o', 'json'])) as { spec: { imagePullSecrets?: Array<{ name: string }> } };
      expect(spec.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);

      // an edit under public/ is synced, not rebuilt
      const from = session.events.length;
      const content = `synced at ${Date.now()}\n`;
      writeFileSync(path.join(dir, 'app', 'public', 'index.html'), content);
      await session.waitFor((e) => e.type === 'sync' && e.status === 'synced' && (e.copied as string[]).includes('/app/public/index.html'), 60_000, from, 'the sync');
      expect(readInPod(project, running[0].name, '/app/public/index.html')).toBe(content);
      expect(session.ofType('build', from).filter((e) => e.status === 'building')).toEqual([]);

      const teardownFrom = session.events.length;
      const code = await session.interrupt(240_000);
      expect(code, session.describe()).toBe(0);
      expect(session.ofType('teardown', teardownFrom).some((e) => e.status === 'done')).toBe(true);
      expect(kubectl(['get', 'deployments,secrets', '-A', '-l', `devloop.dev/project=${project}`, '-o', 'name']).trim()).toBe('');
      expect(kubectl(['get', 'namespace', project, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
    } finally {
      await session.dispose();
      deleteNamespace(project);
    }
  });

  it('a wrong password: the push fails with the registry named and docker login, exit 1 (SKAFFOLD_DEFAULT_REPO)', async () => {
    const { host } = registry;
    const project = `registry-e2e-${randomBytes(3).toString('hex')}`;
    const dir = path.join(temp, project);
    mkdirSync(dir);
    writeProject(dir, project, host, 'unused');
    const config = dockerConfig(temp, 'wrong', { auths: { [host]: { auth: b64(`${USER}:not-the-password`) } } });
    const result = await runDevloop(['build', '--push'], { cwd: dir, env: { DOCKER_CONFIG: config, SKAFFOLD_DEFAULT_REPO: host } });
    expect(result.exitCode, result.stderr).toBe(1);
    const output = result.stdout + result.stderr;
    expect(output).toContain(`images are built for ${host} (default repo from SKAFFOLD_DEFAULT_REPO)`);
    expect(output).toContain(`the registry ${host} refused ${host}/reg_app:`);
    expect(output).toContain(`with the credentials from auths in ${config}/config.json`);
    expect(output).toContain(`docker login ${host}`);
  });

  it('no credentials at all: the same message says none were found in the config', async () => {
    const { host } = registry;
    const project = `registry-e2e-${randomBytes(3).toString('hex')}`;
    const dir = path.join(temp, project);
    mkdirSync(dir);
    writeProject(dir, project, host, 'unused');
    const config = dockerConfig(temp, 'empty', {});
    const result = await runDevloop(['build', '--push', '-o', 'json'], { cwd: dir, env: { DOCKER_CONFIG: config, DEVLOOP_DEFAULT_REPO: host } });
    expect(result.exitCode, result.stderr).toBe(1);
    const error = parseJsonLines(result.stdout).find((e) => e.type === 'error')?.error as { name: string; message: string; hint: string } | undefined;
    expect(error?.name, result.stdout).toBe('RegistryAuthError');
    expect(error?.message).toContain(`with no credentials (none for ${host} in ${config}/config.json)`);
    expect(error?.hint).toContain(`docker login ${host}`);
  });

  it('a private base image: the build pulls it with the config\'s credentials, and without them names the registry and docker login', async () => {
    const { host, password } = registry;
    const project = `registry-e2e-${randomBytes(3).toString('hex')}`;
    const dir = path.join(temp, project);
    mkdirSync(dir);
    writeProject(dir, project, host, password);
    const config = dockerConfig(temp, 'auths-base', { auths: { [host]: { auth: b64(`${USER}:${password}`) } } });
    const push = await runDevloop(['build', '--push', '-o', 'json', '--default-repo', host], { cwd: dir, env: { DOCKER_CONFIG: config } });
    expect(push.exitCode, push.stdout + push.stderr).toBe(0);
    const base = String(parseJsonLines(push.stdout).find((e) => e.type === 'build' && e.status === 'pushed')?.tag);
    expect(base).toMatch(new RegExp(`^${host.replace(/\./g, '\\.')}/reg_app:`));
    // only the registry has it under that name now: FROM must pull it
    docker(['rmi', base]);

    const derived = path.join(temp, `${project}-derived`);
    mkdirSync(path.join(derived, 'ctx'), { recursive: true });
    writeFileSync(path.join(derived, 'ctx', 'Dockerfile'), `FROM ${base}\nCOPY extra.txt /app/extra.txt\n`);
    writeFileSync(path.join(derived, 'ctx', 'extra.txt'), `${project}\n`);
    const derivedConfig = (builder: string) =>
      `apiVersion: devloop/v1\nkind: Config\nmetadata: { name: ${project} }\nbuild:\n  artifacts: [{ image: reg/derived, context: ctx, builder: ${builder} }]\n`;
    // BuildKit first (the session answers with the base registry's credential), then the classic builder
    writeFileSync(path.join(derived, 'devloop.config.yaml'), derivedConfig('buildkit'));

    const refused = await runDevloop(['build'], { cwd: derived, env: { DOCKER_CONFIG: dockerConfig(temp, 'empty-base', {}) } });
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stderr).toContain(`the registry ${host} refused ${base} with no credentials`);
    expect(refused.stderr).toContain(`docker login ${host}`);

    const built = await runDevloop(['build', '-o', 'json'], { cwd: derived, env: { DOCKER_CONFIG: config } });
    expect(built.exitCode, built.stdout + built.stderr).toBe(0);
    const derivedEvents = parseJsonLines(built.stdout).filter((e) => e.type === 'build' && e.image === 'reg/derived');
    expect(derivedEvents.find((e) => e.status === 'building')?.builder).toBe('buildkit');
    expect(derivedEvents.some((e) => e.status === 'built')).toBe(true);

    writeFileSync(path.join(derived, 'devloop.config.yaml'), derivedConfig('classic'));
    writeFileSync(path.join(derived, 'ctx', 'extra.txt'), `${project} classic\n`);
    const refusedClassic = await runDevloop(['build'], { cwd: derived, env: { DOCKER_CONFIG: dockerConfig(temp, 'empty-base-classic', {}) } });
    expect(refusedClassic.exitCode, refusedClassic.stdout + refusedClassic.stderr).toBe(1);
    expect(refusedClassic.stderr).toContain(`docker login ${host}`);
    const builtClassic = await runDevloop(['build', '-o', 'json'], { cwd: derived, env: { DOCKER_CONFIG: config } });
    expect(builtClassic.exitCode, builtClassic.stdout + builtClassic.stderr).toBe(0);
  });

  it('credHelpers: a docker-credential-* program on PATH gives the push its credentials', async () => {
    const { host, password } = registry;
    const project = `registry-e2e-${randomBytes(3).toString('hex')}`;
    const dir = path.join(temp, project);
    mkdirSync(dir);
    writeProject(dir, project, host, password);
    const bin = path.join(temp, 'bin');
    mkdirSync(bin, { recursive: true });
    const calls = path.join(temp, 'helper-calls.log');
    // answers like docker-credential-pass does: the server address on stdin, JSON on stdout
    writeFileSync(
      path.join(bin, 'docker-credential-devloop-e2e'),
      `#!/bin/sh\nread server\necho "$1 $server" >> '${calls}'\n[ "$1" = get ] || exit 1\n` +
        `if [ "$server" = '${host}' ]; then printf '{"ServerURL":"%s","Username":"${USER}","Secret":"%s"}\\n' "$server" '${password}'; else echo 'credentials not found in native keychain'; exit 1; fi\n`,
    );
    chmodSync(path.join(bin, 'docker-credential-devloop-e2e'), 0o755);
    const config = dockerConfig(temp, 'helper', { credHelpers: { [host]: 'devloop-e2e' } });
    const result = await runDevloop(['build', '--push', '-o', 'json', '--default-repo', host], {
      cwd: dir,
      env: { DOCKER_CONFIG: config, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const pushed = parseJsonLines(result.stdout).find((e) => e.type === 'build' && e.status === 'pushed');
    expect(pushed?.tag).toMatch(new RegExp(`^${host.replace(/\./g, '\\.')}/reg_app:`));
    expect(readFileSync(calls, 'utf8')).toContain(`get ${host}`);
  });
});
