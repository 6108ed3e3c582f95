// The statistics every bench/*.mjs reports with, so all figures mean the same thing:
// - percentiles are nearest-rank over the raw samples (p50, p95; no interpolation, no outlier removal);
// - devloop and its baseline are sampled interleaved (A B A B ...), at least MIN_SAMPLES of each,
//   so load from other processes falls on both alike and p95 has ten or more samples under it;
// - every ratio is devloop / baseline of the p50s: under 1 means devloop is faster (or smaller).
// Imports nothing from devloop.

/** Fewest samples of each side a headline row may rest on. */
export const MIN_SAMPLES = 10;

/** Nearest-rank percentile (p in 0..100) of `samples`; NaN for none. */
export function percentile(samples, p) {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** n, p50, p95, min and max of `samples`. */
export function summarize(samples) {
  return { n: samples.length, p50: percentile(samples, 50), p95: percentile(samples, 95), min: Math.min(...samples), max: Math.max(...samples) };
}

/** devloop / baseline of the p50s (under 1: devloop is faster or smaller). */
export function ratio(devloopSamples, baselineSamples) {
  return percentile(devloopSamples, 50) / percentile(baselineSamples, 50);
}

/** `0.42x`, the one way ratios are printed. */
export function formatRatio(value) {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a';
}

/**
 * Runs `devloop` and `baseline` alternately, A B A B ..., `count` times each (at least
 * MIN_SAMPLES unless `allowFewer`), and returns their samples (each call returns one number, or a
 * promise of one). Stops early, with what it has, once `deadline` (ms since epoch) has passed.
 * `before(side, i)` runs before each sample, untimed (e.g. to reset a cache).
 */
export async function interleave(count, devloop, baseline, { deadline = Infinity, allowFewer = false, before } = {}) {
  if (!allowFewer && count < MIN_SAMPLES) throw new Error(`at least ${MIN_SAMPLES} samples of each side are needed, not ${count}`);
  const a = [];
  const b = [];
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    await before?.('devloop', i);
    a.push(await devloop(i));
    await before?.('baseline', i);
    b.push(await baseline(i));
  }
  return { devloop: a, baseline: b };
}

/**
 * Prints rows of `{ what, devloop: { label, samples }, baseline: { label, samples }, unit? }` as one
 * table: n, p50 and p95 of each side and the devloop/baseline ratio of the p50s. Times in ms
 * unless a row names another unit.
 */
export function printTable(title, rows) {
  console.log(`\n${title}`);
  const header = ['what', 'devloop', 'n', 'p50', 'p95', 'baseline', 'n', 'p50', 'p95', 'devloop/baseline (p50)'];
  const fmt = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)) : 'n/a');
  const body = rows.map((r) => {
    const a = summarize(r.devloop.samples);
    const b = summarize(r.baseline.samples);
    const unit = r.unit && r.unit !== 'ms' ? ` (${r.unit})` : '';
    return [`${r.what}${unit}`, r.devloop.label, String(a.n), fmt(a.p50), fmt(a.p95), r.baseline.label, String(b.n), fmt(b.p50), fmt(b.p95), formatRatio(ratio(r.devloop.samples, r.baseline.samples))];
  });
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map((_, i) => (i === 0 || i === 1 || i === 5 ? '---' : '---:')).join(' | ')} |`);
  for (const r of body) console.log(`| ${r.join(' | ')} |`);
  console.log('Percentiles nearest-rank over interleaved samples (A B A B); ratio under 1: devloop is faster (or smaller).');
}

/**
 * A random pause of 0-999 ms, added to the fixed pause before each sample that ends in a rollout.
 * The kubelet runs every readiness probe on one shared one-second grid (in its log, pods of
 * different rollouts turn Ready at the same fraction of a second), so a sample ends on that grid.
 * After a fixed pause the next sample would start at the same phase of it, every time, and each
 * side would keep its own phase: one side could end just after a probe in every sample, the other
 * just before. The random pause spreads both sides over the whole second.
 */
export function gridJitterMs() {
  return Math.floor(Math.random() * 1000);
}
