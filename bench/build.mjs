// Benchmark: a no-op `devloop build` of fixtures/blog against what a user would otherwise run,
// `docker build` of the same five artifacts (requires order, same tags, warm layer cache), plus
// start-up time of `devloop --version` and `devloop build --help` against `node -e 0`.
// The 5,000-file context has two devloop rows: warm hash cache, and cold (cache file removed
// before each sample, as after a fresh clone). Samples interleaved, statistics from stats.mjs.
//
// Run: npx tsc -p tsconfig.json && bash fixtures/prepare.sh && node bench/build.mjs [iterations (>= 10)]
// Imports nothing from src/: drives bin/devloop and the docker CLI via child_process.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { interleave, MIN_SAMPLES, printTable } from './stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'devloop');
const iterations = Math.max(MIN_SAMPLES, Math.min(50, Number(process.argv[2] ?? MIN_SAMPLES)));
const startupRuns = Math.max(MIN_SAMPLES, iterations);
const LARGE_FILES = 5000;
const deadline = Date.now() + 20 * 60_000; // every loop stops here, whatever the counts
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
  const row = (what, a, as, b, bs) => rows.push({ what, devloop: { label: a, samples: as }, baseline: { label: b, samples: bs } });
  const devloopBuild = (cwd) => () => timed(process.execPath, [bin, 'build'], { cwd }).ms;
  const dropHashCache = (cwd) => (side) => side === 'devloop' && rmSync(path.join(cwd, '.devloop', 'cache', 'file-hashes.json'), { force: true });
  const warm = await interleave(iterations, devloopBuild(dir), dockerBuildAll, { deadline });
  row('no-op build, 5 images', 'devloop build', warm.devloop, 'docker build x5 (warm cache)', warm.baseline);
  const coldHashes = await interleave(iterations, devloopBuild(dir), dockerBuildAll, { deadline, before: dropHashCache(dir) });
  row('no-op build, 5 images, cold hash cache', 'devloop build', coldHashes.devloop, 'docker build x5 (warm cache)', coldHashes.baseline);

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
  const dockerLarge = () => timed('docker', ['build', '-q', '-t', largeTag, path.join(large, 'ctx')]).ms;
  const largeWarm = await interleave(iterations, devloopBuild(large), dockerLarge, { deadline });
  row(`no-op build, ${LARGE_FILES} files, warm hash cache`, 'devloop build', largeWarm.devloop, 'docker build (warm cache)', largeWarm.baseline);
  const largeCold = await interleave(iterations, devloopBuild(large), dockerLarge, { deadline, before: dropHashCache(large) });
  row(`no-op build, ${LARGE_FILES} files, cold hash cache`, 'devloop build', largeCold.devloop, 'docker build (warm cache)', largeCold.baseline);
  execFileSync('docker', ['rmi', largeTag], { stdio: 'ignore' });

  const node0 = () => timed(process.execPath, ['-e', '0']).ms;
  const version = await interleave(startupRuns, () => timed(process.execPath, [bin, '--version']).ms, node0, { deadline });
  row('start-up', 'devloop --version', version.devloop, 'node -e 0', version.baseline);
  const help = await interleave(startupRuns, () => timed(process.execPath, [bin, 'build', '--help']).ms, node0, { deadline });
  row('start-up', 'devloop build --help', help.devloop, 'node -e 0', help.baseline);

  const dockerVersion = execFileSync('docker', ['version', '--format', '{{.Client.Version}} / engine {{.Server.Version}}'], { encoding: 'utf8' }).trim();
  printTable(
    `devloop build benchmark: node ${process.version}, docker ${dockerVersion} (classic builder), ${os.cpus().length} CPUs; ${iterations} samples per side per build row, ${startupRuns} per start-up row; times in ms`,
    rows,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
