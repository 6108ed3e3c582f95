import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { liveContextFilter } from './live-filter.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-live-filter-'));
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('liveContextFilter', () => {
  it('follows edits of the .dockerignore: at once on refresh(), else within the check interval', () => {
    let clock = 0;
    writeFileSync(path.join(dir, '.dockerignore'), 'node_modules\n');
    const filter = liveContextFilter({ contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile') }, () => clock);
    expect(filter.isExcluded('node_modules', true)).toBe(true);
    expect(filter.isExcluded('dist', true)).toBe(false);

    writeFileSync(path.join(dir, '.dockerignore'), 'node_modules\ndist\n');
    expect(filter.isExcluded('dist', true)).toBe(false); // not checked again yet
    clock += 600;
    expect(filter.isExcluded('dist', true)).toBe(true);
    expect(filter.excludedBy('dist/a.js', false)).toBe('dist');

    writeFileSync(path.join(dir, '.dockerignore'), 'dist\n');
    expect(filter.refresh()).toBe(true);
    expect(filter.isExcluded('node_modules', true)).toBe(false);
    expect(filter.refresh()).toBe(false);

    rmSync(path.join(dir, '.dockerignore'));
    filter.refresh();
    expect(filter.isExcluded('dist', true)).toBe(false);
  });
});
