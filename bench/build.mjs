// Benchmark: a no-op `devloop build` of fixtures/blog against what a user would otherwise run,
// `docker build` of the same five artifacts (requires order, same tags, warm layer cache), plus
// start-up time of `devloop --version` and `devloop build --help` against `node -e 0`.
//
// Run: npx tsc -p tsconfig.json && bash fixtures/prepare.sh && node bench/build.mjs [iterations]
// Imports nothing from src/: drives bin/devloop and the docker CLI via child_process.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'devloop');
const iterations = Math.max(1, Math.min(50, Number(process.argv[2] ?? 5)));
const startupRuns = 10;
const LARGE_FILES = 5000;
const deadline = Date.now() + 10 * 60_000; // every loop stops here, whatever the counts
const env = { ...process.env, NO_COLOR: '1', DOCKER_BUILDKIT: '0' };

if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npx tsc -p tsconfig.json first');
if (!existsSync(path.join(root, 'fixtures', 'blog', 'base', 'rootfs', 'bin', 'busybox'))) throw new Error('the fixture rootfs is missing: run bash fixtures/prepare.sh first');

function timed(cmd, args, options = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 64 << 20, ...options });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return { ms, stdout: r.stdout };
}
function repeat(n, fn) {
  const samples = [];
  for (let i = 0; i < n && Date.now() < deadline; i++) samples.push(fn());
  return samples;
}
function pct(samples, p) {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-bench-build-'));
try {
  cpSync(path.join(root, 'fixtures', 'blog'), dir, { recursive: true, verbatimSymlinks: true });
  // The artifacts, in requires order, with their contexts: read from the fixture's config by hand
  // (this file imports nothing from devloop).
  const artifacts = [
    { image: 'blog/base', context: 'base' },
    { image: 'blog/posts', context: 'services/posts', base: true },
    { image: 'blog/comments', context: 'services/comments', base: true },
    { image: 'blog/query', context: 'services/query', base: true },
    { image: 'blog/client', context: 'client', base: true },
  ];
  const out = path.join(dir, 'builds.json');
  timed(process.execPath, [bin, 'build', '--file-output', out], { cwd: dir }); // build or find every image
  const tags = Object.fromEntries(JSON.parse(readFileSync(out, 'utf8')).builds.map((b) => [b.imageName, b.tag]));
  const dockerBuildAll = () => {
    let total = 0;
    for (const a of artifacts) {
      const args = ['build', '-q', '-t', tags[a.image], ...(a.base ? ['--build-arg', `BASE=${tags['blog/base']}`] : []), path.join(dir, a.context)];
      total += timed('docker', args).ms;
    }
    return total;
  };
  dockerBuildAll(); // warm the layer cache for these exact contexts

  const rows = [];
  const devloopNoop = repeat(iterations, () => timed(process.execPath, [bin, 'build'], { cwd: dir }).ms);
  const dockerWarm = repeat(iterations, dockerBuildAll);
  const devloopColdHashes = repeat(iterations, () => {
    rmSync(path.join(dir, '.devloop', 'cache', 'file-hashes.json'), { force: true });
    return timed(process.execPath, [bin, 'build'], { cwd: dir }).ms;
  });
  rows.push(['no-op build, 5 images', 'devloop build', devloopNoop, 'docker build x5 (warm cache)', dockerWarm]);
  rows.push(['no-op build, no hash cache', 'devloop build', devloopColdHashes, 'docker build x5 (warm cache)', dockerWarm]);

  // A large context: one artifact of LARGE_FILES files (4 KiB each), FROM scratch + COPY.
  const large = path.join(dir, 'large');
  mkdirSync(path.join(large, 'ctx'), { recursive: true });
  for (let d = 0; d < LARGE_FILES / 100; d++) {
    mkdirSync(path.join(large, 'ctx', `d${d}`));
    for (let f = 0; f < 100; f++) writeFileSync(path.join(large, 'ctx', `d${d}`, `f${f}.js`), `// ${d}/${f}\n`.padEnd(4096, 'x'));
  }
  writeFileSync(path.join(large, 'ctx', 'Dockerfile'), 'FROM scratch\nCOPY . /app/\n');
  writeFileSync(
    path.join(large, 'devloop.config.yaml'),
    'apiVersion: devloop/v1\nkind: Config\nmetadata: { name: bench-large }\nbuild:\n  artifacts:\n    - { image: devloop-bench/large, context: ctx }\n',
  );
  // Age the files past the hash cache's 2-second "racy" window, as files in a real checkout are.
  const old = new Date(Date.now() - 60_000);
  for (const d of readdirSync(path.join(large, 'ctx'))) {
    const p = path.join(large, 'ctx', d);
    if (statSync(p).isDirectory()) for (const f of readdirSync(p)) utimesSync(path.join(p, f), old, old);
  }
  const largeOut = path.join(large, 'builds.json');
  timed(process.execPath, [bin, 'build', '--file-output', largeOut], { cwd: large });
  const largeTag = JSON.parse(readFileSync(largeOut, 'utf8')).builds[0].tag;
  timed('docker', ['build', '-q', '-t', largeTag, path.join(large, 'ctx')]);
  const largeNoop = repeat(iterations, () => timed(process.execPath, [bin, 'build'], { cwd: large }).ms);
  const largeDocker = repeat(iterations, () => timed('docker', ['build', '-q', '-t', largeTag, path.join(large, 'ctx')]).ms);
  rows.push([`no-op build, ${LARGE_FILES} files`, 'devloop build', largeNoop, 'docker build (warm cache)', largeDocker]);
  execFileSync('docker', ['rmi', largeTag], { stdio: 'ignore' });

  const nodeStart = repeat(startupRuns, () => timed(process.execPath, ['-e', '0']).ms);
  const version = repeat(startupRuns, () => timed(process.execPath, [bin, '--version']).ms);
  const help = repeat(startupRuns, () => timed(process.execPath, [bin, 'build', '--help']).ms);
  rows.push(['start-up', 'devloop --version', version, 'node -e 0', nodeStart]);
  rows.push(['start-up', 'devloop build --help', help, 'node -e 0', nodeStart]);

  const dockerVersion = execFileSync('docker', ['version', '--format', '{{.Client.Version}} / engine {{.Server.Version}}'], { encoding: 'utf8' }).trim();
  console.log(`devloop build benchmark: node ${process.version}, docker ${dockerVersion} (classic builder), ${os.cpus().length} CPUs`);
  console.log(`iterations: ${iterations} per build row, ${startupRuns} per start-up row; times in ms\n`);
  const header = ['what', 'devloop', 'n', 'p50', 'p95', 'baseline', 'n', 'p50', 'p95', 'p50 ratio'];
  const body = rows.map(([what, a, as, b, bs]) => [
    what,
    a,
    String(as.length),
    pct(as, 50).toFixed(0),
    pct(as, 95).toFixed(0),
    b,
    String(bs.length),
    pct(bs, 50).toFixed(0),
    pct(bs, 95).toFixed(0),
    `${(pct(as, 50) / pct(bs, 50)).toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  body.forEach((r) => console.log(line(r)));
  console.log('\nratio < 1: devloop is faster than the baseline.');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
