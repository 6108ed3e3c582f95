import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { resolveDefaultRepo } from './default-repo.js';

describe('resolveDefaultRepo', () => {
  const env = { DEVLOOP_DEFAULT_REPO: 'devloop.example.com', SKAFFOLD_DEFAULT_REPO: 'skaffold.example.com' };

  it('takes the flag over both variables and the config', () => {
    expect(resolveDefaultRepo('flag.example.com/team/', env, 'config.example.com')).toEqual({ repo: 'flag.example.com/team', source: '--default-repo' });
  });

  it('takes DEVLOOP_DEFAULT_REPO over SKAFFOLD_DEFAULT_REPO, and that over the config', () => {
    expect(resolveDefaultRepo(undefined, env, 'config.example.com')).toEqual({ repo: 'devloop.example.com', source: 'DEVLOOP_DEFAULT_REPO' });
    expect(resolveDefaultRepo(undefined, { SKAFFOLD_DEFAULT_REPO: '127.0.0.1:5443' }, 'config.example.com')).toEqual({ repo: '127.0.0.1:5443', source: 'SKAFFOLD_DEFAULT_REPO' });
    expect(resolveDefaultRepo(undefined, {}, 'config.example.com')).toEqual({ repo: 'config.example.com', source: 'build.defaultRepo' });
    expect(resolveDefaultRepo(undefined, {}, undefined)).toBeUndefined();
  });

  it('stops at an empty value: no default repo, the lower levels are not used', () => {
    expect(resolveDefaultRepo('', env, 'config.example.com')).toEqual({ repo: '', source: '--default-repo' });
  });

  it('refuses a value that is not HOST[:PORT][/PATH]', () => {
    expect(() => resolveDefaultRepo('https://registry.example.com', {}, undefined)).toThrow(UsageError);
    expect(() => resolveDefaultRepo(undefined, { SKAFFOLD_DEFAULT_REPO: 'a b' }, undefined)).toThrow(/SKAFFOLD_DEFAULT_REPO must be/);
  });
});
