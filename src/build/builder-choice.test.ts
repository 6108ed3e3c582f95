import { describe, expect, it } from 'vitest';
import { engineOffersBuildkit } from '../docker/client.js';
import { EnvironmentError } from '../errors.js';
import { chooseBuilder } from './builder-choice.js';

const linux = { apiVersion: '1.41', osType: 'linux', buildkit: true };
const old = { apiVersion: '1.38', osType: 'linux', buildkit: false };
const project = (builder: 'auto' | 'buildkit' | 'classic') => ({ build: { builder } }) as Parameters<typeof chooseBuilder>[0];

describe('engineOffersBuildkit', () => {
  it('is true from API 1.39 on Linux engines only', () => {
    expect(engineOffersBuildkit('1.41', 'linux')).toBe(true);
    expect(engineOffersBuildkit('1.39', 'linux')).toBe(true);
    expect(engineOffersBuildkit('1.38', 'linux')).toBe(false);
    expect(engineOffersBuildkit('1.41', 'windows')).toBe(false);
    expect(engineOffersBuildkit(undefined, 'linux')).toBe(false);
  });
});

describe('chooseBuilder', () => {
  it('auto picks BuildKit where the engine offers it, and says why', () => {
    expect(chooseBuilder(project('auto'), { image: 'a' }, linux, {})).toEqual({ builder: 'buildkit', reason: 'build.builder: auto, and the engine (API 1.41, linux) offers BuildKit' });
  });
  it('auto falls back to classic with a note on an engine without BuildKit, or with DOCKER_BUILDKIT=0', () => {
    const choice = chooseBuilder(project('auto'), { image: 'a' }, old, {});
    expect(choice.builder).toBe('classic');
    expect(choice.note).toBe('building with the classic builder: the engine (API 1.38, linux) does not offer BuildKit');
    expect(chooseBuilder(project('auto'), { image: 'a' }, linux, { DOCKER_BUILDKIT: '0' })).toEqual({ builder: 'classic', reason: 'build.builder: auto, and DOCKER_BUILDKIT=0 in the environment' });
  });
  it("an artifact's builder overrides the project's", () => {
    expect(chooseBuilder(project('buildkit'), { image: 'a', builder: 'classic' }, linux, {})).toEqual({ builder: 'classic', reason: 'build.artifacts[a].builder: classic' });
    expect(chooseBuilder(project('classic'), { image: 'a' }, linux, {}).builder).toBe('classic');
    expect(chooseBuilder(project('classic'), { image: 'a', builder: 'auto' }, linux, {}).builder).toBe('buildkit');
  });
  it('refuses builder buildkit on an engine without it, saying what to do', () => {
    const error = (() => {
      try {
        chooseBuilder(project('buildkit'), { image: 'a' }, old, {});
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).hint).toMatch(/set the builder to auto or classic/);
  });
});
