import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.js';
import { acquireSessionLock, LOCK_FILE } from './session-lock.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const stateDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'devloop-lock-'));
  dirs.push(d);
  return path.join(d, '.devloop');
};
const host = os.hostname();
/** The pid of a process that ran and exited: no process has it now (pids are not reused at once). */
const deadPid = () => Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());

describe('acquireSessionLock', () => {
  it('refuses a second session while the first runs, naming its pid and context, and allows one after release', () => {
    const dir = stateDir();
    const first = acquireSessionLock(dir, 'shop', 'kind-dev');
    expect(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, host, context: 'kind-dev' });
    // another process of this host (this test's own pid holds the lock and is alive)
    const error = (() => {
      try {
        acquireSessionLock(dir, 'shop', 'kind-dev', { pid: process.pid + 100_000, host });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).message).toMatch(new RegExp(`^devloop dev is already running for shop \\(pid ${process.pid}, since \\S+, context kind-dev\\)`));
    expect((error as EnvironmentError).hint).toBe(`Stop that session first (Ctrl-C in its terminal, or kill ${process.pid}); devloop deploy and devloop down work beside it.`);
    first.release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    acquireSessionLock(dir, 'shop', 'kind-dev', { pid: process.pid + 100_000, host }).release();
  });

  it('takes over the lock of a session that no longer runs, and a half-written one', () => {
    const dir = stateDir();
    acquireSessionLock(dir, 'shop', 'ctx', { pid: deadPid(), host }); // never released: as after kill -9
    const next = acquireSessionLock(dir, 'shop', 'ctx');
    expect(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    next.release();
    writeFileSync(path.join(dir, LOCK_FILE), '{"pid": 12');
    acquireSessionLock(dir, 'shop', 'ctx').release();
  });

  it('honours a lock written on another host, and says which file to delete once that session is gone', () => {
    const dir = stateDir();
    const elsewhere = acquireSessionLock(dir, 'shop', 'ctx', { pid: 4242, host: 'build-box' });
    expect(() => acquireSessionLock(dir, 'shop', 'ctx')).toThrow(/already running for shop \(pid 4242 on host build-box/);
    elsewhere.release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it("release leaves the file alone once another session holds it", () => {
    const dir = stateDir();
    const mine = acquireSessionLock(dir, 'shop', 'ctx');
    const other = JSON.stringify({ pid: 4242, host: 'build-box', startedAt: new Date().toISOString(), context: 'ctx' });
    writeFileSync(path.join(dir, LOCK_FILE), other); // taken over meanwhile (this session was thought gone)
    mine.release();
    expect(readFileSync(path.join(dir, LOCK_FILE), 'utf8')).toBe(other);
  });
});
