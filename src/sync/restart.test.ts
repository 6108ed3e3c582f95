import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSupervised, parseRestartAnswer, RESTART_SCRIPT, supervisedCommand } from './restart.js';

// The scripts run in containers with busybox sh; here they run with the host's sh (POSIX both).
describe('the restart supervisor', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function until<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('starts the command again after a restart request, with the files written before it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devloop-supervisor-'));
    dirs.push(dir);
    const state = path.join(dir, 'state');
    const program = path.join(dir, 'server.sh');
    // the "binary": prints its version once at start, then runs until stopped
    writeFileSync(program, `#!/bin/sh\necho "version $(cat ${dir}/VERSION)" >> ${dir}/out\nexec sleep 60\n`, { mode: 0o755 });
    writeFileSync(path.join(dir, 'VERSION'), '1');
    const [sh, ...args] = supervisedCommand([program]);
    const supervisor = spawn(sh, args, { env: { ...process.env, DEVLOOP_SUPERVISOR_DIR: state }, stdio: 'ignore' });
    try {
      await until(() => (readFileSync(path.join(dir, 'out'), { encoding: 'utf8', flag: 'a+' }).includes('version 1') ? true : undefined));
      const firstPid = readFileSync(path.join(state, 'main.pid'), 'utf8').trim();
      writeFileSync(path.join(dir, 'VERSION'), '2'); // the sync
      const restart = spawnSync('sh', ['-c', RESTART_SCRIPT, 'devloop-restart', '5'], { env: { ...process.env, DEVLOOP_SUPERVISOR_DIR: state }, encoding: 'utf8' });
      const answer = parseRestartAnswer(restart.stdout);
      expect(answer).toMatchObject({ ok: true });
      expect(answer.ok && answer.pid).not.toBe(firstPid);
      await until(() => (readFileSync(path.join(dir, 'out'), 'utf8').includes('version 2') ? true : undefined));
      expect(readFileSync(path.join(dir, 'out'), 'utf8')).toBe('version 1\nversion 2\n');
      expect(supervisor.exitCode).toBeNull();
    } finally {
      supervisor.kill('SIGTERM');
      await until(() => (supervisor.exitCode !== null || supervisor.signalCode !== null ? true : undefined));
    }
  });

  it('exits with the command\'s status when it ends without a restart request (a crash stays a crash)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devloop-supervisor-'));
    dirs.push(dir);
    const [sh, ...args] = supervisedCommand(['sh', '-c', 'exit 7']);
    const result = spawnSync(sh, args, { env: { ...process.env, DEVLOOP_SUPERVISOR_DIR: dir }, timeout: 10_000 });
    expect(result.status).toBe(7);
  });

  it('reports a container that does not run under the supervisor', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devloop-supervisor-'));
    dirs.push(dir);
    const restart = spawnSync('sh', ['-c', RESTART_SCRIPT, 'devloop-restart', '5'], { env: { ...process.env, DEVLOOP_SUPERVISOR_DIR: dir }, encoding: 'utf8' });
    expect(parseRestartAnswer(restart.stdout)).toMatchObject({ ok: false, code: 'no-supervisor' });
  });

  it('recognises its own command, so re-rendering never wraps twice', () => {
    expect(isSupervised(supervisedCommand(['/app/server'], ['--port', '80']))).toBe(true);
    expect(supervisedCommand(['/app/server'], ['--port', '80']).slice(-3)).toEqual(['/app/server', '--port', '80']);
    expect(isSupervised(['/app/server'])).toBe(false);
  });
});
