/** A YAML mapping read as a plain object (not null, not an array). In a module of its own so the config cache's path imports no schema. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
