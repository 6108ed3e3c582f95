/**
 * Where built images must go so the target cluster can pull them, and getting them there for the
 * clusters that load images instead of pulling (kind, minikube, k3d).
 *
 * Order of detection: a default repo (flag, environment or build.defaultRepo, resolved by the
 * config loader: src/config/default-repo.ts), then the KEP-1755 `local-registry-hosting` ConfigMap
 * in kube-public (any cluster announcing a registry: push there), then the context name (kind-*,
 * minikube, k3d-*, docker-desktop), else a remote cluster (push to each image's own registry).
 */
import { parse } from 'yaml';
import { EnvironmentError, FailureError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Config } from '../config/load.js';
import type { DefaultRepo } from '../config/default-repo.js';
import type { BuildOptions } from '../build/types.js';
import type { KubeClient } from '../kube/client.js';
import { isForbidden } from '../kube/errors.js';
import { runTool } from '../shared/subprocess.js';
import type { ImageTarget } from './types.js';

/**
 * Whether built images must be pushed for `target` (`devloop deploy` and `devloop dev`): when asked
 * (--push or build.push: true), never with build.push: false, else when the cluster pulls from a
 * registry (a local registry or a remote cluster). Pure.
 */
export function shouldPush(config: Config, target: ImageTarget, pushFlag: boolean): boolean {
  if (pushFlag || config.build.push === true) return true;
  if (config.build.push === false) return false;
  return target.kind === 'registry' || target.kind === 'default-repo' || target.kind === 'remote';
}

/** What the Builder must build for `target`: the registry's or default repo's references. Pure. */
export function buildDestination(target: ImageTarget | undefined): Pick<BuildOptions, 'registry' | 'defaultRepo'> {
  if (target?.kind === 'default-repo') return { defaultRepo: target.repo };
  if (target?.kind === 'registry') return { registry: target.registry };
  return {};
}

/** The `host` of the cluster's KEP-1755 ConfigMap, or undefined when there is none (or it is unreadable). */
export async function localRegistryHost(kube: KubeClient, signal?: AbortSignal): Promise<string | undefined> {
  const cm = await kube.get({ group: '', version: 'v1', kind: 'ConfigMap', namespace: 'kube-public', name: 'local-registry-hosting' }, signal).catch((error) => {
    // 403 (no read access to kube-public) means "no announcement we can use", not a failure.
    if (isForbidden(error)) return undefined;
    throw error;
  });
  const text = (cm?.data as Record<string, string> | undefined)?.['localRegistryHosting.v1'];
  if (!text) return undefined;
  try {
    const parsed = parse(text) as { host?: unknown } | null;
    return typeof parsed?.host === 'string' && parsed.host ? parsed.host : undefined;
  } catch {
    return undefined;
  }
}

/** The target for a context name alone (no registry announced). Pure. */
export function targetForContext(context: string): ImageTarget {
  if (context.startsWith('kind-')) return { kind: 'kind', cluster: context.slice('kind-'.length), local: true };
  if (context === 'minikube' || context.startsWith('minikube-')) return { kind: 'minikube', cluster: context, local: true };
  if (context.startsWith('k3d-')) return { kind: 'k3d', cluster: context.slice('k3d-'.length), local: true };
  if (context === 'docker-desktop' || context === 'docker-for-desktop' || context === 'rancher-desktop' || context === 'orbstack') return { kind: 'daemon', local: true };
  return { kind: 'remote', local: false };
}

export async function detectImageTarget(kube: KubeClient, signal?: AbortSignal, defaultRepo?: DefaultRepo, sink?: EventSink): Promise<ImageTarget> {
  if (defaultRepo?.repo) {
    sink?.emit({
      type: 'message',
      level: 'info',
      text: `images go to ${defaultRepo.repo} (default repo from ${defaultRepo.source}); the cluster's local-registry-hosting announcement is not read`,
    });
    return { kind: 'default-repo', repo: defaultRepo.repo, source: defaultRepo.source, local: false };
  }
  const registry = await localRegistryHost(kube, signal);
  const off = defaultRepo ? `${defaultRepo.source} is empty: no default repo; ` : '';
  if (registry) {
    sink?.emit({ type: 'message', level: 'debug', text: `${off}images go to ${registry}, the registry announced by the cluster's local-registry-hosting ConfigMap (KEP-1755)` });
    return { kind: 'registry', registry, local: true };
  }
  const target = targetForContext(kube.context);
  sink?.emit({
    type: 'message',
    level: 'debug',
    text: `${off}no registry announced by the cluster (local-registry-hosting); context ${kube.context}: ${target.kind === 'remote' ? 'a remote cluster, images are pushed to the registry in their names' : `a ${target.kind} cluster`}`,
  });
  return target;
}

/**
 * Loads built images into kind / minikube / k3d with their CLIs (after the build). Nothing to do for
 * the other targets (the Builder pushes, or the cluster shares the daemon). Throws EnvironmentError
 * when the CLI is missing, FailureError when it fails.
 */
export async function loadImages(target: ImageTarget, refs: readonly string[], signal: AbortSignal, sink: EventSink): Promise<void> {
  if (refs.length === 0) return;
  let command: string;
  let args: string[];
  if (target.kind === 'kind') {
    command = 'kind';
    args = ['load', 'docker-image', '--name', target.cluster, ...refs];
  } else if (target.kind === 'minikube') {
    command = 'minikube';
    args = ['image', 'load', '--profile', target.cluster, ...refs];
  } else if (target.kind === 'k3d') {
    command = 'k3d';
    args = ['image', 'import', '--cluster', target.cluster, ...refs];
  } else return;
  const started = Date.now();
  sink.emit({ type: 'message', level: 'info', text: `loading ${refs.length} image${refs.length === 1 ? '' : 's'} into ${target.kind} cluster ${target.cluster}` });
  const missing = new EnvironmentError(`the context is a ${target.kind} cluster but ${command} is not on PATH, so built images cannot be loaded into it`, {
    hint: `Install ${command}, or give the cluster a local registry announced by the KEP-1755 local-registry-hosting ConfigMap.`,
  });
  const result = await runTool(command, args, { signal, missing });
  if (result.exitCode !== 0) {
    throw new FailureError(`${command} ${args.slice(0, 3).join(' ')} failed (exit ${result.exitCode})`, {
      details: result.stderr.trim().split('\n').slice(-10),
      hint: `Check that the ${target.kind} cluster "${target.cluster}" is running.`,
    });
  }
  sink.emit({ type: 'message', level: 'debug', text: `loaded images into ${target.kind} in ${Date.now() - started} ms` });
}
