/**
 * devloop's normalised `Config` written back as a devloop.config.yaml document, with comments.
 *
 * Contract: `configToDocument(config)` returns the devloop document that, placed in
 * `config.rootDir` and loaded by devloop's own loader, gives the same `Config` (apart from `file`
 * and `source`). It is generic over the config's sections: every field of `Config` except the
 * loader's own bookkeeping (file, rootDir, name, profiles, source, activatedProfiles) and every field of an artifact
 * except its resolved paths is written as it is, so keys that readers of other formats map into
 * `Config` reach the written file without changes here. Absolute paths are written relative to
 * `config.rootDir`. Values the schema would fill in identically (defaults, empty lists) are left
 * out: `ConfigSchema` decides, not a copy of its defaults.
 *
 * `renderYaml(document, notes)` prints the document with each note as a comment above the key (or
 * list item) at its path.
 */
import path from 'node:path';
import { Document, isMap, isSeq, type Node as YamlNode } from 'yaml';
import type { Config } from '../config/load.js';
import { isPlainObject } from '../config/issues.js';
import { formatPath } from '../config/locate.js';
import { ConfigSchema } from '../config/schema.js';
import { toPosix } from '../shared/paths.js';

/** Fields of `Config` that are the loader's bookkeeping, not keys of the file. */
const LOADER_FIELDS = new Set(['file', 'rootDir', 'name', 'profiles', 'source', 'activatedProfiles']);

/** A comment for the key or list item at `path` of the written document. */
export interface Note {
  path: Array<string | number>;
  text: string;
}

export type Document_ = Record<string, unknown>;

/**
 * The devloop document equivalent to `config`, relative to `config.rootDir`; defaults left out
 * unless `keepDefaults` (undefined values are always left out).
 */
export function configToDocument(config: Config, options: { keepDefaults?: boolean } = {}): Document_ {
  const sections = Object.fromEntries(Object.entries(config).filter(([k, v]) => !LOADER_FIELDS.has(k) && v !== undefined));
  const build = config.build;
  const document: Document_ = {
    apiVersion: 'devloop/v1',
    kind: 'Config',
    metadata: { name: config.name },
    ...sections,
    build: {
      ...build,
      artifacts: build.artifacts.map(({ contextDir, dockerfilePath, stateDir: _stateDir, ...artifact }) => ({
        ...artifact,
        context: relativeTo(config.rootDir, contextDir),
        dockerfile: toPosix(path.relative(contextDir, dockerfilePath)),
      })),
    },
  };
  const relative = relativePaths(document, config.rootDir);
  return options.keepDefaults ? (dropUndefined(relative) as Document_) : withoutDefaults(relative);
}

/** `to` relative to `from`, `/`-separated, `.` for the same directory. */
function relativeTo(from: string, to: string): string {
  return toPosix(path.relative(from, to)) || '.';
}

/** Path-valued keys (as key paths with `*` for list items) that a reader may have made absolute. */
const PATH_KEYS: ReadonlyArray<ReadonlyArray<string>> = [
  ['deploy', 'kubectl', 'manifests', '*'],
  ['deploy', 'kustomize', 'paths', '*'],
  ['deploy', 'helm', 'releases', '*', 'chart'],
  ['deploy', 'helm', 'releases', '*', 'valuesFiles', '*'],
  ['watch', 'ignore', '*'],
];

function relativePaths(document: Document_, rootDir: string): Document_ {
  const copy = structuredClone(document);
  const visit = (node: unknown, keys: readonly string[], set: (v: unknown) => void): void => {
    if (keys.length === 0) {
      if (typeof node === 'string' && path.isAbsolute(node)) set(relativeTo(rootDir, node));
      return;
    }
    const [head, ...rest] = keys;
    if (head === '*' && Array.isArray(node)) node.forEach((item, i) => visit(item, rest, (v) => (node[i] = v)));
    else if (isPlainObject(node) && head in node) visit(node[head], rest, (v) => (node[head] = v));
  };
  for (const keys of PATH_KEYS) visit(copy, keys, () => undefined);
  return copy;
}

