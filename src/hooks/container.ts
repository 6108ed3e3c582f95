/**
 * A hook in a running container, through the exec API (src/kube/exec.ts). The command runs under
 * `sh` only to report its PID first (`exec` then replaces sh with the command, argv untouched), so a
 * deadline or Ctrl-C can stop it in the container: closing the exec connection does not. The image
 * needs `sh` and `kill` (busybox has both; sync needs sh anyway). Each output line becomes a `log`
 * event of that container marked with `hook`, so it shows in the pod's log stream.
 *
 * Rejects only when the container cannot be reached: ClusterUnreachableError (src/kube) or a
 * KubeApiError 404 (pod gone); the caller decides. Any exit of the command is an outcome.
 */
import type { EventSink } from '../events.js';
import { execToCompletion, type KubeConfigSource } from '../kube/exec.js';
import type { ContainerRef } from '../kube/types.js';
import { hookLabel, LineTail, type HookOutcome, type HookRef } from './types.js';

/** The first stderr line of a container hook: `devloop-hook-pid <pid>`; never shown. */
export const HOOK_PID_PREFIX = 'devloop-hook-pid ';

const REPORT_PID_THEN_EXEC = `echo "${HOOK_PID_PREFIX}$$" >&2; exec "$@"`;

export async function runContainerHook(
  ref: HookRef,
  target: ContainerRef,
  hook: { command: string[]; timeoutMs: number },
  options: { kubeConfig: KubeConfigSource; signal: AbortSignal; sink: EventSink },
): Promise<HookOutcome> {
  const { sink, signal } = options;
  const where = { namespace: target.namespace, pod: target.pod, container: target.container };
  const base = { type: 'hook' as const, phase: ref.phase, when: ref.when, index: ref.index, kind: 'container' as const, command: hook.command, ...(ref.artifact ? { artifact: ref.artifact } : {}), ...where };
  const label = hookLabel(ref);
  const started = performance.now();
  if (signal.aborted) return { status: 'interrupted', durationMs: 0, output: [] };
  sink.emit({ ...base, status: 'running' });
  const toLog = (line: string) => sink.emit({ type: 'log', ...where, line, hook: label });
  const stdout = new LineTail(toLog);
  let pid: string | undefined;
  const stderr = new LineTail((line) => {
    if (pid === undefined && line.startsWith(HOOK_PID_PREFIX)) {
      pid = line.slice(HOOK_PID_PREFIX.length).trim();
      return;
    }
    toLog(line);
  });
  const result = await execToCompletion(options.kubeConfig, target, ['sh', '-c', REPORT_PID_THEN_EXEC, 'devloop-hook', ...hook.command], {
    signal,
    timeoutMs: hook.timeoutMs,
    onStdout: (chunk) => stdout.push(chunk),
    onStderr: (chunk) => stderr.push(chunk),
    onStop: async () => {
      if (pid === undefined || !/^\d+$/.test(pid)) return;
      // a fresh exec: the hook's own connection cannot signal it. TERM, then KILL after 2 s.
      await execToCompletion(options.kubeConfig, target, ['sh', '-c', `kill -TERM ${pid} 2>/dev/null; sleep 2; kill -KILL ${pid} 2>/dev/null; true`], {
        signal: new AbortController().signal,
        timeoutMs: 5_000,
        onStdout: () => undefined,
        onStderr: () => undefined,
      });
    },
  });
  stdout.flush();
  stderr.flush();
  const output = [...stdout.lines, ...stderr.lines].slice(-40);
  const durationMs = Math.round(performance.now() - started);
  const outcome: HookOutcome =
    result.stopped === 'timeout'
      ? { status: 'timed-out', durationMs, output }
      : result.stopped === 'aborted'
        ? { status: 'interrupted', durationMs, output }
        : result.code === 0
          ? { status: 'succeeded', exitCode: 0, durationMs, output }
          : { status: 'failed', durationMs, output, ...(result.code !== undefined ? { exitCode: result.code } : {}), message: result.message };
  sink.emit({
    ...base,
    status: outcome.status,
    durationMs,
    ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
    ...(outcome.status !== 'succeeded' ? { output, ...(outcome.message ? { message: outcome.message } : {}) } : {}),
  });
  return outcome;
}
