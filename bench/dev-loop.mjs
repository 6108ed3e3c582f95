#!/usr/bin/env node
// `devloop dev` start-up and rebuild against doing the same by hand, measured from outside devloop,
// on the blog fixture, images cached (built and pushed once by a warm-up, untimed):
//
// 1. start-up: from spawning `devloop dev` until the first HTTP answer through its port-forward of
//    deployment/posts (GET /cgi-bin/health on the local port, 200), against the hand-made
//    equivalent: `kubectl apply -f` of the same manifests as rendered by `devloop render`, one
//    `kubectl rollout status` per Deployment in parallel, then `kubectl port-forward
//    deployment/posts` until its first answer. Every sample of either side starts in a namespace
//    of its own that did not exist before; devloop's is stopped with Ctrl-C (it deletes what it
//    applied), the baseline's namespace is deleted (both untimed).
// 2. rebuild (edit -> every new pod Ready): in one `devloop dev` session, from writing
//    services/posts/VERSION (not a sync: a rebuild) until both (a) the port-forward answers with
//    the new version and (b) devloop has reported deployment/posts ready; against the manual
//    sequence `docker build` + `docker push` + `kubectl set image` + `kubectl rollout status` of
//    the same context into the same Deployment, until both its rollout status returned and the
//    same port-forward answers with its version. Both sides get the same probe (a GET every 20 ms
//    from the edit until the new version answers): it loads the API server, the kubelet and the
//    container runtime while the new pods start, so only one side having it would slow that side.
//    After each devloop sample, every posts pod is checked (untimed, kubectl) to run the new image
//    and be Ready.
//
// Samples interleaved (devloop, baseline, devloop, ...), at least 10 of each; statistics from
// stats.mjs (nearest-rank p50/p95, ratio devloop/baseline of the p50s).
// Usage: node bench/dev-loop.mjs [--only startup|rebuild]   (needs dist/ built, fixtures prepared,
// Docker and the test cluster). Bounds: BENCH_STARTUP_ROUNDS, BENCH_REBUILD_ROUNDS (each >= 10,
// default 10); every wait has a timeout; 30 minutes in all.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevloopDev } from './devloop-dev.mjs';
import { printPhases } from './kubelet-log.mjs';
import { gridJitterMs, interleave, MIN_SAMPLES, printTable } from './stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KUBECONFIG = process.env.KUBECONFIG ?? '/var/lib/devloop-cluster/kubeconfig';
const KUBECTL = process.env.DEVLOOP_KUBECTL ?? path.join(os.homedir(), '.cache/devloop-cluster/v1.34.4/bin/kubectl');
const env = { ...process.env, KUBECONFIG, NO_COLOR: '1' };
const STARTUP_ROUNDS = Math.max(MIN_SAMPLES, Number(process.env.BENCH_STARTUP_ROUNDS ?? MIN_SAMPLES));
const REBUILD_ROUNDS = Math.max(MIN_SAMPLES, Number(process.env.BENCH_REBUILD_ROUNDS ?? MIN_SAMPLES));
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? process.argv[onlyArg + 1] : undefined;
const deadline = Date.now() + 30 * 60_000;
const id = randomBytes(3).toString('hex');
const devloopBin = path.join(root, 'bin', 'devloop');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = (cmd, args, options = {}) => execFileSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, ...options });
const kubectl = (args, options) => run(KUBECTL, args, options);
function runAsync(cmd, args, timeout = 300_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

/** A copy of the blog fixture as project and namespace `name`, posts forwarded from `port` (client from port + 1). */
function blogCopy(name, port) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `devloop-bench-${name}-`));
  cpSync(path.join(root, 'fixtures', 'blog'), dir, { recursive: true, verbatimSymlinks: true });
  const cfg = path.join(dir, 'devloop.config.yaml');
  writeFileSync(
    cfg,
    readFileSync(cfg, 'utf8')
      .replace(/^  name: blog$/m, `  name: ${name}`)
      .replace(/namespace: blog\b/g, `namespace: ${name}`)
      .replace('localPort: 14000', `localPort: ${port}`)
      .replace('localPort: 13000', `localPort: ${port + 1}`),
  );
  const k8s = path.join(dir, 'infra/k8s');
  for (const f of readdirSync(k8s)) {
    const file = path.join(k8s, f);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/namespace: blog$/gm, `namespace: ${name}`).replace(/^  name: blog$/m, `  name: ${name}`));
  }
  return dir;
}

