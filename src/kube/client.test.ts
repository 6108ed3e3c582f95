import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.js';
import { createKubeClient, KubeClient, POD_RESOURCE } from './client.js';
import { isForbidden, isUnknownKind, KubeNamespaceTerminatingError, KubeUnknownKindError } from './errors.js';
import { startFakeApi } from './fake-api-server.js';

const servers: http.Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

/** A KubeClient talking plain HTTP to a local fake API server. */
async function fakeApi(handler: http.RequestListener): Promise<KubeClient> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return new KubeClient(undefined, { context: 'fake', server: url, user: 'me', namespace: 'default', credentials: { context: 'fake', server: url, user: 'me', namespace: 'default', headers: {} } });
}

const pod = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv } });

describe('KubeClient watches', () => {
  it('lists, watches, resumes after the server ends a watch, relists after 410 Gone and reports vanished pods', async () => {
    const requests: string[] = [];
    let lists = 0;
    let watches = 0;
    const kube = await fakeApi((req, res) => {
      const url = new URL(req.url!, 'http://x');
      requests.push(`${url.searchParams.get('watch') ? 'watch' : 'list'} rv=${url.searchParams.get('resourceVersion') ?? ''} sel=${url.searchParams.get('labelSelector')}`);
      res.setHeader('Content-Type', 'application/json');
      if (!url.searchParams.get('watch')) {
        lists++;
        res.end(JSON.stringify({ items: lists === 1 ? [pod('a', '1')] : [], metadata: { resourceVersion: lists === 1 ? '1' : '9' } }));
        return;
      }
      watches++;
      if (watches === 1) res.end(`${JSON.stringify({ type: 'MODIFIED', object: pod('a', '5') })}\n`);
      else if (watches === 2) res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410 } })}\n`);
      else req.on('close', () => res.end());
    });
    const events: string[] = [];
    const controller = new AbortController();
    const done = kube.watch(POD_RESOURCE, { namespace: 'ns', labelSelector: 'app=x', signal: controller.signal }, (type, pod) => {
      events.push(`${type} ${pod.metadata.name} ${pod.kind}`);
      if (events.length === 3) setTimeout(() => controller.abort(), 20);
    });
    await done;
    kube.close();
    expect(events).toEqual(['ADDED a Pod', 'MODIFIED a Pod', 'DELETED a Pod']);
    expect(requests.slice(0, 4)).toEqual(['list rv= sel=app=x', 'watch rv=1 sel=app=x', 'watch rv=5 sel=app=x', 'list rv= sel=app=x']);
  });
});

describe('KubeClient errors', () => {
  it('names the user and the forbidden verb on 403, and the server when unreachable', async () => {
    const kube = await fakeApi((_req, res) => {
      res.statusCode = 403;
      res.end(JSON.stringify({ kind: 'Status', message: 'configmaps "x" is forbidden: User "me" cannot get resource "configmaps" in API group "" in the namespace "ns"', reason: 'Forbidden', code: 403 }));
    });
    const error = await kube.request('GET', '/api/v1/namespaces/ns/configmaps/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toContain('User "me" cannot get resource "configmaps"');
    expect((error as EnvironmentError).hint).toContain('"me" of context fake');
    expect(isForbidden(error)).toBe(true);
    kube.close();

    const terminating = await fakeApi((_req, res) => {
      res.statusCode = 403;
      res.end(JSON.stringify({ kind: 'Status', message: 'configmaps "x" is forbidden: unable to create new content in namespace ns because it is being terminated', reason: 'Forbidden', code: 403 }));
    });
    const busy = await terminating.request('PATCH', '/api/v1/namespaces/ns/configmaps/x', { body: {} }).catch((e: unknown) => e);
    expect((busy as EnvironmentError).hint).toContain('still being deleted');
    expect(isForbidden(busy)).toBe(false);
    expect(busy).toBeInstanceOf(KubeNamespaceTerminatingError);
    terminating.close();

    const gone = new KubeClient(undefined, { context: 'gone', server: 'http://127.0.0.1:1', user: 'me', namespace: 'default', credentials: { context: 'gone', server: 'http://127.0.0.1:1', user: 'me', namespace: 'default', headers: {} } });
    const unreachable = await gone.ping().catch((e: unknown) => e);
    expect((unreachable as Error).message).toBe('cannot reach the cluster at http://127.0.0.1:1 (context gone): ECONNREFUSED');
    expect((unreachable as EnvironmentError).hint).toContain('npm run cluster:up');
  });
});

describe('createKubeClient without a kubeconfig', () => {
  it('is an environment error that says how to get one, not a fallback to localhost:8080', async () => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = '/nonexistent/devloop-test/kubeconfig';
    try {
      const error = await createKubeClient({}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(EnvironmentError);
      expect((error as EnvironmentError).message).toContain('KUBECONFIG=/nonexistent/devloop-test/kubeconfig names no existing file');
      expect((error as EnvironmentError).hint).toContain('point KUBECONFIG at a kubeconfig');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });
});

describe('createKubeClient lightweight', () => {
  it('serves REST from the plain kubeconfig and loads client-node\'s KubeConfig, same context, only when asked', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-kubeconfig-'));
    const file = path.join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: first',
        'clusters:',
        '- { name: one, cluster: { server: "http://127.0.0.1:1" } }',
        '- { name: two, cluster: { server: "http://127.0.0.1:2" } }',
        'users:',
        '- { name: me, user: { token: abc } }',
        'contexts:',
        '- { name: first, context: { cluster: one, user: me } }',
        '- { name: second, context: { cluster: two, user: me, namespace: work } }',
        '',
      ].join('\n'),
    );
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = file;
    try {
      const kube = await createKubeClient({ deploy: { kubeContext: 'second' } }, { lightweight: true });
      expect(kube.context).toBe('second');
      expect(kube.defaultNamespace).toBe('work');
      const loading = kube.kubeConfig;
      expect(kube.kubeConfig).toBe(loading); // loaded once
      const kubeConfig = await loading;
      expect(kubeConfig.getCurrentContext()).toBe('second');
      expect(kubeConfig.getCurrentCluster()?.server).toBe('http://127.0.0.1:2');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('KubeClient resource types', () => {
  it('classifies a kind the cluster does not serve as KubeUnknownKindError, with the fix in its hint', async () => {
    const cleanups: Array<() => void> = [];
    try {
      const { kube } = await startFakeApi([], {}, cleanups);
      const error = await kube.resourceFor('example.com/v1', 'Widget').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubeUnknownKindError);
      expect(isUnknownKind(error)).toBe(true);
      expect((error as KubeUnknownKindError).hint).toMatch(/CRD that defines Widget/);
      const misversioned = await kube.resourceFor('v2', 'ConfigMap').catch((e: unknown) => e);
      expect(isUnknownKind(misversioned)).toBe(true);
      expect((misversioned as KubeUnknownKindError).hint).toMatch(/ConfigMap is served as v1/);
      expect(isUnknownKind(new EnvironmentError('the cluster has no resource type Widget'))).toBe(false);
    } finally {
      cleanups.forEach((c) => c());
    }
  });
});
