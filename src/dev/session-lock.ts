/**
 * One `devloop dev` per project directory. Two sessions of one project deploy the same objects, and
 * the first to stop deletes them under the other (its teardown also takes the namespace). So a
 * session holds `.devloop/dev.lock` (created exclusively: O_EXCL) with its pid, host and start; a
 * second session on the same host finds the holder alive and stops with its pid. A lock whose pid
 * no longer runs (a session killed with -9, a machine restarted) is taken over. A lock written on
 * another host (a shared file system) cannot be checked: it is honoured, and the message says how
 * to remove it when that session is gone.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EnvironmentError } from '../errors.js';

export interface SessionHolder {
  pid: number;
  host: string;
  /** ISO time the session started. */
  startedAt: string;
  /** The kubeconfig context it deploys to. */
  context: string;
}

export const LOCK_FILE = 'dev.lock';

/** Whether process `pid` runs on this host (EPERM: it runs as another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): SessionHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<SessionHolder>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? (parsed as SessionHolder) : undefined;
  } catch {
    return undefined; // gone meanwhile, or half written by a session that died: not a live holder
  }
}

/**
 * Takes the lock of the project whose state directory is `stateDir` for `project`, or throws
 * EnvironmentError naming the session that holds it. `release()` removes the file if it is still
 * this session's; calling it twice is harmless.
 */
export function acquireSessionLock(stateDir: string, project: string, context: string, self: { pid: number; host: string } = { pid: process.pid, host: os.hostname() }): { release(): void } {
  mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, LOCK_FILE);
  const mine: SessionHolder = { ...self, startedAt: new Date().toISOString(), context };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(mine)}\n`, { flag: 'wx' });
      return {
        release() {
          const holder = readHolder(file);
          if (holder?.pid === self.pid && holder.host === self.host) unlinkSync(file);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(file);
    const stale = !holder || (holder.host === self.host && !alive(holder.pid));
    if (!stale) {
      const where = holder.host === self.host ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`;
      throw new EnvironmentError(`devloop dev is already running for ${project} (${where}, since ${holder.startedAt}, context ${holder.context}): two sessions would deploy the same objects, and the first to stop would delete them under the other`, {
        hint:
          holder.host === self.host
            ? `Stop that session first (Ctrl-C in its terminal, or kill ${holder.pid}); devloop deploy and devloop down work beside it.`
            : `Stop that session first. If it no longer runs, delete ${file}.`,
      });
    }
    try {
      unlinkSync(file); // its session is gone: taken over
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new EnvironmentError(`another devloop dev of ${project} took ${file} at the same moment`, { hint: 'Stop the other session, then start this one again.' });
}
