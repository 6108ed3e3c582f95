import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { listContext } from './context.js';
import { cleanPath, contextFileFilter, createFileFilter, parseDockerignore } from './dockerignore.js';

interface Case {
  name: string;
  dockerignore: string;
  /** What Docker put in the image (directories end in "/"), see testdata/generate-dockerignore-expectations.mjs. */
  docker: string[];
  divergent?: string;
  devloop?: string[];
}
const data = JSON.parse(readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata', 'dockerignore-cases.json'), 'utf8')) as {
  dockerVersion: string;
  tree: Record<string, { mode?: string; link?: string }>;
  cases: Case[];
};

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function makeContext(dockerignore: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-dockerignore-'));
  dirs.push(dir);
  for (const [rel, spec] of Object.entries(data.tree)) {
    const abs = path.join(dir, rel);
    if (rel.endsWith('/')) {
      mkdirSync(abs, { recursive: true });
      continue;
    }
    mkdirSync(path.dirname(abs), { recursive: true });
    if (spec.link) symlinkSync(spec.link, abs);
    else {
      writeFileSync(abs, rel);
      if (spec.mode) chmodSync(abs, parseInt(spec.mode, 8));
    }
  }
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /ctx/\n');
  writeFileSync(path.join(dir, '.dockerignore'), dockerignore);
  return dir;
}

