// `devloop dev --output json` as the benchmarks drive it: one process, its JSON events collected as
// they arrive (each stamped `arrivedAt`, performance.now()), its stderr kept for error messages.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** Starts `devloopBin dev --output json` in `dir` with `env`. */
export function startDevloopDev(devloopBin, dir, env) {
  const events = [];
  const child = spawn(process.execPath, [devloopBin, 'dev', '--output', 'json'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    const now = performance.now();
    for (const line of lines) if (line.trim()) events.push({ ...JSON.parse(line), arrivedAt: now });
  });
  child.stderr.on('data', (d) => (stderr += d));
  const state = { exited: false };
  const closed = new Promise((r) => child.on('close', () => r((state.exited = true))));
  return {
    child,
    events,
    get stderr() {
      return stderr;
    },
    exited: () => state.exited,
    /** Ctrl-C, then waits (up to 3 min) for devloop to delete what it applied and exit. */
    async stop() {
      if (state.exited) return;
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 180_000);
      await closed;
      clearTimeout(t);
    },
  };
}
