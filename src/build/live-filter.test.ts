import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { filtersForPlan, liveContextFilter } from './live-filter.js';

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

describe('filtersForPlan', () => {
  it('re-reads the filters whose .dockerignore is in the batch, and hands the planner values that never change', () => {
    writeFileSync(path.join(dir, '.dockerignore'), 'node_modules\n');
    const artifact = { image: 'a', contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile') };
    const config = { build: { artifacts: [artifact] } } as unknown as Parameters<typeof filtersForPlan>[1];
    const live = liveContextFilter(artifact, () => 0);
    const filters = new Map([['a', live]]);
    writeFileSync(path.join(dir, '.dockerignore'), 'node_modules\ndist\n');

    const unrelated = filtersForPlan([path.join(dir, 'src/app.js')], config, filters)!.get('a')!;
    expect(unrelated.isExcluded('dist', true)).toBe(false);
    const edited = filtersForPlan([path.join(dir, '.dockerignore')], config, filters)!.get('a')!;
    expect(edited.isExcluded('dist', true)).toBe(true);
    expect(edited).not.toHaveProperty('refresh');

    // A value: a later edit (and re-reading the live filter) leaves it as it was.
    writeFileSync(path.join(dir, '.dockerignore'), '');
    live.refresh();
    expect(live.isExcluded('dist', true)).toBe(false);
    expect(edited.isExcluded('dist', true)).toBe(true);
  });

  it('passes filters that are already values through unchanged', () => {
    const plain = { isExcluded: () => true };
    const config = { build: { artifacts: [] } } as unknown as Parameters<typeof filtersForPlan>[1];
    expect(filtersForPlan([], config, new Map([['a', plain]]))!.get('a')).toBe(plain);
    expect(filtersForPlan([], config, undefined)).toBeUndefined();
  });
});
