/**
 * The Syncer against the real cluster: pods from the blog fixture's image (busybox userland), a
 * container without sh (a static Go binary FROM scratch) and one with a read-only root filesystem,
 * all in a namespace unique to this run. Files go through the real Kubernetes exec websocket and
 * are read back with kubectl.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/load.js';
import { CollectingSink } from '../src/events.js';
import { createKubeClient, type KubeClient } from '../src/kube/client.js';
import { planChanges } from '../src/plan/index.js';
import { createSyncer, SyncUnusableError, type ContainerTarget, type Syncer } from '../src/sync/index.js';
import { copyFixture, docker, kubeconfig, kubectl, requireCluster, requireDocker } from './helpers.js';

const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const ns = `devloop-e2e-sync-${suffix}`;
const registry = 'localhost:5000';
const postsImage = `${registry}/devloop-e2e-sync/posts:${suffix}`;
const noShImage = `${registry}/devloop-e2e-sync/nosh:${suffix}`;

let fixture: { dir: string; cleanup(): void };
let config: Config;
let kube: KubeClient;
let syncer: Syncer;
let sink: CollectingSink;
let scratch: string;

const signal = () => AbortSignal.timeout(60_000);
const exec = (pod: string, container: string, script: string) => kubectl(['exec', '-n', ns, pod, '-c', container, '--', 'sh', '-c', script]);

function podOf(app: string): string {
  return kubectl(['get', 'pods', '-n', ns, '-l', `app=${app}`, '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[*].metadata.name}']).trim().split(/\s+/)[0];
}

function waitReady(app: string): void {
  kubectl(['rollout', 'status', '-n', ns, `deployment/${app}`, '--timeout=120s'], 130_000);
}

function deployment(name: string, image: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { terminationGracePeriodSeconds: 1, containers: [{ name, image, ...extra }] },
      },
    },
  });
}

/** The posts container as the dev loop would target it. */
const postsTarget = (): ContainerTarget => ({ namespace: ns, pod: podOf('posts'), container: 'posts', image: 'blog/posts' });

