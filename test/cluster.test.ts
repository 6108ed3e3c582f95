// End-to-end checks of the project's own single-node Kubernetes test cluster (test/cluster/).
// Runs against the cluster that `npm run cluster:up` brought up; it does not start one, and it
// fails (does not skip) when the cluster is not there.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const clusterDir = join(dirname(fileURLToPath(import.meta.url)), 'cluster');

/** Settings of the cluster scripts (test/cluster/env.sh), so the test and the scripts agree. */
function clusterEnv(): Record<string, string> {
  const out = execFileSync(
    'bash',
    [
      '-c',
      'source "$1/env.sh"; printf "%s\\n" "$CLUSTER_BIN" "$KUBECONFIG_PATH" "$REGISTRY_HOST" "$KUBE_VERSION" "$NODE_NAME" "$CLUSTER_DNS_IP" "$CLUSTER_DOMAIN"',
      'env',
      clusterDir,
    ],
    { encoding: 'utf8' },
  ).split('\n');
  const [bin, kubeconfig, registry, version, node, dnsIp, domain] = out;
  return { bin, kubeconfig, registry, version, node, dnsIp, domain };
}

const env = clusterEnv();
const kubectlPath = join(env.bin, 'kubectl');
const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const namespace = `devloop-cluster-test-${runId}`;
const image = `${env.registry}/devloop-cluster-test:${runId}`;
const token = `token-${runId}`;
const app = 'hello';
const TEST_TIMEOUT = 180_000;

async function kubectl(...args: string[]): Promise<string> {
  const r = await execa(kubectlPath, ['--kubeconfig', env.kubeconfig, ...args], { timeout: 150_000 });
  return r.stdout;
}

async function kubectlJson<T = any>(...args: string[]): Promise<T> {
  return JSON.parse(await kubectl(...args, '-o', 'json')) as T;
}

