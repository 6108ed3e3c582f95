// What the test cluster's kubelet logged of a sample's pods, for benchmarks that explain where a
// deploy's time went on the cluster side (bench/deploy.mjs, bench/dev-loop.mjs). Measures nothing
// by itself. Imports nothing from devloop.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { percentile } from './stats.mjs';

/** The test cluster's kubelet log (test/cluster/env.sh), read for the per-sample phase breakdown. */
export const kubeletLog = path.join(process.env.DEVLOOP_CLUSTER_STATE ?? '/var/lib/devloop-cluster', 'logs', 'kubelet.log');

/**
 * What the kubelet logged of the pods of `namespace`, as ms after `t0` (epoch ms): when it first
 * saw one (VerifyControllerAttachedVolume), when the last volume mount succeeded, when the last
 * readiness probe passed; and whether it lost the race with the node authorizer (its first read of
 * the namespace's kube-root-ca.crt refused with "no relationship found", then "failed to sync
 * configmap cache" after 1 s, and the mount retried). Times in the log are UTC wall clock.
 */
export function kubeletPhases(lines, namespace, t0) {
  const day = new Date(t0);
  const at = (line) => {
    const m = /^[IEW]\d{4} (\d\d):(\d\d):(\d\d)\.(\d+)/.exec(line);
    if (!m) return undefined;
    let ms = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), +m[1], +m[2], +m[3]) + Number(`0.${m[4]}`) * 1000;
    if (ms < t0 - 12 * 3600_000) ms += 24 * 3600_000; // the run crossed midnight
    return ms - t0;
  };
  const out = { sees: NaN, mounted: NaN, ready: NaN, raced: false, readyByPod: new Map() };
  for (const line of lines) {
    if (!line.includes(`${namespace}/`) && !line.includes(`namespace \\"${namespace}\\"`)) continue;
    const t = at(line);
    if (t === undefined) continue;
    if (line.includes('VerifyControllerAttachedVolume') && Number.isNaN(out.sees)) out.sees = t;
    if (line.includes('SetUp succeeded')) out.mounted = t;
    if (line.includes('probe="readiness" status="ready"')) {
      out.ready = t;
      const pod = /pod="[^/"]+\/([^"]+)"/.exec(line)?.[1];
      if (pod && !out.readyByPod.has(pod)) out.readyByPod.set(pod, t);
    }
    if (line.includes('failed to sync configmap cache')) out.raced = true;
  }
  return out;
}

/** The test cluster's containerd log, for when each container started. */
export const containerdLog = path.join(path.dirname(kubeletLog), 'containerd.log');

/**
 * When containerd started each container of `namespace`'s pods (its "StartContainer ... returns
 * successfully"), as ms after `t0`, by pod name: sandbox -> pod, container -> sandbox, from its
 * RunPodSandbox and CreateContainer lines. Times in that log are RFC 3339 UTC.
 */
export function containerStarts(lines, namespace, t0) {
  const sandboxPod = new Map();
  const containerPod = new Map();
  const started = new Map();
  const at = (line) => Date.parse(/time="([^"]+)"/.exec(line)?.[1] ?? '') - t0;
  for (const line of lines) {
    let m = /RunPodSandbox for &PodSandboxMetadata\{Name:([^,]+),Uid:[^,]*,Namespace:([^,]+),.* returns sandbox id \\"(\w+)/.exec(line);
    if (m && m[2] === namespace) sandboxPod.set(m[3], m[1]);
    if (m) continue;
    m = /CreateContainer within sandbox \\"(\w+)\\".* returns container id \\"(\w+)/.exec(line);
    if (m && sandboxPod.has(m[1])) containerPod.set(m[2], sandboxPod.get(m[1]));
    if (m) continue;
    m = /StartContainer for \\"(\w+)\\" returns successfully/.exec(line);
    if (m && containerPod.has(m[1])) {
      const pod = containerPod.get(m[1]);
      started.set(pod, Math.max(started.get(pod) ?? -Infinity, at(line)));
    }
  }
  return started;
}

