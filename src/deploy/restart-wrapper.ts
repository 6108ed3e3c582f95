/**
 * Puts the containers of artifacts with `sync.restart` under the restart supervisor
 * (src/sync/restart.ts explains the mechanism): their `command` becomes
 * `sh -c SUPERVISOR devloop-supervisor <command> <args>` and `args` is dropped. No I/O; returns a
 * copy. A container of such an artifact without `command` in the manifest cannot be wrapped
 * (devloop does not read the image's ENTRYPOINT): ConfigError naming the manifest and the fix.
 */
import { ConfigError, type ConfigProblem } from '../errors.js';
import type { KubeObject } from '../kube/types.js';
import { isSupervised, supervisedCommand } from '../sync/restart.js';
import { artifactFor, podSpecsOf } from './images.js';
import type { ManifestSource } from './manifests.js';

export function wrapForRestart(obj: KubeObject, restartImages: ReadonlySet<string>, source: ManifestSource): KubeObject {
  if (restartImages.size === 0) return obj;
  const copy = structuredClone(obj);
  const problems: ConfigProblem[] = [];
  for (const spec of podSpecsOf(copy)) {
    for (const c of spec.containers ?? []) {
      if (typeof c.image !== 'string' || !artifactFor(c.image, restartImages)) continue;
      const command = c.command as unknown[] | undefined;
      if (isSupervised(command)) continue;
      if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
        problems.push({
          file: source.file,
          line: source.line,
          column: 1,
          path: `document ${source.document}: ${obj.kind}/${obj.metadata.name} container ${c.name ?? ''}`,
          message: `sync.restart of ${artifactFor(c.image, restartImages)} needs the container's command in the manifest: devloop runs it under a restart supervisor and does not read the image's ENTRYPOINT`,
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
