/**
 * The deploy phase's public surface, for `devloop deploy`, `render`, `down` and `dev`.
 * - `createDeployer(config, kube)`: the Deployer (render, inventory, server-side apply, prune, wait).
 * - `loadImages(target, refs, ...)`: kind / minikube / k3d image loading after a build.
 * - labels and selectors that find a project's objects and pods.
 */
export { createDeployer, renderOffline } from './deployer.js';
export { buildDestination, detectImageTarget, loadImages, localRegistryHost, shouldPush, targetForContext } from './image-target.js';
export { InventoryStore, listJournals, readClusterInventory, inventorySecretName, INVENTORY_NAMESPACE } from './inventory.js';
export { isOwnedBy, projectLabels, projectSelector, MANAGED_BY_LABEL, PROJECT_LABEL } from './labels.js';
export { toYaml, type RenderedObject } from './render.js';
export { podBelongsTo, workloadProgress, waitForRollout } from './rollout.js';
export type { Deployer, DeployOptions, DeployResult, ImageTarget, ObjectRef } from './types.js';
