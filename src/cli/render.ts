/**
 * `devloop render`: prints the manifests as deploy would apply them (built image references, default
 * namespace, devloop labels) as YAML on stdout. Changes nothing: builds nothing (tags are computed
 * by a dry-run build), applies nothing. Warnings go to stderr so stdout stays valid YAML.
 */
import type { CommandContext } from './context.js';
import { EnvironmentError } from '../errors.js';
import type { EventSink } from '../events.js';

export async function run(ctx: CommandContext): Promise<number> {
  const warn = (text: string) => ctx.stderr.write(`warning: ${text}\n`);
  // Which file was read (a Skaffold config) goes to stderr too.
  const config = await ctx.loadConfig({
    announceTo: { emit: (e) => (e.type === 'message' && e.level === 'info' ? ctx.stderr.write(`${e.text}\n`) : undefined) },
  });
  // Only warnings reach the user: everything on stdout is the YAML.
  const sink: EventSink = { emit: (e) => (e.type === 'message' && e.level === 'warn' ? warn(e.text) : undefined) };
  const { createKubeClient } = await import('../kube/client.js');
  const { buildDestination, createDeployer, renderOffline, toYaml } = await import('../deploy/index.js');

  let kube: Awaited<ReturnType<typeof createKubeClient>> | undefined;
  try {
    kube = await createKubeClient(config, { lightweight: true });
    await kube.ping(ctx.signal);
  } catch (error) {
    if (!(error instanceof EnvironmentError)) throw error;
    warn(`${error.message}; rendering without the cluster (built-in list of cluster-scoped kinds, image references for the local daemon)`);
    kube?.close();
    kube = undefined;
  }
  try {
    const deployer = kube ? createDeployer(config, kube) : undefined;
    const target = deployer ? await deployer.imageTarget(ctx.signal, sink) : undefined;
    const images = new Map<string, string>();
    try {
      const { createBuilder } = await import('../build/index.js');
      const results = await createBuilder().build(config, {
        push: false,
        dryRun: true,
        // without the cluster, a default repo still names the references
        ...(target ? buildDestination(target) : config.build.defaultRepo?.repo ? { defaultRepo: config.build.defaultRepo.repo } : {}),
        signal: ctx.signal,
        sink,
      });
      for (const r of results) if (r.tag) images.set(r.image, r.tag);
    } catch (error) {
      if (!(error instanceof EnvironmentError)) throw error;
      warn(`${error.message}; image references are left as written`);
    }
    const objects = deployer ? await deployer.render(config, images, ctx.signal, sink) : await renderOffline(config, images, ctx.signal);
    ctx.stdout.write(toYaml(objects));
    return 0;
  } finally {
    kube?.close();
  }
}
