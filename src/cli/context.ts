/**
 * What every command receives (`run(ctx)`): the global options, the run's sink and streams, its
 * flags and arguments. Apart from the command table (commands.ts), so the commands it loads do not
 * import the table back.
 */
import type { Config } from '../config/load.js';
import type { EventSink } from '../events.js';
import type { Writable } from '../output/plain.js';

export interface GlobalOptions {
  cwd: string;
  configFile?: string;
  profiles: string[];
  output: 'text' | 'json';
  color: boolean;
  verbose: boolean;
  /** --default-repo (undefined when not given; the config loader resolves it with the environment). */
  defaultRepo?: string;
}

export interface CommandContext extends GlobalOptions {
  /** Fires on the first Ctrl-C or SIGTERM. */
  signal: AbortSignal;
  /** The renderer for this run's output mode (plain lines or JSON lines). */
  sink: EventSink;
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: Writable;
  stdin: NodeJS.ReadStream;
  /** Positional arguments after the command name. */
  args: string[];
  /** The command's own flags, parsed. */
  flags: Record<string, string | boolean | string[] | undefined>;
  /**
   * Loads the config for this run (-f, -C, -p honoured). Throws ConfigError. When the file is a
   * Skaffold config, says so once per run as info messages on `announceTo` (default: `sink`).
   */
  loadConfig(options?: { skipFileChecks?: boolean; announceTo?: EventSink }): Promise<Config>;
}

export interface CommandModule {
  /** Runs the command; resolves to the exit code. Throws DevloopError for failures. */
  run(ctx: CommandContext): Promise<number>;
}
