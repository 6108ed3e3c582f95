import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileHashCache } from './hash-cache.js';

let root: string;
const entry = (file: string) => {
  const st = statSync(file);
  return { absPath: file, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
};

beforeEach(() => (root = mkdtempSync(path.join(os.tmpdir(), 'devloop-hashes-'))));
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('FileHashCache', () => {
  // A clock 10 s ahead, so files written by the test are not "racy" (modified within 2 s).
  const later = () => Date.now() + 10_000;

  it('hashes contents once, then answers from path, size, mtime and inode across runs', async () => {
    const file = path.join(root, 'a.txt');
    writeFileSync(file, 'hello');
    const first = await FileHashCache.load(root, later);
    const hash = await first.hash(entry(file));
    expect(hash).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(first.misses).toBe(1);
    await first.hash(entry(file));
    expect(first.misses).toBe(1);
    await first.save();

    const second = await FileHashCache.load(root, later);
    expect(await second.hash(entry(file))).toBe(hash);
    expect(second.misses).toBe(0);
    // The cache is trusted on its key: a lie in the key shows that contents were not read.
    const json = JSON.parse(readFileSync(path.join(root, '.devloop/cache/file-hashes.json'), 'utf8'));
    json.files[file].sha256 = 'from-cache';
    writeFileSync(path.join(root, '.devloop/cache/file-hashes.json'), JSON.stringify(json));
    expect(await (await FileHashCache.load(root, later)).hash(entry(file))).toBe('from-cache');
  });

  it('rehashes when size, mtime or inode differ', async () => {
    const file = path.join(root, 'a.txt');
    writeFileSync(file, 'hello');
    const cache = await FileHashCache.load(root, later);
    const e = entry(file);
    await cache.hash(e);
    await cache.hash({ ...e, mtimeMs: e.mtimeMs + 1 });
    await cache.hash({ ...e, size: e.size + 1 });
    await cache.hash({ ...e, ino: e.ino + 1 });
    expect(cache.misses).toBe(4);
  });

  it('does not cache a file modified within the last two seconds', async () => {
    const file = path.join(root, 'a.txt');
    writeFileSync(file, 'hello');
    const cache = await FileHashCache.load(root, Date.now);
    await cache.hash(entry(file));
    await cache.hash(entry(file));
    expect(cache.misses).toBe(2);
  });

  it('writes atomically under .devloop/cache with a .gitignore, and survives a corrupt file', async () => {
    const file = path.join(root, 'a.txt');
    writeFileSync(file, 'x');
    const cache = await FileHashCache.load(root, later);
    await cache.hash(entry(file));
    await cache.save();
    expect(readFileSync(path.join(root, '.devloop/.gitignore'), 'utf8')).toMatch(/^\*$/m);
    expect(readdirSync(path.join(root, '.devloop/cache')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    writeFileSync(path.join(root, '.devloop/cache/file-hashes.json'), '{not json');
    const again = await FileHashCache.load(root, later);
    await again.hash(entry(file));
    expect(again.misses).toBe(1);
  });

  it('makes a no-op check of a large context read no file contents', async () => {
    mkdirSync(path.join(root, 'many'));
    const files = Array.from({ length: 300 }, (_, i) => path.join(root, 'many', `f${i}.js`));
    files.forEach((f, i) => writeFileSync(f, `export default ${i};\n`));
    const first = await FileHashCache.load(root, later);
    for (const f of files) await first.hash(entry(f));
    await first.save();
    const second = await FileHashCache.load(root, later);
    for (const f of files) await second.hash(entry(f));
    expect(second.misses).toBe(0);
  });

  it('drops entries of files no longer hashed only when asked to prune', async () => {
    const a = path.join(root, 'a.txt');
    const b = path.join(root, 'b.txt');
    writeFileSync(a, 'a');
    writeFileSync(b, 'b');
    const first = await FileHashCache.load(root, later);
    await first.hash(entry(a));
    await first.hash(entry(b));
    await first.save();
    const file = path.join(root, '.devloop/cache/file-hashes.json');
    const second = await FileHashCache.load(root, later);
    await second.hash(entry(a));
    await second.save();
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).files).sort()).toEqual([a, b]);
    await second.save({ prune: true });
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).files)).toEqual([a]);
  });
});