/**
 * Removes every value the schema fills in identically when it is absent: a key is dropped when the
 * parsed document without it equals the parsed document with it. Undefined values go too.
 */
export function withoutDefaults(document: Document_): Document_ {
  let current = dropUndefined(document) as Document_;
  const reference = ConfigSchema.safeParse(current);
  if (!reference.success) return current;
  const expected = JSON.stringify(reference.data);
  const sameWithout = (candidate: Document_) => {
    const parsed = ConfigSchema.safeParse(candidate);
    return parsed.success && JSON.stringify(parsed.data) === expected;
  };
  // Deepest keys first, so a section emptied by its defaults is then dropped as a whole.
  for (const keyPath of keyPaths(current).sort((a, b) => b.length - a.length)) {
    if (keyPath.length < 2 && ['apiVersion', 'kind', 'metadata'].includes(String(keyPath[0]))) continue;
    const candidate = removeAt(current, keyPath);
    if (candidate && sameWithout(candidate)) current = candidate;
  }
  return current;
}

function dropUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropUndefined);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, dropUndefined(v)]));
  }
  return value;
}

/** Every path to an object key (list items are entered, never removed themselves). */
function keyPaths(value: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) return value.flatMap((v, i) => keyPaths(v, [...at, i]));
  if (!isPlainObject(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => [[...at, k], ...keyPaths(v, [...at, k])]);
}

/** A copy without the key at `keyPath`, or undefined when it is not there. */
function removeAt(document: Document_, keyPath: Array<string | number>): Document_ | undefined {
  const copy = structuredClone(document);
  let node: unknown = copy;
  for (const seg of keyPath.slice(0, -1)) {
    node = (node as Record<string | number, unknown> | undefined)?.[seg];
    if (node === undefined || node === null) return undefined;
  }
  const last = keyPath[keyPath.length - 1];
  if (!isPlainObject(node) || !(String(last) in node)) return undefined;
  delete node[String(last)];
  return copy;
}

/**
 * The document as YAML: `header` lines as the file's leading comment, each note above its key or
 * list item, `footer` lines as a comment after the document (notes whose path is not in the document, as a default left out, are put in the
 * header, so nothing is lost).
 */
export function renderYaml(document: Document_, header: string[], notes: Note[], footer: string[] = []): string {
  const doc = new Document(document);
  const lost: string[] = [];
  for (const note of notes) {
    const target = nodeAt(doc, note.path);
    if (!target) {
      lost.push(`${formatPath(note.path)} (left out: devloop's default is the same): ${note.text}`);
      continue;
    }
    target.commentBefore = [target.commentBefore, ...commentLines(note.text)].filter(Boolean).join('\n');
  }
  doc.commentBefore = [...header, ...lost].flatMap(commentLines).join('\n');
  if (footer.length > 0) doc.comment = footer.flatMap(commentLines).join('\n');
  return doc.toString({ lineWidth: 0 });
}

/** A comment's lines, each with the space that follows `#`. */
function commentLines(text: string): string[] {
  return text.split('\n').map((l) => (l ? ` ${l}` : ''));
}

/** The key node (for a map entry) or item node (for a list item) at `keyPath`. */
function nodeAt(doc: Document, keyPath: Array<string | number>): YamlNode | undefined {
  if (keyPath.length === 0) return undefined;
  const parent = keyPath.length === 1 ? doc.contents : doc.getIn(keyPath.slice(0, -1), true);
  const last = keyPath[keyPath.length - 1];
  if (isMap(parent)) {
    const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === last);
    return (pair?.key as YamlNode | undefined) ?? undefined;
  }
  if (isSeq(parent) && typeof last === 'number') return (parent.items[last] as YamlNode | undefined) ?? undefined;
  return undefined;
}
