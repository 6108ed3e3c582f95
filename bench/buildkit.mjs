// Benchmark: BuildKit builds of fixtures/buildkit (bk/app FROM bk/base, two independent stages
// that each sleep 1 s, a cache mount, a target and a build arg): `devloop build` (builder auto,
// which is BuildKit on this engine) against what a user would otherwise run,
//   - `docker build` with BuildKit (DOCKER_BUILDKIT=1), both images in requires order, same tags;
//   - `docker build` with the classic builder (DOCKER_BUILDKIT=0), on the same Dockerfile with its
//     `--mount=type=cache` flag replaced by a mkdir of the target (the classic builder refuses
//     --mount), other tags.
// Two cases: no-op (nothing changed) and one changed file (app/src/a.txt, appended to, untimed,
// before every sample of every side, so each sample rebuilds the `right` stage).
// The three sides run interleaved (devloop, docker BuildKit, classic, devloop, ...); rows compare
// devloop with each baseline, statistics from stats.mjs.
//
// The docker CLI must build with BuildKit without buildx: Debian's docker.io 20.10 CLI
// (/usr/bin/docker) does; set DOCKER_CLI to use another.
// Run: npx tsc -p tsconfig.json && bash fixtures/prepare.sh && node bench/buildkit.mjs [iterations (>= 10)]
// Imports nothing from src/: drives bin/devloop and the docker CLI via child_process.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIN_SAMPLES, printTable } from './stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'devloop');
const dockerCli = process.env.DOCKER_CLI ?? '/usr/bin/docker';
const iterations = Math.max(MIN_SAMPLES, Math.min(50, Number(process.argv[2] ?? MIN_SAMPLES)));
const deadline = Date.now() + 20 * 60_000; // every loop stops here, whatever the counts
const baseEnv = { ...process.env, NO_COLOR: '1' };
delete baseEnv.DOCKER_BUILDKIT; // devloop's auto must see the engine, not an inherited setting

if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npx tsc -p tsconfig.json first');
if (!existsSync(path.join(root, 'fixtures', 'buildkit', 'base', 'rootfs', 'bin', 'busybox'))) throw new Error('the fixture rootfs is missing: run bash fixtures/prepare.sh first');

function timed(cmd, args, options = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: baseEnv, maxBuffer: 64 << 20, timeout: 300_000, ...options });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-bench-buildkit-'));
const createdTags = new Set();
try {
  cpSync(path.join(root, 'fixtures', 'buildkit'), dir, { recursive: true, verbatimSymlinks: true });
  writeFileSync(path.join(dir, 'app', 'Dockerfile.classic'), readFileSync(path.join(dir, 'app', 'Dockerfile'), 'utf8').replace(/RUN --mount=type=cache,target=(\/\w+)\S* /g, 'RUN mkdir -p $1 && '));
  // A per-run nonce: no earlier run (or test) can have built these inputs, so every build is real.
  const runNonce = `${Date.now().toString(36)}-${process.pid}`;
  writeFileSync(path.join(dir, 'app', 'src', 'nonce.txt'), `${runNonce}\n`);
  const changed = path.join(dir, 'app', 'src', 'a.txt');
  let changes = 0;
  const changeOneFile = () => appendFileSync(changed, `change ${runNonce} ${++changes}\n`);

  // devloop: builder auto (BuildKit here); checks once that it did pick BuildKit.
  const devloopBuild = () => {
    const { ms, stdout } = timed(process.execPath, [bin, 'build'], { cwd: dir });
    for (const m of stdout.matchAll(/: built (\S+)/g)) createdTags.add(m[1]);
    return ms;
  };
  const first = timed(process.execPath, [bin, 'build', '-o', 'json'], { cwd: dir }).stdout;
  if (!/"image":"bk\/app","status":"building".*"builder":"buildkit"/.test(first)) throw new Error(`devloop did not build bk/app with BuildKit:\n${first}`);
  for (const m of first.matchAll(/"status":"built","tag":"([^"]+)"/g)) createdTags.add(m[1]);

  // docker build, in requires order, as the fixture's config says (read by hand: no devloop import).
  const dockerBuild = (buildkit, tag) => () => {
    const env = { ...baseEnv, DOCKER_BUILDKIT: buildkit ? '1' : '0' };
    const baseTag = `devloop-bench/bk-base:${tag}`;
    const appTag = `devloop-bench/bk-app:${tag}`;
    createdTags.add(baseTag).add(appTag);
    let total = timed(dockerCli, ['build', '-q', '-t', baseTag, path.join(dir, 'base')], { env }).ms;
    total += timed(
      dockerCli,
      ['build', '-q', '-t', appTag, '--target', 'final', '--build-arg', `BASE=${baseTag}`, '--build-arg', 'GREETING=hello-from-build-args', ...(buildkit ? [] : ['-f', path.join(dir, 'app', 'Dockerfile.classic')]), path.join(dir, 'app')],
      { env },
    ).ms;
    return total;
  };
  const dockerBuildkit = dockerBuild(true, 'buildkit');
  const dockerClassic = dockerBuild(false, 'classic');
  // warm each side's cache for this exact context
  devloopBuild();
  dockerBuildkit();
  dockerClassic();

  /** Three sides interleaved (A B C A B C ...), `before` untimed before every sample. */
  const interleave3 = (before = () => {}) => {
    const samples = { devloop: [], buildkit: [], classic: [] };
    for (let i = 0; i < iterations && Date.now() < deadline; i++) {
      before();
      samples.devloop.push(devloopBuild());
      before();
      samples.buildkit.push(dockerBuildkit());
      before();
      samples.classic.push(dockerClassic());
    }
    return samples;
  };
  const rows = [];
  const add = (what, s) => {
    rows.push({ what, devloop: { label: 'devloop build (BuildKit)', samples: s.devloop }, baseline: { label: 'docker build, BuildKit', samples: s.buildkit } });
    rows.push({ what, devloop: { label: 'devloop build (BuildKit)', samples: s.devloop }, baseline: { label: 'docker build, classic', samples: s.classic } });
  };
  add('no-op, 2 images', interleave3());
  add('one changed file, 2 images', interleave3(changeOneFile));
  printTable(`BuildKit builds of fixtures/buildkit (docker CLI: ${dockerCli})`, rows);
} finally {
  for (const tag of createdTags) spawnSync(dockerCli, ['rmi', tag], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
