/**
 * Skaffold profiles, as Skaffold applies them (pkg/skaffold/schema/profiles.go); which ones apply
 * is config/activation.ts (shared with devloop's own profiles).
 * - applying one overlays its pipeline sections on the config (mappings merge key by key; a list
 *   or a value in the profile replaces the config's), then applies its `patches` (JSON Patch,
 *   RFC 6902, on the whole config; `op` defaults to `replace`).
 */
import { isPlainObject } from '../issues.js';
import { mergeOverride } from '../profiles.js';

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
