/** The shapes and helpers shared by host.ts and container.ts (re-exported by index.ts). */
import { FailureError } from '../errors.js';
import type { HookEvent } from '../events.js';

/** Which hook this is, as events and messages name it: `sync/after #1`. */
export interface HookRef {
  phase: HookEvent['phase'];
  when: HookEvent['when'];
  /** 1-based position in its list. */
  index: number;
  artifact?: string;
}

export function hookLabel(ref: HookRef): string {
  return `${ref.phase}/${ref.when} #${ref.index}`;
}

/** How one run of a hook ended. */
export interface HookOutcome {
  status: 'succeeded' | 'failed' | 'timed-out' | 'interrupted';
  exitCode?: number;
  durationMs: number;
  /** The last lines it printed (stdout and stderr interleaved), at most OUTPUT_TAIL_LINES. */
  output: string[];
  message?: string;
}

export const OUTPUT_TAIL_LINES = 40;

/** A hook that did not succeed, for callers that turn it into a failed build or deploy. */
export class HookFailedError extends FailureError {
  constructor(
    readonly ref: HookRef,
    readonly outcome: HookOutcome,
    where: string,
  ) {
    super(`${ref.artifact ? `${ref.artifact}: ` : ''}${hookLabel(ref)} hook ${describeOutcome(outcome)} ${where}`, {
      details: outcome.output,
      hint:
        outcome.status === 'timed-out'
          ? 'Make the command finish sooner, or raise its timeoutSeconds in the config.'
          : 'Fix the command (its output is above); the next change runs it again.',
    });
  }
}

export function describeOutcome(outcome: HookOutcome): string {
  switch (outcome.status) {
    case 'succeeded':
      return 'succeeded';
    case 'timed-out':
      return `timed out after ${Math.round(outcome.durationMs / 1000)}s`;
    case 'interrupted':
      return 'was interrupted';
    case 'failed':
      return outcome.exitCode !== undefined ? `failed with exit code ${outcome.exitCode}` : `failed${outcome.message ? ` (${outcome.message})` : ''}`;
  }
}

/** Keeps the last `max` complete lines of a stream, handing each complete line to `onLine`. */
export class LineTail {
  private partial = '';
  readonly lines: string[] = [];
  constructor(
    private readonly onLine: (line: string) => void = () => undefined,
    private readonly max = OUTPUT_TAIL_LINES,
  ) {}

  push(chunk: Buffer | string): void {
    this.partial += chunk.toString();
    let newline: number;
    while ((newline = this.partial.indexOf('\n')) >= 0) {
      this.line(this.partial.slice(0, newline).replace(/\r$/, ''));
      this.partial = this.partial.slice(newline + 1);
    }
  }

  flush(): void {
    if (this.partial !== '') this.line(this.partial);
    this.partial = '';
  }

  private line(text: string): void {
    this.lines.push(text);
    if (this.lines.length > this.max) this.lines.shift();
    this.onLine(text);
  }
}

/**
 * The environment of a sync host hook: devloop's names and the ones Skaffold sets (so its users'
 * scripts keep working). Paths are absolute local paths joined with ";", as in Skaffold.
 */
export function syncHookEnv(options: { imageRef: string; contextDir: string; added: readonly string[]; deleted: readonly string[]; kubeContext?: string; namespaces?: readonly string[] }): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (name: string, value: string) => {
    env[`DEVLOOP_${name}`] = value;
    env[`SKAFFOLD_${name}`] = value;
  };
  set('IMAGE', options.imageRef);
  set('BUILD_CONTEXT', options.contextDir);
  set('FILES_ADDED_OR_MODIFIED', options.added.join(';'));
  set('FILES_DELETED', options.deleted.join(';'));
  if (options.kubeContext) set('KUBE_CONTEXT', options.kubeContext);
  if (options.namespaces) set('NAMESPACES', options.namespaces.join(','));
  return env;
}

/** The environment of a build host hook (Skaffold's names and devloop's): the reference being built. */
export function buildHookEnv(options: { imageRef: string; contextDir: string; push: boolean }): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (name: string, value: string) => {
    env[`DEVLOOP_${name}`] = value;
    env[`SKAFFOLD_${name}`] = value;
  };
  const colon = options.imageRef.lastIndexOf(':');
  const slash = options.imageRef.lastIndexOf('/');
  const [repo, tag] = colon > slash ? [options.imageRef.slice(0, colon), options.imageRef.slice(colon + 1)] : [options.imageRef, ''];
  set('IMAGE', options.imageRef);
  set('IMAGE_REPO', repo);
  set('IMAGE_TAG', tag);
  set('PUSH_IMAGE', String(options.push));
  set('BUILD_CONTEXT', options.contextDir);
  return env;
}
