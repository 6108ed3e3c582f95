/**
 * Renders events as plain text lines: the renderer without a TTY, and the base of CI logs.
 * Contract: one event gives zero or more whole lines; it never throws; errors go to `err`.
 */
import type { ClusterEvent, DevloopEvent, EventSink, HookEvent } from '../events.js';
import type { Palette } from './color.js';
import { formatDuration } from './format.js';

export interface Writable {
  write(chunk: string): unknown;
}

export class PlainRenderer implements EventSink {
  constructor(
    private readonly out: Writable,
    private readonly err: Writable,
    private readonly palette: Palette,
    private readonly verbose = false,
  ) {}

  emit(event: DevloopEvent): void {
    const line = this.format(event);
    if (line === undefined) return;
    const target = event.type === 'error' ? this.err : this.out;
    target.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** The text for one event, or undefined when this renderer shows nothing for it. */
  format(event: DevloopEvent): string | undefined {
    const p = this.palette;
    const d = (ms?: number) => (ms === undefined ? '' : p.dim(` (${formatDuration(ms)})`));
    switch (event.type) {
      case 'build': {
        const name = p.bold(event.image);
        switch (event.status) {
          case 'planned':
            return `${name}: would build ${event.tag ?? ''}${event.reason ? ` (${event.reason})` : ''}`;
          case 'cached':
            return `${name}: ${p.green('cached')} ${event.tag ?? ''}${event.reason && this.verbose ? ` (${event.reason})` : ''}${d(event.durationMs)}`;
          case 'building':
            return `${name}: ${p.blue('building')} ${event.tag ?? ''}${event.reason ? p.dim(` (${event.reason})`) : ''}${this.verbose && event.builder ? p.dim(` with ${event.builder} (${event.builderReason ?? ''})`) : ''}`;
          case 'step':
            return this.verbose ? p.dim(`${event.image}: ${event.step ?? ''}`) : undefined;
          case 'built':
            return `${name}: ${p.green('built')} ${event.tag ?? ''}${d(event.durationMs)}`;
          case 'pushing':
            return `${name}: pushing ${event.tag ?? ''}`;
          case 'pushed':
            return `${name}: ${p.green('pushed')} ${event.tag ?? ''}${d(event.durationMs)}`;
          case 'failed': {
            if (event.skipped) return `${name}: ${p.yellow('skipped')}${event.reason ? ` ${event.reason}` : ''}`;
            const head = `${name}: ${p.red('failed')}${event.reason ? ` ${event.reason}` : ''}${d(event.durationMs)}`;
            const body = [...(event.output ?? []).map((l) => `  ${l}`), ...(event.hint ? [`  ${p.bold('fix')}: ${event.hint}`] : [])].join('\n');
            return body ? `${head}\n${body}` : head;
          }
        }
        return undefined;
      }
      case 'deploy': {
        const obj = event.object ? ` ${event.object}` : '';
        const status = event.status === 'failed' ? p.red(event.status) : event.status === 'ready' ? p.green(event.status) : event.status;
        const count = event.count !== undefined ? ` ${event.count} objects` : '';
        return `deploy: ${status}${obj}${count}${event.message ? ` ${event.message}` : ''}${d(event.durationMs)}`;
      }
      case 'prune':
        return `prune: ${event.status === 'kept' ? p.yellow('kept') : event.status} ${event.object}${event.message ? ` ${event.message}` : ''}`;
      case 'watch':
        if (event.status === 'ready') {
          const how = event.trigger && event.trigger !== 'notify' ? `, trigger ${event.trigger}` : '';
          const unwatched = event.unwatched?.length ? `; not watched (built and deployed once): ${event.unwatched.join(', ')}` : '';
          return `watch: ready${event.fileCount !== undefined ? `, ${event.fileCount} files` : ''}${how}${d(event.durationMs)}${unwatched}`;
        }
        if (event.status === 'held') return [`watch: ${event.message ?? ''}`, ...(event.held ?? []).map((h) => `  ${h}`)].join('\n');
        return `watch: ${p.yellow(event.status)} ${event.root ?? ''} ${event.message ?? ''}`.trimEnd();
      case 'change':
        return this.verbose || event.action !== 'ignore'
          ? p.dim(`change: ${event.path} -> ${event.action}${event.artifact ? ` [${event.artifact}]` : ''}: ${event.reason}`)
          : undefined;
      case 'sync': {
        const target = event.pod ? ` ${event.pod}${event.container ? `/${event.container}` : ''}` : '';
        const files = `${event.copied.length} copied, ${event.deleted.length} deleted`;
        const status = event.status === 'failed' ? p.red('sync failed') : `${event.status}`;
        return `${event.artifact}: ${status}${target}: ${files}${d(event.durationMs)}${event.message ? ` ${event.message}` : ''}`;
      }
      case 'pod':
        return `pod ${event.namespace}/${event.pod}: ${event.state} ${event.ready}/${event.total}${event.restarts ? `, ${event.restarts} restarts` : ''}${event.message ? ` ${event.message}` : ''}`;
      case 'log': {
        const prefix = p.keyed(`${event.pod}/${event.container}`, `${event.pod}/${event.container}`);
        if (event.hook) return `${prefix} ${p.dim(`[hook ${event.hook}]`)} ${event.line}`;
        return `${prefix} ${event.marker ? p.yellow(event.line) : event.line}`;
      }
      case 'hook':
        return formatHookEvent(event, p, this.verbose);
      case 'restart': {
        const where = `${event.pod}/${event.container}`;
        if (event.status === 'failed') return p.red(`${event.artifact}: restart of the main process in ${where} failed: ${event.message ?? ''}`);
        if (event.status === 'restarting') return this.verbose ? p.dim(`${event.artifact}: restarting the main process in ${where}`) : undefined;
        return `${event.artifact}: ${p.green('restarted')} the main process in ${where}${event.message ? ` (${event.message})` : ''}${d(event.durationMs)}`;
      }
      case 'portForward':
        return `port-forward ${event.resource}: ${event.status} ${event.address}:${event.localPort} -> ${event.remotePort}${event.pod ? ` (${event.pod})` : ''}${event.message ? ` ${event.message}` : ''}`;
      case 'teardown':
        return `teardown: ${event.status === 'kept' ? p.yellow('kept') : event.status}${event.object ? ` ${event.object}` : ''}${event.remaining !== undefined ? ` (${event.remaining} remaining)` : ''}${event.message ? ` ${event.message}` : ''}`;
      case 'cluster':
        return formatClusterEvent(event, p);
      case 'message':
        if (event.level === 'debug' && !this.verbose) return undefined;
        return event.level === 'warn' ? p.yellow(`warning: ${event.text}`) : event.level === 'debug' ? p.dim(event.text) : event.text;
      case 'phase':
        // The timeline, with -v only: `+1234ms deploy/render finished (56ms)`.
        if (!this.verbose) return undefined;
        return p.dim(`+${event.atMs}ms ${event.name} ${event.status}${event.durationMs !== undefined ? ` (${formatDuration(event.durationMs)})` : ''}`);
      case 'error': {
        const e = event.error as { kind?: string; message?: string; hint?: string; details?: string[] };
        const lines = [`${p.red('error')}: ${e.message ?? ''}`];
        for (const detail of e.details ?? []) lines.push(`  ${detail}`);
        if (e.hint) lines.push(`${p.bold('next')}: ${e.hint}`);
        return lines.join('\n');
      }
    }
  }
}

/** Seconds from now until `iso`, at least 0. */
function secondsUntil(iso: string | undefined, now: number): number {
  return iso ? Math.max(0, Math.round((Date.parse(iso) - now) / 1000)) : 0;
}

/**
 * `cluster` events as lines. While unreachable, repeated probe failures print only now and then
 * (the first, then every 15th probe) so a long outage does not flood the log; JSON output gets them all.
 */
export function formatClusterEvent(event: ClusterEvent, p: Palette, now = Date.now()): string | undefined {
  const since = event.since ? new Date(event.since).toISOString().slice(11, 19) : undefined;
  switch (event.status) {
    case 'waiting':
      return p.yellow(`waiting for the cluster (no answer for ${Math.round((event.noAnswerMs ?? 0) / 1000)}s)`);
    case 'unreachable': {
      const attempt = event.attempt ?? 0;
      if (attempt > 0 && attempt % 15 !== 0) return undefined;
      const pending = event.pendingFiles ? `; ${event.pendingFiles} edited file(s) will be synced when it answers` : '';
      const head = `cluster unreachable${since ? ` since ${since}` : ''}${event.message ? `: ${event.message}` : ''}`;
      return p.yellow(`${head}${pending}; next retry in ${secondsUntil(event.nextRetry, now)}s`);
    }
    case 'reachable':
      return p.green(
        `cluster reachable again${since ? ` (unreachable since ${since})` : ''}${event.pendingFiles ? `; re-syncing ${event.pendingFiles} file(s)` : ''}${event.redeploy ? '; redeploying' : ''}`,
      );
  }
}

/** `hook` events as lines: the start with -v only; a host hook's output lines; the end, with the output on failure. */
export function formatHookEvent(event: HookEvent, p: Palette, verbose: boolean): string | undefined {
  const name = `${event.artifact ? `${event.artifact}: ` : ''}${event.phase}/${event.when} #${event.index} hook`;
  const where = event.kind === 'container' ? ` in ${event.pod}/${event.container}` : '';
  const duration = event.durationMs === undefined ? '' : p.dim(` (${formatDuration(event.durationMs)})`);
  switch (event.status) {
    case 'running':
      return verbose ? p.dim(`${name}: running ${event.command.join(' ')}${where}`) : undefined;
    case 'output':
      return `${p.dim(`[hook ${event.phase}/${event.when} #${event.index}]`)} ${event.line ?? ''}`;
    case 'succeeded':
      return `${name}: ${p.green('ok')}${where}${duration}`;
    case 'interrupted':
      return `${name}: ${p.yellow('interrupted')}${where}`;
    case 'failed':
    case 'timed-out': {
      const what = event.status === 'timed-out' ? 'timed out' : event.exitCode !== undefined ? `failed with exit code ${event.exitCode}` : `failed${event.message ? ` (${event.message})` : ''}`;
      // a host hook's lines were already printed one by one
      const body = event.kind === 'container' ? (event.output ?? []).map((l) => `  ${l}`) : [];
      return [`${name}: ${p.red(what)}${where}${duration}: ${event.command.join(' ')}`, ...body].join('\n');
    }
  }
}
