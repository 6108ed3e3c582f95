/**
 * `devloop down` when things went wrong: after devloop was killed with SIGKILL in the middle of a
 * deploy, and when the config file no longer parses (with and without the local journal).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kubectl, requireCluster, requireDocker, runDevloop, startDevloop } from './helpers.js';
import { labelledObjects, uniqueCopy } from './deploy-helpers.js';

const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

/** Starts `devloop deploy` and SIGKILLs it as soon as a stdout line matches `when`. */
function deployAndKill(dir: string, when: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = startDevloop(['deploy'], { cwd: dir });
    let out = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`deploy never printed ${when}:\n${out}`));
    }, 240_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (!killed && when.test(out)) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`deploy ended before it was killed:\n${out}`));
      else resolve(out);
    });
  });
}

describe('devloop down after a crash or a broken config', () => {
  beforeAll(() => {
    requireDocker();
    requireCluster();
  });

  it('cleans up everything after deploy was SIGKILLed during the rollout wait, and a second run is harmless', async () => {
    const name = `dl-kill-${runId}`;
    const { dir, cleanup } = uniqueCopy('blog', { project: 'blog', namespace: 'blog' }, name);
    try {
      await deployAndKill(dir, /deploy: waiting/);
      expect(labelledObjects(name).length).toBeGreaterThanOrEqual(9);
      expect(existsSync(path.join(dir, '.devloop/inventory'))).toBe(true);

      const result = await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(`teardown: deleted Namespace/${name}`);
      expect(labelledObjects(name)).toEqual([]);
      expect(kubectl(['get', 'secret', `devloop-inventory-${name}`, '-n', 'default', '--ignore-not-found', '-o', 'name']).trim()).toBe('');

      const again = await runDevloop(['down'], { cwd: dir });
      expect(again.exitCode).toBe(0);
      expect(again.stdout).toContain('nothing to delete');
    } finally {
      await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
      cleanup();
    }
  });

  it('cleans up when the config no longer parses, using the journal for the project name', async () => {
    const name = `dl-cfg-${runId}`;
    const { dir, cleanup } = uniqueCopy('pull-fail', { project: 'pull-fail', namespace: 'pull-fail' }, name);
    try {
      await deployAndKill(dir, /deploy: waiting/);
      expect(labelledObjects(name).length).toBeGreaterThanOrEqual(2);
      // Corrupt the config beyond parsing, metadata.name included.
      writeFileSync(path.join(dir, 'devloop.config.yaml'), 'apiVersion: devloop/v1\nkind: Config\nmetadata: {{{ not yaml\n');

      const result = await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('warning: the config does not parse');
      expect(result.stdout).toContain(`project "${name}" from the journal in .devloop/inventory`);
      expect(labelledObjects(name)).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('cleans up without a journal and with a broken config, from metadata.name and the cluster', async () => {
    const name = `dl-nojournal-${runId}`;
    const { dir, cleanup } = uniqueCopy('pull-fail', { project: 'pull-fail', namespace: 'pull-fail' }, name);
    try {
      await deployAndKill(dir, /deploy: waiting/);
      rmSync(path.join(dir, '.devloop'), { recursive: true, force: true });
      const file = path.join(dir, 'devloop.config.yaml');
      writeFileSync(file, `${readFileSync(file, 'utf8')}\ndeploy: [unclosed\n`);

      const result = await runDevloop(['down'], { cwd: dir, timeoutMs: 180_000 });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(`project "${name}" read from metadata.name`);
      expect(result.stdout).toContain(`teardown: deleted Deployment/${name}/ghost`);
      expect(labelledObjects(name)).toEqual([]);
    } finally {
      cleanup();
    }
  });
});
