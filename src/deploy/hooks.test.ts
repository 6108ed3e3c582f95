import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { CollectingSink } from '../events.js';
import { HookFailedError } from '../hooks/index.js';
import type { KubeClient } from '../kube/client.js';
import { runDeployHooks } from './hooks.js';

// Host deploy hooks need nothing of the cluster but its context name.
const kube = { context: 'devloop-local' } as unknown as KubeClient;

describe('deploy hooks (host)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function config(after: string[][]) {
    const dir = mkdtempSync(path.join(tmpdir(), 'devloop-deploy-hooks-'));
    dirs.push(dir);
    const file = path.join(dir, 'devloop.config.yaml');
    const hooks = after.map((command) => `      - host: { command: ${JSON.stringify(command)} }`).join('\n');
    return { dir, config: parseConfig(`apiVersion: devloop/v1\nkind: Config\nmetadata: { name: t }\ndeploy:\n  hooks:\n    after:\n${hooks}\n`, file, { skipFileChecks: true }) };
  }

  it('runs in order in the config directory with the context and namespaces', async () => {
    const { dir, config: c } = config([['sh', '-c', 'echo "1 $DEVLOOP_KUBE_CONTEXT $SKAFFOLD_NAMESPACES" >> out'], ['sh', '-c', 'echo 2 >> out']]);
    await runDeployHooks('after', c, kube, { namespaces: ['a', 'b'], signal: new AbortController().signal, sink: new CollectingSink() });
    expect(readFileSync(path.join(dir, 'out'), 'utf8')).toBe('1 devloop-local a,b\n2\n');
  });

  it('the first failing hook fails the deploy with its output; later hooks do not run', async () => {
    const { dir, config: c } = config([['sh', '-c', 'echo migration failed; exit 5'], ['sh', '-c', 'echo 2 >> out']]);
    const error = await runDeployHooks('after', c, kube, { namespaces: [], signal: new AbortController().signal, sink: new CollectingSink() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HookFailedError);
    expect((error as HookFailedError).message).toBe('deploy/after #1 hook failed with exit code 5 on this machine');
    expect((error as HookFailedError).details).toEqual(['migration failed']);
    expect(() => readFileSync(path.join(dir, 'out'))).toThrow();
  });
});
