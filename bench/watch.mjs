#!/usr/bin/env node
// Watcher ready time and memory on a generated 101k-file monorepo (20 services, 100k files in
// node_modules), devloop's watcher vs plain chokidar, each in a fresh process:
//   - chokidar reference:   chokidar.watch(root) pruning node_modules by name (the floor for pruning)
//   - devloop, pruned:      startWatcher with each service's .dockerignore excluding node_modules
//   - devloop, no pruning:  the same tree without .dockerignore files (everything watched)
//   - chokidar baseline:    chokidar.watch(root) with nothing ignored (what a naive tool does)
// Usage: node bench/watch.mjs [--runs N] [--tree DIR]   (needs dist/: npx tsc -p tsconfig.json)
// Loops are bounded: N runs per mode (default 3 pruned, 2 for the slow modes), 60 s per run.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVICES = 20;
const PACKAGES_PER_SERVICE = 100;
const FILES_PER_PACKAGE = 50; // 20 * 100 * 50 = 100,000 files in node_modules
const SOURCE_FILES_PER_SERVICE = 50;
const RUN_TIMEOUT_MS = 60_000;

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

// ---------------------------------------------------------------- child: one measurement
if (process.argv[2] === '--child') {
  const [, , , mode, root] = process.argv;
  const started = performance.now();
  let watchStarted = started;
  let fileCount = 0;
  let close;
  if (mode === 'chokidar' || mode === 'chokidar-pruned') {
    const { default: chokidar } = await import('chokidar');
    watchStarted = performance.now();
    const ignored = mode === 'chokidar-pruned' ? (p) => path.basename(p) === 'node_modules' : undefined;
    const w = chokidar.watch(root, { ignoreInitial: false, persistent: true, followSymlinks: false, ...(ignored ? { ignored } : {}) });
    w.on('add', () => fileCount++);
    await new Promise((resolve) => w.once('ready', resolve));
    close = () => w.close();
  } else {
    const { loadConfig } = await import(path.join(repo, 'dist/config/load.js'));
    const { startWatcher } = await import(path.join(repo, 'dist/watch/index.js'));
    const { loadContextFilters } = await import(path.join(repo, 'dist/build/live-filter.js'));
    const config = loadConfig({ cwd: root });
    const events = [];
    const controller = new AbortController();
    watchStarted = performance.now();
    const w = await startWatcher(config, { signal: controller.signal, sink: { emit: (e) => events.push(e) }, onBatch: () => undefined, contextFilters: loadContextFilters(config) });
    fileCount = w.fileCount;
    const warning = events.find((e) => e.type === 'watch' && e.status === 'large-tree');
    if (warning) process.stderr.write(`large-tree warning: ${warning.message}\n`);
    close = () => w.close();
  }
  const readyMs = performance.now() - watchStarted;
  const totalMs = performance.now() - started;
  const rssMb = process.memoryUsage().rss / 1024 / 1024;
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  await close();
  process.stdout.write(JSON.stringify({ mode, readyMs, totalMs, rssMb, maxRssMb, fileCount }) + '\n');
  process.exit(0);
}

// ---------------------------------------------------------------- parent
const treeDir = arg('--tree', path.join(os.tmpdir(), 'devloop-bench-watch-tree'));
const runs = Number(arg('--runs', '3'));

function generateTree(root) {
  const marker = path.join(root, '.generated');
  if (existsSync(marker)) return;
  console.error(`generating ${SERVICES} services with ${SERVICES * PACKAGES_PER_SERVICE * FILES_PER_PACKAGE} files in node_modules under ${root} ...`);
  const artifacts = [];
  for (let s = 0; s < SERVICES; s++) {
    const svc = path.join(root, 'services', `svc${s}`);
    mkdirSync(path.join(svc, 'src'), { recursive: true });
    writeFileSync(path.join(svc, 'Dockerfile'), 'FROM scratch\nCOPY . /app\n');
    writeFileSync(path.join(svc, '.dockerignore'), 'node_modules\n');
    writeFileSync(path.join(svc, 'package.json'), '{}\n');
    for (let f = 0; f < SOURCE_FILES_PER_SERVICE; f++) writeFileSync(path.join(svc, 'src', `m${f}.js`), `export const v = ${f};\n`);
    for (let p = 0; p < PACKAGES_PER_SERVICE; p++) {
      const pkg = path.join(svc, 'node_modules', `pkg${p}`, 'lib');
      mkdirSync(pkg, { recursive: true });
      for (let f = 0; f < FILES_PER_PACKAGE; f++) writeFileSync(path.join(pkg, `f${f}.js`), 'module.exports = 1;\n');
    }
    artifacts.push(`    - { image: bench/svc${s}, context: services/svc${s}, sync: { manual: [{ src: "src/**", dest: /app/src, strip: "src/" }] } }`);
  }
  writeFileSync(
    path.join(root, 'devloop.config.yaml'),
    ['apiVersion: devloop/v1', 'kind: Config', 'metadata: { name: bench }', 'build:', '  artifacts:', ...artifacts, ''].join('\n'),
  );
  writeFileSync(marker, new Date().toISOString());
}

