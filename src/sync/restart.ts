/**
 * Restarting a container's main process after a sync (`sync.restart`), for programs that do not
 * reload changed files themselves (a compiled binary). The synced files must be in place when the
 * process starts again, so the container itself is NOT restarted (a container restart starts from
 * the image and would run the old binary until the replay arrives). Instead:
 *
 * 1. At render time (src/deploy/restart-wrapper.ts) each container of such an artifact gets
 *    `command: ["sh", "-c", SUPERVISOR_SCRIPT, "devloop-supervisor", <its command and args>]`.
 *    The supervisor (PID 1) starts the command as a child, writes the child's PID to
 *    /tmp/.devloop/main.pid and waits. When the child exits and /tmp/.devloop/restart exists, it
 *    removes the marker and starts the command again; otherwise it exits with the child's status,
 *    so a crash is still a container restart (CrashLoopBackOff, exit code and all). SIGTERM and
 *    SIGINT to PID 1 (the kubelet stopping the pod) go to the child, and the supervisor exits with
 *    its status. The command's output stays the container's output: logs are unchanged.
 * 2. After a batch is written (and its `after` hooks ran), the Syncer runs RESTART_SCRIPT in the
 *    container (one exec): it creates the marker, sends SIGTERM to the child, waits up to
 *    `timeoutSeconds` for it to exit (then SIGKILL), and waits until the supervisor reports a new
 *    PID. The new process therefore starts strictly after the files were written.
 * A container that (re)starts from the image gets the synced files replayed (ledger.ts) and is
 * then restarted the same way, so it too runs the synced binary.
 *
 * Needs in the image: sh, cat, kill, sleep, mkdir, rm (busybox has them all).
 */

/** The supervisor, run as `sh -c SUPERVISOR_SCRIPT devloop-supervisor <command...>`. */
export const SUPERVISOR_SCRIPT = [
  'd=${DEVLOOP_SUPERVISOR_DIR:-/tmp/.devloop}; mkdir -p "$d"; rm -f "$d/restart"',
  'child=',
  // PID 1 gets no default signal handling: forward TERM/INT to the command, exit with its status
  "trap 'kill -TERM $child 2>/dev/null; wait $child; exit $?' TERM INT",
  'while :; do',
  '  "$@" &',
  '  child=$!',
  '  echo "$child" > "$d/main.pid"',
  '  wait "$child"; code=$?',
  '  if [ -e "$d/restart" ]; then rm -f "$d/restart"; echo "devloop: restarting $1 after a sync" >&2; continue; fi',
  '  exit "$code"',
  'done',
].join('\n');

/** The argv0 the supervisor runs under (shows in `ps`). */
export const SUPERVISOR_NAME = 'devloop-supervisor';

/**
 * Run in the container as `sh -c RESTART_SCRIPT devloop-restart <timeoutSeconds>`. Prints one line:
 * `R <new pid>` once the new process runs, or `E <code> <message>` (no-supervisor, not-restarted).
 */
export const RESTART_SCRIPT = [
  'd=${DEVLOOP_SUPERVISOR_DIR:-/tmp/.devloop}; t=$1',
  '[ -r "$d/main.pid" ] || { echo "E no-supervisor the container does not run under the devloop supervisor (redeploy with sync.restart set)"; exit 3; }',
  'old=$(cat "$d/main.pid")',
  ': > "$d/restart"',
  'kill -TERM "$old" 2>/dev/null',
  'i=0',
  'while kill -0 "$old" 2>/dev/null; do',
  '  i=$((i+1))',
  '  if [ "$i" -gt $((t*10)) ]; then kill -KILL "$old" 2>/dev/null; break; fi',
  '  sleep 0.1',
  'done',
  'i=0',
  'while [ -e "$d/restart" ] || [ "$(cat "$d/main.pid" 2>/dev/null)" = "$old" ]; do',
  '  i=$((i+1))',
  '  if [ "$i" -gt 100 ]; then echo "E not-restarted the supervisor did not start the process again within 10 s"; exit 4; fi',
  '  sleep 0.1',
  'done',
  'echo "R $(cat "$d/main.pid")"',
].join('\n');

/** The command a container gets under the supervisor, from its original command and args. */
export function supervisedCommand(command: readonly string[], args: readonly string[] = []): string[] {
  return ['sh', '-c', SUPERVISOR_SCRIPT, SUPERVISOR_NAME, ...command, ...args];
}

/** Whether a container's command is already the supervisor's (re-rendering must not wrap twice). */
export function isSupervised(command: readonly unknown[] | undefined): boolean {
  return Array.isArray(command) && command[0] === 'sh' && command[1] === '-c' && command[2] === SUPERVISOR_SCRIPT;
}

/** Parses RESTART_SCRIPT's answer. */
export function parseRestartAnswer(stdout: string): { ok: true; pid: string } | { ok: false; code: string; message: string } {
  const line = stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith('R ') || l.startsWith('E '));
  if (!line) return { ok: false, code: 'no-answer', message: stdout.trim() || 'the restart script printed nothing' };
  if (line.startsWith('R ')) return { ok: true, pid: line.slice(2).trim() };
  const [, code, ...rest] = line.split(' ');
  return { ok: false, code: code ?? 'error', message: rest.join(' ') };
}
