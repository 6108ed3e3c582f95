#!/usr/bin/env node
/**
 * Deploy and teardown, devloop against what a user would otherwise run, side by side in one run:
 *
 * 1. `devloop deploy` of the blog fixture (images already built and pushed: the cached path) against
 *    what a user's script would run: one `kubectl apply -f` of the same manifests as rendered by
 *    `devloop render`, then one `kubectl rollout status` per Deployment, all in parallel. Every
 *    sample, of either side, deploys into a namespace of its own that did not exist before, and
 *    ends with every Deployment available; the namespace is deleted afterwards (untimed).
 * 2. `devloop down` against `kubectl delete -f --wait` on 100 ConfigMaps (a generated fixture in a
 *    temp dir, one namespace each, namespace included).
 *
 * Samples interleaved (devloop, kubectl, devloop, ...), at least 10 of each, with a 4 s pause
 * before each so neither inherits the kubelet's teardown of the other's pods; statistics and
 * ratios from stats.mjs.
 *
 * Usage: node bench/deploy.mjs [--iterations N (>= 10)] [--deploy-only]   (needs dist/ built, Docker and the test cluster)
 * BENCH_DEPLOY_ROUNDS=M: M samples per side of 1. (at least N).
 * --deploy-only: measure 1. only (the deploy of the blog fixture).
 * Bounded: N samples per side and measure, 40 minutes in all.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printPhases } from './kubelet-log.mjs';
import { gridJitterMs, interleave, MIN_SAMPLES, printTable } from './stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const devloopBin = path.join(root, 'bin', 'devloop');
const kubeconfig = process.env.KUBECONFIG ?? '/var/lib/devloop-cluster/kubeconfig';
const kubectlBin = process.env.DEVLOOP_KUBECTL ?? path.join(os.homedir(), '.cache/devloop-cluster/v1.34.4/bin/kubectl');
const env = { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1' };
const iterArg = process.argv.indexOf('--iterations');
const iterations = Math.max(MIN_SAMPLES, Math.min(30, Number(iterArg > 0 ? process.argv[iterArg + 1] : MIN_SAMPLES)));
/** Samples per side of 1. (BENCH_DEPLOY_ROUNDS, at least `iterations`): its cluster side comes in modes about 1 s apart. */
const deployRounds = Math.max(iterations, Math.min(30, Number(process.env.BENCH_DEPLOY_ROUNDS ?? iterations)));
const budgetMs = 40 * 60_000;
const startedAt = Date.now();
const id = Date.now().toString(36);

function run(cmd, args, options = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300_000, ...options });
  const ms = performance.now() - t0;
  if (r.status !== 0 && !options.allowFail) {
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  return { ms, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
const devloop = (args, cwd, options) => run(process.execPath, [devloopBin, ...args], { cwd, ...options });
const kubectl = (args, options) => run(kubectlBin, args, options);

/** Runs a command without blocking the event loop; resolves when it exits 0, rejects otherwise. */
function runAsync(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}\n${stderr}`));
    });
  });
}
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

/** Copies the blog fixture under project/namespace `name`. */
function blogCopy(name) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `devloop-bench-${name}-`));
  cpSync(path.join(root, 'fixtures', 'blog'), dir, { recursive: true, verbatimSymlinks: true });
  const cfg = path.join(dir, 'devloop.config.yaml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^  name: blog$/m, `  name: ${name}`).replace(/namespace: blog\b/g, `namespace: ${name}`));
  const k8s = path.join(dir, 'infra/k8s');
  for (const f of readdirSync(k8s)) {
    const file = path.join(k8s, f);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/namespace: blog$/gm, `namespace: ${name}`).replace(/^kind: Namespace\nmetadata:\n  name: blog$/m, `kind: Namespace\nmetadata:\n  name: ${name}`));
  }
  return dir;
}

/** A config with `count` ConfigMaps in namespace `name`. */
function configMapFixture(name, count) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `devloop-bench-${name}-`));
  mkdirSync(path.join(dir, 'k8s'));
  writeFileSync(path.join(dir, 'devloop.config.yaml'), `apiVersion: devloop/v1\nkind: Config\nmetadata:\n  name: ${name}\ndeploy:\n  namespace: ${name}\n  kubectl:\n    manifests: ["k8s/*.yaml"]\n`);
  const docs = [`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`];
  for (let i = 0; i < count - 1; i++) docs.push(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${String(i).padStart(3, '0')}\n  namespace: ${name}\ndata:\n  index: "${i}"\n`);
  writeFileSync(path.join(dir, 'k8s', 'configmaps.yaml'), docs.join('---\n'));
  return dir;
}

const rows = [];
function report(what, devloopLabel, devloopSamples, baselineLabel, baselineSamples, unit) {
  rows.push({ what, unit, devloop: { label: devloopLabel, samples: devloopSamples }, baseline: { label: baselineLabel, samples: baselineSamples } });
}

