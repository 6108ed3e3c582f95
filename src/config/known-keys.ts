/** What the schema allows where: the source of every "did you mean" about a key. */
import { ConfigSchema } from './schema.js';

/** The keys the schema allows at a path of the raw document, for "did you mean". */
export function knownKeysAt(segments: PropertyKey[]): string[] {
  let schema: unknown = ConfigSchema;
  const unwrap = (s: unknown): unknown => {
    let cur = s as { _zod?: { def: Record<string, unknown> } };
    for (let i = 0; i < 10 && cur?._zod; i++) {
      const def = cur._zod.def;
      if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') {
        cur = def.innerType as typeof cur;
      } else break;
    }
    return cur;
  };
  for (const seg of segments) {
    const s = unwrap(schema) as { _zod: { def: Record<string, unknown> } };
    const def = s?._zod?.def;
    if (!def) return [];
    if (def.type === 'object') schema = (def.shape as Record<string, unknown>)[String(seg)];
    else if (def.type === 'array') schema = def.element;
    else return [];
  }
  const s = unwrap(schema) as { _zod?: { def: Record<string, unknown> } };
  if (s?._zod?.def.type !== 'object') return [];
  return Object.keys(s._zod.def.shape as Record<string, unknown>);
}
