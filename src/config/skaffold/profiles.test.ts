import { describe, expect, it } from 'vitest';
import { activeProfiles, applyPatch, applyProfile, regexEqual } from './profiles.js';

describe('regexEqual (Skaffold util.RegexEqual)', () => {
  it('matches anywhere, negates with !, and falls back to equality for an invalid pattern', () => {
    expect(regexEqual('kind', 'kind-shop')).toBe(true);
    expect(regexEqual('^prod$', 'prod-eu')).toBe(false);
    expect(regexEqual('!prod', 'kind-shop')).toBe(true);
    expect(regexEqual('!prod', 'prod')).toBe(false);
    expect(regexEqual('a[', 'a[')).toBe(true);
    expect(regexEqual('a[', 'ab')).toBe(false);
  });
});

describe('activeProfiles', () => {
  const input = (env: Record<string, string> = {}, kubeContext = 'kind-dev', commands = ['dev']) => ({ env, kubeContext: () => kubeContext, commands });
  const profiles = [
    { name: 'a', activation: [{ env: 'MODE=dev', kubeContext: 'kind' }] },
    { name: 'b', activation: [{ env: 'UNSET=' }] },
    { name: 'c', requiresAllActivations: true, activation: [{ command: 'dev' }, { env: 'CI=1' }] },
    { name: 'd' },
  ];

  it('needs every condition of one entry; `NAME=` holds when unset; requiresAllActivations needs every entry', () => {
    expect(activeProfiles(profiles, input({ MODE: 'dev' }), [], []).active.map((p) => p.name)).toEqual(['a', 'b']);
    expect(activeProfiles(profiles, input({ MODE: 'dev', UNSET: 'x' }, 'minikube'), [], []).active.map((p) => p.name)).toEqual([]);
    expect(activeProfiles(profiles, input({ CI: '1' }), [], []).active.map((p) => p.name)).toEqual(['b', 'c']);
  });

  it('adds -p profiles after the automatic ones and removes -p -name ones', () => {
    expect(activeProfiles(profiles, input(), ['d', '-b'], []).active.map((p) => [p.name, p.why])).toEqual([['d', '-p']]);
  });

  it('reports an env condition without "="', () => {
    expect(activeProfiles([{ name: 'x', activation: [{ env: 'NOEQ' }] }], input(), [], []).problems).toEqual([
      { path: ['profiles', 0, 'activation', 0, 'env'], message: 'env "NOEQ" must be NAME=VALUE' },
    ]);
  });
});

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