function setDockerignore(root, enabled) {
  for (let s = 0; s < SERVICES; s++) {
    const on = path.join(root, 'services', `svc${s}`, '.dockerignore');
    const off = `${on}.off`;
    if (enabled && existsSync(off)) renameSync(off, on);
    if (!enabled && existsSync(on)) renameSync(on, off);
  }
}

function measure(mode, root) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${mode} run failed (${code}): ${err}`));
      resolve({ ...JSON.parse(out.trim().split('\n').at(-1)), stderr: err.trim() });
    });
  });
}

const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

if (!existsSync(path.join(repo, 'dist/watch/index.js'))) {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo, stdio: 'inherit' });
}
generateTree(treeDir);

const plan = [
  { label: 'devloop watcher, node_modules pruned (.dockerignore)', mode: 'devloop', dockerignore: true, runs },
  { label: 'devloop watcher, nothing pruned (no .dockerignore)', mode: 'devloop', dockerignore: false, runs: Math.min(runs, 2) },
  { label: 'chokidar 5, nothing ignored (baseline)', mode: 'chokidar', dockerignore: true, runs: Math.min(runs, 2) },
  { label: 'chokidar 5, ignored: basename === node_modules (reference)', mode: 'chokidar-pruned', dockerignore: true, runs },
];
const rows = plan.map((step) => ({ step, results: [] }));
let warning = '';
try {
  // The pruned mode first; then the two slow modes alternate, so load from other processes on the
  // machine falls on both alike.
  const order = [];
  for (let i = 0; i < plan[0].runs; i++) order.push(0, 3);
  for (let i = 0; i < Math.max(plan[1].runs, plan[2].runs); i++) {
    if (i < plan[1].runs) order.push(1);
    if (i < plan[2].runs) order.push(2);
  }
  for (const index of order) {
    const step = plan[index];
    setDockerignore(treeDir, step.dockerignore);
    const r = await measure(step.mode, treeDir);
    if (r.stderr) warning = r.stderr;
    rows[index].results.push(r);
  }
} finally {
  setDockerignore(treeDir, true);
}

const baseline = rows.find((r) => r.step.mode === 'chokidar');
const baseReady = pct(baseline.results.map((r) => r.readyMs), 50);
const baseRss = pct(baseline.results.map((r) => r.rssMb), 50);
console.log(`\nWatcher on ${treeDir} (${SERVICES} services, ${SERVICES * PACKAGES_PER_SERVICE * FILES_PER_PACKAGE} files in node_modules), Node ${process.version}, ${os.cpus().length} CPUs`);
console.log('ready = from the watch call (startWatcher / chokidar.watch) to ready; with load = from process start, module and config loading included');
console.log('| watcher | runs | files watched | ready p50 (ms) | ready p95 (ms) | with load p50 (ms) | RSS after ready p50 (MB) | peak RSS (MB) | ready vs baseline | RSS vs baseline |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const { step, results } of rows) {
  const ready50 = pct(results.map((r) => r.readyMs), 50);
  const ready95 = pct(results.map((r) => r.readyMs), 95);
  const rss50 = pct(results.map((r) => r.rssMb), 50);
  const peak = Math.max(...results.map((r) => r.maxRssMb));
  console.log(
    `| ${step.label} | ${results.length} | ${results[0].fileCount} | ${ready50.toFixed(0)} | ${ready95.toFixed(0)} | ${pct(results.map((r) => r.totalMs), 50).toFixed(0)} | ${rss50.toFixed(0)} | ${peak.toFixed(0)} | ${(ready50 / baseReady).toFixed(3)}x | ${(rss50 / baseRss).toFixed(2)}x |`,
  );
}
console.log('\nTargets: ready < 500 ms and < 150 MB on this tree (pruned).');
if (warning) console.log(`Unpruned run announced: ${warning.replace(/^large-tree warning: /, '')}`);
