import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.js';
import { authFromFile, createCredentialSource, dockerConfigPath, helperFor, parseDockerConfig, readDockerConfig, type HelperRunner } from './credentials.js';

const signal = new AbortController().signal;
const b64 = (s: string) => Buffer.from(s).toString('base64');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-docker-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(config: object): NodeJS.ProcessEnv {
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return { DOCKER_CONFIG: dir, PATH: process.env.PATH };
}

/** A helper runner answering like docker-credential-* does, recording its calls. */
function fakeHelpers(secrets: Record<string, Record<string, { Username: string; Secret: string }>>) {
  const calls: string[] = [];
  const run: HelperRunner = async (helper, action, input) => {
    calls.push(`${helper} ${action} ${input}`);
    const store = secrets[helper];
    if (!store) return { exitCode: 1, stdout: '', stderr: `exec: "docker-credential-${helper}": executable file not found` };
    if (action === 'list') return { exitCode: 0, stdout: JSON.stringify(Object.fromEntries(Object.entries(store).map(([k, v]) => [k, v.Username]))), stderr: '' };
    const found = store[input];
    if (!found) return { exitCode: 1, stdout: 'credentials not found in native keychain\n', stderr: '' };
    return { exitCode: 0, stdout: JSON.stringify({ ServerURL: input, ...found }), stderr: '' };
  };
  return { run, calls };
}

describe('the Docker config file', () => {
  it('is $DOCKER_CONFIG/config.json, else ~/.docker/config.json', () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: '/x' })).toBe('/x/config.json');
    expect(dockerConfigPath({ HOME: '/home/me' })).toBe('/home/me/.docker/config.json');
  });

  it('is empty when absent, and an EnvironmentError naming it when it is not JSON', () => {
    expect(readDockerConfig({ DOCKER_CONFIG: dir })).toEqual({ path: path.join(dir, 'config.json'), auths: {}, credHelpers: {} });
    writeFileSync(path.join(dir, 'config.json'), '{"auths": ');
    expect(() => readDockerConfig({ DOCKER_CONFIG: dir })).toThrow(EnvironmentError);
    expect(() => readDockerConfig({ DOCKER_CONFIG: dir })).toThrow(new RegExp(`${dir}/config.json is not valid JSON`));
  });
});

describe('auths', () => {
  const config = parseDockerConfig(
    JSON.stringify({
      auths: {
        'registry.example.com': { auth: b64('ci:pa:ss') },
        'https://legacy.example.com/v1/': { username: 'old', password: 'pw' },
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpw') },
        'tokens.example.com': { identitytoken: 'id-token' },
        'broken.example.com': { auth: b64('no-colon') },
      },
    }),
    '/c/config.json',
  );

  it('decodes base64 user:password (the password may hold colons), username/password and identity tokens', () => {
    expect(authFromFile(config, 'registry.example.com')).toEqual({ username: 'ci', password: 'pa:ss', serveraddress: 'registry.example.com' });
    expect(authFromFile(config, 'tokens.example.com')).toEqual({ identitytoken: 'id-token', serveraddress: 'tokens.example.com' });
    expect(authFromFile(config, 'broken.example.com')).toBeUndefined();
    expect(authFromFile(config, 'unknown.example.com')).toBeUndefined();
  });

  it('matches a key written as a URL by its hostname, and Docker Hub by its three names', () => {
    expect(authFromFile(config, 'legacy.example.com')).toEqual({ username: 'old', password: 'pw', serveraddress: 'https://legacy.example.com/v1/' });
    for (const hub of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      expect(authFromFile(config, hub)).toEqual({ username: 'hubuser', password: 'hubpw', serveraddress: 'https://index.docker.io/v1/' });
    }
  });
});

