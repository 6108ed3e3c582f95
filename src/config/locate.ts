/**
 * Where a problem is in the config file: a path into the parsed YAML document mapped to the line
 * and column of its node, and the path written the way messages show it (`build.artifacts[0].image`).
 */
import { isMap, isSeq, type Document, type LineCounter, type Node as YamlNode } from 'yaml';
import type { ConfigProblem } from '../errors.js';

export type Locate = (segments: PropertyKey[], key?: boolean) => { file: string; line: number; column: number };

/** Maps a path into the document to the line and column of its node (or its nearest ancestor). */
export function locator(doc: Document, lineCounter: LineCounter, file: string): Locate {
  return (segments, key = false) => {
    let node: unknown = doc.contents;
    let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const last = i === segments.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
        if (!pair) break;
        const keyNode = pair.key as YamlNode | null;
        const valueNode = pair.value as YamlNode | null;
        if (last && key && keyNode?.range) {
          offset = keyNode.range[0];
          break;
        }
        offset = valueNode?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
        node = valueNode;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as YamlNode | undefined;
        if (!item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else {
        break;
      }
    }
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col };
  };
}

/** `build.artifacts[0].image` for ['build', 'artifacts', 0, 'image']. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** Problems in file order. */
export function byPosition(a: ConfigProblem, b: ConfigProblem): number {
  return a.line - b.line || a.column - b.column;
}