async function main() {
  kubectl(['get', '--raw', '/readyz']);
  console.error(`devloop bench: deploy/down, ${deployRounds} deploy and ${iterations} down samples per side, cluster ${kubeconfig}`);
  const deadline = startedAt + budgetMs;

  // ---- 1. deploy of the blog fixture, cached images, a new namespace every sample
  const warmName = `bench-warm-${id}`;
  const warmDir = blogCopy(warmName);
  const kcName = `bench-kc-${id}`;
  const kcDir = blogCopy(kcName);
  const leftovers = [];
  try {
    console.error('warm-up: building and pushing the blog images once');
    devloop(['deploy'], warmDir);
    devloop(['down'], warmDir);
    // Rendered once under kcName; each kubectl sample gets a copy with its own namespace.
    const renderedText = devloop(['render'], kcDir).stdout;
    const deployments = renderedText.split(/^---$/m).filter((d) => /^kind: Deployment$/m.test(d)).map((d) => /^  name: (\S+)$/m.exec(d)[1]);

    const dlApplied = [];
    // Per sample: side, namespace, start (epoch ms), applied (ms after start), total; phases from the kubelet's log at the end.
    const timeline = [];
    const devloopSample = async (i) => {
      const name = `bench-dl-${id}-${i}`;
      const dir = blogCopy(name);
      // The warm-up's hash cache, so the sample measures a deploy with images known, not hashing.
      const cache = path.join(warmDir, '.devloop', 'cache');
      if (existsSync(cache)) cpSync(cache, path.join(dir, '.devloop', 'cache'), { recursive: true });
      // And its validated config (.devloop/cache/config.json), as on a user's second run: this copy's
      // config text differs (its namespace), so `devloop render` reads it once, untimed.
      devloop(['render'], dir);
      leftovers.push(() => {
        devloop(['down'], dir, { allowFail: true });
        rmSync(dir, { recursive: true, force: true });
      });
      spawnSync('sleep', [String(4 + gridJitterMs() / 1000)]);
      const t0 = Date.now();
      const r = devloop(['deploy', '--output', 'json'], dir);
      // devloop's own share: process start, config, build cache check, render, ownership check, inventory, apply.
      const applied = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'deploy' && e.status === 'applied' && e.count !== undefined);
      if (applied) dlApplied.push(Date.parse(applied.time) - t0);
      timeline.push({ side: 'devloop', namespace: name, t0, applied: applied ? Date.parse(applied.time) - t0 : NaN, total: r.ms });
      devloop(['down'], dir);
      rmSync(dir, { recursive: true, force: true });
      leftovers.pop();
      console.error(`  deploy #${i + 1}: devloop ${fmt(r.ms)}`);
      return r.ms;
    };
    const kubectlSample = async (i) => {
      const ns = `bench-kc-${id}-${i}`;
      const file = path.join(kcDir, `rendered-${i}.yaml`);
      writeFileSync(file, renderedText.split(kcName).join(ns));
      leftovers.push(() => kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=true'], { allowFail: true }));
      spawnSync('sleep', [String(4 + gridJitterMs() / 1000)]);
      const t0 = performance.now();
      const wall = Date.now();
      await runAsync(kubectlBin, ['apply', '-f', file]);
      const appliedMs = performance.now() - t0;
      await Promise.all(deployments.map((d) => runAsync(kubectlBin, ['rollout', 'status', `deployment/${d}`, '-n', ns, '--timeout=240s'])));
      const ms = performance.now() - t0;
      timeline.push({ side: 'kubectl', namespace: ns, t0: wall, applied: appliedMs, total: ms });
      kubectl(['delete', 'namespace', ns, '--wait=true']);
      leftovers.pop();
      console.error(`  deploy #${i + 1}: kubectl apply + parallel rollout status ${fmt(ms)}`);
      return ms;
    };
    const deploys = await interleave(deployRounds, devloopSample, kubectlSample, { deadline });
    report('deploy blog (9 objects, 5 pods) into a new namespace, cached images', 'devloop deploy', deploys.devloop, 'kubectl apply + rollout status per Deployment in parallel', deploys.baseline);
    console.log(`devloop start -> all 9 objects applied (devloop's share before the rollout wait): p50 ${fmt(dlApplied.sort((x, y) => x - y)[Math.ceil(dlApplied.length / 2) - 1] ?? NaN)} over ${dlApplied.length} samples`);
    printPhases(timeline);
  } finally {
    for (const undo of leftovers.reverse()) undo();
    devloop(['down'], warmDir, { allowFail: true });
    rmSync(warmDir, { recursive: true, force: true });
    rmSync(kcDir, { recursive: true, force: true });
  }

  if (process.argv.includes('--deploy-only')) {
    printTable(`devloop deploy against kubectl, cluster ${kubeconfig}; times in ms`, rows);
    return;
  }
  // ---- 2. down vs kubectl delete on 100 objects (each side applies, untimed, before its delete)
  const c = `bench-cm-dl-${id}`;
  const d = `bench-cm-kc-${id}`;
  const cmDl = configMapFixture(c, 100);
  const cmKc = configMapFixture(d, 100);
  try {
    const kcFile = path.join(cmKc, 'k8s', 'configmaps.yaml');
    const applied = { devloop: [], kubectl: [] };
    const deletes = await interleave(
      iterations,
      () => {
        applied.devloop.push(devloop(['deploy'], cmDl).ms);
        return devloop(['down'], cmDl).ms;
      },
      () => {
        applied.kubectl.push(kubectl(['apply', '-f', kcFile]).ms);
        return kubectl(['delete', '-f', kcFile, '--wait=true']).ms;
      },
      { deadline },
    );
    report('delete 100 objects (99 ConfigMaps + namespace), wait until gone', 'devloop down', deletes.devloop, 'kubectl delete -f --wait', deletes.baseline);
    report('apply 100 objects (no workloads)', 'devloop deploy', applied.devloop, 'kubectl apply -f', applied.kubectl);
  } finally {
    devloop(['down'], cmDl, { allowFail: true });
    kubectl(['delete', 'namespace', d, '--ignore-not-found', '--wait=true'], { allowFail: true });
    rmSync(cmDl, { recursive: true, force: true });
    rmSync(cmKc, { recursive: true, force: true });
  }

  printTable(`devloop deploy / down against kubectl, cluster ${kubeconfig}; times in ms`, rows);
}

await main();