/**
 * One GET of /cgi-bin/health on 127.0.0.1:port: the body, or undefined when nothing answered 200
 * within 2 s. The answer counts once its one JSON line is complete: busybox httpd sends a CGI answer
 * without a length and ends it by closing, and through a port-forward (kubectl's and devloop's
 * alike, measured) that close arrives about 1 s after the body, which is the kubelet, not either side.
 */
function health(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/cgi-bin/health', timeout: 2_000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      const done = () => {
        resolve(res.statusCode === 200 ? body : undefined);
        req.destroy();
      };
      res.on('data', (d) => {
        body += d;
        if (body.endsWith('}\n')) done();
      });
      res.on('end', done);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** Polls the port every 20 ms until `accept(body)`; resolves performance.now() of that answer. */
async function servedWhen(port, accept, timeoutMs, what, isDead = () => false) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const body = await health(port);
    if (body !== undefined && accept(body)) return performance.now();
    if (isDead()) throw new Error(`gave up waiting for ${what}: the process exited`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** `devloop dev --output json` in `dir`, with its events as they arrive. */
const startDev = (dir) => startDevloopDev(devloopBin, dir, env);

async function waitEvent(session, predicate, from, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = session.events.slice(from).find(predicate);
    if (found) return found;
    if (session.exited()) throw new Error(`devloop dev exited while waiting for ${what}\n${session.stderr}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const rows = [];
const cleanups = [];
async function main() {
  kubectl(['get', '--raw', '/readyz']);
  const basePort = 20000 + Math.floor(Math.random() * 12000); // below the ephemeral range (32768-): an outgoing connection may hold a port there
  console.error(`devloop bench: dev start-up and rebuild, cluster ${KUBECONFIG}`);

  // warm-up: build and push the images once; its hash cache is copied into every start-up sample
  const warmName = `bench-dlw-${id}`;
  const warmDir = blogCopy(warmName, basePort);
  cleanups.push(() => rmSync(warmDir, { recursive: true, force: true }));
  run(process.execPath, [devloopBin, 'deploy'], { cwd: warmDir });
  run(process.execPath, [devloopBin, 'down'], { cwd: warmDir });
  const rendered = run(process.execPath, [devloopBin, 'render'], { cwd: warmDir });
  const deployments = rendered.split(/^---$/m).filter((d) => /^kind: Deployment$/m.test(d)).map((d) => /^  name: (\S+)$/m.exec(d)[1]);

  if (!only || only === 'startup') {
    /** Per start-up sample, for the phase breakdown from the kubelet's log (bench/kubelet-log.mjs). */
    const startupTimeline = [];
    const devloopStartup = async (i) => {
      const name = `bench-dls-${id}-${i}`;
      const port = basePort + 10 + i * 4;
      const dir = blogCopy(name, port);
      const cache = path.join(warmDir, '.devloop', 'cache');
      if (existsSync(cache)) cpSync(cache, path.join(dir, '.devloop', 'cache'), { recursive: true });
      // And its validated config (.devloop/cache/config.json), as on a user's second run: this copy's
      // config text differs (its namespace and ports), so `devloop render` reads it once, untimed.
      run(process.execPath, [devloopBin, 'render'], { cwd: dir });
      await sleep(3000 + gridJitterMs());
      const wall = Date.now();
      const t0 = performance.now();
      const session = startDev(dir);
      try {
        const served = await servedWhen(port, () => true, 120_000, 'the first answer through the port-forward', session.exited);
        const applied = session.events.find((e) => e.type === 'deploy' && e.status === 'applied' && e.count !== undefined)?.arrivedAt;
        startupTimeline.push({ side: 'devloop', namespace: name, t0: wall, applied: applied === undefined ? NaN : applied - t0, total: served - t0 });
        console.error(`  start-up #${i + 1}: devloop ${(served - t0).toFixed(0)} ms`);
        return served - t0;
      } finally {
        await session.stop();
        kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false'], { timeout: 30_000 });
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const manualStartup = async (i) => {
      const ns = `bench-kcs-${id}-${i}`;
      const port = basePort + 12 + i * 4;
      const file = path.join(os.tmpdir(), `devloop-bench-${ns}.yaml`);
      writeFileSync(file, rendered.split(warmName).join(ns));
      await sleep(3000 + gridJitterMs());
      const wall = Date.now();
      const t0 = performance.now();
      let forward;
      try {
        await runAsync(KUBECTL, ['apply', '-f', file]);
        const applied = performance.now() - t0;
        await Promise.all(deployments.map((d) => runAsync(KUBECTL, ['rollout', 'status', `deployment/${d}`, '-n', ns, '--timeout=240s'])));
        forward = spawn(KUBECTL, ['port-forward', '-n', ns, 'deployment/posts', `${port}:4000`], { env, stdio: 'ignore' });
        let dead = false;
        forward.on('close', () => (dead = true));
        const served = await servedWhen(port, () => true, 60_000, 'the first answer through kubectl port-forward', () => dead);
        startupTimeline.push({ side: 'kubectl', namespace: ns, t0: wall, applied, total: served - t0 });
        console.error(`  start-up #${i + 1}: kubectl ${(served - t0).toFixed(0)} ms`);
        return served - t0;
      } finally {
        forward?.kill('SIGTERM');
        kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=true'], { timeout: 120_000 });
        rmSync(file, { force: true });
      }
    };
    const startup = await interleave(STARTUP_ROUNDS, devloopStartup, manualStartup, { deadline });
    printPhases(startupTimeline);
    rows.push({ what: 'dev start-up, cached images, until the first answer through the port-forward', devloop: { label: 'devloop dev', samples: startup.devloop }, baseline: { label: 'kubectl apply + rollout status x4 + port-forward', samples: startup.baseline } });
  }

  if (!only || only === 'rebuild') {
    const name = `bench-dlr-${id}`;
    const port = basePort + 2;
    const dir = blogCopy(name, port);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cache = path.join(warmDir, '.devloop', 'cache');
    if (existsSync(cache)) cpSync(cache, path.join(dir, '.devloop', 'cache'), { recursive: true });
    const session = startDev(dir);
    cleanups.push(() => session.stop());
    await servedWhen(port, () => true, 180_000, 'the session to serve', session.exited);
    await waitEvent(session, (e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 0, 120_000, 'the loop to watch');
    const baseTag = session.events.find((e) => e.type === 'build' && e.image === 'blog/base' && e.tag)?.tag;
    const manualContext = mkdtempSync(path.join(os.tmpdir(), 'devloop-bench-manual-'));
    cleanups.push(() => rmSync(manualContext, { recursive: true, force: true }));
    cpSync(path.join(dir, 'services/posts'), manualContext, { recursive: true });
    const phases = [];
    const rebuild = await interleave(
      REBUILD_ROUNDS,
      async (round) => {
        await sleep(2000 + gridJitterMs());
        const version = `dl-${id}-${round}`;
        const from = session.events.length;
        const t0 = performance.now();
        writeFileSync(path.join(dir, 'services/posts/VERSION'), `${version}\n`);
        const [served, ready] = await Promise.all([
          servedWhen(port, (body) => body.includes(`"version":"${version}"`), 300_000, 'the new version through the port-forward', session.exited),
          waitEvent(session, (e) => e.type === 'deploy' && e.status === 'ready' && String(e.object ?? '').endsWith('/posts'), from, 300_000, 'posts ready'),
        ]);
        const done = Math.max(served, ready.arrivedAt);
        const tag = session.events.slice(from).find((e) => e.type === 'build' && e.image === 'blog/posts' && e.status === 'built')?.tag;
        // untimed check from outside: every posts pod runs the new image and is Ready
        const pods = JSON.parse(kubectl(['get', 'pods', '-n', name, '-l', 'app=posts', '-o', 'json'])).items.filter((p) => !p.metadata.deletionTimestamp);
        const stale = pods.filter((p) => p.spec.containers[0].image !== tag || !(p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
        if (!tag || stale.length > 0) throw new Error(`round ${round}: posts pods not all new and Ready after devloop said so: ${pods.map((p) => `${p.metadata.name} ${p.spec.containers[0].image}`).join(', ')} (built ${tag})`);
        const mark = (pred) => session.events.slice(from).find(pred)?.arrivedAt;
        phases.push(
          [
            ['change', mark((e) => e.type === 'change')],
            ['building', mark((e) => e.type === 'build' && e.status === 'building')],
            ['built', mark((e) => e.type === 'build' && e.status === 'built')],
            ['pushed', mark((e) => e.type === 'build' && e.status === 'pushed')],
            ['applied', mark((e) => e.type === 'deploy' && e.status === 'applied' && e.count !== undefined)],
            ['ready', ready.arrivedAt],
            ['served', served],
          ]
            .map(([n, t]) => `${n} +${t === undefined ? '?' : (t - t0).toFixed(0)}`)
            .join(', '),
        );
        console.error(`  rebuild #${round + 1}: devloop ${(done - t0).toFixed(0)} ms (${phases.at(-1)})`);
        return done - t0;
      },
      async (round) => {
        await sleep(2000 + gridJitterMs());
        const version = `manual-${id}-${round}`;
        writeFileSync(path.join(manualContext, 'VERSION'), `${version}\n`);
        const ref = `localhost:5000/blog/posts:${version}`;
        const t0 = performance.now();
        const at = () => (performance.now() - t0).toFixed(0);
        const served = servedWhen(port, (body) => body.includes(`"version":"${version}"`), 300_000, 'the new version through the port-forward', session.exited);
        await runAsync('docker', ['build', '-q', '-t', ref, '--build-arg', `BASE=${baseTag}`, manualContext]);
        const built = at();
        await runAsync('docker', ['push', '-q', ref]);
        const pushed = at();
        await runAsync(KUBECTL, ['set', 'image', '-n', name, 'deployment/posts', `posts=${ref}`]);
        const applied = at();
        await runAsync(KUBECTL, ['rollout', 'status', '-n', name, 'deployment/posts', '--timeout=300s']);
        const ready = performance.now() - t0;
        const servedMs = (await served) - t0;
        const ms = Math.max(ready, servedMs);
        console.error(`  rebuild #${round + 1}: manual ${ms.toFixed(0)} ms (built +${built}, pushed +${pushed}, applied +${applied}, ready +${ready.toFixed(0)}, served +${servedMs.toFixed(0)})`);
        return ms;
      },
      { deadline },
    );
    rows.push({ what: 'rebuild: edit -> every new pod Ready (and the new version served)', devloop: { label: 'devloop dev', samples: rebuild.devloop }, baseline: { label: 'docker build + push + kubectl set image + rollout status', samples: rebuild.baseline } });
  }

  console.log(`\ndevloop dev start-up and rebuild (${new Date().toISOString()}, ${os.cpus().length} CPUs, cluster ${KUBECONFIG})`);
  printTable('devloop dev against doing it by hand; times in ms', rows);
}

try {
  await main();
} catch (error) {
  console.error(`benchmark failed: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  for (const undo of cleanups.reverse()) await undo();
}