async function eventually<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** `kubectl port-forward` to the deployment on a free loopback port; resolves with the local port. */
function portForward(target: string, remotePort: number): Promise<{ port: number; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      kubectlPath,
      ['--kubeconfig', env.kubeconfig, '-n', namespace, 'port-forward', '--address', '127.0.0.1', target, `:${remotePort}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`kubectl port-forward did not report a port within 60s: ${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop: () => child.kill() });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kubectl port-forward exited (${code}): ${out}`));
    });
  });
}

describe('the devloop test cluster', () => {
  beforeAll(async () => {
    const hint = 'the test cluster is not up: run `npm run cluster:up` (see test/cluster/README.md)';
    if (!existsSync(kubectlPath)) throw new Error(`${hint}; no kubectl at ${kubectlPath}`);
    if (!existsSync(env.kubeconfig)) throw new Error(`${hint}; no kubeconfig at ${env.kubeconfig}`);
    try {
      await execa(kubectlPath, ['--kubeconfig', env.kubeconfig, 'get', '--raw', '/readyz'], { timeout: 15_000 });
    } catch (e) {
      throw new Error(`${hint}; the API server does not answer: ${(e as Error).message}`);
    }
    await kubectl('create', 'namespace', namespace);
  }, 60_000);

  afterAll(async () => {
    await execa(kubectlPath, ['--kubeconfig', env.kubeconfig, 'delete', 'namespace', namespace, '--wait=false', '--ignore-not-found'], {
      reject: false,
    });
    await execa('docker', ['image', 'rm', image], { reject: false });
  }, 60_000);

  it('has one node, Ready, reporting the built version', async () => {
    const nodes = await kubectlJson<{ items: any[] }>('get', 'nodes');
    expect(nodes.items).toHaveLength(1);
    const node = nodes.items[0];
    expect(node.metadata.name).toBe(env.node);
    const ready = node.status.conditions.find((c: any) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
    expect(node.status.nodeInfo.kubeletVersion).toBe(env.version);
    const version = JSON.parse(await kubectl('version', '-o', 'json'));
    expect(version.serverVersion.gitVersion).toBe(env.version);
  }, TEST_TIMEOUT);

  it('announces its local registry (KEP-1755 ConfigMap) and has the default ServiceAccount', async () => {
    const cm = await kubectlJson('-n', 'kube-public', 'get', 'configmap', 'local-registry-hosting');
    expect(cm.data['localRegistryHosting.v1']).toContain(`host: "${env.registry}"`);
    await kubectl('-n', 'default', 'get', 'serviceaccount', 'default');
  }, TEST_TIMEOUT);

  it('serves the TLS + htpasswd registry: its own CA, 401 without credentials, trusted by containerd and dockerd', async () => {
    const dir = '/var/lib/devloop-cluster/registry-auth';
    const host = readFileSync(join(dir, 'host'), 'utf8').trim();
    const ca = readFileSync(join(dir, 'ca.crt'));
    const password = readFileSync(join(dir, 'password'), 'utf8').trim();
    const get = (options: https.RequestOptions) =>
      new Promise<number>((resolve, reject) => {
        const [hostname, port] = host.split(':');
        https.get({ hostname, port: Number(port), path: '/v2/', timeout: 10_000, ...options }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
    expect(await get({ ca })).toBe(401);
    expect(await get({ ca, auth: `devloop:${password}` })).toBe(200);
    // its certificate is not trusted without the CA
    await expect(get({ auth: `devloop:${password}` })).rejects.toThrow(/self.signed|unable to (get|verify)/i);
    const containerdCa = readFileSync(join(env.kubeconfig, '..', 'containerd', 'certs.d', host, 'hosts.toml'), 'utf8');
    expect(containerdCa).toContain(`ca = "${join(dir, 'ca.crt')}"`);
    expect(readFileSync(join('/etc/docker/certs.d', host, 'ca.crt'))).toEqual(ca);
  }, TEST_TIMEOUT);

  it('runs a Deployment of an image built with docker build and pushed to the local registry', async () => {
    const ctx = mkdtempSync(join(tmpdir(), 'devloop-cluster-test-'));
    try {
      copyFileSync('/bin/busybox', join(ctx, 'busybox'));
      mkdirSync(join(ctx, 'www'));
      writeFileSync(join(ctx, 'www', 'index.html'), `hello from ${token}\n`);
      writeFileSync(
        join(ctx, 'Dockerfile'),
        [
          'FROM scratch',
          'COPY busybox /bin/busybox',
          'COPY www/ /www/',
          'EXPOSE 8080',
          'ENTRYPOINT ["/bin/busybox", "sh", "-c", "echo devloop-test-app started $TOKEN; exec /bin/busybox httpd -f -v -p 8080 -h /www"]',
          '',
        ].join('\n'),
      );
      await execa('docker', ['build', '-q', '-t', image, ctx], { timeout: 120_000 });
      await execa('docker', ['push', image], { timeout: 120_000 });
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
    const manifest = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: app, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app } },
        template: {
          metadata: { labels: { app } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [
              {
                name: app,
                image,
                env: [{ name: 'TOKEN', value: token }],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    };
    await execa(kubectlPath, ['--kubeconfig', env.kubeconfig, 'apply', '-f', '-'], { input: JSON.stringify(manifest) });
    await kubectl('-n', namespace, 'rollout', 'status', `deployment/${app}`, '--timeout=150s');
    const pods = await kubectlJson<{ items: any[] }>('-n', namespace, 'get', 'pods', '-l', `app=${app}`);
    expect(pods.items).toHaveLength(1);
    expect(pods.items[0].status.containerStatuses[0].ready).toBe(true);
    expect(pods.items[0].status.podIP).toMatch(/^10\.244\.0\./);
  }, TEST_TIMEOUT);

  it('execs into the pod', async () => {
    const out = await kubectl('-n', namespace, 'exec', `deployment/${app}`, '--', '/bin/busybox', 'cat', '/www/index.html');
    expect(out).toContain(token);
    const env2 = await kubectl('-n', namespace, 'exec', `deployment/${app}`, '--', '/bin/busybox', 'sh', '-c', 'echo "$TOKEN"');
    expect(env2.trim()).toBe(token);
  }, TEST_TIMEOUT);

  it('shows the pod logs', async () => {
    const logs = await kubectl('-n', namespace, 'logs', `deployment/${app}`);
    expect(logs).toContain(`devloop-test-app started ${token}`);
  }, TEST_TIMEOUT);

  it('port-forwards from 127.0.0.1 to the pod', async () => {
    const pf = await portForward(`deployment/${app}`, 8080);
    try {
      const res = await fetch(`http://127.0.0.1:${pf.port}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(token);
    } finally {
      pf.stop();
    }
  }, TEST_TIMEOUT);

  it('routes a ClusterIP Service to the pod (kube-proxy)', async () => {
    await kubectl('-n', namespace, 'expose', `deployment/${app}`, '--port=80', '--target-port=8080');
    const svc = await kubectlJson('-n', namespace, 'get', 'service', app);
    const ip: string = svc.spec.clusterIP;
    expect(ip).toMatch(/^10\.96\./);
    // from inside the pod, through the service address back to itself (hairpin). (busybox 1.35's
    // static wget crashes with -T, hence busybox timeout.)
    const body = await eventually(`service ${ip}:80`, 60, async () => {
      const out = await kubectl('-n', namespace, 'exec', `deployment/${app}`, '--', '/bin/busybox', 'timeout', '5', '/bin/busybox', 'wget', '-q', '-O', '-', `http://${ip}:80/`);
      return out.includes(token) ? out : undefined;
    });
    expect(body).toContain(token);
  }, TEST_TIMEOUT);

  it('resolves the Service by NAME, NAME.NAMESPACE and NAME.NAMESPACE.svc.cluster.local (CoreDNS)', async () => {
    const svc = await kubectlJson('-n', namespace, 'get', 'service', app);
    const ip: string = svc.spec.clusterIP;
    const fqdn = `${app}.${namespace}.svc.${env.domain}`;
    const inPod = (...args: string[]) => kubectl('-n', namespace, 'exec', `deployment/${app}`, '--', '/bin/busybox', ...args);
    // the kubelet's clusterDNS and clusterDomain, as every ClusterFirst pod gets them
    const resolvConf = await inPod('cat', '/etc/resolv.conf');
    expect(resolvConf).toMatch(new RegExp(`^nameserver ${env.dnsIp.replace(/\./g, '\\.')}$`, 'm'));
    expect(resolvConf).toContain(`search ${namespace}.svc.${env.domain} svc.${env.domain} ${env.domain}`);
    // busybox nslookup asks the nameserver directly (it adds the search domains to a name without
    // a dot only, all of them: for NAME it also prints NXDOMAIN for NAME.svc.cluster.local and
    // NAME.cluster.local and exits 1): NAME and the full name, answered with the ClusterIP
    for (const name of [app, fqdn]) {
      const answer = await eventually(`nslookup ${name} to answer ${ip}`, 30, async () => {
        const r = await execa(
          kubectlPath,
          ['--kubeconfig', env.kubeconfig, '-n', namespace, 'exec', `deployment/${app}`, '--', '/bin/busybox', 'timeout', '10', '/bin/busybox', 'nslookup', '-type=a', name],
          { reject: false, timeout: 60_000 },
        );
        return r.stdout.includes(`Address: ${ip}`) ? r.stdout : undefined;
      });
      expect(answer).toContain(`Server:\t\t${env.dnsIp}`);
      expect(answer).toContain(`Name:\t${fqdn}`);
    }
    // the libc resolver of a program in the pod (search list, ndots:5) resolves all three forms;
    // the page served through the Service shows the name led to it
    for (const name of [app, `${app}.${namespace}`, fqdn]) {
      const body = await inPod('timeout', '10', '/bin/busybox', 'wget', '-q', '-O', '-', `http://${name}/`);
      expect(body, `http://${name}/`).toContain(token);
    }
  }, TEST_TIMEOUT);

  it('does not resolve names outside the cluster: CoreDNS refuses them, it forwards nothing', async () => {
    const inPod = (...args: string[]) =>
      execa(kubectlPath, ['--kubeconfig', env.kubeconfig, '-n', namespace, 'exec', `deployment/${app}`, '--', '/bin/busybox', ...args], {
        reject: false,
        timeout: 60_000,
      });
    const lookup = await inPod('timeout', '10', '/bin/busybox', 'nslookup', '-type=a', 'example.com.');
    const out = `${lookup.stdout}\n${lookup.stderr}`;
    expect(lookup.exitCode, out).not.toBe(0);
    expect(out).toContain(`Server:\t\t${env.dnsIp}`);
    // REFUSED comes from CoreDNS itself (none of its zones holds the name); a forwarded lookup would
    // have answered NOERROR with addresses, or NXDOMAIN
    expect(out).toMatch(/server can't find example\.com\.?: REFUSED/);
    expect(out).not.toMatch(/^Name:/m);
    const fetch = await inPod('timeout', '10', '/bin/busybox', 'wget', '-q', '-O', '-', 'http://example.com/');
    expect(fetch.exitCode).not.toBe(0);
    expect(fetch.stderr).toContain("bad address 'example.com'");
  }, TEST_TIMEOUT);

  it('garbage-collects the ReplicaSet and Pods of a deleted Deployment', async () => {
    const rs = await kubectlJson<{ items: any[] }>('-n', namespace, 'get', 'replicasets', '-l', `app=${app}`);
    expect(rs.items.length).toBeGreaterThan(0);
    await kubectl('-n', namespace, 'delete', 'deployment', app, '--wait=false');
    await eventually('the ReplicaSet and Pods to be garbage-collected', 150, async () => {
      const left = await kubectlJson<{ items: any[] }>('-n', namespace, 'get', 'replicasets,pods', '-l', `app=${app}`);
      return left.items.length === 0 ? true : undefined;
    });
  }, TEST_TIMEOUT);
});
