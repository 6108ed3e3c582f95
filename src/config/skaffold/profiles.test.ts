import { describe, expect, it } from 'vitest';
import { applyPatch, applyProfile } from './profiles.js';

describe('applyPatch (RFC 6902)', () => {
  const doc = { build: { artifacts: [{ image: 'a' }, { image: 'b' }] }, deploy: { kubectl: {} } };

  it('adds, replaces (the default op), removes, moves, copies; never mutates', () => {
    expect(applyPatch(doc, { op: 'add', path: '/build/artifacts/-', value: { image: 'c' } })).toMatchObject({ build: { artifacts: [{ image: 'a' }, { image: 'b' }, { image: 'c' }] } });
    expect(applyPatch(doc, { op: 'add', path: '/build/artifacts/0', value: { image: 'z' } })).toMatchObject({ build: { artifacts: [{ image: 'z' }, { image: 'a' }, { image: 'b' }] } });
    expect(applyPatch(doc, { path: '/build/artifacts/1/image', value: 'bb' })).toMatchObject({ build: { artifacts: [{ image: 'a' }, { image: 'bb' }] } });
    expect(applyPatch(doc, { op: 'remove', path: '/build/artifacts/0' })).toMatchObject({ build: { artifacts: [{ image: 'b' }] } });
    expect(applyPatch(doc, { op: 'copy', from: '/build/artifacts/0', path: '/deploy/kubectl/x' })).toMatchObject({ deploy: { kubectl: { x: { image: 'a' } } } });
    expect(applyPatch(doc, { op: 'move', from: '/build', path: '/b2' })).toEqual({ b2: doc.build, deploy: doc.deploy });
    expect(doc.build.artifacts).toHaveLength(2);
  });

  it('refuses a replace or remove of a path that does not exist, and an unknown op', () => {
    expect(() => applyPatch(doc, { op: 'replace', path: '/build/tagPolicy', value: 1 })).toThrow('path /build/tagPolicy does not exist in the config');
    expect(() => applyPatch(doc, { op: 'remove', path: '/build/artifacts/5' })).toThrow(/does not exist/);
    expect(() => applyPatch(doc, { op: 'merge', path: '/build' })).toThrow(/unknown op "merge"/);
  });
});

describe('applyProfile', () => {
  it('overlays sections (mappings merge, lists replace), then patches', () => {
    const config = { build: { local: { push: true, concurrency: 2 }, artifacts: [{ image: 'a' }] } };
    const { config: out, problem } = applyProfile(config, {
      build: { local: { push: false }, artifacts: [{ image: 'b' }] },
      patches: [{ op: 'add', path: '/build/artifacts/0/context', value: 'svc' }],
    });
    expect(problem).toBeUndefined();
    expect(out).toEqual({ build: { local: { push: false, concurrency: 2 }, artifacts: [{ image: 'b', context: 'svc' }] } });
  });
});
