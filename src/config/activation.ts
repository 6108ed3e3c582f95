/**
 * Profile activation, with Skaffold's meaning (pkg/skaffold/schema/profiles.go), for Skaffold
 * profiles and devloop's own alike:
 * - a profile is auto-activated when ONE of its `activation` entries holds (ALL of them with
 *   `requiresAllActivations: true`); an entry holds when each of its `env`, `kubeContext` and
 *   `command` holds. Each is a regular expression matched anywhere in the value (`!` in front
 *   negates it; a value equal to the pattern always matches; `env: NAME=` holds when NAME is unset
 *   or empty);
 * - `-p name` adds a profile, `-p -name` removes one, auto-activated or not; profiles apply in the
 *   order they end up in (auto-activated ones in file order first).
 *
 * Pure: the command, the kube context and the environment are passed in (the kubeconfig is read by
 * the caller: LoadOptions.currentKubeContext).
 */
import { isPlainObject } from './issues.js';
import type { LoadOptions } from './types.js';

export interface ActivationInput {
  /** Skaffold's name for the command running (`dev`, `run`, `build`, `render`, `delete`...). */
  commands: readonly string[];
  /** The kube context, asked for only when an activation names one. */
  kubeContext: () => string | undefined;
  env: Readonly<Record<string, string | undefined>>;
}

/** A profile that is active, and why (`env DEV=1`, `kubeContext "kind-.*"`, `-p`). */
export interface ActiveProfile {
  name: string;
  index: number;
  why: string;
}

/** Skaffold's regexp match (util.RegexEqual): `!` negates; an invalid pattern matches only itself. */
export function regexEqual(pattern: string, actual: string): boolean {
  if (pattern.startsWith('!')) return !regexMatch(pattern.slice(1), actual);
  return regexMatch(pattern, actual);
}

function regexMatch(pattern: string, actual: string): boolean {
  if (pattern === actual) return true;
  try {
    return new RegExp(pattern).test(actual);
  } catch {
    return false;
  }
}

/** Why one activation entry holds, or undefined when it does not. Throws on an `env` without `=`. */
function entryHolds(entry: Record<string, unknown>, input: ActivationInput): string | undefined {
  const reasons: string[] = [];
  if (typeof entry.env === 'string' && entry.env !== '') {
    const eq = entry.env.indexOf('=');
    if (eq < 0) throw new Error(`env "${entry.env}" must be NAME=VALUE`);
    const name = entry.env.slice(0, eq);
    const pattern = entry.env.slice(eq + 1);
    const actual = input.env[name] ?? '';
    const holds = pattern === '' ? actual === '' : regexEqual(pattern, actual);
    if (!holds) return undefined;
    reasons.push(`env ${entry.env}`);
  }
  if (typeof entry.kubeContext === 'string' && entry.kubeContext !== '') {
    const context = input.kubeContext() ?? '';
    if (!regexEqual(entry.kubeContext, context)) return undefined;
    reasons.push(`kubeContext "${context}" matches "${entry.kubeContext}"`);
  }
  if (typeof entry.command === 'string' && entry.command !== '') {
    const command = input.commands.find((c) => regexEqual(entry.command as string, c));
    if (command === undefined) return undefined;
    reasons.push(`command ${command} matches "${entry.command}"`);
  }
  return reasons.join(' and ') || 'an empty activation';
}

/**
 * The profiles of one config that are active, in the order Skaffold applies them.
 * `requested` is the -p list (`name` or `-name`), `inherited` the names a requiring config
 * activates through `activeProfiles` (each with its reason).
 * Errors (an env without `=`) are returned as problems with the activation's path.
 */
export function activeProfiles(
  profiles: unknown[],
  input: ActivationInput,
  requested: readonly string[],
  inherited: ReadonlyArray<{ name: string; why: string }>,
): { active: ActiveProfile[]; problems: Array<{ path: PropertyKey[]; message: string }> } {
  const problems: Array<{ path: PropertyKey[]; message: string }> = [];
  const byName = new Map<string, number>();
  profiles.forEach((p, i) => {
    if (isPlainObject(p) && typeof p.name === 'string') byName.set(p.name, i);
  });
  let active: ActiveProfile[] = [];
  profiles.forEach((p, index) => {
    if (!isPlainObject(p) || typeof p.name !== 'string' || !Array.isArray(p.activation)) return;
    const reasons: string[] = [];
    let all = true;
    p.activation.forEach((entry, j) => {
      if (!isPlainObject(entry)) return;
      try {
        const why = entryHolds(entry, input);
        if (why) reasons.push(why);
        else all = false;
      } catch (error) {
        all = false;
        problems.push({ path: ['profiles', index, 'activation', j, 'env'], message: (error as Error).message });
      }
    });
    const on = p.requiresAllActivations === true ? all && reasons.length > 0 : reasons.length > 0;
    if (on) active.push({ name: p.name, index, why: p.requiresAllActivations === true ? reasons.join(' and ') : reasons[0] });
  });
  const add = (name: string, why: string) => {
    const index = byName.get(name);
    if (index !== undefined && !active.some((a) => a.name === name)) active.push({ name, index, why });
  };
  for (const { name, why } of inherited) add(name, why);
  for (const name of requested) {
    if (name.startsWith('-')) active = active.filter((a) => a.name !== name.slice(1));
    else add(name, '-p');
  }
  return { active, problems };
}


/**
 * The activation input of a load: `commands` are the names `activation.command` is matched
 * against; the kube context (options.kubeContext, else options.currentKubeContext()) is asked for
 * only when an activation names one, once. With neither it is unknown, and matches as ''.
 */
export function activationInput(options: Pick<LoadOptions, 'env' | 'kubeContext' | 'currentKubeContext'>, commands: readonly string[]): ActivationInput {
  let asked = false;
  let context: string | undefined;
  return {
    commands,
    env: options.env ?? process.env,
    kubeContext: () => {
      if (!asked) {
        asked = true;
        context = options.kubeContext ?? options.currentKubeContext?.();
      }
      return context;
    },
  };
}
