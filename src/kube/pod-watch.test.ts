import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from './client.js';
import { watchPods, type PodChange } from './pod-watch.js';

const servers: http.Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

async function fakeApi(handler: http.RequestListener): Promise<KubeClient> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return new KubeClient(undefined, { context: 'fake', server: url, user: 'me', namespace: 'default', credentials: { context: 'fake', server: url, user: 'me', namespace: 'default', headers: {} } });
}

const pod = (name: string, rv: string, phase = 'Running') => ({ metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv }, status: { phase } });

describe('watchPods', () => {
  it('says once that it is retrying, then that it resumed, and keeps the current pods for every reader', async () => {
    let lists = 0;
    const paths: string[] = [];
    const kube = await fakeApi((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      paths.push(url.pathname);
      res.setHeader('Content-Type', 'application/json');
      if (!url.searchParams.get('watch')) {
        lists++;
        if (lists <= 3) {
          res.statusCode = 503;
          res.end(JSON.stringify({ kind: 'Status', code: 503, message: 'unavailable' }));
          return;
        }
        res.end(JSON.stringify({ items: [pod('a', '7', 'Pending')], metadata: { resourceVersion: '7' } }));
        return;
      }
      res.write(`${JSON.stringify({ type: 'MODIFIED', object: pod('a', '8') })}\n`);
      req.on('close', () => res.end());
    });
    const controller = new AbortController();
    const trouble: string[] = [];
    const feed = watchPods(kube, { labelSelector: 'devloop.dev/project=x', signal: controller.signal, onTrouble: (m) => trouble.push(m) });
    const seen: string[] = [];
    const modified = new Promise<void>((resolve) =>
      feed.subscribe((change: PodChange, p) => {
        seen.push(`${change} ${p.metadata?.name} ${p.status?.phase}`);
        if (change === 'MODIFIED') resolve();
      }),
    );
    await feed.ready;
    await modified;
    expect(feed.current.get('ns/a')?.status?.phase).toBe('Running');
    controller.abort();
    await feed.done;
    kube.close();
    expect(trouble.length).toBe(2);
    expect(trouble[0]).toMatch(/^pod watch failed: .*\(retrying every few seconds\)$/);
    expect(trouble[1]).toBe('pod watch resumed');
    expect(seen).toEqual(['ADDED a Pending', 'MODIFIED a Running']);
    // all namespaces when none is given
    expect(new Set(paths)).toEqual(new Set(['/api/v1/pods']));
  });
});
