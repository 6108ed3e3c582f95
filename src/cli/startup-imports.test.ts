/**
 * What a command loads before its first line of work: the heavy outside libraries are imported at
 * first use (dynamic import in their one wrapper), never by a static import chain from a command.
 * Measured on the 2-core VM: @kubernetes/client-node ~0.9 s, ink ~0.7 s, dockerode ~0.4 s, zod
 * ~0.15 s of CPU; `devloop deploy` paid the first one before connecting when a static chain
 * (deploy -> hooks -> kube/exec) reached it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Value imports evaluated when the file is (static `import ... from`, `export ... from`, bare `import '...'`); `import type` and `import()` left out. */
export function staticValueImports(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of code.matchAll(/^\s*(import|export)\s+(?!type\s)([^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
    const clause = m[2] ?? '';
    // `import { type A, type B } from` loads nothing either
    const names = /^\{([^}]*)\}\s*from\s+$/.exec(clause.trim() + ' ');
    if (names && names[1].split(',').every((n) => !n.trim() || /^type\s/.test(n.trim()))) continue;
    found.push(m[3]);
  }
  return found;
}

function resolveSource(from: string, specifier: string): string {
  const base = path.resolve(path.dirname(from), specifier).replace(/\.js$/, '');
  for (const candidate of [`${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
  throw new Error(`${path.relative(SRC, from)}: cannot resolve ${specifier}`);
}

/** Every package reached by static value imports from `entry`, with the chain that reaches it. */
export function staticPackages(entry: string): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    const here = [...chain, path.relative(SRC, file)];
    for (const specifier of staticValueImports(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) visit(resolveSource(file, specifier), here);
      else if (!specifier.startsWith('node:')) {
        const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
        if (!packages.has(name)) packages.set(name, here);
      }
    }
  };
  visit(path.join(SRC, entry), []);
  return packages;
}

const HEAVY = ['@kubernetes/client-node', 'dockerode', 'ink', 'react'];

describe('start-up imports', () => {
  it('reads value imports and skips type-only ones', () => {
    expect(staticValueImports("import type { A } from 'a';\nimport { type B, type C } from 'b';\nimport { D, type E } from 'd';\nexport * from './e.js';\nimport 'f';\nconst g = await import('g');\n")).toEqual(['d', './e.js', 'f']);
  });

  it.each(['cli/main.ts', 'cli/deploy.ts', 'cli/dev.ts', 'cli/build.ts', 'cli/render.ts', 'cli/down.ts', 'deploy/index.ts', 'build/index.ts', 'dev/engine.ts', 'teardown/index.ts'])(
    '%s reaches no heavy client library through static imports',
    (entry) => {
      const reached = staticPackages(entry);
      const heavy = HEAVY.filter((name) => reached.has(name)).map((name) => `${name} via ${reached.get(name)!.join(' > ')}`);
      expect(heavy).toEqual([]);
    },
  );

  it.each(['cli/main.ts', 'cli/deploy.ts', 'cli/dev.ts'])('%s does not import the schema library (a cached config needs none)', (entry) => {
    expect(staticPackages(entry).get('zod')).toBeUndefined();
  });

  it('the chain finder sees a heavy import where there is one', () => {
    expect(staticPackages('ui/index.tsx').has('ink')).toBe(true);
    expect(staticPackages('config/load.ts').has('zod')).toBe(true);
  });
});
