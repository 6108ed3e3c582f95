#!/usr/bin/env node
/**
 * Deploy and teardown, devloop against what a user would otherwise run, side by side in one run:
 *
 * 1. `devloop deploy` of the blog fixture (images already built and pushed: the cached path) against
 *    `kubectl apply -f` + `kubectl rollout status` of the same manifests as rendered by `devloop
 *    render` (applied under another project and namespace so the two never collide). Both start
 *    from nothing (namespace absent) every iteration and end with every Deployment available.
 * 2. `devloop down` against `kubectl delete -f --wait` on 100 ConfigMaps (a generated fixture in a
 *    temp dir, one namespace each, namespace included).
 *
 * Runs alternate which tool goes first and pause 4 s between runs, so neither inherits the
 * kubelet's teardown of the other's pods.
 *
 * Usage: node bench/deploy.mjs [--iterations N]   (needs dist/ built, Docker and the test cluster)
 * Bounded: at most N iterations per measure and 15 minutes in all.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const devloopBin = path.join(root, 'bin', 'devloop');
const kubeconfig = process.env.KUBECONFIG ?? '/var/lib/devloop-cluster/kubeconfig';
const kubectlBin = process.env.DEVLOOP_KUBECTL ?? path.join(os.homedir(), '.cache/devloop-cluster/v1.34.4/bin/kubectl');
const env = { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1' };
const iterArg = process.argv.indexOf('--iterations');
const iterations = Math.max(1, Math.min(20, Number(iterArg > 0 ? process.argv[iterArg + 1] : 5)));
const budgetMs = 15 * 60_000;
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
const overBudget = () => Date.now() - startedAt > budgetMs;

function percentile(samples, p) {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
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
function report(what, tool, samples) {
  rows.push({ what, tool, n: samples.length, p50: percentile(samples, 50), p95: percentile(samples, 95) });
}

function main() {
  kubectl(['get', '--raw', '/readyz']);
  console.error(`devloop bench: deploy/down, ${iterations} iterations, cluster ${kubeconfig}`);

  // ---- 1. deploy of the blog fixture, cached images
  const a = `bench-dl-${id}`;
  const b = `bench-kc-${id}`;
  const dlDir = blogCopy(a);
  const kcDir = blogCopy(b);
  try {
    console.error('warm-up: building and pushing the blog images once');
    devloop(['deploy'], dlDir);
    devloop(['down'], dlDir);
    const rendered = path.join(kcDir, 'rendered.yaml');
    writeFileSync(rendered, devloop(['render'], kcDir).stdout);
    const deployments = readFileSync(rendered, 'utf8').split(/^---$/m).filter((d) => /^kind: Deployment$/m.test(d)).map((d) => /^  name: (\S+)$/m.exec(d)[1]);

    const dlSamples = [];
    const dlApplied = [];
    const kcSamples = [];
    const measureDevloop = () => {
      const t0 = Date.now();
      const r = devloop(['deploy', '--output', 'json'], dlDir);
      dlSamples.push(r.ms);
      // devloop's own share: process start, config, build cache check, render, ownership check, inventory, apply.
      const applied = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'deploy' && e.status === 'applied' && e.count !== undefined);
      if (applied) dlApplied.push(Date.parse(applied.time) - t0);
      devloop(['down'], dlDir);
    };
    const measureKubectl = () => {
      const apply = kubectl(['apply', '-f', rendered]).ms;
      let status = 0;
      for (const d of deployments) status += kubectl(['rollout', 'status', `deployment/${d}`, '-n', b, '--timeout=240s']).ms;
      kcSamples.push(apply + status);
      kubectl(['delete', '-f', rendered, '--wait=true']);
    };
    for (let i = 0; i < iterations && !overBudget(); i++) {
      // Alternate who goes first, and let the kubelet finish tearing down the previous pods.
      for (const measure of i % 2 === 0 ? [measureDevloop, measureKubectl] : [measureKubectl, measureDevloop]) {
        spawnSync('sleep', ['4']);
        measure();
      }
      console.error(`  deploy #${i + 1}: devloop ${fmt(dlSamples.at(-1))} (all applied after ${fmt(dlApplied.at(-1))}), kubectl apply + rollout status ${fmt(kcSamples.at(-1))}`);
    }
    report('deploy blog (9 objects, 5 pods), cached images', 'devloop deploy', dlSamples);
    report('deploy blog (9 objects, 5 pods), cached images', 'kubectl apply -f + rollout status', kcSamples);
    report('deploy blog: devloop start -> all 9 objects applied', 'devloop deploy (share before the wait)', dlApplied);
  } finally {
    devloop(['down'], dlDir, { allowFail: true });
    kubectl(['delete', 'namespace', b, '--ignore-not-found', '--wait=true'], { allowFail: true });
    rmSync(dlDir, { recursive: true, force: true });
    rmSync(kcDir, { recursive: true, force: true });
  }

  // ---- 2. down vs kubectl delete on 100 objects
  const c = `bench-cm-dl-${id}`;
  const d = `bench-cm-kc-${id}`;
  const cmDl = configMapFixture(c, 100);
  const cmKc = configMapFixture(d, 100);
  try {
    const kcFile = path.join(cmKc, 'k8s', 'configmaps.yaml');
    const applyDl = [];
    const applyKc = [];
    const downDl = [];
    const deleteKc = [];
    for (let i = 0; i < iterations && !overBudget(); i++) {
      applyDl.push(devloop(['deploy'], cmDl).ms);
      downDl.push(devloop(['down'], cmDl).ms);
      applyKc.push(kubectl(['apply', '-f', kcFile]).ms);
      deleteKc.push(kubectl(['delete', '-f', kcFile, '--wait=true']).ms);
      console.error(`  100 objects #${i + 1}: devloop deploy ${fmt(applyDl.at(-1))} / down ${fmt(downDl.at(-1))}; kubectl apply ${fmt(applyKc.at(-1))} / delete --wait ${fmt(deleteKc.at(-1))}`);
    }
    report('delete 100 objects (99 ConfigMaps + namespace), wait until gone', 'devloop down', downDl);
    report('delete 100 objects (99 ConfigMaps + namespace), wait until gone', 'kubectl delete -f --wait', deleteKc);
    report('apply 100 objects (no workloads)', 'devloop deploy', applyDl);
    report('apply 100 objects (no workloads)', 'kubectl apply -f', applyKc);
  } finally {
    devloop(['down'], cmDl, { allowFail: true });
    kubectl(['delete', 'namespace', d, '--ignore-not-found', '--wait=true'], { allowFail: true });
    rmSync(cmDl, { recursive: true, force: true });
    rmSync(cmKc, { recursive: true, force: true });
  }

  // ---- table
  const lines = ['| measure | tool | n | p50 | p95 | p50 ratio (devloop / kubectl) |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const base = rows.find((o) => o.what === r.what && o.tool.startsWith('kubectl'));
    const ratio = r.tool.startsWith('devloop') && base ? `${(r.p50 / base.p50).toFixed(2)}x` : '';
    lines.push(`| ${r.what} | ${r.tool} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${ratio} |`);
  }
  console.log(lines.join('\n'));
}

main();
