/**
 * `devloop deploy`: build what changed, render, apply with an inventory, wait for the rollout (like
 * `skaffold run`). Parses flags and calls the build and deploy phases; the work lives there.
 */
import type { CommandContext } from './context.js';
import { FailureError, InterruptedError } from '../errors.js';
import type { BuildResult } from '../build/types.js';
import { timePhase } from '../events.js';

/** Built references by image name; throws FailureError when any build failed. */
export function builtImages(results: readonly BuildResult[]): Map<string, string> {
  const failed = results.filter((r) => r.status === 'failed' || r.status === 'skipped');
  if (failed.length > 0) {
    throw new FailureError(`${failed.length} image${failed.length === 1 ? '' : 's'} did not build: ${failed.map((r) => r.image).join(', ')}; nothing was deployed`, {
      hint: 'Fix the build error shown above, then run devloop deploy again.',
    });
  }
  return new Map(results.map((r) => [r.image, r.tag]));
}

export async function run(ctx: CommandContext): Promise<number> {
  const { sink } = ctx;
  // Node's own start-up and the imports before this line, as the first phase of the timeline.
  sink.emit({ type: 'phase', name: 'deploy/start-up', status: 'started', atMs: 0 });
  sink.emit({ type: 'phase', name: 'deploy/start-up', status: 'finished', atMs: Math.round(performance.now()), durationMs: Math.round(performance.now()) });
  // The modules every deploy needs load while the config is read (a failed import surfaces where it is awaited).
  const kubeModule = import('../kube/client.js');
  const deployModule = import('../deploy/index.js');
  const podsModule = import('../observe/pods.js');
  const buildModule = import('../build/index.js');
  for (const m of [kubeModule, deployModule, podsModule, buildModule]) m.catch(() => undefined);
  const config = await timePhase(sink, 'deploy/load-config', () => ctx.loadConfig());
  const { createKubeClient } = await kubeModule;
  const kube = await createKubeClient(config, { lightweight: true });
  let stopPodWatcher: (() => Promise<void>) | undefined;
  try {
    const { buildDestination, createDeployer, loadImages, shouldPush } = await deployModule;
    const deployer = createDeployer(config, kube);
    // Discovery is needed by the render after the build: fetched meanwhile (a failure here is
    // forgotten; the render asks again and reports it).
    kube.discover(ctx.signal).catch(() => undefined);
    // Fail on an unreachable cluster before spending time on builds; the image target is read at
    // the same time (both are one request).
    const [, target] = await Promise.all([
      timePhase(sink, 'deploy/connect', () => kube.ping(ctx.signal)),
      timePhase(sink, 'deploy/image-target', () => deployer.imageTarget(ctx.signal, sink)),
    ]);
    const push = shouldPush(config, target, Boolean(ctx.flags.push));
    // The one watch of the project's pods: listed while the build runs, so the rollout wait knows
    // every pod from its first moment; it reports them (`pod` events) and the wait reads it.
    const { startPodWatcher } = await podsModule;
    const podWatcher = startPodWatcher(kube, { project: config.name, signal: ctx.signal, sink });
    stopPodWatcher = () => podWatcher.stop();
    // What the deploy reads that no image tag changes is read while the build runs.
    deployer.prefetch?.(config, ctx.signal, sink);
    const results = await timePhase(sink, 'deploy/build', async () => {
      const { createBuilder } = await buildModule;
      return createBuilder().build(config, {
        push,
        ...buildDestination(target),
        signal: ctx.signal,
        sink,
      });
    });
    const images = builtImages(results);
    await timePhase(sink, 'deploy/load-images', () => loadImages(target, [...images.values()], ctx.signal, sink));
    const result = await deployer.deploy(config, { images, adopt: Boolean(ctx.flags.adopt), pods: podWatcher.feed, signal: ctx.signal, sink }).catch((error: unknown) => {
      if (ctx.signal.aborted) {
        throw new InterruptedError('interrupted: what was applied so far stays in the cluster (it is in the inventory); devloop down deletes it');
      }
      throw error;
    });
    sink.emit({
      type: 'message',
      level: 'info',
      text: `deployed ${result.applied.length} objects for ${config.name} to ${kube.context}${result.pruned.length ? `, pruned ${result.pruned.length}` : ''}; delete them with devloop down`,
    });
    return 0;
  } finally {
    await stopPodWatcher?.();
    kube.close();
  }
}
