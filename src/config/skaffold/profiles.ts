/**
 * Skaffold profiles, as Skaffold applies them (pkg/skaffold/schema/profiles.go):
 * - a profile is auto-activated when ONE of its `activation` entries holds (ALL of them with
 *   `requiresAllActivations: true`); an entry holds when each of its `env`, `kubeContext` and
 *   `command` holds. Each is a regular expression matched anywhere in the value (`!` in front
 *   negates it; a value equal to the pattern always matches; `env: NAME=` holds when NAME is unset
 *   or empty);
 * - `-p name` adds a profile, `-p -name` removes one, auto-activated or not; profiles apply in the
 *   order they end up in (auto-activated ones in file order first);
 * - applying one overlays its pipeline sections on the config (mappings merge key by key; a list
 *   or a value in the profile replaces the config's), then applies its `patches` (JSON Patch,
 *   RFC 6902, on the whole config; `op` defaults to `replace`).
 *
 * Pure: the command, the kube context and the environment are passed in.
 */
import { isPlainObject } from '../issues.js';
import { mergeOverride } from '../profiles.js';

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

/** The pipeline sections a profile may overlay. */
const PIPELINE_KEYS = ['build', 'test', 'manifests', 'deploy', 'portForward', 'resourceSelector', 'verify', 'customActions'];

/**
 * The config with one profile applied: its sections overlaid, then its patches. Returns the new
 * config and, for a patch that cannot apply, its index and why (the config is then unpatched).
 */
export function applyProfile(
  config: Record<string, unknown>,
  profile: Record<string, unknown>,
): { config: Record<string, unknown>; problem?: { patch: number; message: string } } {
  let out: Record<string, unknown> = { ...config };
  for (const key of PIPELINE_KEYS) {
    if (profile[key] !== undefined) out[key] = mergeOverride(out[key], profile[key]);
  }
  const patches = Array.isArray(profile.patches) ? profile.patches : [];
  for (let i = 0; i < patches.length; i++) {
    const patch = patches[i];
    if (!isPlainObject(patch)) continue;
    try {
      out = applyPatch(out, patch) as Record<string, unknown>;
    } catch (error) {
      return { config, problem: { patch: i, message: (error as Error).message } };
    }
  }
  return { config: out };
}

/** `/build/artifacts/0/image` as segments; `~1` and `~0` unescaped. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`path "${pointer}" must start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** One RFC 6902 operation on a JSON value; never mutates `doc`. Throws with a readable reason. */
export function applyPatch(doc: unknown, patch: Record<string, unknown>): unknown {
  const op = typeof patch.op === 'string' && patch.op !== '' ? patch.op : 'replace';
  if (typeof patch.path !== 'string') throw new Error('a patch needs a path');
  const path = pointerSegments(patch.path);
  switch (op) {
    case 'add':
      return setAt(clone(doc), path, clone(patch.value), 'add', patch.path);
    case 'replace':
      getAt(doc, path, patch.path);
      return setAt(clone(doc), path, clone(patch.value), 'replace', patch.path);
    case 'remove':
      getAt(doc, path, patch.path);
      return removeAt(clone(doc), path);
    case 'copy':
    case 'move': {
      if (typeof patch.from !== 'string') throw new Error(`${op} needs from`);
      const from = pointerSegments(patch.from);
      const value = clone(getAt(doc, from, patch.from));
      const base = op === 'move' ? removeAt(clone(doc), from) : clone(doc);
      return setAt(base, path, value, 'add', patch.path);
    }
    case 'test': {
      if (JSON.stringify(getAt(doc, path, patch.path)) !== JSON.stringify(patch.value)) throw new Error(`test failed at ${patch.path}`);
      return doc;
    }
    default:
      throw new Error(`unknown op "${op}" (add, remove, replace, move, copy, test)`);
  }
}

function getAt(doc: unknown, path: string[], pointer: string): unknown {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur) && /^\d+$/.test(seg) && Number(seg) < cur.length) cur = cur[Number(seg)];
    else if (isPlainObject(cur) && seg in cur) cur = cur[seg];
    else throw new Error(`path ${pointer} does not exist in the config`);
  }
  return cur;
}

function setAt(doc: unknown, path: string[], value: unknown, op: 'add' | 'replace', pointer: string): unknown {
  if (path.length === 0) return value;
  const parent = getAt(doc, path.slice(0, -1), pointer);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) {
    if (last === '-') parent.push(value);
    else if (/^\d+$/.test(last) && Number(last) <= parent.length) {
      if (op === 'add') parent.splice(Number(last), 0, value);
      else parent[Number(last)] = value;
    } else throw new Error(`path ${pointer}: index ${last} is out of range`);
  } else if (isPlainObject(parent)) {
    parent[last] = value;
  } else {
    throw new Error(`path ${pointer}: the parent is not a mapping or a list`);
  }
  return doc;
}

function removeAt(doc: unknown, path: string[]): unknown {
  const parent = getAt(doc, path.slice(0, -1), '');
  const last = path[path.length - 1];
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (isPlainObject(parent)) delete parent[last];
  return doc;
}
