#!/usr/bin/env node
// Edit-to-synced latency on the real cluster: devloop's Syncer (persistent exec channel per
// container) vs `kubectl cp` of the same files, in the same run, into the same pod.
//
// Measured from just before the file is written on disk to the moment the content is written in
// the container (the Syncer resolves on the agent's ack, after tar has written the files;
// `kubectl cp` when the process exits). The devloop path includes the planner and a fresh read
// of the files from disk. A third row adds the watcher (chokidar event + debounce window).
//
// Usage: node bench/sync.mjs [--runs N] [--burst-runs N]
// Needs: Docker, the test cluster (KUBECONFIG, default /var/lib/devloop-cluster/kubeconfig), its
// local registry at localhost:5000, and dist/ (npx tsc -p tsconfig.json). Creates one namespace and
// deletes it at the end. Loops are bounded in count and each step in time.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const kubeconfig = process.env.KUBECONFIG ?? '/var/lib/devloop-cluster/kubeconfig';
process.env.KUBECONFIG = kubeconfig;
const kubectlBin = process.env.DEVLOOP_KUBECTL ?? path.join(os.homedir(), '.cache/devloop-cluster/v1.34.4/bin/kubectl');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg('--runs', 40);
const BURST_RUNS = arg('--burst-runs', 5);
const BURST_FILES = 1000;
const STEP_TIMEOUT_MS = 60_000;

const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const ns = `devloop-bench-sync-${suffix}`;
const kubectl = (args, input) =>
  execFileSync(kubectlBin, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: STEP_TIMEOUT_MS, input, env: process.env });
const docker = (args) => execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });

const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};

if (!process.argv.includes('--no-compile')) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo, stdio: 'ignore' });
execFileSync('bash', ['fixtures/prepare.sh'], { cwd: repo, stdio: 'ignore' });
const { loadConfig } = await import(path.join(repo, 'dist/config/load.js'));
const { planChanges } = await import(path.join(repo, 'dist/plan/index.js'));
const { createSyncer } = await import(path.join(repo, 'dist/sync/index.js'));
const { startWatcher } = await import(path.join(repo, 'dist/watch/index.js'));
const { loadContextFilters } = await import(path.join(repo, 'dist/build/live-filter.js'));
const { createKubeClient } = await import(path.join(repo, 'dist/kube/client.js'));