/** What ends up in the image: what we send, minus the build files the daemon drops, plus parent directories. */
async function imageListing(dir: string, dockerignore: string): Promise<string[]> {
  const filter = contextFileFilter({ contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile') });
  const entries = await listContext(dir, filter);
  const original = createFileFilter(parseDockerignore(dockerignore));
  const out = new Set<string>();
  for (const e of entries) {
    if ((e.relPath === 'Dockerfile' || e.relPath === '.dockerignore') && original.isExcluded(e.relPath, false)) continue;
    out.add(e.type === 'directory' ? `${e.relPath}/` : e.relPath);
    const parts = e.relPath.split('/');
    for (let i = 1; i < parts.length; i++) out.add(`${parts.slice(0, i).join('/')}/`);
  }
  return [...out].sort();
}

describe(`.dockerignore against Docker (expectations recorded from Docker CLI 28.2.2, classic builder, Engine ${data.dockerVersion})`, () => {
  it('has recorded expectations', () => {
    expect(data.dockerVersion).toMatch(/^20\.10\./);
    expect(data.cases.every((c) => Array.isArray(c.docker))).toBe(true);
  });

  for (const c of data.cases) {
    it(c.name, async () => {
      const dir = makeContext(c.dockerignore);
      const ours = await imageListing(dir, c.dockerignore);
      if (c.divergent) {
        // Documented difference (see dockerignore.ts): we send what the exception names.
        expect(ours).toEqual(c.devloop);
        expect(ours).not.toEqual(c.docker);
      } else {
        expect(ours).toEqual(c.docker);
      }
    });
  }

  it('a directory reported excluded never has a sent file below it (every case, every directory)', () => {
    for (const c of data.cases) {
      const filter = createFileFilter(parseDockerignore(c.dockerignore), ['.dockerignore', 'Dockerfile']);
      const files = Object.keys(data.tree).filter((f) => !f.endsWith('/'));
      const directories = new Set(files.flatMap((f) => f.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
      for (const d of directories) {
        if (!filter.isExcluded(d, true)) continue;
        const sentBelow = files.filter((f) => f.startsWith(`${d}/`) && !filter.isExcluded(f, false));
        expect({ case: c.name, dir: d, sentBelow }).toEqual({ case: c.name, dir: d, sentBelow: [] });
      }
    }
  });
});

describe('contextFileFilter', () => {
  it('prunes a directory only when no exception can re-include below it', () => {
    const f = createFileFilter(['node_modules', 'b', '!b/d/keep.txt', 'docs/**', '!docs/keep/**']);
    expect(f.isExcluded('node_modules', true)).toBe(true);
    expect(f.isExcluded('node_modules/x/index.js', false)).toBe(true);
    expect(f.isExcluded('b', true)).toBe(false);
    expect(f.isExcluded('b/d', true)).toBe(false);
    expect(f.isExcluded('b/c', true)).toBe(true);
    expect(f.isExcluded('b/d/keep.txt', false)).toBe(false);
    expect(f.isExcluded('b/d/other.txt', false)).toBe(true);
    expect(f.isExcluded('docs', true)).toBe(false);
    expect(f.isExcluded('docs/old', true)).toBe(true);
    expect(f.isExcluded('docs/keep', true)).toBe(false);
    expect(f.isExcluded('src', true)).toBe(false);
  });

  it('keeps every directory open for an exception starting with **', () => {
    const f = createFileFilter(['*', '!**/keep.txt']);
    expect(f.isExcluded('anything', true)).toBe(false);
    expect(f.isExcluded('anything/deep', true)).toBe(false);
    expect(f.isExcluded('anything/file.js', false)).toBe(true);
    expect(f.isExcluded('anything/deep/keep.txt', false)).toBe(false);
  });

  it('names the pattern that excluded a path', () => {
    const f = createFileFilter(['**/*.log', 'node_modules', '!keep.log']);
    expect(f.excludedBy('a/b.log', false)).toBe('**/*.log');
    expect(f.excludedBy('node_modules', true)).toBe('node_modules');
    expect(f.excludedBy('keep.log', false)).toBeUndefined();
    expect(f.excludedBy('src/a.js', false)).toBeUndefined();
  });

  it('always sends the Dockerfile and .dockerignore, wherever the Dockerfile is', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-dockerignore-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, '.dockerignore'), 'docker\n.dockerignore\n');
    const f = contextFileFilter({ contextDir: dir, dockerfilePath: path.join(dir, 'docker', 'Dockerfile.dev') });
    expect(f.isExcluded('.dockerignore', false)).toBe(false);
    expect(f.isExcluded('docker/Dockerfile.dev', false)).toBe(false);
    expect(f.isExcluded('docker', true)).toBe(false);
    expect(f.isExcluded('docker/other', false)).toBe(true);
    expect(f.patterns).toEqual(['docker', '.dockerignore', '!.dockerignore', '!docker/Dockerfile.dev']);
  });

  it("never sends devloop's state directory when the context holds it, whatever the patterns say", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-dockerignore-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, '.dockerignore'), '*.log\n!.devloop\n');
    // context `.`: the state directory is at its root
    const here = contextFileFilter({ contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), stateDir: path.join(dir, '.devloop') });
    expect(here.isExcluded('.devloop', true)).toBe(true);
    expect(here.excludedBy('.devloop/cache/file-hashes.json', false)).toBe(".devloop (devloop's own state)");
    expect(here.isExcluded('.devloopish', false)).toBe(false);
    expect(here.isExcluded('src/.devloop', true)).toBe(false); // someone else's, deeper down
    expect(here.isExcluded('a.log', false)).toBe(true);
    // a context above the config's directory (context: ..)
    const above = contextFileFilter({ contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), stateDir: path.join(dir, 'deploy', '.devloop') });
    expect(above.isExcluded('deploy/.devloop/inventory/x.json', false)).toBe(true);
    expect(above.isExcluded('.devloop', true)).toBe(false);
    // a context below it does not hold it
    const below = contextFileFilter({ contextDir: path.join(dir, 'svc'), dockerfilePath: path.join(dir, 'svc', 'Dockerfile'), stateDir: path.join(dir, '.devloop') });
    expect(below.patterns).toEqual([]);
  });

  it('reads no patterns when there is no .dockerignore', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-dockerignore-'));
    dirs.push(dir);
    const f = contextFileFilter({ contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile') });
    expect(f.patterns).toEqual([]);
    expect(f.isExcluded('node_modules', true)).toBe(false);
  });
});

describe('parsing', () => {
  it('cleans like filepath.Clean', () => {
    expect(cleanPath('')).toBe('.');
    expect(cleanPath('a//b/./c/')).toBe('a/b/c');
    expect(cleanPath('a/../../b')).toBe('../b');
    expect(cleanPath('/../a')).toBe('/a');
    expect(cleanPath('./')).toBe('.');
  });

  it('reads lines as docker build does', () => {
    expect(parseDockerignore('\uFEFF# c\n\n  /a/b/  \r\n! ./c\n#x\n!/d\nsrc/../e\n/\n')).toEqual(['a/b', '!c', '!d', 'e', '/']);
  });
});
