/**
 * `devloop init` from a Skaffold config: the config as devloop reads it (the Skaffold reader's
 * `Config`, whatever it maps) written as devloop.config.yaml beside the Skaffold file.
 *
 * Contract: `initFromSkaffold` returns the file's text only once devloop's own loader, reading that
 * text from the same directory, gives the same `Config` as reading the Skaffold file (apart from
 * `file` and `source`); otherwise it throws a `DevloopError` of kind `bug` naming the difference. The
 * base is the Skaffold file read with every profile deactivated (where the reader takes `-p -NAME`).
 * Each Skaffold profile becomes a devloop profile when reading the Skaffold file with `-p NAME` and
 * reading the written file with `-p NAME` agree; a profile that cannot be written so is named in the
 * header with the reason. Problems of the Skaffold file itself are the reader's `ConfigError`.
 */
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/load.js';
import { loadConfig, parseConfig } from '../config/load.js';
import { isPlainObject } from '../config/issues.js';
import { DevloopError } from '../errors.js';
import { configToDocument, renderYaml, type Document_, type Note } from './serialise.js';
import { skaffoldNotes, skaffoldSources } from './skaffold-notes.js';

export const INIT_FILE_NAME = 'devloop.config.yaml';

export interface SkaffoldInit {
  /** Where the file belongs: beside the Skaffold file. */
  file: string;
  text: string;
  /** What the header says about the Skaffold profiles that could not be written (for the terminal too). */
  skippedProfiles: string[];
}

export function initFromSkaffold(skaffoldFile: string): SkaffoldInit {
  const absolute = path.resolve(skaffoldFile);
  const sources = skaffoldSources(absolute);
  const skaffoldProfileList = skaffoldProfiles(sources.map((s) => s.data));
  const profileNames = skaffoldProfileList.map((p) => p.name);
  const config = loadWithProfiles(absolute, [], profileNames);
  const target = path.join(config.rootDir, INIT_FILE_NAME);
  const document = configToDocument(config);
  const notes: Note[] = skaffoldNotes(document, sources, config.rootDir);
  const shown = path.relative(config.rootDir, absolute) || path.basename(absolute);

  const profiles: Array<Record<string, unknown>> = [];
  const skippedProfiles: string[] = [];
  for (const { name, activation, rules, requiresAll } of skaffoldProfileList) {
    const outcome = profileOverride(absolute, name, profileNames, config, document, config.rootDir);
    if ('skipped' in outcome) {
      skippedProfiles.push(`profile "${name}" is not written: ${outcome.skipped}`);
      continue;
    }
    // env and kubeContext mean the same in a devloop profile; Skaffold's command names (run,
    // delete...) are not devloop's, so a rule with `command` stays a comment.
    const carried = rules.length > 0 && rules.every((r) => r.command === undefined);
    notes.push({
      path: ['profiles', profiles.length],
      text: `from the Skaffold profile "${name}"${activation ? (carried ? `; it activates itself ${activation}, as in Skaffold` : `; Skaffold also activates it ${activation}, devloop only with -p ${name}`) : ''}`,
    });
    profiles.push({ name, ...(carried ? { activation: rules, ...(requiresAll ? { requiresAllActivations: true } : {}) } : {}), ...outcome.override });
  }
  const written: Document_ = profiles.length > 0 ? { ...document, profiles } : document;

  const header = [
    `Written by \`devloop init\` from ${shown} (${config.source?.apiVersion ?? 'a Skaffold config'}).`,
    'It behaves as reading that file does: same images, build inputs, manifests and port-forwards.',
    'devloop reads this file in preference to the Skaffold one from now on. Keys left out take',
    "devloop's defaults (every key, with what it does: devloop.config.example.yaml in the devloop package).",
    ...(config.source && config.source.ignored.length > 0
      ? [`Not carried over, as they do not change a dev loop: ${config.source.ignored.join(', ')}.`]
      : []),
    ...skippedProfiles,
  ];
  const text = renderYaml(written, header, notes);
  // compared as the base was read: every profile off (a written activation may hold here)
  assertSameConfig(text, target, config, profileNames.map((n) => `-${n}`));
  return { file: target, text, skippedProfiles };
}

/**
 * The Skaffold file read with `active` profiles and every other one deactivated (`-p -NAME`), so
 * what Skaffold would activate by itself here (by environment, context or command) does not leak
 * into the written base config. A reader that refuses the deactivations is asked without them.
 */
function loadWithProfiles(file: string, active: string[], all: string[]): Config {
  const deactivated = all.filter((n) => !active.includes(n)).map((n) => `-${n}`);
  const load = (profiles: string[]) => loadConfig({ cwd: path.dirname(file), file, profiles });
  if (deactivated.length > 0) {
    try {
      return load([...active, ...deactivated]);
    } catch {
      /* read below without the deactivations; its error, if any, is the one to report */
    }
  }
  return load(active);
}

