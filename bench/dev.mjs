// Benchmark of the whole `devloop dev` loop against what a user would otherwise do, in the same run,
// on the same cluster:
//   1. edit-to-synced, one file and a 1,000-file burst, into both replicas of `posts`,
//      against `kubectl cp` of the same files into the same replicas;
//   2. edit-to-new-pod-Ready for a rebuild, against docker build + push + kubectl set image +
//      kubectl rollout status;
//   3. RSS of the devloop process over a bounded soak of one edit per second.
//
// "Synced" is the moment devloop reports the files written in *every* replica (its `sync` events are
// emitted only after the in-container agent acknowledged the write); each round is then verified by
// reading the file back with kubectl exec (not timed).
//
// devloop and baseline samples are interleaved (A B A B), at least 10 of each; statistics and the
// devloop/baseline ratios come from stats.mjs. The in-pod view of sync latency (a reader in each
// container) is bench/sync.mjs; here "synced" is devloop's acknowledged `sync` event, and for
// kubectl cp the exit of both processes.
//
// Usage: node bench/dev.mjs   (needs dist/ built, fixtures prepared, Docker and the test cluster)
// Bounds (env, each at least 10): BENCH_SINGLE_ROUNDS (20), BENCH_BURST_ROUNDS (10),
// BENCH_REBUILD_ROUNDS (10); BENCH_SOAK_SECONDS (300). Every wait has a timeout.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevloopDev } from './devloop-dev.mjs';
import { gridJitterMs, interleave, MIN_SAMPLES, printTable } from './stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KUBECONFIG = process.env.KUBECONFIG ?? '/var/lib/devloop-cluster/kubeconfig';
const KUBECTL = process.env.DEVLOOP_KUBECTL ?? path.join(os.homedir(), '.cache/devloop-cluster/v1.34.4/bin/kubectl');
const env = { ...process.env, KUBECONFIG, NO_COLOR: '1' };
const num = (name, fallback) => Number(process.env[name] ?? fallback);
const SINGLE_ROUNDS = Math.max(MIN_SAMPLES, num('BENCH_SINGLE_ROUNDS', 20));
const BURST_ROUNDS = Math.max(MIN_SAMPLES, num('BENCH_BURST_ROUNDS', MIN_SAMPLES));
const REBUILD_ROUNDS = Math.max(MIN_SAMPLES, num('BENCH_REBUILD_ROUNDS', MIN_SAMPLES));
const SOAK_SECONDS = num('BENCH_SOAK_SECONDS', 300);
const BURST_FILES = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const kubectl = (args, timeout = 120_000) => execFileSync(KUBECTL, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
const run = (cmd, args, timeout = 300_000) => execFileSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
function runAsync(cmd, args, timeout = 300_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

// ---- a private copy of the fixture, its own project name, namespace and ports -------------------
const project = `bench-${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-bench-'));
cpSync(path.join(root, 'fixtures', 'blog'), dir, { recursive: true, verbatimSymlinks: true });
const basePort = 20000 + Math.floor(Math.random() * 12000); // below the ephemeral range (32768-): an outgoing connection may hold a port there
{
  const configFile = path.join(dir, 'devloop.config.yaml');
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace(/^  name: blog$/m, `  name: ${project}`).replace(/namespace: blog/g, `namespace: ${project}`).replace('localPort: 14000', `localPort: ${basePort}`).replace('localPort: 13000', `localPort: ${basePort + 1}`));
  const k8s = path.join(dir, 'infra', 'k8s');
  for (const f of readdirSync(k8s)) {
    const full = path.join(k8s, f);
    writeFileSync(full, readFileSync(full, 'utf8').replace(/namespace: blog/g, `namespace: ${project}`).replace(/^  name: blog$/m, `  name: ${project}`));
  }
}
const ns = project;

// ---- the devloop dev process and its JSON events -------------------------------------------------
const session = startDevloopDev(path.join(root, 'bin', 'devloop'), dir, env);
const { child, events } = session;

async function waitFor(predicate, timeoutMs, from = 0, what = 'event') {
  const deadline = Date.now() + timeoutMs;
  let i = from;
  for (;;) {
    for (; i < events.length; i++) if (predicate(events[i])) return events[i];
    if (session.exited()) throw new Error(`devloop dev exited while waiting for ${what}\n${session.stderr}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

function runningPosts() {
  const list = JSON.parse(kubectl(['get', 'pods', '-n', ns, '-l', 'app=posts', '-o', 'json']));
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running' && p.status.containerStatuses?.every((c) => c.ready))
    .map((p) => p.metadata.name);
}

const results = [];
let cleanedUp = false;
async function finish(code) {
  if (!cleanedUp) {
    cleanedUp = true;
    await session.stop();
    try {
      kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], 30_000);
    } catch {
      /* gone */
    }
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(code);
}
process.on('SIGINT', () => void finish(130));

try {
  const startedAt = performance.now();
  await waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 300_000, 0, 'the loop to be ready');
  const startupMs = performance.now() - startedAt;
  const baseTag = events.find((e) => e.type === 'build' && e.image === 'blog/base' && e.tag)?.tag;
  const publicDir = path.join(dir, 'services/posts/public');
  let replicas = runningPosts();
  if (replicas.length !== 2) throw new Error(`expected 2 posts replicas, found ${replicas.length}`);
  console.error(`devloop dev ready in ${(startupMs / 1000).toFixed(1)} s; replicas ${replicas.join(', ')}`);

  /** Waits until every replica acknowledged `files` (container paths), resolving the arrival time. */
  async function syncedEverywhere(files, from, timeoutMs) {
    const pending = new Map(replicas.map((pod) => [pod, new Set(files)]));
    let last = 0;
    const deadline = Date.now() + timeoutMs;
    let i = from;
    while ([...pending.values()].some((s) => s.size > 0)) {
      for (; i < events.length; i++) {
        const e = events[i];
        if (e.type !== 'sync' || e.status === 'failed' || !pending.has(e.pod)) continue;
        const set = pending.get(e.pod);
        for (const f of e.copied) set.delete(f);
        last = e.arrivedAt;
      }
      if (session.exited() || Date.now() > deadline) {
        const missing = [...pending].map(([pod, set]) => `${pod}: ${set.size} missing, e.g. ${[...set].slice(0, 3).join(', ')}`);
        const planned = new Set(events.slice(from).filter((e) => e.type === 'change').map((e) => e.path));
        const notSeen = [...pending.values()].flatMap((set) => [...set]).filter((f) => ![...planned].some((p) => p.endsWith(f.replace('/app/public/', 'public/'))));
        throw new Error(`sync of ${files.length} files not acknowledged in time: ${missing.join('; ')}; ${new Set(notSeen).size} of the missing were never reported by the watcher`);
      }
      await sleep(1);
    }
    return last;
  }

  // ---- 1. one file, then a 1,000-file burst, each interleaved with kubectl cp into the same replicas
  const oneFile = path.join(dir, 'cp-one.html');
  const cpOne = async (round) => {
    writeFileSync(oneFile, `cp ${round}\n`);
    const t0 = performance.now();
    await Promise.all(replicas.map((pod) => runAsync(KUBECTL, ['cp', oneFile, `${ns}/${pod}:/app/public/cp-one.html`])));
    return performance.now() - t0;
  };
  const single = await interleave(
    SINGLE_ROUNDS,
    async (round) => {
      const content = `single ${round} ${Date.now()}\n`;
      const from = events.length;
      const t0 = performance.now();
      writeFileSync(path.join(publicDir, 'bench-one.html'), content);
      const done = await syncedEverywhere(['/app/public/bench-one.html'], from, 30_000);
      if (round === SINGLE_ROUNDS - 1) {
        for (const pod of replicas) {
          const read = kubectl(['exec', '-n', ns, pod, '--', 'cat', '/app/public/bench-one.html']);
          if (read !== content) throw new Error(`verification failed in ${pod}: ${JSON.stringify(read)}`);
        }
      }
      await sleep(250);
      return done - t0;
    },
    cpOne,
  );

  /** From the last of the 1,000 writes: what kubectl cp, which starts with the files written, compares to. */
  const burstFromLast = [];
  const cpDir = path.join(dir, 'cp-burst');
  mkdirSync(cpDir, { recursive: true });
  for (let i = 0; i < BURST_FILES; i++) writeFileSync(path.join(cpDir, `f${i}.txt`), `cp burst file ${i}\n`);
  const burst = await interleave(
    BURST_ROUNDS,
    async (round) => {
      const burstDir = path.join(publicDir, `burst-${round}`);
      mkdirSync(burstDir, { recursive: true });
      const from = events.length;
      const files = [];
      const t0 = performance.now();
      for (let i = 0; i < BURST_FILES; i++) {
        writeFileSync(path.join(burstDir, `f${i}.txt`), `burst ${round} file ${i}\n`);
        files.push(`/app/public/burst-${round}/f${i}.txt`);
      }
      const tLast = performance.now();
      const done = await syncedEverywhere(files, from, 120_000);
      burstFromLast.push(done - tLast);
      for (const pod of replicas) {
        const count = kubectl(['exec', '-n', ns, pod, '--', 'sh', '-c', `ls /app/public/burst-${round} | wc -l`]).trim();
        if (Number(count) !== BURST_FILES) throw new Error(`verification failed in ${pod}: ${count} files`);
      }
      await sleep(500);
      return done - t0;
    },
    async (round) => {
      const t0 = performance.now();
      await Promise.all(replicas.map((pod) => runAsync(KUBECTL, ['cp', cpDir, `${ns}/${pod}:/app/public/cp-burst-${round}`])));
      return performance.now() - t0;
    },
  );

  results.push(
    ['edit-to-synced, 1 file, 2 replicas', single.devloop, single.baseline, 'kubectl cp (2 replicas in parallel)'],
    [`edit-to-synced, ${BURST_FILES}-file burst, from 1st write`, burst.devloop, burst.baseline, 'kubectl cp of the directory (2 replicas in parallel)'],
    [`edit-to-synced, ${BURST_FILES}-file burst, from last write`, burstFromLast, burst.baseline, 'kubectl cp of the directory (2 replicas in parallel)'],
  );

  // ---- 2. rebuild: edit-to-new-pod-Ready ----------------------------------------------------------
  const rebuild = [];
  const manual = [];
  // both sides build the same context: the burst files go (devloop syncs their deletion), and the
  // manual build gets a copy of the context outside the watched tree
  for (let round = 0; round < BURST_ROUNDS; round++) rmSync(path.join(publicDir, `burst-${round}`), { recursive: true, force: true });
  await sleep(3000);
  const manualContext = mkdtempSync(path.join(os.tmpdir(), 'devloop-bench-manual-'));
  cpSync(path.join(dir, 'services/posts'), manualContext, { recursive: true });
  for (let round = 0; round < REBUILD_ROUNDS; round++) {
    // by hand: docker build, push, set the image (what an apply of the edited manifest does), rollout status
    writeFileSync(path.join(manualContext, 'VERSION'), `manual-${project}-${round}\n`);
    const ref = `localhost:5000/blog/posts:manual-${project}-${round}`;
    const m0 = performance.now();
    run('docker', ['build', '-q', '-t', ref, '--build-arg', `BASE=${baseTag}`, manualContext]);
    run('docker', ['push', '-q', ref]);
    kubectl(['set', 'image', '-n', ns, 'deployment/posts', `posts=${ref}`]);
    kubectl(['rollout', 'status', '-n', ns, 'deployment/posts', '--timeout=300s'], 320_000);
    manual.push(performance.now() - m0);
    await sleep(2000 + gridJitterMs());

    // devloop: write the file, wait for its rollout to be ready (last, so devloop's build is what runs after)
    const from = events.length;
    const t0 = performance.now();
    writeFileSync(path.join(dir, 'services/posts/VERSION'), `bench-${project}-${round}\n`);
    const ready = await waitFor((e) => e.type === 'deploy' && e.status === 'ready' && String(e.object ?? '').endsWith('/posts'), 300_000, from, 'the rollout of posts');
    rebuild.push(ready.arrivedAt - t0);
    const newTag = events.slice(from).find((e) => e.type === 'build' && e.image === 'blog/posts' && e.status === 'built')?.tag ?? '@';
    // where the time went, for the report
    const mark = (pred) => events.slice(from).find(pred)?.arrivedAt;
    const phases = [
      ['change seen', mark((e) => e.type === 'change')],
      ['build started', mark((e) => e.type === 'build' && e.status === 'building')],
      ['built', mark((e) => e.type === 'build' && e.status === 'built')],
      ['pushed', mark((e) => e.type === 'build' && e.status === 'pushed')],
      ['applied', mark((e) => e.type === 'deploy' && e.status === 'applied' && e.count !== undefined)],
      ['new pod Running', mark((e) => e.type === 'pod' && e.state === 'Running' && e.ready === e.total && (e.images ?? []).includes(newTag))],
      ['rollout ready', ready.arrivedAt],
    ];
    console.error(`rebuild round ${round}: ${phases.map(([n, t]) => `${n} +${t === undefined ? '?' : (t - t0).toFixed(0)}ms`).join(', ')}`);
    await sleep(2000 + gridJitterMs());
  }
  rmSync(manualContext, { recursive: true, force: true });
  results.push(['edit-to-new-pod-Ready (rebuild)', rebuild, manual, 'docker build+push, kubectl set image, rollout status']);
  replicas = [];

  // ---- 3. soak: one edit per second, RSS sampled -------------------------------------------------
  const rss = [];
  const soakFrom = events.length;
  const soakStart = Date.now();
  let edits = 0;
  rss.push({ t: 0, mb: rssMb(child.pid) });
  while (Date.now() - soakStart < SOAK_SECONDS * 1000) {
    writeFileSync(path.join(publicDir, 'soak.html'), `soak ${edits++} ${Date.now()}\n`);
    await sleep(1000);
    if (edits % 15 === 0) rss.push({ t: (Date.now() - soakStart) / 1000, mb: rssMb(child.pid) });
  }
  rss.push({ t: (Date.now() - soakStart) / 1000, mb: rssMb(child.pid) });
  const soakEvents = events.slice(soakFrom);
  const syncedSoak = soakEvents.filter((e) => e.type === 'sync' && e.status === 'synced' && e.copied.includes('/app/public/soak.html')).length;
  const soakTrouble = {
    failedSyncs: soakEvents.filter((e) => e.type === 'sync' && e.status === 'failed').length,
    builds: soakEvents.filter((e) => e.type === 'build' && e.status === 'building').length,
    warnings: soakEvents.filter((e) => e.type === 'message' && e.level === 'warn').map((e) => String(e.text).split('\n')[0]),
  };

  // ---- report ------------------------------------------------------------------------------------
  console.log(`\ndevloop dev benchmark (${new Date().toISOString()}, ${os.cpus().length} CPUs, cluster ${KUBECONFIG})`);
  console.log(`start-up to watching (cached images): ${(startupMs / 1000).toFixed(1)} s`);
  printTable(
    'devloop dev against doing it by hand; times in ms',
    results.map(([what, ours, theirs, baseline]) => ({ what, devloop: { label: 'devloop dev', samples: ours }, baseline: { label: baseline, samples: theirs } })),
  );
  const first = rss[0].mb;
  const early = rss.find((s) => s.t >= 60)?.mb ?? first;
  const end = rss.at(-1).mb;
  console.log(`\nsoak: ${edits} edits in ${SOAK_SECONDS} s (one per second; bounded soak instead of 30 min), ${syncedSoak} sync acknowledgements`);
  console.log(`devloop RSS: start ${first.toFixed(1)} MB, after 60 s ${early.toFixed(1)} MB, end ${end.toFixed(1)} MB, max ${Math.max(...rss.map((s) => s.mb)).toFixed(1)} MB; growth after warm-up ${(end - early).toFixed(1)} MB`);
  console.log(`RSS samples (s:MB): ${rss.map((s) => `${s.t.toFixed(0)}:${s.mb.toFixed(0)}`).join(' ')}`);
  console.log(`during the soak: ${soakTrouble.failedSyncs} failed syncs, ${soakTrouble.builds} builds, ${soakTrouble.warnings.length} warnings${soakTrouble.warnings.length ? ` (first: ${soakTrouble.warnings[0]})` : ''}`);
  await finish(0);
} catch (error) {
  console.error(`benchmark failed: ${error.stack ?? error}`);
  console.error(events.slice(-20).map((e) => JSON.stringify(e).slice(0, 300)).join('\n'));
  await finish(1);
}
