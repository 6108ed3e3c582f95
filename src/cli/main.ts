/**
 * The process entry: parses global flags, picks the command, wires signals and the renderer, and is
 * the one place that renders errors and sets the exit code.
 *
 * Signals: the first SIGINT/SIGTERM aborts the run's AbortSignal (commands then stop or tear down);
 * a second one exits at once with 130 and says how to finish the clean-up.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { toDevloopError, UsageError, type DevloopError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Config, LoadOptions } from '../config/types.js';
import { colorWanted, createPalette } from '../output/color.js';
import { JsonRenderer } from '../output/json.js';
import { PlainRenderer } from '../output/plain.js';
import { COMMANDS, findCommand, GLOBAL_HELP, GLOBAL_OPTIONS, type CommandContext, type CommandSpec, type GlobalOptions } from './commands.js';

/** Signals closer together than this are one interruption delivered twice. */
const DUPLICATE_SIGNAL_WINDOW_MS = 300;

const VALUE_FLAGS = new Set(['-f', '--config', '-C', '--cwd', '-p', '--profile', '-o', '--output', '--default-repo']);

export function version(): string {
  const pkgPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json');
  return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
}

/** Index of the command name among argv, skipping global flags and their values. */
function commandIndex(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return -1;
    if (VALUE_FLAGS.has(a)) {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return i;
  }
  return -1;
}

function table(rows: [string, string][]): string {
  const width = Math.max(0, ...rows.map(([a]) => a.length)) + 2;
  return rows.map(([a, b]) => `  ${a.padEnd(width)}${b}`).join('\n');
}

export function mainHelp(): string {
  return [
    'devloop: the developer inner loop for Kubernetes',
    '',
    'Usage: devloop [global flags] <command> [flags]',
    '',
    'Commands:',
    table(COMMANDS.map((c) => [c.name, c.summary])),
    '',
    'Global flags:',
    table(GLOBAL_HELP),
    '',
    'Run devloop <command> --help for the flags of one command.',
    'Exit codes: 0 success, 1 a build or deploy failed, 2 usage or config error, 130 interrupted.',
    '',
  ].join('\n');
}

export function commandHelp(spec: CommandSpec): string {
  return [
    `Usage: ${spec.usage}`,
    '',
    spec.description,
    '',
    ...(spec.optionHelp.length ? ['Flags:', table(spec.optionHelp), ''] : []),
    'Global flags:',
    table(GLOBAL_HELP),
    '',
  ].join('\n');
}

