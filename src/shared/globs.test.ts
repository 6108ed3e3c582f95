import { describe, expect, it } from 'vitest';
import { globMatcher, GLOB_OPTIONS, normalizeGlob } from './globs.js';

describe('the glob options of the config', () => {
  it('match names that start with a dot like any other, and ignore a leading ./', () => {
    expect(GLOB_OPTIONS).toEqual({ dot: true });
    expect(globMatcher('infra/**/*.yaml')('infra/.k8s/app.yaml')).toBe(true);
    expect(globMatcher('*.yaml')('.hidden.yaml')).toBe(true);
    expect(globMatcher('./k8s/*.yaml')('k8s/a.yaml')).toBe(true);
    expect(globMatcher('k8s/*.yaml')('k8s/sub/a.yaml')).toBe(false);
    expect(normalizeGlob('./a/b')).toBe('a/b');
    expect(normalizeGlob('a/./b')).toBe('a/./b');
  });
});
