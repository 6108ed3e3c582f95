/**
 * The validated config of the last run, kept in `<config dir>/.devloop/cache/config.json`, so a run
 * whose config file, profiles and schema did not change skips the schema library: importing zod
 * and building the schema is the largest share of devloop's own start-up (measured: about half of
 * the CPU a cached `devloop deploy` spends before its first API call).
 *
 * Contract:
 * - an entry is used only when its key matches: the config file's path and exact text, the
 *   profiles, and the compiled schema module (size and mtime of schema.js: a new devloop version or
 *   build never reads an older entry);
 * - the semantic checks (contexts, Dockerfiles, requires) run again on every hit, since they read the
 *   file system; when they find a problem the cache is not used and the full load reports it,
 *   located in the file;
 * - Skaffold configs are never cached (their reading has its own translation);
 * - a missing, unreadable or corrupt entry is a miss, and writing is best effort: the cache can
 *   make a run faster, never fail it.
 * This module imports no schema at run time; the CLI imports config/load.ts only on a miss.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalise } from './normalise.js';
import type { RawConfig } from './schema.js';
import { checkSemantics } from './semantics.js';
import type { Config, LoadOptions } from './types.js';
import { STATE_DIR_NAME } from '../shared/paths.js';

/** Names of a devloop config file, nearest first in each directory (config/load.ts finds with them too). */
export const CONFIG_FILE_NAMES = ['devloop.config.yaml', 'devloop.config.yml', 'devloop.yaml', 'devloop.yml'];

const CACHE_FILE = path.join(STATE_DIR_NAME, 'cache', 'config.json');

/** Size and mtime of the schema module beside this one (schema.js when compiled, schema.ts under the test runner). */
function schemaFingerprint(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const file = ['schema.js', 'schema.ts'].map((name) => path.join(here, name)).find((f) => existsSync(f));
  if (!file) throw new Error('no schema module beside config/cache');
  const stat = statSync(file);
  return `${stat.size}:${stat.mtimeMs}`;
}

/** The key of one config: file, text, profiles and schema. */
export function configCacheKey(file: string, text: string, profiles: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify([schemaFingerprint(), file, profiles, text])).digest('hex');
}

/** The cached config of `file` with this `text`, or undefined (a miss; see the module contract). */
export function readCachedConfig(file: string, text: string, options: Omit<LoadOptions, 'cwd' | 'file'>): Config | undefined {
  try {
    const entry = JSON.parse(readFileSync(path.join(path.dirname(file), CACHE_FILE), 'utf8')) as { key?: string; merged?: RawConfig };
    if (!entry.merged || entry.key !== configCacheKey(file, text, options.profiles ?? [])) return undefined;
    // Positions are needed only to report a problem, and then the full load reports it.
    const noPosition = () => ({ file, line: 1, column: 1 });
    if (checkSemantics(entry.merged, path.dirname(file), noPosition, options.skipFileChecks ?? false).length > 0) return undefined;
    return normalise(entry.merged, file, options.profiles ?? []);
  } catch {
    return undefined;
  }
}

/** Records `merged` (validated, defaults and profiles applied) for the next run. Never throws. */
export function writeCachedConfig(file: string, text: string, profiles: readonly string[], merged: RawConfig): void {
  try {
    const target = path.join(path.dirname(file), CACHE_FILE);
    mkdirSync(path.dirname(target), { recursive: true });
    const temp = `${target}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify({ key: configCacheKey(file, text, profiles), merged }));
    renameSync(temp, target);
  } catch {
    // read-only checkout, full disk: the next run validates again
  }
}

/**
 * The cached config for `options`, when the devloop config file found (as config/load.ts finds it:
 * -f, else the nearest devloop config in cwd or a parent) is unchanged; undefined otherwise, and
 * then the caller loads it with config/load.ts (which reports problems and refreshes the cache).
 */
export function cachedConfigFor(options: LoadOptions): Config | undefined {
  const file = options.file ? path.resolve(options.cwd, options.file) : nearestFile(options.cwd, CONFIG_FILE_NAMES);
  if (!file || !existsSync(file)) return undefined;
  return readCachedConfig(file, readFileSync(file, 'utf8'), options);
}

/** The first of `names` in cwd or its nearest parent that has one. */
export function nearestFile(cwd: string, names: readonly string[]): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    for (const name of names) {
      const candidate = path.join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