interface ParsedArgs {
  spec?: CommandSpec;
  global: GlobalOptions;
  help: boolean;
  version: boolean;
  args: string[];
  flags: Record<string, string | boolean | string[] | undefined>;
}

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv, cwd: string, isTTY: boolean): ParsedArgs {
  const index = commandIndex(argv);
  const name = index >= 0 ? argv[index] : undefined;
  const spec = name ? findCommand(name) : undefined;
  if (name && !spec) {
    const names = COMMANDS.map((c) => c.name);
    throw new UsageError(`unknown command "${name}"`, { hint: `Commands: ${names.join(', ')}. See devloop --help.` });
  }
  const rest = index >= 0 ? [...argv.slice(0, index), ...argv.slice(index + 1)] : argv;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...(spec?.options ?? {}) }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional.*$/s, ''), {
      hint: spec ? `See devloop ${spec.name} --help.` : 'See devloop --help.',
    });
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const output = (values.output as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json') {
    throw new UsageError(`--output must be text or json, not "${output}"`);
  }
  if (!spec && parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`, { hint: 'See devloop --help.' });
  }
  const flags: ParsedArgs['flags'] = {};
  for (const key of Object.keys(spec?.options ?? {})) flags[key] = values[key];
  return {
    spec,
    help: Boolean(values.help),
    version: Boolean(values.version),
    args: parsed.positionals,
    flags,
    global: {
      cwd: path.resolve(cwd, (values.cwd as string | undefined) ?? '.'),
      configFile: values.config as string | undefined,
      profiles: (values.profile as string[] | undefined) ?? [],
      output,
      color: output === 'text' && colorWanted(Boolean(values['no-color']), { isTTY }, env),
      verbose: Boolean(values.verbose),
      defaultRepo: values['default-repo'] as string | undefined,
    },
  };
}

export interface MainIO {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Runs devloop with `argv` (without node and script). Sets process.exitCode; never throws. */
export async function main(argv: string[], io: MainIO = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() }): Promise<void> {
  const controller = new AbortController();
  // The run's signal is shared by every concurrent operation (requests, watches, sleeps), each with
  // its own abort listener: dozens at once are by design, not a leak.
  setMaxListeners(0, controller.signal);
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      controller.abort(new Error(signal));
      return;
    }
    // One Ctrl-C often arrives twice: from the terminal to the whole process group, and forwarded
    // by a parent such as `npm run` or `timeout`. Only a later one is the user asking again.
    if (Date.now() - firstSignalAt < DUPLICATE_SIGNAL_WINDOW_MS) return;
    io.stderr.write('\nInterrupted again: exiting now. Objects may be left in the cluster: run `devloop down` to delete them.\n');
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A reader that goes away (`devloop build -o json | head`) is not an error of the run: stop
  // writing and let the command finish.
  const onOutputError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  };
  io.stdout.on('error', onOutputError);

  let sink: EventSink | undefined;
  let output: 'text' | 'json' = argv.includes('json') && (argv.includes('-o') || argv.includes('--output')) ? 'json' : 'text';
  try {
    const parsed = parseCommandLine(argv, io.env, io.cwd, Boolean(io.stdout.isTTY));
    output = parsed.global.output;
    if (parsed.version) {
      io.stdout.write(`${version()}\n`);
      return;
    }
    if (parsed.help || !parsed.spec) {
      io.stdout.write(parsed.spec ? commandHelp(parsed.spec) : mainHelp());
      if (!parsed.spec && !parsed.help) process.exitCode = 2;
      return;
    }
    sink = createSink(parsed.global, io);
    const module = await parsed.spec.load();
    const ctx: CommandContext = {
      ...parsed.global,
      signal: controller.signal,
      sink,
      stdout: io.stdout,
      stderr: io.stderr,
      stdin: io.stdin,
      args: parsed.args,
      flags: parsed.flags,
      loadConfig: ({ announceTo, ...options } = {}) => loadConfigFor(parsed.global, io.env, { command: parsed.spec!.name, ...options }, announceTo ?? sink),
    };
    process.exitCode = await module.run(ctx);
  } catch (error) {
    const devloopError = toDevloopError(error);
    reportError(devloopError, sink ?? createSink({ output, color: colorWanted(false, io.stderr, io.env), verbose: false }, io), io);
    process.exitCode = devloopError.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function createSink(options: Pick<GlobalOptions, 'output' | 'color' | 'verbose'>, io: MainIO): EventSink {
  if (options.output === 'json') return new JsonRenderer(io.stdout);
  return new PlainRenderer(io.stdout, io.stderr, createPalette(options.color), options.verbose);
}

function reportError(error: DevloopError, sink: EventSink, _io: MainIO): void {
  sink.emit({ type: 'error', error: error.toJSON() });
}

/** A full load (config/load.ts), the kubeconfig's current-context read only if a profile's activation asks for it. */
async function loadUncached(options: LoadOptions): Promise<Config> {
  const [{ loadConfig }, { currentContext }] = await Promise.all([import('../config/load.js'), import('../kube/kubeconfig.js')]);
  return loadConfig({ ...options, currentKubeContext: () => currentContext() });
}

/** Loads the config lazily, so --help and --version never import the YAML parser or the schema. */
async function loadConfigFor(global: GlobalOptions, env: NodeJS.ProcessEnv, options: { skipFileChecks?: boolean; command?: string } = {}, sink?: EventSink) {
  const loadOptions = { cwd: global.cwd, file: global.configFile, profiles: global.profiles, defaultRepo: { flag: global.defaultRepo, env }, env, ...options };
  // An unchanged config comes from the cache without importing the schema library (config/cache.ts).
  const { cachedConfigFor } = await import('../config/cache.js');
  const cached = cachedConfigFor(loadOptions);
  const config = cached ? (await import('../config/default-repo.js')).withDefaultRepo(cached, loadOptions) : await loadUncached(loadOptions);
  // Said once per run, not on every reload of the dev loop.
  if (config.source && sink && !announced.has(sink)) {
    announced.add(sink);
    const required = (config.source.files ?? []).filter((f) => f !== config.file);
    sink.emit({
      type: 'message',
      level: 'info',
      text: `reading ${config.file}: a Skaffold config (${config.source.apiVersion})${required.length ? `, requiring ${required.map((f) => path.relative(path.dirname(config.file), f)).join(', ')}` : ''}`,
    });
    if (config.source.ignored.length > 0) {
      sink.emit({ type: 'message', level: 'info', text: `ignored (no effect on a dev loop): ${config.source.ignored.join(', ')}` });
    }
  }
  if (config.activatedProfiles?.length && sink && !announcedProfiles.has(sink)) {
    announcedProfiles.add(sink);
    sink.emit({ type: 'message', level: 'info', text: `${config.source ? 'Skaffold profiles' : 'profiles'} activated: ${config.activatedProfiles.join(', ')}` });
  }
  return config;
}

/** Sinks that have been told the config is a Skaffold config. */
const announced = new WeakSet<EventSink>();
/** Sinks that have been told which profiles activated themselves. */
const announcedProfiles = new WeakSet<EventSink>();