const fmt = (ms) => (Number.isNaN(ms) ? 'n/a' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

/**
 * Prints where each side's time went, p50 over its samples, in ms after the sample started:
 * applied (kubectl apply's exit; devloop's "applied" event), the kubelet first sees a pod, the last
 * pod's volumes mounted, the last pod Ready, the end of the sample; and in how many samples the
 * kubelet lost the mount race of a new namespace (see kubeletPhases), with the p50 of the others.
 * `timeline`: one { side: 'devloop' | 'kubectl', namespace, t0 (epoch ms), applied, total } per sample.
 */
export function printPhases(timeline) {
  if (!existsSync(kubeletLog)) {
    console.log(`(no kubelet log at ${kubeletLog}: no phase breakdown)`);
    return;
  }
  const lines = readFileSync(kubeletLog, 'utf8').split('\n');
  const withPhases = timeline.map((s) => ({ ...s, ...kubeletPhases(lines, s.namespace, s.t0) }));
  const rowsOut = ['| side | applied | kubelet sees a pod | last mount | last pod Ready | done | mount race lost | done, samples without the race |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const side of ['devloop', 'kubectl']) {
    const samples = withPhases.filter((s) => s.side === side);
    const p50 = (key, list = samples) => fmt(percentile(list.map((s) => s[key]).filter(Number.isFinite), 50));
    const clean = samples.filter((s) => !s.raced);
    rowsOut.push(`| ${side} | ${p50('applied')} | ${p50('sees')} | ${p50('mounted')} | ${p50('ready')} | ${p50('total')} | ${samples.length - clean.length} of ${samples.length} | ${clean.length ? p50('total', clean) : 'n/a'} |`);
  }
  console.log(`\nPhases, p50 over each side's samples, ms after the command started (kubelet times from ${kubeletLog}):`);
  console.log(rowsOut.join('\n'));
  printReadinessTick(withPhases);
}

/**
 * Whether the pods of a sample turn Ready together (a tick of the node) or each when its own
 * container started: per sample, the spread (last - first) of its pods' container starts (from
 * containerd's log) and of their first Ready (the kubelet's), p50 over each side's samples, and in
 * how many samples the Ready times lay within 20 ms of each other or, modulo 1 s, within 20 ms of
 * a whole second apart. `samplesWithPhases`: printPhases's samples, each with what kubeletPhases
 * read of it.
 */
function printReadinessTick(samplesWithPhases) {
  if (!existsSync(containerdLog)) return;
  const lines = readFileSync(containerdLog, 'utf8').split('\n');
  const out = ['| side | samples | container starts spread over (p50) | Ready times spread over (p50) | Ready within 20 ms of a common 1-s tick |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const side of ['devloop', 'kubectl']) {
    const spreads = [];
    for (const s of samplesWithPhases.filter((x) => x.side === side)) {
      const starts = [...containerStarts(lines, s.namespace, s.t0).values()];
      const ready = [...s.readyByPod.values()];
      if (starts.length < 2 || ready.length < 2) continue;
      const first = Math.min(...ready);
      const offGrid = ready.map((r) => { const d = (r - first) % 1000; return Math.min(d, 1000 - d); });
      spreads.push({ starts: Math.max(...starts) - Math.min(...starts), ready: Math.max(...ready) - first, tick: offGrid.every((d) => d <= 20) });
    }
    if (spreads.length === 0) continue;
    out.push(`| ${side} | ${spreads.length} | ${fmt(percentile(spreads.map((x) => x.starts), 50))} | ${fmt(percentile(spreads.map((x) => x.ready), 50))} | ${spreads.filter((x) => x.tick).length} of ${spreads.length} |`);
  }
  console.log(`\nReadiness: when the pods of a sample started (containerd, ${containerdLog}) and turned Ready (the kubelet):`);
  console.log(out.join('\n'));
}
