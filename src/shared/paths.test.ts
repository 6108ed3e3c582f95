import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { relativeInside, toPosix } from './paths.js';

/** The definition the fast path must agree with: path.relative, then the inside test. */
function reference(dir: string, child: string): string | undefined {
  const rel = path.relative(dir, child);
  if (rel === '') return '';
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return toPosix(rel);
}

describe('relativeInside', () => {
  const dirs = ['/', '/a', '/a/b', '/a/b/', '/a//b', '/a/./b', '/a/c/../b', 'a/b', '/ab'];
  const children = ['/', '/a', '/a/b', '/a/b/c', '/a/b/c/d.txt', '/a/bc', '/a/b/..c', '/a/b/../x', '/a/b/./c', '/a//b/c', '/a/b/c/', '/ab/c', 'a/b/c', '/x/y', '/a/b/ü ñ.txt'];
  for (const dir of dirs) {
    for (const child of children) {
      it(`${JSON.stringify(child)} in ${JSON.stringify(dir)} as path.relative says`, () => {
        expect(relativeInside(dir, child)).toBe(reference(dir, child));
      });
    }
  }

  it('answers inside, equal and outside', () => {
    expect(relativeInside('/repo/services/posts', '/repo/services/posts/public/f.txt')).toBe('public/f.txt');
    expect(relativeInside('/repo/services/posts', '/repo/services/posts')).toBe('');
    expect(relativeInside('/repo/services/posts', '/repo/services/postsx/f.txt')).toBeUndefined();
    expect(relativeInside('/', '/etc/hosts')).toBe('etc/hosts');
  });
});
