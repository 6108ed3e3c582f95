/**
 * Puts the containers of artifacts with `sync.restart` under the restart supervisor
 * (src/sync/restart.ts explains the mechanism): their `command` becomes
 * `sh -c SUPERVISOR devloop-supervisor <command> <args>` and `args` is dropped. No I/O; returns a
 * copy. A container without `command` in the manifest runs what Kubernetes would run: the image's
 * ENTRYPOINT followed by the manifest's `args`, or else the image's CMD (`imageCommands`, read from
 * the engine by the deployer). When neither is known: with `strict` (a deploy about to apply),
 * ConfigError naming the manifest and the fix; otherwise (`devloop render`, a prefetch before the
 * first build) the container is left as written.
 */
import { ConfigError, type ConfigProblem } from '../errors.js';
import type { KubeObject } from '../kube/types.js';
import { isSupervised, supervisedCommand } from '../sync/restart.js';
import { artifactFor, podSpecsOf } from './images.js';
import type { ManifestSource } from './manifests.js';

export function wrapForRestart(
  obj: KubeObject,
  restartImages: ReadonlySet<string>,
  source: ManifestSource,
  imageCommands: ReadonlyMap<string, { entrypoint: string[]; cmd: string[] }> = new Map(),
  strict = true,
): KubeObject {
  if (restartImages.size === 0) return obj;
  const copy = structuredClone(obj);
  const problems: ConfigProblem[] = [];
  for (const spec of podSpecsOf(copy)) {
    for (const c of spec.containers ?? []) {
      if (typeof c.image !== 'string' || !artifactFor(c.image, restartImages)) continue;
      const artifact = artifactFor(c.image, restartImages)!;
      const command = c.command as unknown[] | undefined;
      if (isSupervised(command)) continue;
      const fromImage = imageCommands.get(artifact);
      if ((command === undefined || (Array.isArray(command) && command.length === 0)) && fromImage) {
        const args = Array.isArray(c.args) ? (c.args as unknown[]).map(String) : fromImage.cmd;
        const full = [...fromImage.entrypoint, ...args];
        if (full.length > 0) {
          c.command = supervisedCommand(full);
          delete c.args;
          continue;
        }
      }
      if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
        if (!strict) continue;
        problems.push({
          file: source.file,
          line: source.line,
          column: 1,
          path: `document ${source.document}: ${obj.kind}/${obj.metadata.name} container ${c.name ?? ''}`,
          message: `sync.restart of ${artifact} needs the container's command: the manifest names none and the image's ENTRYPOINT and CMD are unknown (not built yet, or empty)`,
          fix: `add command: ["/path/to/your/program"] (and args) to container ${c.name ?? ''}`,
        });
        continue;
      }
      const args = Array.isArray(c.args) ? (c.args as unknown[]).map(String) : [];
      c.command = supervisedCommand(command as string[], args);
      delete c.args;
    }
  }
  if (problems.length) throw new ConfigError(problems, 'sync.restart cannot wrap a container');
  return copy;
}
