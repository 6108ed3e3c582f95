/**
 * `devloop init [--force] [--yes] [--stdout]`: writes a commented devloop.config.yaml.
 *
 * - With a Skaffold config (`-f FILE`, else skaffold.yaml in the directory): the config as devloop
 *   reads that file, written beside it (src/init/from-skaffold.ts).
 * - Otherwise: the Dockerfiles and manifests found under the directory, paired by image name
 *   (src/init/from-tree.ts). What it cannot pair it asks on a terminal (plain readline on stderr,
 *   so `--stdout` output stays the config alone); with `--yes` it writes those questions as
 *   comments instead. Without a terminal and without `--yes`, it refuses (exit 2) and lists the
 *   questions: a script must not get a config with silent gaps.
 *
 * Never overwrites an existing devloop config without `--force` (exit 2).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { CommandContext } from './context.js';
import { DevloopError, UsageError } from '../errors.js';

/** Asks one question and resolves to the answer line; `close` releases the terminal. */
export type Ask = ((prompt: string) => Promise<string>) & { close?: () => void };

/** How often an answer that is not valid is asked again before the question is left open. */
const ATTEMPTS = 3;

export async function run(ctx: CommandContext, ask?: Ask): Promise<number> {
  const { CONFIG_FILE_NAMES } = await import('../config/load.js');
  const { isSkaffoldText } = await import('../config/skaffold/read.js');
  if (ctx.profiles.length > 0) {
    throw new UsageError('devloop init takes no -p: it writes every Skaffold profile it can as a devloop profile', { hint: 'Run devloop init without -p.' });
  }
  const force = Boolean(ctx.flags.force);
  const toStdout = Boolean(ctx.flags.stdout);

  const skaffoldFile = ctx.configFile ? path.resolve(ctx.cwd, ctx.configFile) : path.join(ctx.cwd, 'skaffold.yaml');
  if (ctx.configFile && !existsSync(skaffoldFile)) throw new UsageError(`config file ${skaffoldFile} does not exist`, { hint: 'Check the path given to -f/--config.' });
  const fromSkaffold = existsSync(skaffoldFile) && isSkaffoldText(readFileSync(skaffoldFile, 'utf8'));
  if (ctx.configFile && !fromSkaffold) {
    throw new UsageError(`${skaffoldFile} is not a Skaffold config (apiVersion: skaffold/...)`, {
      hint: 'devloop init -f reads a Skaffold config; without -f it reads skaffold.yaml or scans the directory.',
    });
  }
  const targetDir = fromSkaffold ? path.dirname(skaffoldFile) : ctx.cwd;
  if (!toStdout && !force) {
    const existing = CONFIG_FILE_NAMES.map((n) => path.join(targetDir, n)).find((f) => existsSync(f));
    if (existing) {
      throw new UsageError(`${existing} already exists: devloop init does not overwrite it`, {
        hint: 'Pass --force to replace it, or --stdout to print the new config instead.',
      });
    }
  }

  const info = (text: string) => ctx.sink.emit({ type: 'message', level: 'info', text });
  let file: string;
  let text: string;
  let summary: string;
  if (fromSkaffold) {
    const { initFromSkaffold } = await import('../init/from-skaffold.js');
    ({ file, text } = initFromSkaffold(skaffoldFile));
    summary = `from ${path.relative(ctx.cwd, skaffoldFile) || skaffoldFile}; each part says in a comment where in it it came from`;
  } else {
    const { planTreeInit, writeTreeConfig, questionText, parseAnswer } = await import('../init/from-tree.js');
    const plan = planTreeInit(ctx.cwd);
    const answers = new Map<(typeof plan.pairing.questions)[number], string | undefined>();
    if (plan.pairing.questions.length > 0 && !ctx.flags.yes) {
      const asker = ask ?? terminalAsker(ctx);
      if (!asker) {
        throw new UsageError(`devloop init cannot pair ${plan.pairing.questions.length} Dockerfile(s) with an image by itself, and there is no terminal to ask on`, {
          details: plan.pairing.questions.map((q) => `${q.dockerfile.file}: ${q.why}`),
          hint: 'Run it on a terminal to answer, or pass --yes to write these questions as comments in the file.',
        });
      }
      try {
        for (const q of plan.pairing.questions) {
          for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try {
              answers.set(q, parseAnswer(q, await asker(questionText(q))));
              break;
            } catch (error) {
              if (!(error instanceof UsageError)) throw error;
              ctx.stderr.write(`${error.message}. ${error.hint ?? ''}\n`);
            }
          }
        }
      } finally {
        asker.close?.();
      }
    }
    ({ file, text } = writeTreeConfig(plan, answers));
    const open = plan.pairing.questions.filter((q) => !answers.has(q)).length;
    summary = `from ${plan.scan.dockerfiles.length} Dockerfile(s) and ${plan.scan.manifests.length} manifest file(s)${open > 0 ? `; ${open} question(s) left as comments at its end` : ''}`;
  }

  if (toStdout) {
    ctx.stdout.write(text);
    return 0;
  }
  try {
    writeFileSync(file, text, { flag: force ? 'w' : 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UsageError(`${file} already exists: devloop init does not overwrite it`, { hint: 'Pass --force to replace it.' });
    }
    throw new DevloopError('environment', `cannot write ${file}: ${(error as Error).message}`, { hint: 'Check the directory is writable.' });
  }
  info(`wrote ${file} ${summary}`);
  info('next: devloop render shows what it deploys; devloop dev starts the loop');
  return 0;
}

/** A readline asker on the terminal (prompts on stderr), or undefined when stdin or stderr is not one. */
function terminalAsker(ctx: CommandContext): Ask | undefined {
  const stderr = ctx.stderr as { isTTY?: boolean };
  if (!ctx.stdin.isTTY || !stderr.isTTY) return undefined;
  const rl = createInterface({ input: ctx.stdin, output: ctx.stderr as NodeJS.WritableStream, terminal: true });
  // The terminal is raw while asking: Ctrl-C reaches readline, not the process. Hand it on, so
  // main's handler aborts the run (the pending question rejects: exit 130) as anywhere else.
  rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
  const ask: Ask = (prompt: string) => rl.question(prompt, { signal: ctx.signal });
  ask.close = () => rl.close();
  return ask;
}
