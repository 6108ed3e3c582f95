/**
 * `devloop down [--dry-run]`: deletes everything devloop applied for this project (see
 * teardown/index.ts). When the config file no longer parses it still works: the project name comes
 * from the journal(s) in .devloop/inventory (or a plain read of metadata.name), and it says so.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandContext } from './context.js';
import { ConfigError, UsageError } from '../errors.js';

export interface DownTarget {
  project: string;
  rootDir: string;
  kubeContext?: string;
  namespace?: string;
  /** How long to wait for deleted objects to be gone (deploy.statusCheckDeadlineSeconds, else its schema default). */
  deadlineSeconds?: number;
  /** What devloop did to find the project when the config did not load, for the user. */
  fallback?: string;
}

/** `metadata.name` read from a config text that does not parse (a minimal, line-based read). */
export function readProjectName(text: string): string | undefined {
  const match = /^metadata:\s*\n(?:[ \t]+#.*\n|[ \t]*\n)*[ \t]+name:\s*["']?([a-z0-9]([-a-z0-9]*[a-z0-9])?)["']?\s*(#.*)?$/m.exec(text) ?? /^metadata:\s*\{\s*name:\s*["']?([a-z0-9-]+)/m.exec(text);
  return match?.[1];
}

/** Finds project, rootDir and context when the config is broken: journals first, then metadata.name. */
export async function fallbackTarget(ctx: CommandContext, cause: ConfigError): Promise<DownTarget> {
  const { findConfigFile } = await import('../config/load.js');
  const { listJournals } = await import('../deploy/inventory.js');
  let file: string | undefined;
  try {
    file = findConfigFile(ctx.cwd, ctx.configFile);
  } catch {
    file = undefined;
  }
  const rootDir = file ? path.dirname(file) : ctx.cwd;
  let text = '';
  try {
    text = file ? readFileSync(file, 'utf8') : '';
  } catch {
    /* unreadable: journals only */
  }
  const named = readProjectName(text);
  const journals = listJournals(rootDir);
  const projects = [...new Set(journals.map((j) => j.project))];
  const problem = cause.problems[0] ? `${path.relative(ctx.cwd, cause.problems[0].file) || cause.problems[0].file}:${cause.problems[0].line}: ${cause.problems[0].message}` : cause.message;
  let project: string | undefined;
  let how: string;
  if (named && (projects.includes(named) || projects.length === 0)) {
    project = named;
    how = projects.includes(named) ? `project "${named}" (metadata.name, and its journal in .devloop/inventory)` : `project "${named}" read from metadata.name`;
  } else if (projects.length === 1) {
    project = projects[0];
    how = `project "${project}" from the journal in .devloop/inventory`;
  } else if (named) {
    project = named;
    how = `project "${named}" read from metadata.name`;
  } else {
    throw new UsageError(`the config does not parse (${problem}) and no project name could be found`, {
      hint: projects.length > 1 ? `.devloop/inventory has journals for ${projects.join(', ')}: fix metadata.name in the config, then run devloop down again.` : 'Fix the config file, then run devloop down again.',
    });
  }
  const journal = journals.filter((j) => j.project === project).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
  return {
    project,
    rootDir,
    kubeContext: journal?.context,
    fallback: `the config does not parse (${problem}); using ${how}${journal ? ` on context ${journal.context}` : ''}`,
  };
}

export async function run(ctx: CommandContext): Promise<number> {
  let target: DownTarget;
  try {
    const config = await ctx.loadConfig({ skipFileChecks: true });
    target = { project: config.name, rootDir: config.rootDir, kubeContext: config.deploy.kubeContext, namespace: config.deploy.namespace, deadlineSeconds: config.deploy.statusCheckDeadlineSeconds };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    target = await fallbackTarget(ctx, error);
    ctx.sink.emit({ type: 'message', level: 'warn', text: target.fallback! });
  }
  const { createKubeClient } = await import('../kube/client.js');
  let kube;
  try {
    kube = await createKubeClient({ context: target.kubeContext }, { lightweight: true });
  } catch (error) {
    // The journal's context may have been renamed: fall back to the current context, and say so.
    if (!target.fallback || !target.kubeContext) throw error;
    ctx.sink.emit({ type: 'message', level: 'warn', text: `context ${target.kubeContext} from the journal is not in the kubeconfig; using the current context` });
    kube = await createKubeClient({}, { lightweight: true });
  }
  try {
    const { down } = await import('../teardown/index.js');
    await down(kube, {
      project: target.project,
      rootDir: target.rootDir,
      namespaces: target.namespace ? [target.namespace] : [],
      dryRun: Boolean(ctx.flags['dry-run']),
      deadlineSeconds: Math.max(60, target.deadlineSeconds ?? (await import('../config/schema.js')).DEPLOY_DEFAULTS.statusCheckDeadlineSeconds),
      signal: ctx.signal,
      sink: ctx.sink,
    });
    return 0;
  } finally {
    kube.close();
  }
}
