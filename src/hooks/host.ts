/**
 * A hook on the developer's machine: `command` (argv, no shell) in `cwd`, with the process
 * environment plus `env`. Its own process group, so a deadline or Ctrl-C stops what it started too
 * (SIGTERM to the group, SIGKILL 2 s later). Never throws for the command's failure: the outcome
 * says how it ended; a program that cannot be started is `failed` with the reason.
 */
import { spawn } from 'node:child_process';
import type { EventSink } from '../events.js';
import { LineTail, type HookOutcome, type HookRef } from './types.js';

export async function runHostHook(
  ref: HookRef,
  hook: { command: string[]; cwd: string; env: Record<string, string>; timeoutMs: number },
  options: { signal: AbortSignal; sink: EventSink },
): Promise<HookOutcome> {
  const { sink, signal } = options;
  const base = { type: 'hook' as const, phase: ref.phase, when: ref.when, index: ref.index, kind: 'host' as const, command: hook.command, ...(ref.artifact ? { artifact: ref.artifact } : {}) };
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  if (signal.aborted) return { status: 'interrupted', durationMs: 0, output: [] };
  sink.emit({ ...base, status: 'running' });
  const tail = new LineTail((line) => sink.emit({ ...base, status: 'output', line }));

  const outcome = await new Promise<HookOutcome>((resolve) => {
    let stopped: 'timed-out' | 'interrupted' | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const child = spawn(hook.command[0], hook.command.slice(1), {
      cwd: hook.cwd,
      env: { ...process.env, ...hook.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const stop = (why: 'timed-out' | 'interrupted') => {
      if (stopped || child.exitCode !== null || child.signalCode !== null) return;
      stopped = why;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 2_000);
      killTimer.unref();
    };
    const deadline = setTimeout(() => stop('timed-out'), hook.timeoutMs);
    const onAbort = () => stop('interrupted');
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => tail.push(chunk));
    const finish = (result: Omit<HookOutcome, 'durationMs' | 'output'>) => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      signal.removeEventListener('abort', onAbort);
      tail.flush();
      resolve({ ...result, durationMs: elapsed(), output: tail.lines });
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? `${hook.command[0]}: no such program (in ${hook.cwd}, on PATH)` : error.message;
      finish({ status: 'failed', message: why });
    });
    child.on('close', (code, killedBy) => {
      if (stopped) finish({ status: stopped, ...(code !== null ? { exitCode: code } : {}) });
      else if (code === 0) finish({ status: 'succeeded', exitCode: 0 });
      else finish({ status: 'failed', ...(code !== null ? { exitCode: code } : { message: `killed by ${killedBy}` }) });
    });
  });
  sink.emit({
    ...base,
    status: outcome.status,
    durationMs: outcome.durationMs,
    ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
    ...(outcome.status !== 'succeeded' ? { output: outcome.output } : {}),
    ...(outcome.message ? { message: outcome.message } : {}),
  });
  return outcome;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