/** Writes a file in the fixture's posts/public and returns its absolute path. */
function writePublic(rel: string, content: string | Buffer, mode?: number): string {
  const p = path.join(fixture.dir, 'services/posts/public', rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  if (mode !== undefined) chmodSync(p, mode);
  return p;
}

/** What the dev loop does with a batch of changes of the posts context: plan, then sync. */
async function planAndSync(changes: Array<{ path: string; kind: 'add' | 'change' | 'unlink' }>, target = postsTarget()): Promise<void> {
  const plan = planChanges(changes, config, { manifestFiles: new Set(), syncDisabled: new Set() });
  expect(plan.rebuild).toEqual([]);
  expect(plan.syncs).toHaveLength(1);
  await syncer.sync(plan.syncs[0], [target], signal());
}

beforeAll(async () => {
  requireDocker();
  requireCluster();
  fixture = copyFixture('blog');
  scratch = mkdtempSync(path.join(os.tmpdir(), 'devloop-e2e-sync-'));
  // Images: posts from the fixture (busybox userland), and a FROM scratch static binary without sh.
  docker(['build', '-q', '-t', `devloop-e2e-sync/base:${suffix}`, path.join(fixture.dir, 'base')]);
  docker(['build', '-q', '--build-arg', `BASE=devloop-e2e-sync/base:${suffix}`, '-t', postsImage, path.join(fixture.dir, 'services/posts')]);
  writeFileSync(path.join(scratch, 'main.go'), 'package main\n\nimport "time"\n\nfunc main() { time.Sleep(time.Hour) }\n');
  writeFileSync(path.join(scratch, 'go.mod'), 'module nosh\n\ngo 1.21\n');
  execFileSync('go', ['build', '-o', 'sleeper', '.'], { cwd: scratch, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' }, stdio: 'pipe', timeout: 180_000 });
  writeFileSync(path.join(scratch, 'Dockerfile'), 'FROM scratch\nCOPY sleeper /sleeper\nENTRYPOINT ["/sleeper"]\n');
  docker(['build', '-q', '-t', noShImage, scratch]);
  docker(['push', '-q', postsImage]);
  docker(['push', '-q', noShImage]);

  kubectl(['create', 'namespace', ns]);
  const manifests = [
    deployment('posts', postsImage),
    deployment('readonly', postsImage, { securityContext: { readOnlyRootFilesystem: true } }),
    deployment('nosh', noShImage),
    deployment('nonroot', postsImage, { securityContext: { runAsUser: 1000, runAsGroup: 1000 } }),
  ];
  for (const m of manifests) kubectl(['apply', '-f', '-'], 60_000, m);
  for (const app of ['posts', 'readonly', 'nosh', 'nonroot']) waitReady(app);

  config = loadConfig({ cwd: fixture.dir });
  process.env.KUBECONFIG = kubeconfig; // the client loads the kubeconfig the way bin/devloop does
  kube = await createKubeClient(config);
  sink = new CollectingSink();
  syncer = createSyncer(kube, sink);
}, 600_000);

afterAll(async () => {
  await syncer?.close();
  kube?.close();
  try {
    kubectl(['delete', 'namespace', ns, '--wait=false']);
  } catch {
    // best effort: the namespace name is unique to this run
  }
  try {
    docker(['rmi', postsImage, noShImage, `devloop-e2e-sync/base:${suffix}`]);
  } catch {
    // best effort
  }
  fixture?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('sync into a running container (real cluster)', () => {
  it('syncs an edited file and deletes a removed one', async () => {
    const pod = postsTarget().pod;
    const file = writePublic('index.html', '<h1>edited by the test</h1>\n');
    await planAndSync([{ path: file, kind: 'change' }]);
    expect(exec(pod, 'posts', 'cat /app/public/index.html')).toBe('<h1>edited by the test</h1>\n');
    const event = sink.ofType('sync').at(-1);
    expect(event).toMatchObject({ artifact: 'blog/posts', status: 'synced', pod, container: 'posts', copied: ['/app/public/index.html'] });

    const gone = writePublic('gone.txt', 'soon deleted');
    await planAndSync([{ path: gone, kind: 'add' }]);
    expect(exec(pod, 'posts', 'cat /app/public/gone.txt')).toBe('soon deleted');
    unlinkSync(gone);
    await planAndSync([{ path: gone, kind: 'unlink' }]);
    expect(exec(pod, 'posts', 'test -e /app/public/gone.txt && echo present || echo absent').trim()).toBe('absent');
  });

  it('keeps names with spaces and unicode, symlinks as links, executable bits and a 5 MB file', async () => {
    const pod = postsTarget().pod;
    const big = randomBytes(5 * 1024 * 1024);
    const files = [
      writePublic('with space/a file.txt', 'spaces'),
      writePublic('ünïcödé/日本語 ファイル.txt', 'unicode'),
      writePublic('tools/run.sh', '#!/bin/sh\necho ran\n', 0o755),
      writePublic('big.bin', big),
    ];
    const link = path.join(fixture.dir, 'services/posts/public/link-to-run');
    symlinkSync('tools/run.sh', link);
    await planAndSync([...files, link].map((p) => ({ path: p, kind: 'add' as const })));

    expect(exec(pod, 'posts', 'cat "/app/public/with space/a file.txt"')).toBe('spaces');
    expect(exec(pod, 'posts', 'cat "/app/public/ünïcödé/日本語 ファイル.txt"')).toBe('unicode');
    expect(exec(pod, 'posts', '/app/public/tools/run.sh')).toBe('ran\n');
    expect(exec(pod, 'posts', 'stat -c %a /app/public/tools/run.sh').trim()).toBe('755');
    expect(exec(pod, 'posts', 'readlink /app/public/link-to-run').trim()).toBe('tools/run.sh');
    expect(exec(pod, 'posts', 'test -L /app/public/link-to-run && echo link').trim()).toBe('link');
    const md5 = createHash('md5').update(big).digest('hex');
    expect(exec(pod, 'posts', 'md5sum /app/public/big.bin').split(' ')[0]).toBe(md5);
  });

  it('rewrites files in place in a busybox container (a process holding a file open reads the new content), never through a symlink', async () => {
    const pod = postsTarget().pod;
    const names = Array.from({ length: 10 }, (_, i) => `inplace/f${i}.txt`);
    const burst = (content: string) => names.map((n) => ({ path: writePublic(n, `${content} ${n}`), kind: 'change' as const }));
    await planAndSync(burst('one'));
    // a descriptor opened before the second burst reads its content only if the same file was rewritten
    exec(pod, 'posts', 'rm -f /tmp/go /tmp/held.out; (exec 3</app/public/inplace/f3.txt; while [ ! -e /tmp/go ]; do usleep 20000; done; cat <&3 > /tmp/held.out) >/dev/null 2>&1 &');
    await planAndSync(burst('two').slice(3, 4)); // one saved file, as an editor saves it
    const held = exec(pod, 'posts', 'touch /tmp/go; i=0; while [ ! -s /tmp/held.out ] && [ $i -lt 50 ]; do usleep 100000; i=$((i+1)); done; cat /tmp/held.out');
    expect(held).toBe('two inplace/f3.txt');

    // a symlink in the directory sends the batch the default way: the link is replaced, its target untouched
    exec(pod, 'posts', 'echo untouched > /tmp/victim; ln -sf /tmp/victim /app/public/inplace/f0.txt');
    await planAndSync(burst('three'));
    expect(exec(pod, 'posts', 'cat /tmp/victim')).toBe('untouched\n');
    expect(exec(pod, 'posts', 'test -L /app/public/inplace/f0.txt && echo link || cat /app/public/inplace/f0.txt')).toBe('three inplace/f0.txt');
  });

  it('writes a 600-file burst in parts extracted at once: every file, in two directories, nothing left in /dev/shm', async () => {
    const pod = postsTarget().pod;
    const names = Array.from({ length: 600 }, (_, i) => `parts/${i % 2 ? 'odd' : 'even'}/f${i}.txt`);
    const burst = (content: string) => names.map((n) => ({ path: writePublic(n, `${content} ${n}\n`), kind: 'add' as const }));
    for (const round of ['one', 'two']) {
      await planAndSync(burst(round));
      const inPod = exec(pod, 'posts', `cd /app/public && for n in ${names.join(' ')}; do cat "$n"; done`);
      expect(inPod).toBe(names.map((n) => `${round} ${n}\n`).join(''));
    }
    expect(exec(pod, 'posts', 'ls -a /dev/shm | grep -c devloop-sync || true').trim()).toBe('0');
  });

  it('says clearly that a container without sh cannot take syncs, and that a rebuild follows', async () => {
    const target: ContainerTarget = { namespace: ns, pod: podOf('nosh'), container: 'nosh', image: 'blog/posts' };
    const file = writePublic('nosh.txt', 'x');
    const error = await syncer.sync({ image: 'blog/posts', copy: [{ localPath: file, containerPath: '/app/nosh.txt' }], delete: [] }, [target], signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncUnusableError);
    expect((error as SyncUnusableError).reason).toBe('no-sh');
    expect((error as Error).message).toMatch(/the image has no sh .*rebuilding blog\/posts instead/);
    expect((error as SyncUnusableError).hint).toContain('sh, tar and head');
    expect(sink.ofType('sync').at(-1)).toMatchObject({ status: 'failed', pod: target.pod });
  });

  it('says clearly that a read-only root filesystem cannot take syncs', async () => {
    const target: ContainerTarget = { namespace: ns, pod: podOf('readonly'), container: 'readonly', image: 'blog/posts' };
    const file = writePublic('ro.txt', 'x');
    const error = await syncer.sync({ image: 'blog/posts', copy: [{ localPath: file, containerPath: '/app/public/ro.txt' }], delete: [] }, [target], signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncUnusableError);
    expect((error as SyncUnusableError).reason).toBe('read-only');
    expect((error as Error).message).toMatch(/read-only.*rebuilding blog\/posts instead/);
  });

  it('says clearly that the container user may not write the destination', async () => {
    const target: ContainerTarget = { namespace: ns, pod: podOf('nonroot'), container: 'nonroot', image: 'blog/posts' };
    const file = writePublic('denied.txt', 'x');
    const error = await syncer.sync({ image: 'blog/posts', copy: [{ localPath: file, containerPath: '/app/public/denied.txt' }], delete: [] }, [target], signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncUnusableError);
    expect((error as SyncUnusableError).reason).toBe('permission');
    expect((error as Error).message).toMatch(/may not write there.*[Pp]ermission denied.*rebuilding blog\/posts instead/);
  });

  it('replays synced files and deletes into the new pod after `kubectl delete pod`', async () => {
    const before = postsTarget();
    const edited = writePublic('replayed.html', 'replay me\n');
    await planAndSync([{ path: edited, kind: 'add' }], before);
    // index.html ships in the image; deleting it must also survive the restart.
    unlinkSync(path.join(fixture.dir, 'services/posts/public/index.html'));
    await planAndSync([{ path: path.join(fixture.dir, 'services/posts/public/index.html'), kind: 'unlink' }], before);
    writeFileSync(edited, 'replay me, edited after the last sync\n'); // the working tree is the truth

    kubectl(['delete', 'pod', '-n', ns, before.pod, '--wait=true'], 120_000);
    syncer.forget(before);
    waitReady('posts');
    const after = postsTarget();
    expect(after.pod).not.toBe(before.pod);
    // A fresh container from the image: none of the synced state.
    expect(exec(after.pod, 'posts', 'test -e /app/public/replayed.html && echo present || echo absent').trim()).toBe('absent');
    expect(exec(after.pod, 'posts', 'test -e /app/public/index.html && echo present || echo absent').trim()).toBe('present');

    await syncer.replay(after, signal());
    expect(exec(after.pod, 'posts', 'cat /app/public/replayed.html')).toBe('replay me, edited after the last sync\n');
    expect(exec(after.pod, 'posts', 'test -e /app/public/index.html && echo present || echo absent').trim()).toBe('absent');
    expect(exec(after.pod, 'posts', 'cat "/app/public/ünïcödé/日本語 ファイル.txt"')).toBe('unicode');
    expect(exec(after.pod, 'posts', 'readlink /app/public/link-to-run').trim()).toBe('tools/run.sh');
    expect(sink.ofType('sync').at(-1)).toMatchObject({ status: 'replayed', pod: after.pod });
  });
});
