import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isCovered, keyRows, MAPS_TO, undocumentedKeys } from './doc.js';
import { DOC_FILE, docFileText, schemaKeys } from './write-doc.js';

describe('docs/skaffold.md', () => {
  it('is what `npm run docs:skaffold` writes from keys.ts (run it after changing keys.ts or doc.ts)', () => {
    expect(readFileSync(DOC_FILE, 'utf8')).toBe(docFileText());
  });

  it('covers every key of the skaffold/v4beta14 schema', () => {
    const keys = [...schemaKeys()];
    expect(keys.length).toBeGreaterThan(500);
    expect(keys.filter((k) => !isCovered(k))).toEqual([]);
  });

  it('says for every supported key what it maps to', () => {
    expect(undocumentedKeys()).toEqual([]);
  });

  it('describes no key that is neither in the schema nor in (or below a key of) the table: a misspelt entry', () => {
    const bare = (p: string) => p.replace(/\[\]/g, '');
    const known = new Set([...schemaKeys(), ...keyRows().map((r) => r.path)].map(bare));
    const underKnown = (k: string) => bare(k).split('.').some((_, i, parts) => known.has(parts.slice(0, i + 1).join('.')) && i < parts.length - 1);
    expect(Object.keys(MAPS_TO).filter((k) => !known.has(bare(k)) && !underKnown(k))).toEqual([]);
    expect(underKnown('deploy.kustomize.paths')).toBe(true); // a v2beta key devloop refuses as a whole today
    expect(known.has('metadata.nmae') || underKnown('metdata.name')).toBe(false);
  });

  it('gives a profile\'s copy of a top-level section one row, whatever keys.ts holds below it', () => {
    const value = { t: 'value' } as const;
    const spec = { t: 'map', keys: { profiles: { t: 'list', item: { t: 'map', keys: { name: value, build: { t: 'map', keys: { artifacts: value } } } } } } } as const;
    expect(keyRows(spec).map((r) => [r.path, r.text])).toEqual([
      ['profiles[]', MAPS_TO.profiles],
      ['profiles[].name', MAPS_TO['profiles[].name']],
      ['profiles[].build', 'the same keys as the top-level `build`'],
    ]);
  });

  it('a key the table does not reach is not covered', () => {
    expect(isCovered('build.artifacts[].docker.dockerfile')).toBe(true);
    expect(isCovered('build.artifacts[].kaniko.cache.repo')).toBe(true); // below a refused key
    expect(isCovered('build.artifacts[].docker.frobnicate')).toBe(false);
    expect(isCovered('frobnicate')).toBe(false);
  });
});
