/**
 * @kubernetes/client-node, imported on first need (about 0.9 s of CPU on a quiet 2-core machine):
 * only src/kube/ calls this, and only where client-node does the work (kubeconfig loading for
 * exec-style auth, exec, logs, port-forward). A command that never opens one of those never pays
 * for the import; `devloop dev` pays for it while the cluster starts its pods.
 */
import type { KubeConfig } from '@kubernetes/client-node';

export type ClientNode = typeof import('@kubernetes/client-node');

/** What a src/kube helper that opens a websocket or stream accepts: a kubeconfig, or one being loaded. */
export type KubeConfigSource = KubeConfig | Promise<KubeConfig>;

let clientNode: Promise<ClientNode> | undefined;

/** The module, imported once per process. */
export function loadClientNode(): Promise<ClientNode> {
  clientNode ??= import('@kubernetes/client-node');
  return clientNode;
}
