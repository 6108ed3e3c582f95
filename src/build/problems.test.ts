import { describe, expect, it } from 'vitest';
import { suggestBuildFix } from './problems.js';

describe('suggestBuildFix', () => {
  it('a base image the engine cannot pull for want of network', () => {
    const fix = suggestBuildFix({
      step: 'Step 1/4 : FROM node:20-alpine',
      message: 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
      context: 'apps/api',
    });
    expect(fix).toMatch(/cannot reach the registry of the base image node:20-alpine/);
  });

  it('a base image that does not exist', () => {
    const fix = suggestBuildFix({ step: 'Step 1/2 : FROM acme/nope:1', message: 'pull access denied for acme/nope, repository does not exist or may require \'docker login\'', context: '.' });
    expect(fix).toMatch(/acme\/nope:1 does not exist or needs a login/);
  });

  it('a COPY source outside the context', () => {
    const fix = suggestBuildFix({ step: 'Step 3/5 : COPY missing.txt /app/', message: 'COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist', context: 'services/posts' });
    expect(fix).toMatch(/not in the build context services\/posts/);
  });

  it('nothing specific for a failing RUN: its output speaks', () => {
    expect(suggestBuildFix({ step: 'Step 2/3 : RUN make', message: "The command '/bin/sh -c make' returned a non-zero code: 2", context: '.' })).toBeUndefined();
  });

  it('reads BuildKit step names too', () => {
    expect(suggestBuildFix({ step: '[1/1] COPY nothere /x', message: 'failed to compute cache key: "/nothere" not found: not found', context: 'app' })).toMatch(/^a source of this COPY is not in the build context app/);
    expect(suggestBuildFix({ step: '[internal] load metadata for docker.io/acme/nope:1', message: 'failed to do request: dial tcp: lookup registry-1.docker.io: no such host', context: '.' })).toMatch(/base image docker\.io\/acme\/nope:1/);
  });
  it('a base image on a registry whose CA BuildKit does not trust: builder classic', () => {
    const fix = suggestBuildFix({
      step: '[internal] load metadata for 10.0.0.5:5443/team/base:1',
      message: 'failed to do request: Head "https://10.0.0.5:5443/v2/team/base/manifests/1": x509: certificate signed by unknown authority',
      context: '.',
    });
    expect(fix).toMatch(/registry of 10\.0\.0\.5:5443\/team\/base:1/);
    expect(fix).toContain('set builder: classic on this artifact');
    expect(fix).toContain('restart dockerd');
  });
});
