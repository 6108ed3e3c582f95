import { describe, expect, it } from 'vitest';
import { closest } from './suggest.js';

describe('closest', () => {
  it('finds typos only', () => {
    expect(closest('contxt', ['context', 'dockerfile'])).toBe('context');
    expect(closest('Contxt', ['context', 'dockerfile'])).toBe('context');
    expect(closest('zzzzzz', ['context', 'dockerfile'])).toBeUndefined();
    expect(closest('x', [])).toBeUndefined();
  });
});
