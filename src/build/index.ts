/**
 * The build phase's public surface, for `devloop build`, `deploy` and `dev`.
 * - `createBuilder()` builds artifacts (see builder.ts and types.ts for the contract).
 * - `dependentsOf(config, images)`: those images plus every image requiring them, transitively.
 * - `contextFileFilter(artifact)`: the artifact's `.dockerignore` as `isExcluded(relPath, isDir)`
 *   (directories: true only when nothing below can be re-included, so a watcher may prune them).
 */
export { createBuilder, hasRegistryHost, selectArtifacts } from './builder.js';
export { buildOrder, dependentsOf, withRequirements } from '../shared/artifact-graph.js';
export { contextFileFilter, createFileFilter, parseDockerignore, type ContextFileFilter } from './dockerignore.js';
export type { Builder, BuildOptions, BuildResult, BuildStatus } from './types.js';
