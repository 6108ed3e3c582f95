/**
 * ANSI colours for the plain renderer. `createPalette(false)` returns identity functions, so callers
 * never branch on whether colour is on.
 */
export interface Palette {
  enabled: boolean;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  blue(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
  /** A colour picked by a stable hash of `key`, so one pod keeps one colour for the whole run. */
  keyed(key: string, s: string): string;
}

const KEYED_CODES = [36, 35, 33, 32, 34, 96, 95, 93, 92, 94];

export function stableIndex(key: string, modulo: number): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % modulo;
}

export function createPalette(enabled: boolean): Palette {
  const wrap = (code: number) => (s: string) => (enabled ? `\u001b[${code}m${s}\u001b[0m` : s);
  return {
    enabled,
    red: wrap(31),
    green: wrap(32),
    yellow: wrap(33),
    blue: wrap(34),
    dim: wrap(2),
    bold: wrap(1),
    keyed: (key, s) => (enabled ? `\u001b[${KEYED_CODES[stableIndex(key, KEYED_CODES.length)]}m${s}\u001b[0m` : s),
  };
}

/** Whether colour should be used: --no-color and NO_COLOR turn it off; otherwise only on a TTY. */
export function colorWanted(flagNoColor: boolean, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (flagNoColor) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}
