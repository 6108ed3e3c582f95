/**
 * `devloop build [IMAGE...] [--push] [--registry HOST:PORT] [--file-output FILE] [--dry-run]`
 *
 * Parses flags and calls the Builder; the work lives in src/build. Never imports ink: this
 * command draws no dashboard (src/cli/build.test.ts scans the import graph).
 *
 * Push: `--push` or `build.push: true` pushes. `build.push: auto` pushes only when deploying to a
 * cluster that is not local, so `devloop build` alone (which knows no cluster) never pushes.
 *
 * Exit: 0 when every selected image was built or was already current; FailureError (exit 1) naming
 * the failed and skipped images otherwise; EnvironmentError when Docker or the registry is down.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FailureError, UsageError } from '../errors.js';
import { createBuilder, selectArtifacts, type BuildResult } from '../build/index.js';
import type { CommandContext } from './context.js';
import { formatDuration } from '../output/format.js';

/** Skaffold's `--file-output` document: the images built (or found current) and their references. */
export function fileOutput(results: readonly BuildResult[]): { builds: Array<{ imageName: string; tag: string }> } {
  return {
    builds: results.filter((r) => r.status === 'built' || r.status === 'cached').map((r) => ({ imageName: r.image, tag: r.tag })),
  };
}

/** One line saying what happened, e.g. "5 images: 1 built, 4 cached (3.2s)". */
export function summarise(results: readonly BuildResult[], durationMs: number): string {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const order = ['built', 'cached', 'planned', 'failed', 'skipped'] as const;
  const parts = order.filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s === 'planned' ? 'would build' : s}`);
  const pushed = results.filter((r) => r.pushed).length;
  if (pushed) parts.push(`${pushed} in the registry`);
  return `${results.length} image${results.length === 1 ? '' : 's'}: ${parts.join(', ')} (${formatDuration(durationMs)})`;
}

export async function run(ctx: CommandContext): Promise<number> {
  const started = performance.now();
  const config = await ctx.loadConfig();
  const images = ctx.args;
  const registry = typeof ctx.flags.registry === 'string' ? ctx.flags.registry.replace(/\/+$/, '') : undefined;
  if (registry !== undefined && !/^[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?$/.test(registry)) {
    throw new UsageError(`--registry must be HOST[:PORT][/PATH], not "${registry}"`, { hint: 'For the local registry of the test cluster: --registry localhost:5000.' });
  }
  if (config.build.artifacts.length === 0) {
    throw new UsageError(`${path.relative(ctx.cwd, config.file) || config.file} defines no build.artifacts`, { hint: 'Add an artifact (image and context) under build.artifacts.' });
  }
  selectArtifacts(config, images); // unknown names: UsageError with did-you-mean, before touching Docker
  const push = ctx.flags.push === true || config.build.push === true;
  const dryRun = ctx.flags['dry-run'] === true;

  // --registry names the registry for this build alone; otherwise the default repo (flag,
  // environment, build.defaultRepo) does, with Skaffold's renaming.
  const defaultRepo = registry === undefined ? config.build.defaultRepo?.repo || undefined : undefined;
  if (defaultRepo) ctx.sink.emit({ type: 'message', level: 'info', text: `images are built for ${defaultRepo} (default repo from ${config.build.defaultRepo!.source})` });
  const results = await createBuilder().build(config, {
    images,
    push,
    registry,
    defaultRepo,
    dryRun,
    signal: ctx.signal,
    sink: ctx.sink,
  });

  const fileOutputPath = ctx.flags['file-output'];
  if (typeof fileOutputPath === 'string' && !dryRun) {
    await writeFile(path.resolve(ctx.cwd, fileOutputPath), `${JSON.stringify(fileOutput(results), null, 2)}\n`);
  }
  ctx.sink.emit({ type: 'message', level: 'info', text: summarise(results, performance.now() - started) });

  const failed = results.filter((r) => r.status === 'failed');
  const skipped = results.filter((r) => r.status === 'skipped');
  if (failed.length > 0) {
    throw new FailureError(`${failed.length} of ${results.length} image${results.length === 1 ? '' : 's'} failed to build: ${failed.map((r) => r.image).join(', ')}`, {
      details: [
        ...failed.flatMap((r) => [`${r.image}: ${r.reason ?? 'failed'}`, ...(r.hint ? [`  fix: ${r.hint}`] : [])]),
        ...skipped.map((r) => `${r.image}: skipped, ${r.reason ?? ''}`),
      ],
      hint: 'Fix the failing step shown above and run devloop build again; images that built are not rebuilt.',
    });
  }
  return 0;
}
