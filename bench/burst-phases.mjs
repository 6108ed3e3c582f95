#!/usr/bin/env node
// Where the time of a 1,000-file burst goes, phase by phase (a probe, not a devloop-vs-baseline
// table): the same burst as bench/sync.mjs (1,000 small files under services/posts/public/burst of
// the blog fixture), timed with performance.now() around each phase.
//
// Local phases (no cluster):   writing the files; the watcher's batches (when each arrives after the
//   last write: event delivery plus the quiet window); planning; reading the files and building the
//   tar; gzip.
// Cluster phases (--cluster):  over a probe channel per replica (an exec'd sh loop like the sync
//   agent, which acknowledges once the bytes are received, `T`, and once they are extracted, `X`):
//   transfer and extraction of the raw tar and of the gzipped tar, one replica alone and both in
//   parallel; then the Syncer's own sync of the batch into both, and when a reader in each replica
//   (as in sync.mjs) shows the burst's first and last file after the Syncer's acknowledgement.
//
// Usage: node bench/burst-phases.mjs [--runs N] [--cluster] [--no-compile]
// The cluster part needs what sync.mjs needs and runs under /tmp/devloop-e2e.lock. Creates one
// namespace and deletes it at the end. Bounded: N samples per phase, 60 s per step.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { summarize } from './stats.mjs';

const gzip = promisify(gzipCb);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg('--runs', 10);
const CLUSTER = process.argv.includes('--cluster');
const BURST_FILES = 1000;
const STEP_TIMEOUT_MS = 60_000;

const rows = [];
const record = (what, samples) => rows.push({ what, ...summarize(samples) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!process.argv.includes('--no-compile')) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo, stdio: 'ignore' });
execFileSync('bash', ['fixtures/prepare.sh'], { cwd: repo, stdio: 'ignore' });
const { loadConfig } = await import(path.join(repo, 'dist/config/load.js'));
const { planChanges } = await import(path.join(repo, 'dist/plan/index.js'));
const { buildTar } = await import(path.join(repo, 'dist/sync/tar.js'));
const { resolveContainerPath } = await import(path.join(repo, 'dist/sync/index.js'));
const { startWatcher } = await import(path.join(repo, 'dist/watch/index.js'));
const { filtersForPlan, loadContextFilters } = await import(path.join(repo, 'dist/build/live-filter.js'));

const work = mkdtempSync(path.join(os.tmpdir(), 'devloop-bench-phases-'));
cpSync(path.join(repo, 'fixtures/blog'), work, { recursive: true, verbatimSymlinks: true });
const config = loadConfig({ cwd: work });
const filters = loadContextFilters(config);
const burstDir = path.join(work, 'services/posts/public/burst');
mkdirSync(burstDir, { recursive: true });
const names = Array.from({ length: BURST_FILES }, (_, i) => path.join(burstDir, `f${String(i).padStart(4, '0')}.txt`));
for (const n of names) writeFileSync(n, `initial ${n}\n`);
const writeBurst = (tag) => {
  const t0 = performance.now();
  for (const n of names) writeFileSync(n, `${tag} ${n}\n`);
  return { t0, tLast: performance.now() };
};
const plan = (changes) => planChanges(changes, config, { manifestFiles: new Set(), syncDisabled: new Set(), contextFilters: filtersForPlan(changes.map((c) => c.path), config, filters) });

// ---- local: the watcher's batches
const controller = new AbortController();
let batches = [];
const watcher = await startWatcher(config, {
  contextFilters: filters,
  signal: controller.signal,
  sink: { emit: () => undefined },
  onBatch: (changes) => batches.push({ at: performance.now(), n: changes.filter((c) => c.path.startsWith(burstDir)).length }),
});
const writes = [];
const firstBatch = [];
const lastBatch = [];
const batchCounts = [];
for (let r = 0; r < RUNS; r++) {
  batches = [];
  const { t0, tLast } = writeBurst(`watch ${r}`);
  writes.push(tLast - t0);
  const until = performance.now() + 5000;
  // the burst is done when every file was in a batch and nothing came for 300 ms
  while (performance.now() < until) {
    await sleep(50);
    const seen = batches.reduce((s, b) => s + b.n, 0);
    if (seen >= BURST_FILES && performance.now() - batches.at(-1).at > 300) break;
  }
  const full = batches.filter((b) => b.n > 0);
  firstBatch.push(full[0].at - t0);
  lastBatch.push(full.at(-1).at - tLast);
  batchCounts.push(full.length);
}
await watcher.close();
record('write 1,000 files (first write to last)', writes);
record('watcher: first batch, from the first write (leading edge)', firstBatch);
record('watcher: last batch, from the LAST write (delivery + quiet window)', lastBatch);
record('watcher: batches per burst', batchCounts);

