/**
 * Errors classified by who must act. Every error that leaves a command is one of these; the single
 * top-level handler in `cli/main.ts` renders it and turns `exitCode` into the process exit code.
 *
 * - `user`: the input is wrong (config, flags, manifests). Exit 2. The message names the place.
 * - `failure`: the user's own code failed (a build step, a rollout). Exit 1.
 * - `environment`: something around devloop is missing or broken (Docker daemon down, cluster
 *   unreachable, port taken). Exit 1. `hint` says what to do next.
 * - `interrupted`: the user pressed Ctrl-C or sent SIGTERM. Exit 130.
 * - `bug`: an invariant of devloop itself broke. Exit 70.
 */
export type ErrorKind = 'user' | 'failure' | 'environment' | 'interrupted' | 'bug';

const exitCodes: Record<ErrorKind, number> = {
  user: 2,
  failure: 1,
  environment: 1,
  interrupted: 130,
  bug: 70,
};

export interface ErrorOptions {
  /** What the user should do next, one or two sentences. */
  hint?: string;
  /** Further lines shown under the message (compiler output, problem lists). */
  details?: string[];
  cause?: unknown;
}

export class DevloopError extends Error {
  readonly kind: ErrorKind;
  readonly hint?: string;
  readonly details: string[];

  constructor(kind: ErrorKind, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }

  get exitCode(): number {
    return exitCodes[this.kind];
  }

  toJSON(): Record<string, unknown> {
    return {
      kind: this.kind,
      name: this.name,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details.length ? { details: this.details } : {}),
    };
  }
}

/** Bad flags or arguments on the command line. */
export class UsageError extends DevloopError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('user', message, options);
  }
}

/** One problem found in a config file, located for an editor jump (1-based line and column). */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted path into the document, e.g. `build.artifacts[1].context`. */
  path: string;
  message: string;
  /** How to fix it, when there is one obvious fix. */
  fix?: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = `${p.file}:${p.line}:${p.column}`;
  const path = p.path ? `${p.path}: ` : '';
  return `${where}: ${path}${p.message}${p.fix ? ` (${p.fix})` : ''}`;
}

/** The config file (or a manifest) is invalid. Carries every problem found, not just the first. */
export class ConfigError extends DevloopError {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[], message?: string, hint = 'Fix the lines above and run the command again.') {
    const count = problems.length;
    super('user', message ?? `${count} problem${count === 1 ? '' : 's'} in ${problems[0]?.file ?? 'the config'}`, {
      details: problems.map(formatProblem),
      hint,
    });
    this.problems = problems;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), problems: this.problems };
  }
}

/** Something devloop depends on is missing or broken; the hint says how to get it working. */
export class EnvironmentError extends DevloopError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('environment', message, options);
  }
}

/** The user's code failed: a build step, a rollout, a job. */
export class FailureError extends DevloopError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('failure', message, options);
  }
}

export class InterruptedError extends DevloopError {
  constructor(message = 'interrupted') {
    super('interrupted', message);
  }
}

/** An invariant of devloop broke. Always a defect in devloop, never the user's fault. */
export class BugError extends DevloopError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('bug', message, {
      ...options,
      hint: options.hint ?? 'This is a bug in devloop. Please report it with the output of the command run with --verbose.',
    });
  }
}

/** Turns anything thrown into a DevloopError; unknown errors are bugs. */
export function toDevloopError(error: unknown): DevloopError {
  if (error instanceof DevloopError) return error;
  if (error instanceof Error && error.name === 'AbortError') return new InterruptedError();
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof Error && error.stack ? error.stack.split('\n').slice(1, 8).map((l) => l.trim()) : [];
  return new BugError(message, { details, cause: error });
}

/** Throws InterruptedError when the signal has fired. Call between steps of long operations. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError();
}
