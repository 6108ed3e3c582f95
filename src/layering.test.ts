/**
 * The import graph of src/ (every static, re-export and dynamic import, `import type` included;
 * test files left out) has no circle, and no import goes against the flow
 * config -> watch -> plan -> hooks -> build / sync -> deploy -> observe -> teardown, with output, ui, dev
 * and cli on top. The clients of outside systems (docker, kube), the shared leaf (shared) and the
 * error and event types (errors.ts, events.ts) sit below every phase.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.dirname(fileURLToPath(import.meta.url));

/**
 * Each top-level module's layer. A module may import its own folder, any lower layer, and a
 * sibling layer only where noted. Layer 0: below every phase, importing only layer 0 (shared
 * imports nothing but errors.ts).
 */
const LAYERS: Record<string, number> = {
  'errors.ts': 0,
  shared: 0,
  'events.ts': 0,
  docker: 0,
  kube: 0,
  config: 1,
  watch: 2,
  plan: 3,
  hooks: 3.5,
  build: 4,
  sync: 4,
  deploy: 5,
  observe: 6,
  teardown: 7,
  output: 8,
  ui: 9,
  dev: 10,
  init: 10,
  cli: 11,
};

/** What layer-0 modules may import (they must stay leaves of the phases). */
const FOUNDATION_IMPORTS: Record<string, readonly string[]> = {
  'errors.ts': [],
  shared: ['errors.ts'],
  'events.ts': ['errors.ts'],
  docker: ['errors.ts', 'shared'],
  kube: ['errors.ts', 'shared'],
};

/**
 * Imports allowed although they point against the flow, each with its reason, kept to single files.
 * None today: the artifact graph that config (cycle check) and plan (rebuild order) read lives in shared/.
 */
const ALLOWED_AGAINST_FLOW: ReadonlyArray<readonly [from: string, to: string]> = [];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'testdata' ? [] : sourceFiles(full);
    return /\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Relative specifiers a file imports: `import ... from`, `export ... from`, `import '...'` and `import('...')`. */
export function importSpecifiers(text: string): string[] {
  const withoutComments = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of withoutComments.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?\sfrom\s+['"]([^'"]+)['"]|(?:^|[\s;])import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
    found.push(m[1] ?? m[2] ?? m[3]);
  }
  return found.filter((s) => s.startsWith('.'));
}

function resolveImport(from: string, specifier: string): string {
  const target = path.resolve(path.dirname(from), specifier);
  for (const candidate of [target.replace(/\.js$/, '.ts'), target.replace(/\.js$/, '.tsx'), `${target}.ts`, path.join(target, 'index.ts')]) {
    try {
      readFileSync(candidate);
      return candidate;
    } catch {
      /* next */
    }
  }
  throw new Error(`${path.relative(SRC, from)} imports ${specifier}, which resolves to no file`);
}

/** Top-level module of a file: its first folder under src/, or the file name for src/x.ts. */
function moduleOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0];
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    graph.set(file, [...new Set(importSpecifiers(readFileSync(file, 'utf8')).map((s) => resolveImport(file, s)))]);
  }
  return graph;
}

/** Every strongly connected component with more than one file, or a file importing itself. */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

/** Imports that break the layering, as "from -> to" (paths relative to src/). */
export function againstFlow(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const wrong: string[] = [];
  for (const [file, targets] of graph) {
    const from = moduleOf(file);
    const fromLayer = LAYERS[from];
    for (const target of targets) {
      const to = moduleOf(target);
      const rel = `${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`;
      if (from === to) continue;
      if (fromLayer === undefined || LAYERS[to] === undefined) {
        wrong.push(`${rel} (${fromLayer === undefined ? from : to} has no layer: add it to LAYERS)`);
        continue;
      }
      if (ALLOWED_AGAINST_FLOW.some(([a, b]) => path.join(SRC, a) === file && path.join(SRC, b) === target)) continue;
      const allowed = fromLayer === 0 ? FOUNDATION_IMPORTS[from].includes(to) : LAYERS[to] < fromLayer;
      if (!allowed) wrong.push(rel);
    }
  }
  return wrong.sort();
}

describe('the import graph of src/', () => {
  const graph = importGraph();

  it('reads imports of every form', () => {
    expect(importSpecifiers(`import a from './a.js';\nimport type { B } from '../b.js';\nexport { c } from './c.js';\nexport * from './d.js';\nimport './e.js';\nconst f = await import('../f.js');\nimport {\n  g,\n} from './g.js';\n// import x from './commented.js';\nimport os from 'node:os';`).sort()).toEqual([
      './a.js',
      '../b.js',
      './c.js',
      './d.js',
      './e.js',
      './g.js',
      '../f.js',
    ].sort());
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get(path.join(SRC, 'cli/dev.ts'))).toContain(path.join(SRC, 'dev/engine.ts'));
  });

  it('the checks catch a circle and an import against the flow', () => {
    const a = path.join(SRC, 'watch/a.ts');
    const b = path.join(SRC, 'plan/b.ts');
    const fake = new Map([
      [a, [b]],
      [b, [a]],
    ]);
    expect(cycles(fake)).toEqual([[b, a].sort()]);
    expect(againstFlow(fake)).toEqual(['watch/a.ts -> plan/b.ts']);
    expect(againstFlow(new Map([[path.join(SRC, 'shared/x.ts'), [path.join(SRC, 'config/load.ts')]]]))).toEqual(['shared/x.ts -> config/load.ts']);
  });

  it('has no import circle', () => {
    expect(cycles(graph).map((c) => c.map((f) => path.relative(SRC, f)).join(' <-> '))).toEqual([]);
  });

  it('imports only with the flow (config -> watch -> plan -> build / sync -> deploy -> observe -> teardown)', () => {
    expect(againstFlow(graph)).toEqual([]);
  });
});
