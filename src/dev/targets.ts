/**
 * Which containers a sync or replay goes to, read from the dev state: pure functions of the pods
 * the pod watcher reported and the builds of this session.
 */
import { artifactOfImage, type PodSnapshot } from '../observe/pods.js';
import type { Config } from '../config/load.js';
import type { BuildResult } from '../build/types.js';
import type { ContainerTarget } from './services.js';

/** The part of the dev state (reduce.ts) these read. */
interface TargetState {
  readonly config: Config;
  readonly builds: ReadonlyMap<string, BuildResult>;
  readonly pods: ReadonlyMap<string, PodSnapshot>;
}

/** The sync target of a container when it runs the current build of an artifact; undefined otherwise. */
export function targetFor(state: TargetState, pod: PodSnapshot, containerName: string): ContainerTarget | undefined {
  const container = pod.containers.find((c) => c.name === containerName);
  if (!container || pod.terminating) return undefined;
  // A reference built in this session names its artifact exactly (a default repo renames
  // images: reg/app -> registry.example.com/reg_app); otherwise match by name.
  const built = [...state.builds].find(([, result]) => result.tag === container.image)?.[0];
  const image = built ?? artifactOfImage(container.image, state.config.build.artifacts.map((a) => a.image));
  if (!image) return undefined;
  const current = state.builds.get(image)?.tag;
  if (current && current !== container.image) return undefined;
  return {
    namespace: pod.namespace,
    pod: pod.name,
    container: container.name,
    image,
    ...(container.workingDir ? { workdir: container.workingDir } : {}),
  };
}

/** Every running container of the current build of `image`, in every replica. */
export function targetsOf(state: TargetState, image: string): ContainerTarget[] {
  const targets: ContainerTarget[] = [];
  for (const pod of state.pods.values()) {
    for (const container of pod.containers) {
      if (container.state !== 'running') continue;
      const target = targetFor(state, pod, container.name);
      if (target?.image === image) targets.push(target);
    }
  }
  return targets;
}

/** The artifacts not developed in this session (`devloop dev IMAGE...` named others). */
export function unwatchedImages(state: { readonly config: Config; readonly settings: { readonly watchedImages?: ReadonlySet<string> } }): Set<string> {
  const watched = state.settings.watchedImages;
  return new Set(watched ? state.config.build.artifacts.map((a) => a.image).filter((i) => !watched.has(i)) : []);
}
