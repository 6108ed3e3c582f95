import { describe, expect, it } from 'vitest';
import { activationInput, activeProfiles, regexEqual } from './activation.js';

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


describe('activationInput', () => {
  const byContext = [{ name: 'kind', activation: [{ kubeContext: '^kind-' }] }];

  it('asks the caller for the current context only when an activation names one, and once', () => {
    let asked = 0;
    const currentKubeContext = () => {
      asked++;
      return 'kind-dev';
    };
    const input = activationInput({ env: {}, currentKubeContext }, ['dev']);
    expect(activeProfiles([{ name: 'env', activation: [{ env: 'X=' }] }], input, [], []).active.map((p) => p.name)).toEqual(['env']);
    expect(asked).toBe(0);
    expect(activeProfiles(byContext, input, [], []).active.map((p) => p.why)).toEqual(['kubeContext "kind-dev" matches "^kind-"']);
    expect(activeProfiles(byContext, input, [], []).active).toHaveLength(1);
    expect(asked).toBe(1);
  });

  it('prefers an explicit kubeContext, and without either the context is unknown', () => {
    const never = () => {
      throw new Error('must not be read');
    };
    expect(activeProfiles(byContext, activationInput({ env: {}, kubeContext: 'prod', currentKubeContext: never }, []), [], []).active).toEqual([]);
    expect(activeProfiles(byContext, activationInput({ env: {} }, []), [], []).active).toEqual([]);
    expect(activeProfiles([{ name: 'any', activation: [{ kubeContext: '!^kind-' }] }], activationInput({ env: {} }, []), [], []).active.map((p) => p.why)).toEqual(['kubeContext "" matches "!^kind-"']);
  });
});
