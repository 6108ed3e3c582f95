/**
 * Deploy hooks (`deploy.hooks.before/after`): `before` runs after rendering, before anything is
 * applied; `after` once every workload is ready (or right after the apply when the deploy does not
 * wait). A host hook runs in the config's directory (or `dir` below it) with DEVLOOP_/SKAFFOLD_
 * KUBE_CONTEXT and NAMESPACES set; a container hook runs in every running container of this
 * project's pods whose pod and container names match `podName` / `containerName` (globs; absent:
 * all), in parallel. The first failing hook fails the deploy (HookFailedError, with its output);
 * later hooks do not run. A `before` container hook finds the pods of the previous deploy (none on
 * the first), as in Skaffold.
 */
import path from 'node:path';
import micromatch from 'micromatch';
import type { Config } from '../config/load.js';
import { InterruptedError } from '../errors.js';
import type { EventSink } from '../events.js';
import { HookFailedError, runContainerHook, runHostHook, type HookOutcome, type HookRef } from '../hooks/index.js';
import type { KubeClient } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import type { ContainerRef, KubeObject } from '../kube/types.js';
import { projectSelector } from './labels.js';

export async function runDeployHooks(
  when: 'before' | 'after',
  config: Config,
  kube: KubeClient,
  options: { namespaces: readonly string[]; signal: AbortSignal; sink: EventSink },
): Promise<void> {
  const list = config.deploy.hooks?.[when] ?? [];
  for (const [i, hook] of list.entries()) {
    const ref: HookRef = { phase: 'deploy', when, index: i + 1 };
    const timeoutMs = hook.timeoutSeconds * 1000;
    const failures: Array<{ outcome: HookOutcome; where: string }> = [];
    if (hook.host) {
      const env: Record<string, string> = {};
      for (const prefix of ['DEVLOOP', 'SKAFFOLD']) {
        env[`${prefix}_KUBE_CONTEXT`] = kube.context;
        env[`${prefix}_NAMESPACES`] = options.namespaces.join(',');
      }
      const outcome = await runHostHook(ref, { command: hook.host.command, cwd: path.resolve(config.rootDir, hook.host.dir ?? '.'), env, timeoutMs }, options);
      if (outcome.status !== 'succeeded') failures.push({ outcome, where: 'on this machine' });
    } else if (hook.container) {
      const spec = hook.container;
      const targets = await matchingContainers(kube, config.name, spec.podName, spec.containerName, options.signal);
      if (targets.length === 0) {
        options.sink.emit({ type: 'message', level: 'info', text: `deploy/${when} #${i + 1} hook: no running container matches${spec.podName ? ` pod "${spec.podName}"` : ''}${spec.containerName ? ` container "${spec.containerName}"` : ''}; skipped` });
      }
      await Promise.all(
        targets.map(async (target) => {
          try {
            const outcome = await runContainerHook(ref, target, { command: spec.command, timeoutMs }, { ...options, kubeConfig: kube.kubeConfig });
            if (outcome.status !== 'succeeded') failures.push({ outcome, where: `in ${target.namespace}/${target.pod}/${target.container}` });
          } catch (error) {
            if (!isNotFound(error)) throw error; // a pod gone meanwhile has nothing to run the hook in
          }
        }),
      );
    }
    if (options.signal.aborted || failures.some((f) => f.outcome.status === 'interrupted')) throw new InterruptedError();
    if (failures.length > 0) throw new HookFailedError(ref, failures[0].outcome, failures[0].where);
  }
}

/** Running containers of the project's pods whose names match the globs. */
async function matchingContainers(kube: KubeClient, project: string, podName: string | undefined, containerName: string | undefined, signal: AbortSignal): Promise<ContainerRef[]> {
  const resource = await kube.resourceFor('v1', 'Pod', signal);
  const pods = await kube.list(resource, { labelSelector: projectSelector(project), signal });
  const targets: ContainerRef[] = [];
  for (const pod of pods as Array<KubeObject & { status?: { containerStatuses?: Array<{ name: string; state?: { running?: unknown } }> } }>) {
    if (pod.metadata.deletionTimestamp || !pod.metadata.name || !pod.metadata.namespace) continue;
    if (podName && !micromatch.isMatch(pod.metadata.name, podName)) continue;
    for (const status of pod.status?.containerStatuses ?? []) {
      if (!status.state?.running) continue;
      if (containerName && !micromatch.isMatch(status.name, containerName)) continue;
      targets.push({ namespace: pod.metadata.namespace, pod: pod.metadata.name, container: status.name });
    }
  }
  return targets;
}