// ---- local: plan, tar, gzip
const changes = names.map((n) => ({ path: n, kind: 'change' }));
const planMs = [];
const tarMs = [];
const gzMs = [];
let op;
let built;
let gz;
for (let r = 0; r < RUNS; r++) {
  let t = performance.now();
  const p = plan(changes);
  planMs.push(performance.now() - t);
  op = p.syncs[0];
  t = performance.now();
  built = await buildTar(op.copy.map((c) => ({ localPath: c.localPath, containerPath: resolveContainerPath(c.containerPath, '/app') })));
  tarMs.push(performance.now() - t);
  t = performance.now();
  gz = await gzip(built.tar, { level: 1 });
  gzMs.push(performance.now() - t);
}
record('plan (1,000 changes)', planMs);
record(`read files + build tar (${(built.tar.length / 1024).toFixed(0)} KiB)`, tarMs);
record(`gzip level 1 (${(gz.length / 1024).toFixed(0)} KiB)`, gzMs);

// ---- cluster
const kubeconfig = process.env.KUBECONFIG ?? '/var/lib/devloop-cluster/kubeconfig';
process.env.KUBECONFIG = kubeconfig;
const kubectlBin = process.env.DEVLOOP_KUBECTL ?? path.join(os.homedir(), '.cache/devloop-cluster/v1.34.4/bin/kubectl');
const REPLICAS = ['posts-0', 'posts-1'];
const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const ns = `devloop-bench-phases-${suffix}`;
const kubectl = (args, input) => execFileSync(kubectlBin, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: STEP_TIMEOUT_MS, input, env: process.env });
const docker = (args) => execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
const image = `localhost:5000/devloop-bench/posts:${suffix}`;
const cleanup = [];
try {
  if (CLUSTER) {
    const { createKubeClient } = await import(path.join(repo, 'dist/kube/client.js'));
    const { openExecStream } = await import(path.join(repo, 'dist/kube/exec.js'));
    const { createSyncer } = await import(path.join(repo, 'dist/sync/index.js'));
    docker(['build', '-q', '-t', `devloop-bench/base:${suffix}`, path.join(work, 'base')]);
    docker(['build', '-q', '--build-arg', `BASE=devloop-bench/base:${suffix}`, '-t', image, path.join(work, 'services/posts')]);
    docker(['push', '-q', image]);
    cleanup.push(() => docker(['rmi', image, `devloop-bench/base:${suffix}`]));
    kubectl(['create', 'namespace', ns]);
    cleanup.push(() => kubectl(['delete', 'namespace', ns, '--wait=false']));
    for (const pod of REPLICAS) {
      kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, labels: { app: 'posts' } }, spec: { containers: [{ name: 'posts', image }] } }));
    }
    kubectl(['wait', '-n', ns, '--for=condition=Ready', 'pod', '-l', 'app=posts', '--timeout=120s']);
    const kube = await createKubeClient(config);
    cleanup.push(() => kube.close?.());

    // A probe agent: `n z` line, then n bytes; answers T once received, X once extracted.
    const PROBE = `while IFS= read -r line; do set -- $line
  head -c "$1" > /tmp/probe.bin; echo T
  if [ "$2" = z ]; then gunzip -c /tmp/probe.bin | tar -x -o -f - -C /; else tar -x -o -f /tmp/probe.bin -C /; fi; echo X
done`;
    const probes = await Promise.all(
      REPLICAS.map(async (pod) => {
        const probe = { lines: [], waiters: [] };
        let buf = '';
        probe.stream = await openExecStream(kube.kubeConfig, { namespace: ns, pod, container: 'posts' }, ['sh', '-c', PROBE], {
          onStdout: (c) => {
            buf += c.toString();
            let i;
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              const at = performance.now();
              const w = probe.waiters.shift();
              w?.(at, line);
            }
          },
          onStderr: (c) => process.stderr.write(`${pod}: ${c}`),
        });
        cleanup.push(() => probe.stream.close());
        return probe;
      }),
    );
    const next = (probe) => new Promise((resolve) => probe.waiters.push((at) => resolve(at)));
    const sendProbe = async (probe, bytes, z) => {
      const t = performance.now();
      const gotT = next(probe);
      const gotX = next(probe);
      probe.stream.write(Buffer.concat([Buffer.from(`${bytes.length} ${z ? 'z' : '-'}\n`), bytes]));
      const tT = await gotT;
      const tX = await gotX;
      return { transfer: tT - t, extract: tX - tT, total: tX - t };
    };
    // tars with fresh content per sample (tar -x rewrites the same 1,000 files either way)
    for (const [label, useGz, both] of [
      ['raw tar, one replica', false, false],
      ['gzipped tar, one replica', true, false],
      ['raw tar, both replicas in parallel', false, true],
      ['gzipped tar, both replicas in parallel', true, true],
    ]) {
      const tr = [];
      const ex = [];
      const tot = [];
      for (let r = 0; r < RUNS; r++) {
        const bytes = useGz ? gz : built.tar;
        const results = await Promise.all((both ? probes : probes.slice(0, 1)).map((p) => sendProbe(p, bytes, useGz)));
        tr.push(Math.max(...results.map((x) => x.transfer)));
        ex.push(Math.max(...results.map((x) => x.extract)));
        tot.push(Math.max(...results.map((x) => x.total)));
      }
      record(`${label}: transfer (send to T)`, tr);
      record(`${label}: extraction (T to X)`, ex);
      record(`${label}: total`, tot);
    }

    // The Syncer itself, then the readers.
    const READER = `last=
while :; do
  b=; c=
  { read -r b < /app/public/burst/f0000.txt; } 2>/dev/null
  { read -r c < /app/public/burst/f0999.txt; } 2>/dev/null
  cur="$b|$c"
  if [ "$cur" != "$last" ]; then echo "$cur"; last=$cur; fi
  usleep 5000
done`;
    const readers = REPLICAS.map((pod) => {
      const child = spawn(kubectlBin, ['exec', '-n', ns, pod, '-c', 'posts', '--', 'sh', '-c', READER], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      const reader = { snapshot: '', waiters: [] };
      let buf = '';
      child.stdout.on('data', (c) => {
        const at = performance.now();
        buf += c;
        const lines = buf.split('\n');
        buf = lines.pop();
        for (const l of lines) {
          reader.snapshot = l;
          reader.waiters = reader.waiters.filter((w) => (w.p(l) ? (w.resolve(at), false) : true));
        }
      });
      cleanup.push(() => child.kill('SIGKILL'));
      return reader;
    });
    const seen = (reader, p) => (p(reader.snapshot) ? Promise.resolve(performance.now()) : new Promise((resolve) => reader.waiters.push({ p, resolve })));
    const syncer = createSyncer(kube, { emit: () => undefined });
    cleanup.push(() => syncer.close());
    const targets = REPLICAS.map((pod) => ({ namespace: ns, pod, container: 'posts', image: 'blog/posts' }));
    await syncer.sync(plan(changes).syncs[0], targets, AbortSignal.timeout(STEP_TIMEOUT_MS)); // channels open
    const syncMs = [];
    const readerMs = [];
    const fromLast = [];
    const probeMs = [];
    for (let r = 0; r < RUNS; r++) {
      const tag = `phases ${r} ${suffix}`;
      const { tLast } = writeBurst(tag);
      const t = performance.now();
      await syncer.sync(plan(changes).syncs[0], targets, AbortSignal.timeout(STEP_TIMEOUT_MS));
      const acked = performance.now();
      const p = (s) => s === `${tag} ${names[0]}|${tag} ${names[BURST_FILES - 1]}`;
      const visible = Math.max(...(await Promise.all(readers.map((rd) => seen(rd, p)))));
      syncMs.push(acked - t);
      readerMs.push(visible - acked);
      fromLast.push(visible - tLast);
      // the probe channel's gzipped send, right after, for comparison under the same load
      const t2 = performance.now();
      const p2 = plan(changes).syncs[0];
      const b2 = await buildTar(p2.copy.map((c) => ({ localPath: c.localPath, containerPath: resolveContainerPath(c.containerPath, '/app') })));
      const g2 = await gzip(b2.tar, { level: 1 });
      await Promise.all(probes.map((pr) => sendProbe(pr, g2, true)));
      probeMs.push(performance.now() - t2);
    }
    record('same burst, plan + tar + gzip + probe channels, interleaved with the above', probeMs);
    record('Syncer.sync into both (plan done; tar, gzip, send, ack)', syncMs);
    record('readers see first and last file, after the ack', readerMs);
    record('plan + Syncer + readers, from the last write', fromLast);
  }
} finally {
  controller.abort();
  for (const c of cleanup.reverse()) {
    try {
      await c();
    } catch {
      // best effort
    }
  }
  rmSync(work, { recursive: true, force: true });
}
console.log(`\n1,000-file burst, phase by phase (ms; n samples each), Node ${process.version}, ${os.cpus().length} CPUs`);
console.log('| phase | n | p50 | p95 | min | max |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.what} | ${r.n} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.min.toFixed(1)} | ${r.max.toFixed(1)} |`);
console.log(`Load average at the end (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
