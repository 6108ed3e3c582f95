import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fileOutput, summarise } from './build.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Every bare package a module can load, following its relative imports (static `import`/`export
 * ... from`, and `import('...')` with a literal string) through the TypeScript sources.
 */
function packagesReachable(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    // Type-only imports are erased by tsc: they load nothing.
    const specifiers = [
      ...source.matchAll(/^\s*(?:import|export)\s(?!type\s)[^;]*?\sfrom\s+['"]([^'"]+)['"]/gms),
      ...source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
      ...source.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]);
    for (const spec of specifiers) {
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '');
        const candidates = [`${target}.ts`, `${target}.tsx`, path.join(target, 'index.ts')];
        const found = candidates.find((c) => {
          try {
            readFileSync(c);
            return true;
          } catch {
            return false;
          }
        });
        if (found) visit(found);
      } else {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
  };
  visit(entry);
  return packages;
}

describe('devloop build', () => {
  it('never loads ink or react, statically or dynamically', () => {
    const packages = packagesReachable(path.join(here, 'build.ts'));
    expect(packages.has('dockerode')).toBe(true); // the scan follows dynamic imports down to src/docker
    expect(packages.has('tar-stream')).toBe(true);
    expect([...packages].filter((p) => p === 'ink' || p === 'react' || p.startsWith('ink-'))).toEqual([]);
  });

  it('the import scan does find ink when a module reaches it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-scan-'));
    try {
      writeFileSync(path.join(dir, 'a.ts'), "import type { FC } from 'react';\nimport { x } from './b.js';\nexport const y = x;\n");
      writeFileSync(path.join(dir, 'b.ts'), "export const x = 1;\nexport async function later() {\n  return import('ink');\n}\n");
      const found = packagesReachable(path.join(dir, 'a.ts'));
      expect(found.has('ink')).toBe(true);
      expect(found.has('react')).toBe(false); // type-only: erased
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes Skaffold's --file-output shape for built and cached images only", () => {
    expect(
      fileOutput([
        { image: 'blog/base', tag: 'blog/base:1', status: 'cached' },
        { image: 'blog/posts', tag: 'blog/posts:2', status: 'built' },
        { image: 'blog/query', tag: 'blog/query:3', status: 'failed' },
        { image: 'blog/client', tag: '', status: 'skipped' },
      ]),
    ).toEqual({ builds: [{ imageName: 'blog/base', tag: 'blog/base:1' }, { imageName: 'blog/posts', tag: 'blog/posts:2' }] });
  });

  it('summarises the run in one line', () => {
    expect(
      summarise(
        [
          { image: 'a', tag: 'a:1', status: 'built', pushed: true },
          { image: 'b', tag: 'b:1', status: 'cached' },
          { image: 'c', tag: '', status: 'failed' },
        ],
        2500,
      ),
    ).toBe('3 images: 1 built, 1 cached, 1 failed, 1 in the registry (2.5s)');
  });
});
