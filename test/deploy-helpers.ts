/**
 * Helpers shared by test/deploy.test.ts and test/down.test.ts: unique fixture copies and what the
 * cluster holds for a project, as kubectl sees it.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { copyFixture, kubectl } from './helpers.js';

/** Copies a fixture and renames its project and namespace (config and manifests) to `name`. */
export function uniqueCopy(fixture: string, from: { project: string; namespace: string }, name: string): { dir: string; cleanup(): void } {
  const copy = copyFixture(fixture);
  const configFile = path.join(copy.dir, 'devloop.config.yaml');
  writeFileSync(
    configFile,
    readFileSync(configFile, 'utf8')
      .replace(new RegExp(`^  name: ${from.project}$`, 'm'), `  name: ${name}`)
      .replace(new RegExp(`namespace: ${from.namespace}\\b`, 'g'), `namespace: ${name}`),
  );
  const manifestDir = fixture === 'blog' ? path.join(copy.dir, 'infra/k8s') : path.join(copy.dir, 'k8s');
  for (const f of readdirSync(manifestDir)) {
    const file = path.join(manifestDir, f);
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace(new RegExp(`namespace: ${from.namespace}$`, 'gm'), `namespace: ${name}`)
        .replace(new RegExp(`^kind: Namespace\\nmetadata:\\n  name: ${from.namespace}$`, 'm'), `kind: Namespace\nmetadata:\n  name: ${name}`),
    );
  }
  return copy;
}

/** Every object labelled for `project`, as `kind/namespace/name` lines (kubectl's own view). */
export function labelledObjects(project: string): string[] {
  const out = kubectl(['get', 'all,configmaps,secrets,namespaces,serviceaccounts', '-A', '-l', `devloop.dev/project=${project}`, '-o', 'jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{"\\n"}{end}']);
  return out.split('\n').filter((l) => l.trim() !== '');
}


/** Moves a uniqueCopy of blog from namespace `from` to `to` (config and manifests); the project name stays. */
export function renameNamespace(dir: string, from: string, to: string): void {
  const configFile = path.join(dir, 'devloop.config.yaml');
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace(new RegExp(`namespace: ${from}\\b`, 'g'), `namespace: ${to}`));
  const manifestDir = path.join(dir, 'infra/k8s');
  for (const f of readdirSync(manifestDir)) {
    const file = path.join(manifestDir, f);
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace(new RegExp(`namespace: ${from}$`, 'gm'), `namespace: ${to}`)
        .replace(new RegExp(`^kind: Namespace\\nmetadata:\\n  name: ${from}$`, 'm'), `kind: Namespace\nmetadata:\n  name: ${to}`),
    );
  }
}