/** Each profile of the Skaffold configs (first definition of a name wins), with its activation rules and in words. */
function skaffoldProfiles(configs: Array<Record<string, unknown>>): SkaffoldProfile[] {
  const found = new Map<string, SkaffoldProfile>();
  for (const data of configs) {
    for (const p of Array.isArray(data.profiles) ? data.profiles : []) {
      if (!isPlainObject(p) || typeof p.name !== 'string' || found.has(p.name)) continue;
      const rules = (Array.isArray(p.activation) ? p.activation : []).filter(isPlainObject) as Array<Record<string, unknown>>;
      const words = rules.map((a) =>
        Object.entries(a)
          .map(([k, v]) => `${k} ${String(v)}`)
          .join(' and '),
      );
      found.set(p.name, { name: p.name, activation: words.length > 0 ? `when ${words.join(p.requiresAllActivations === true ? ', and ' : ', or ')}` : undefined, rules, requiresAll: p.requiresAllActivations === true });
    }
  }
  return [...found.values()];
}

interface SkaffoldProfile {
  name: string;
  /** The activation in words, for comments; undefined without one. */
  activation: string | undefined;
  rules: Array<Record<string, unknown>>;
  requiresAll: boolean;
}

/**
 * The devloop profile that turns the base into the config the Skaffold file gives with `-p name`:
 * the keys whose values differ (devloop merges a profile's objects into the base key by key; lists
 * and values replace). A key the profile removes cannot be written so: the check against the
 * loader then fails and the profile is named as not written.
 */
function profileOverride(
  skaffoldFile: string,
  name: string,
  all: string[],
  baseConfig: Config,
  base: Document_,
  rootDir: string,
): { override: Document_ } | { skipped: string } {
  let withProfile: Config;
  try {
    withProfile = loadWithProfiles(skaffoldFile, [name], all);
  } catch (error) {
    return { skipped: `reading it with -p ${name} failed: ${firstLine(error).replaceAll(`${rootDir}${path.sep}`, '')}` };
  }
  if (withProfile.name !== baseConfig.name) return { skipped: 'it changes metadata.name, which a devloop profile cannot' };
  const override = (changes(fullSections(baseConfig), fullSections(withProfile)) ?? {}) as Document_;
  const candidate = renderYaml({ ...base, profiles: [{ name, ...override }] }, [], []);
  let differing: string[];
  try {
    differing = differences(candidate, path.join(rootDir, INIT_FILE_NAME), withProfile, [name]);
  } catch (error) {
    return { skipped: `as a devloop profile it does not load: ${firstLine(error).replaceAll(`${rootDir}${path.sep}`, '')}` };
  }
  if (differing.length > 0) {
    return { skipped: `as a devloop profile it would give a different ${differing.join(', ')} (a devloop profile sets keys; it cannot remove one)` };
  }
  return { override };
}

/** What of `next` differs from `base`: objects key by key, anything else whole; undefined when equal. */
function changes(base: unknown, next: unknown): unknown {
  if (isPlainObject(base) && isPlainObject(next)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(next)) {
      const changed = changes(base[key], value);
      if (changed !== undefined) out[key] = changed;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return isDeepStrictEqual(base, next) ? undefined : next;
}

/** The sections of a config with every key explicit (defaults kept), to compare a profile's config with the base. */
function fullSections(config: Config): Document_ {
  const { apiVersion: _a, kind: _k, metadata: _m, ...sections } = configToDocument(config, { keepDefaults: true });
  return sections;
}

/** The sections of the config that `text`, loaded as `file` with `profiles`, gives differently from `expected`. */
function differences(text: string, file: string, expected: Config, profiles: string[]): string[] {
  const strip = ({ file: _f, source: _s, profiles: _p, activatedProfiles: _ap, ...rest }: Config): Record<string, unknown> => rest;
  const actual = strip(parseConfig(text, file, { profiles }));
  const wanted = strip(expected);
  return Object.keys({ ...actual, ...wanted }).filter((k) => !isDeepStrictEqual(actual[k], wanted[k]));
}

/** Throws a `bug` DevloopError unless `text`, loaded as `file` with `profiles`, gives `expected`. */
function assertSameConfig(text: string, file: string, expected: Config, profiles: string[]): void {
  const differing = differences(text, file, expected, profiles);
  if (differing.length > 0) {
    throw new DevloopError('bug', `the devloop config written from ${expected.file} would not behave the same (it differs in: ${differing.join(', ')})`, {
      hint: 'Please report this with the Skaffold file; meanwhile devloop reads the Skaffold file directly.',
    });
  }
}

function firstLine(error: unknown): string {
  const e = error as { message?: string; details?: string[] };
  return [e.message ?? String(error), ...(e.details ?? [])].join('; ').split('\n')[0];
}
