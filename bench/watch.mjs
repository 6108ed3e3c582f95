#!/usr/bin/env node
// Watcher ready time and memory on a generated 101k-file monorepo (20 services, 100k files in
// node_modules), devloop's watcher vs plain chokidar, each sample in a fresh process:
//   headline: devloop with each service's .dockerignore excluding node_modules
//             vs chokidar.watch(root) pruning the same trees (ignored: basename === node_modules)
//   context:  both with nothing pruned (no .dockerignore; chokidar with nothing ignored)
// Samples interleaved (devloop, chokidar, devloop, ...), statistics and ratios from stats.mjs.
// Usage: node bench/watch.mjs [--runs N (>= 10)] [--tree DIR]   (needs dist/: npx tsc -p tsconfig.json)
// Loops are bounded: N samples per side and row, 60 s per sample, 30 min in all.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { interleave, MIN_SAMPLES, printTable } from './stats.mjs';

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
const runs = Math.max(MIN_SAMPLES, Number(arg('--runs', String(MIN_SAMPLES))));
const deadline = Date.now() + 30 * 60_000;

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

if (!existsSync(path.join(repo, 'dist/watch/index.js'))) {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo, stdio: 'inherit' });
}
generateTree(treeDir);

let warning = '';
const sample = (mode, dockerignore, into) => async () => {
  setDockerignore(treeDir, dockerignore);
  const r = await measure(mode, treeDir);
  if (r.stderr) warning = r.stderr;
  into.push(r);
  return r.readyMs;
};
const pruned = { devloop: [], chokidar: [] };
const unpruned = { devloop: [], chokidar: [] };
try {
  await interleave(runs, sample('devloop', true, pruned.devloop), sample('chokidar-pruned', true, pruned.chokidar), { deadline });
  await interleave(runs, sample('devloop', false, unpruned.devloop), sample('chokidar', true, unpruned.chokidar), { deadline });
} finally {
  setDockerignore(treeDir, true);
}

const rowsOf = (what, devloopLabel, baselineLabel, pair) => [
  { what: `${what}: ready`, devloop: { label: devloopLabel, samples: pair.devloop.map((r) => r.readyMs) }, baseline: { label: baselineLabel, samples: pair.chokidar.map((r) => r.readyMs) } },
  { what: `${what}: ready, process start included`, devloop: { label: devloopLabel, samples: pair.devloop.map((r) => r.totalMs) }, baseline: { label: baselineLabel, samples: pair.chokidar.map((r) => r.totalMs) } },
  { what: `${what}: RSS after ready`, unit: 'MB', devloop: { label: devloopLabel, samples: pair.devloop.map((r) => r.rssMb) }, baseline: { label: baselineLabel, samples: pair.chokidar.map((r) => r.rssMb) } },
];
const files = (pair) => `devloop watches ${pair.devloop[0]?.fileCount ?? '?'} files, chokidar ${pair.chokidar[0]?.fileCount ?? '?'}`;
printTable(
  `Watcher on ${treeDir} (${SERVICES} services, ${SERVICES * PACKAGES_PER_SERVICE * FILES_PER_PACKAGE} files in node_modules), Node ${process.version}, ${os.cpus().length} CPUs. Headline: node_modules pruned on both sides (${files(pruned)})`,
  rowsOf('pruned', 'devloop (.dockerignore)', 'chokidar (ignored: node_modules)', pruned),
);
printTable(`Context: nothing pruned on either side (${files(unpruned)})`, rowsOf('unpruned', 'devloop (no .dockerignore)', 'chokidar (nothing ignored)', unpruned));
console.log('ready: from the watch call (startWatcher / chokidar.watch) to ready; process start included: from process start, module and config loading included.');
console.log('Targets: ready < 500 ms and < 150 MB on this tree (pruned).');
if (warning) console.log(`Unpruned run announced: ${warning.replace(/^large-tree warning: /, '')}`);
