/**
 * Profiles (-p NAME): named overrides merged, in order, into the document as written, then
 * validated again. An unknown profile name is a UsageError with a did-you-mean.
 */
import { ConfigError, UsageError } from '../errors.js';
import { closest } from '../shared/suggest.js';
import { CONFIG_HINT, isPlainObject, issueToProblems } from './issues.js';
import type { Locate } from './locate.js';
import { ConfigSchema, type RawConfig } from './schema.js';

/** Objects merge key by key; lists and scalars from the override replace the base. */
export function mergeOverride<T>(base: T, override: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(override)) return (override === undefined ? base : override) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (v === undefined) continue;
    out[k] = mergeOverride(out[k], v);
  }
  return out as T;
}

/**
 * Merges the named profiles, in order, into the document as written (before defaults, so a profile
 * that sets one key does not reset its siblings to their defaults), then validates the result.
 */
export function applyProfiles(parsed: RawConfig, document: Record<string, unknown>, names: string[], locate: Locate): RawConfig {
  if (names.length === 0) return parsed;
  const rawProfiles = (document.profiles ?? []) as Array<Record<string, unknown>>;
  let merged: Record<string, unknown> = document;
  for (const name of names) {
    const profile = rawProfiles.find((p) => p.name === name);
    if (!profile) {
      const known = parsed.profiles.map((p) => p.name);
      const suggestion = closest(name, known);
      throw new UsageError(`profile "${name}" is not defined`, {
        hint: suggestion
          ? `Did you mean -p ${suggestion}?`
          : known.length
            ? `Defined profiles: ${known.join(', ')}.`
            : `The config defines no profiles (see line ${locate([]).line} of ${locate([]).file}).`,
      });
    }
    const { name: _name, activation: _activation, requiresAllActivations: _all, ...override } = profile;
    merged = mergeOverride(merged, override);
  }
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((issue) => issueToProblems(issue, merged, locate)), undefined, CONFIG_HINT);
  }
  return result.data;
}
