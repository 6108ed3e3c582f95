import { describe, expect, it } from 'vitest';
import { BACKOFF_MAX_MS, backoffMs } from './backoff.js';

describe('backoffMs', () => {
  it('starts at 250 ms, doubles, and stays at the 4 s cap however long the retries go on', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffMs(a))).toEqual([250, 500, 1000, 2000, 4000, 4000, 4000]);
    expect(backoffMs(10_000)).toBe(BACKOFF_MAX_MS);
    expect(backoffMs(-3)).toBe(250);
  });
});