const work = mkdtempSync(path.join(os.tmpdir(), 'devloop-bench-sync-'));
cpSync(path.join(repo, 'fixtures/blog'), work, { recursive: true, verbatimSymlinks: true });
const image = `localhost:5000/devloop-bench/posts:${suffix}`;
const results = {};
let syncer;
let kube;
const controller = new AbortController();
try {
  console.error(`building ${image} ...`);
  docker(['build', '-q', '-t', `devloop-bench/base:${suffix}`, path.join(work, 'base')]);
  docker(['build', '-q', '--build-arg', `BASE=devloop-bench/base:${suffix}`, '-t', image, path.join(work, 'services/posts')]);
  docker(['push', '-q', image]);
  kubectl(['create', 'namespace', ns]);
  kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'posts' }, spec: { containers: [{ name: 'posts', image }] } }));
  kubectl(['wait', '-n', ns, '--for=condition=Ready', 'pod/posts', '--timeout=120s']);

  const config = loadConfig({ cwd: work });
  kube = await createKubeClient(config);
  const events = [];
  syncer = createSyncer(kube, { emit: (e) => events.push(e) });
  const target = { namespace: ns, pod: 'posts', container: 'posts', image: 'blog/posts' };
  const state = { manifestFiles: new Set(), syncDisabled: new Set() };
  const publicDir = path.join(work, 'services/posts/public');
  const planAndSync = async (changes) => {
    const plan = planChanges(changes, config, state);
    if (plan.syncs.length !== 1 || plan.rebuild.length !== 0) throw new Error(`unexpected plan: ${JSON.stringify(plan.decisions.slice(0, 3))}`);
    await syncer.sync(plan.syncs[0], [target], AbortSignal.timeout(STEP_TIMEOUT_MS));
  };

  // First sync opens the channel: the one exec handshake per container.
  const handshakeFile = path.join(publicDir, 'handshake.html');
  let t0 = performance.now();
  writeFileSync(handshakeFile, 'open');
  await planAndSync([{ path: handshakeFile, kind: 'add' }]);
  results.handshake = performance.now() - t0;

  // One file, devloop: write -> plan -> read -> sync -> ack.
  const one = path.join(publicDir, 'bench.html');
  const devloopOne = [];
  for (let i = 0; i < RUNS; i++) {
    t0 = performance.now();
    writeFileSync(one, `devloop ${i}\n`);
    await planAndSync([{ path: one, kind: 'change' }]);
    devloopOne.push(performance.now() - t0);
  }
  const seenOne = kubectl(['exec', '-n', ns, 'posts', '-c', 'posts', '--', 'cat', '/app/public/bench.html']);
  if (seenOne !== `devloop ${RUNS - 1}\n`) throw new Error(`devloop one-file content mismatch: ${seenOne}`);

  // One file, kubectl cp.
  const cpFile = path.join(publicDir, 'bench-cp.html');
  const cpOne = [];
  for (let i = 0; i < Math.min(RUNS, 20); i++) {
    t0 = performance.now();
    writeFileSync(cpFile, `kubectl ${i}\n`);
    kubectl(['cp', '-c', 'posts', cpFile, `${ns}/posts:/app/public/bench-cp.html`]);
    cpOne.push(performance.now() - t0);
  }
  const seenCp = kubectl(['exec', '-n', ns, 'posts', '-c', 'posts', '--', 'cat', '/app/public/bench-cp.html']);
  if (seenCp !== `kubectl ${Math.min(RUNS, 20) - 1}\n`) throw new Error(`kubectl cp content mismatch: ${seenCp}`);

  // One file through the watcher: write -> chokidar event -> debounce -> plan -> sync -> ack.
  const watched = path.join(publicDir, 'watched.html');
  writeFileSync(watched, 'initial');
  let pending;
  const watcher = await startWatcher(config, {
    contextFilters: loadContextFilters(config),
    signal: controller.signal,
    sink: { emit: () => undefined },
    onBatch: (changes) => {
      const p = pending;
      pending = undefined;
      planAndSync(changes.filter((c) => c.path === watched)).then(p?.resolve, p?.reject);
    },
  });
  const watcherOne = [];
  for (let i = 0; i < Math.min(RUNS, 30); i++) {
    const done = new Promise((resolve, reject) => {
      pending = { resolve, reject };
      setTimeout(() => reject(new Error('no batch from the watcher within 10 s')), 10_000).unref();
    });
    t0 = performance.now();
    writeFileSync(watched, `watched ${i}\n`);
    await done;
    watcherOne.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  await watcher.close();
  const seenWatched = kubectl(['exec', '-n', ns, 'posts', '-c', 'posts', '--', 'cat', '/app/public/watched.html']);
  if (seenWatched !== `watched ${Math.min(RUNS, 30) - 1}\n`) throw new Error(`watched content mismatch: ${seenWatched}`);

  // 1,000-file burst, devloop: write all -> plan 1,000 changes -> one batch.
  const burstDir = path.join(publicDir, 'burst');
  mkdirSync(burstDir, { recursive: true });
  const names = Array.from({ length: BURST_FILES }, (_, i) => path.join(burstDir, `f${String(i).padStart(4, '0')}.txt`));
  const devloopBurst = [];
  const burstPhases = { write: [], plan: [], sync: [] };
  for (let r = 0; r < BURST_RUNS; r++) {
    t0 = performance.now();
    for (const n of names) writeFileSync(n, `burst ${r} ${n}\n`);
    const t1 = performance.now();
    const plan = planChanges(names.map((n) => ({ path: n, kind: 'change' })), config, state);
    const t2 = performance.now();
    await syncer.sync(plan.syncs[0], [target], AbortSignal.timeout(STEP_TIMEOUT_MS));
    const t3 = performance.now();
    devloopBurst.push(t3 - t0);
    burstPhases.write.push(t1 - t0);
    burstPhases.plan.push(t2 - t1);
    burstPhases.sync.push(t3 - t2);
  }
  const burstCheck = kubectl(['exec', '-n', ns, 'posts', '-c', 'posts', '--', 'sh', '-c', 'ls /app/public/burst | wc -l; cat /app/public/burst/f0999.txt']);
  if (!burstCheck.startsWith(`${BURST_FILES}\n`) || !burstCheck.includes(`burst ${BURST_RUNS - 1} `)) throw new Error(`devloop burst mismatch: ${burstCheck}`);

  // 1,000-file burst, kubectl cp of the directory (one command, as a user would), overwriting the
  // same destination each run as the Syncer does.
  const cpBurst = [];
  for (let r = 0; r < BURST_RUNS; r++) {
    t0 = performance.now();
    for (const n of names) writeFileSync(n, `cp ${r} ${n}\n`);
    kubectl(['cp', '-c', 'posts', `${burstDir}/.`, `${ns}/posts:/app/public/burst-cp`]);
    cpBurst.push(performance.now() - t0);
  }
  const cpBurstCheck = kubectl(['exec', '-n', ns, 'posts', '-c', 'posts', '--', 'sh', '-c', 'ls /app/public/burst-cp | wc -l; cat /app/public/burst-cp/f0999.txt']);
  if (!cpBurstCheck.startsWith(`${BURST_FILES}\n`) || !cpBurstCheck.includes(`cp ${BURST_RUNS - 1} `)) throw new Error(`kubectl cp burst mismatch: ${cpBurstCheck}`);

  const rows = [
    ['one file', 'devloop Syncer (plan + read + persistent channel)', devloopOne, cpOne],
    ['one file', 'devloop watcher + Syncer (debounce 50 ms)', watcherOne, cpOne],
    ['one file', 'kubectl cp (baseline)', cpOne, cpOne],
    [`${BURST_FILES}-file burst`, 'devloop Syncer (one batch)', devloopBurst, cpBurst],
    [`${BURST_FILES}-file burst`, 'kubectl cp of the directory (baseline)', cpBurst, cpBurst],
  ];
  console.log(`\nEdit-to-synced into pod ${ns}/posts (busybox, local cluster), Node ${process.version}, ${os.cpus().length} CPUs`);
  console.log(`First sync into the container (opens the channel: one exec handshake): ${results.handshake.toFixed(1)} ms`);
  console.log('| change | path | runs | p50 (ms) | p95 (ms) | p50 vs kubectl cp |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const [change, label, values, base] of rows) {
    console.log(`| ${change} | ${label} | ${values.length} | ${pct(values, 50).toFixed(1)} | ${pct(values, 95).toFixed(1)} | ${(pct(values, 50) / pct(base, 50)).toFixed(3)}x |`);
  }
  console.log(
    `\n${BURST_FILES}-file burst, devloop phases p50: write files ${pct(burstPhases.write, 50).toFixed(0)} ms, plan ${pct(burstPhases.plan, 50).toFixed(0)} ms, read + tar + send + extract + ack ${pct(burstPhases.sync, 50).toFixed(0)} ms`,
  );
  console.log('\nTargets (one file): p50 < 60 ms, p95 < 150 ms. Every row was checked by reading the content back from the container.');
} finally {
  controller.abort();
  await syncer?.close();
  kube?.close?.();
  try {
    kubectl(['delete', 'namespace', ns, '--wait=false']);
  } catch {
    // best effort
  }
  try {
    docker(['rmi', image, `devloop-bench/base:${suffix}`]);
  } catch {
    // best effort
  }
  rmSync(work, { recursive: true, force: true });
}
