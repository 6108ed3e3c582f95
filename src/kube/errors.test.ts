import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.js';
import { KubeClient } from './client.js';
import { ClusterUnreachableError, httpError, isClusterUnreachable, isForbidden, isNotFound, KubeApiError, KubeNamespaceNotFoundError, networkError } from './errors.js';
import { classifyExecOpenError, exitFromStatus } from './exec.js';

const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((c) => c()));

function client(url: string): KubeClient {
  return new KubeClient(undefined, { context: 'fake', server: url, user: 'me', namespace: 'default', credentials: { context: 'fake', server: url, user: 'me', namespace: 'default', headers: {} } });
}

describe('httpError', () => {
  const who = { server: 'https://127.0.0.1:6443', context: 'dev', user: 'me' };
  it('types a 404 naming a namespace (as the API server sends it) as KubeNamespaceNotFoundError, still a not-found KubeApiError', () => {
    const missing = httpError(404, 'PATCH', '/api/v1/namespaces/shop/configmaps/x', { kind: 'Status', reason: 'NotFound', code: 404, details: { name: 'shop', kind: 'namespaces' }, message: 'namespaces "shop" not found' }, who);
    expect(missing).toBeInstanceOf(KubeNamespaceNotFoundError);
    expect((missing as KubeNamespaceNotFoundError).namespace).toBe('shop');
    expect(isNotFound(missing)).toBe(true);
    const other = httpError(404, 'GET', '/api/v1/namespaces/shop/configmaps/x', { kind: 'Status', reason: 'NotFound', code: 404, details: { name: 'x', kind: 'configmaps' }, message: 'configmaps "x" not found' }, who);
    expect(other).toBeInstanceOf(KubeApiError);
    expect(other).not.toBeInstanceOf(KubeNamespaceNotFoundError);
    expect(isNotFound(other)).toBe(true);
  });
});

describe('networkError', () => {
  it('classifies refused, reset, timed out and TLS failures as ClusterUnreachableError, an EnvironmentError', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPROTO', 'DEPTH_ZERO_SELF_SIGNED_CERT']) {
      const e = networkError(Object.assign(new Error('x'), { code }), 'https://127.0.0.1:6443', 'dev');
      expect(e, code).toBeInstanceOf(ClusterUnreachableError);
      expect(e).toBeInstanceOf(EnvironmentError);
      expect(e?.code).toBe(code);
      expect(e?.hint).toBeTruthy();
    }
    expect(networkError(new Error('something else'), 's', 'c')).toBeUndefined();
  });

  it('finds the code inside a websocket ErrorEvent and an error cause', () => {
    const event = { type: 'error', message: 'connect ECONNREFUSED', error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) };
    expect(isClusterUnreachable(networkError(event, 's', 'c'))).toBe(true);
    const wrapped = new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'ECONNRESET' }) });
    expect(isClusterUnreachable(networkError(wrapped, 's', 'c'))).toBe(true);
  });
});

describe('classifyExecOpenError', () => {
  const kubeConfig = { getCurrentCluster: () => ({ server: 'https://127.0.0.1:6443' }) as never, getCurrentContext: () => 'dev' };
  const target = { namespace: 'ns', pod: 'p', container: 'c' };
  it('turns a refused websocket or a 5xx upgrade into ClusterUnreachableError and a 404 upgrade into a not-found KubeApiError', () => {
    const refused = { type: 'error', error: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }) };
    expect(classifyExecOpenError(refused, kubeConfig, target)).toBeInstanceOf(ClusterUnreachableError);
    const gone = { type: 'error', message: 'Unexpected server response: 404' };
    expect(isNotFound(classifyExecOpenError(gone, kubeConfig, target))).toBe(true);
    const dialing = new Error('Unexpected server response: 500');
    expect(classifyExecOpenError(dialing, kubeConfig, target)).toBeInstanceOf(ClusterUnreachableError);
    const forbidden = classifyExecOpenError(new Error('Unexpected server response: 403'), kubeConfig, target);
    expect(isForbidden(forbidden)).toBe(true);
    expect((forbidden as Error).message).toBe('not allowed to exec into ns/p/c');
    const other = new Error('Unexpected server response: 400');
    expect(classifyExecOpenError(other, kubeConfig, target)).toBe(other);
  });
});

describe('exitFromStatus', () => {
  const target = { namespace: 'ns', pod: 'p', container: 'c' };
  it('marks a 5xx Status (the API server could not reach the kubelet) as unreachable, never a process exit', () => {
    const dialing = exitFromStatus({ status: 'Failure', code: 500, reason: 'InternalError', message: 'Internal error occurred: error dialing backend: dial tcp 192.0.2.2:10250: connect: connection refused' }, target);
    expect(dialing.unreachable).toBeInstanceOf(ClusterUnreachableError);
    expect(dialing.unreachable?.message).toContain('could not reach the node of ns/p');
    const exited = exitFromStatus({ status: 'Failure', reason: 'NonZeroExitCode', message: 'command terminated with non-zero exit code', details: { causes: [{ reason: 'ExitCode', message: '3' }] } }, target);
    expect(exited).toEqual({ code: 3, message: 'command terminated with non-zero exit code' });
    const noSh = exitFromStatus({ status: 'Failure', code: 500, reason: 'InternalError', message: 'Internal error occurred: error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: "sh": executable file not found in $PATH: unknown' }, target);
    expect(noSh.unreachable).toBeUndefined();
  });
});

describe('KubeClient transport failures', () => {
  it('a refused connection rejects with ClusterUnreachableError', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const kube = client(`http://127.0.0.1:${port}`);
    closers.push(() => kube.close());
    await expect(kube.request('GET', '/api')).rejects.toBeInstanceOf(ClusterUnreachableError);
    await expect(kube.probeReady()).rejects.toBeInstanceOf(ClusterUnreachableError);
  });

  it('a server that accepts but never answers counts as unanswered, then unreachable at the timeout', async () => {
    const server = http.createServer(() => undefined); // never answers
    const sockets = new Set<net.Socket>();
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => {
      sockets.forEach((s) => s.destroy());
      server.close();
    });
    const kube = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    closers.push(() => kube.close());
    expect(kube.oldestUnansweredMs()).toBe(0);
    const pending = kube.request('GET', '/api', { timeoutMs: 600 });
    const outcome = pending.then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    expect(kube.oldestUnansweredMs()).toBeGreaterThanOrEqual(250);
    const error = await outcome;
    expect(error).toBeInstanceOf(ClusterUnreachableError);
    expect(kube.oldestUnansweredMs()).toBe(0);
  });

  it('probeReady: a 500 from /readyz (starting up) is still unreachable, a 200 is ready', async () => {
    let ready = false;
    const server = http.createServer((req, res) => {
      res.statusCode = req.url === '/readyz' && ready ? 200 : 500;
      res.end(ready ? 'ok' : '[-]etcd failed');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const kube = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    closers.push(() => kube.close());
    await expect(kube.probeReady()).rejects.toBeInstanceOf(ClusterUnreachableError);
    ready = true;
    await expect(kube.probeReady()).resolves.toBeUndefined();
  });
});