describe('credHelpers and credsStore', () => {
  it('asks the host\'s credHelper before credsStore, and credsStore before auths', async () => {
    const env = writeConfig({
      auths: { 'registry.example.com': { auth: b64('file:pw') }, 'plain.example.com': {} },
      credsStore: 'desktop',
      credHelpers: { 'gcr.example.com': 'gcloud' },
    });
    const { run, calls } = fakeHelpers({
      gcloud: { 'gcr.example.com': { Username: '<token>', Secret: 'oauth' } },
      desktop: { 'registry.example.com': { Username: 'store', Secret: 'stored' } },
    });
    const source = createCredentialSource(env, run);
    expect(await source.forHost('gcr.example.com', signal)).toEqual({
      auth: { identitytoken: 'oauth', serveraddress: 'gcr.example.com' },
      origin: `docker-credential-gcloud (credHelpers in ${dir}/config.json)`,
    });
    expect(await source.forHost('registry.example.com', signal)).toEqual({
      auth: { username: 'store', password: 'stored', serveraddress: 'registry.example.com' },
      origin: `docker-credential-desktop (credsStore in ${dir}/config.json)`,
    });
    // "credentials not found" is no credentials, not an error
    expect(await source.forHost('plain.example.com', signal)).toBeUndefined();
    // asked once per host
    await source.forHost('gcr.example.com', signal);
    expect(calls).toEqual(['gcloud get gcr.example.com', 'desktop get registry.example.com', 'desktop get plain.example.com']);
    expect(helperFor(parseDockerConfig('{"credHelpers":{"docker.io":"hub"}}', 'x'), 'docker.io')).toBeUndefined();
    expect(helperFor(parseDockerConfig('{"credHelpers":{"https://index.docker.io/v1/":"hub"}}', 'x'), 'docker.io')).toBe('hub');
  });

  it('gives a build every credential: auths, credHelpers and what credsStore lists', async () => {
    const env = writeConfig({ auths: { 'a.example.com': { auth: b64('a:1') } }, credsStore: 'desktop', credHelpers: { 'h.example.com': 'helper' } });
    const { run } = fakeHelpers({
      desktop: { 'a.example.com': { Username: 'a', Secret: 'from-store' }, 'https://index.docker.io/v1/': { Username: 'hub', Secret: 'h' } },
      helper: { 'h.example.com': { Username: 'h', Secret: '2' } },
    });
    expect(await createCredentialSource(env, run).all(signal)).toEqual({
      'a.example.com': { username: 'a', password: 'from-store', serveraddress: 'a.example.com' },
      'h.example.com': { username: 'h', password: '2', serveraddress: 'h.example.com' },
      'https://index.docker.io/v1/': { username: 'hub', password: 'h', serveraddress: 'https://index.docker.io/v1/' },
    });
  });

  it('runs a real docker-credential-* program from PATH, and names a missing one', async () => {
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    // reads the server address from stdin, as the Docker CLI sends it
    writeFileSync(path.join(bin, 'docker-credential-test'), '#!/bin/sh\nread server\n[ "$1" = get ] || exit 2\nprintf \'{"ServerURL":"%s","Username":"u-%s","Secret":"s"}\\n\' "$server" "$server"\n');
    chmodSync(path.join(bin, 'docker-credential-test'), 0o755);
    const env = writeConfig({ credHelpers: { 'h.example.com': 'test', 'm.example.com': 'missing-helper' } });
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      const source = createCredentialSource(env);
      expect((await source.forHost('h.example.com', signal))?.auth).toEqual({ username: 'u-h.example.com', password: 's', serveraddress: 'h.example.com' });
      const error = await source.forHost('m.example.com', signal).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EnvironmentError);
      expect((error as Error).message).toBe('the Docker credential helper docker-credential-missing-helper is not on PATH');
    } finally {
      process.env.PATH = saved;
    }
  });

  it('reports a failing helper with what to run', async () => {
    const env = writeConfig({ credsStore: 'broken' });
    const run: HelperRunner = async () => ({ exitCode: 1, stdout: '', stderr: 'error getting credentials: dbus unavailable\n' });
    const error = await createCredentialSource(env, run).forHost('r.example.com', signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toContain('docker-credential-broken failed for r.example.com (exit 1): error getting credentials: dbus unavailable');
    expect((error as EnvironmentError).hint).toContain('docker login r.example.com');
  });
});
