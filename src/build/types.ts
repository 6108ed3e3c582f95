/**
 * The build phase's interface, shared by `devloop build`, `devloop deploy` and `devloop dev`.
 * Implemented in builder.ts (real Docker engine); a fake may live beside it for unit tests.
 */
import type { Config } from '../config/load.js';
import type { EventSink } from '../events.js';

export type BuildStatus = 'built' | 'cached' | 'failed' | 'planned' | 'skipped';

export interface BuildResult {
  /** The artifact's image name from the config, e.g. `blog/posts`. */
  image: string;
  /**
   * The reference manifests must use: `name:tag` for the local daemon, or
   * `registry/name:tag` when built for a registry (e.g. `localhost:5000/blog/posts:3f2a...`).
   */
  tag: string;
  status: BuildStatus;
  /** Why it was built (first changed input) or why it failed. */
  reason?: string;
  durationMs?: number;
  /** For a failed build: what to do about it, when the failure is a known one. */
  hint?: string;
  /** Whether the reference is present in `registry` after this run. */
  pushed?: boolean;
}

export interface BuildOptions {
  /** Build only these images (and what they require); default: every artifact. */
  images?: string[];
  /** Push to the image's registry (or to `registry` when set). */
  push: boolean;
  /**
   * Registry to build for (e.g. `localhost:5000` from the cluster's KEP-1755 ConfigMap): the image
   * is tagged `${registry}/${image}:${tag}` and, with `push`, pushed there.
   */
  registry?: string;
  /**
   * Default repo to build for (`--default-repo` and its sources): the image is tagged
   * `${substituteDefaultRepo(defaultRepo, image)}:${tag}` (Skaffold's rules) and, with `push`,
   * pushed there. Takes the place of `registry` when both are set.
   */
  defaultRepo?: string;
  /** Compute tags and say what would build, build nothing. */
  dryRun?: boolean;
  /**
   * Results of an earlier run (dev loop): required images not selected by `images` resolve to these
   * references instead of being rebuilt.
   */
  previous?: ReadonlyMap<string, BuildResult>;
  signal: AbortSignal;
  sink: EventSink;
}

/** Builds artifacts in `requires` order, up to build.concurrency at once. */
export interface Builder {
  /**
   * Resolves with one result per selected artifact, failed ones included (one failure does not
   * stop independent builds; dependents of a failed build are `skipped`). Rejects only for
   * environment errors (daemon unreachable) or interruption.
   */
  build(config: Config, options: BuildOptions): Promise<BuildResult[]>;
  /** Loads what a build needs ahead of the first one (DockerClient.warmUp); never fails. */
  warmUp(): void;
}
