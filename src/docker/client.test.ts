import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError, FailureError } from '../errors.js';
import { BuildContextChangedError, classifyBuildkitFailure, createDockerClient, ImageBuildError, RegistryAuthError, splitReference } from './client.js';

/**
 * A stand-in engine on a unix socket, answering like Docker 20.10 does: a failed build is a 200
 * whose JSON stream ends in `errorDetail`, with objects split across chunk boundaries.
 */
let dir: string;
let server: http.Server;
let socket: string;
const requests: string[] = [];
/** The headers of the last request by `METHOD path` (without the query). */
const headers = new Map<string, http.IncomingHttpHeaders>();
let buildChunks: string[] = [];
let pushChunks: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-engine-'));
  socket = path.join(dir, 'docker.sock');
  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    headers.set(`${req.method} ${req.url?.split('?')[0]}`, req.headers);
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', async () => {
      if (req.url === '/_ping') {
        // as Docker 20.10 answers (no Builder-Version header)
        res.setHeader('Api-Version', '1.41');
        res.setHeader('Ostype', 'linux');
        return res.end('OK');
      }
      if (req.url?.startsWith('/images/blog/posts:present/json')) return res.end('{}');
      if (req.url?.startsWith('/images/') && req.url.endsWith('/json')) return res.writeHead(404).end('{"message":"No such image"}');
      // Answers shaped like the engine's error bodies ({"message"}); status codes of a missing tag vary (404, or 500 with "manifest unknown"), both are handled.
      if (req.url === '/distribution/localhost:5000/blog/posts:present/json') return res.end('{"Descriptor":{"mediaType":"application/vnd.oci.image.index.v1+json"}}');
      if (req.url === '/distribution/localhost:5001/blog/posts:x/json') return res.writeHead(500).end('{"message":"Get \\"http://localhost:5001/v2/\\": dial tcp 127.0.0.1:5001: connect: connection refused"}');
      if (req.url?.startsWith('/distribution/')) return res.writeHead(404).end('{"message":"manifest unknown: manifest unknown"}');
      if (req.url?.startsWith('/build')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (const chunk of buildChunks) {
          res.write(chunk);
          await new Promise((r) => setTimeout(r, 2));
        }
        return res.end();
      }
      if (req.url?.includes('/push')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (const chunk of pushChunks) res.write(chunk);
        return res.end();
      }
      res.writeHead(500).end('{"message":"unexpected"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

// DOCKER_CONFIG: a directory without config.json (no credentials), not the user's own.
const client = (dockerConfig = dir) => createDockerClient({ DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: dockerConfig });
const decodeHeader = (value: string | string[] | undefined) => JSON.parse(Buffer.from(String(value), 'base64').toString('utf8')) as unknown;
const context = () => Readable.from([Buffer.alloc(1024)]);

describe('DockerClient', () => {
  it('pings and inspects images over the socket without dockerode', async () => {
    expect(await client().ping()).toEqual({ apiVersion: '1.41', osType: 'linux', buildkit: true });
    expect(await client().imageExists('blog/posts:present')).toBe(true);
    expect(await client().imageExists('blog/posts:absent')).toBe(false);
    expect(requests).toContain('GET /images/blog/posts:absent/json');
  });

  it('asks the registry through the engine over the socket without dockerode', async () => {
    const docker = client();
    expect(await docker.registryHasImage('localhost:5000/blog/posts:present')).toBe(true);
    expect(await docker.registryHasImage('localhost:5000/blog/posts:absent')).toBe(false);
    await expect(docker.registryHasImage('localhost:5001/blog/posts:x')).rejects.toThrow(/localhost:5001/);
    expect(requests).toContain('GET /distribution/localhost:5000/blog/posts:present/json');
  });

  // As registry:2 answers a manifest HEAD: 200 with the digest, 404 for an unknown tag, 401 where auth is required.
  it('asks a registry on the loopback address directly, and the engine for anything but its 200', async () => {
    const asked: string[] = [];
    const registry = http.createServer((req, res) => {
      asked.push(`${req.method} ${req.url} ${req.headers.accept}`);
      if (req.url === '/v2/blog/posts/manifests/present') return res.writeHead(200, { 'docker-content-digest': 'sha256:00' }).end();
      if (req.url === '/v2/blog/posts/manifests/locked') return res.writeHead(401).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(registry.address() as { port: number }).port}`;
    try {
      const docker = client();
      const before = requests.length;
      expect(await docker.registryHasImage(`${host}/blog/posts:present`)).toBe(true);
      expect(requests.slice(before)).toEqual([]); // the engine was not asked
      expect(asked[0]).toMatch(/^HEAD \/v2\/blog\/posts\/manifests\/present application\/vnd\.oci\.image\.index\.v1\+json, /);
      // a 404 or a 401 from the registry: the engine decides (this stand-in engine knows no such tags)
      expect(await docker.registryHasImage(`${host}/blog/posts:absent`)).toBe(false);
      expect(await docker.registryHasImage(`${host}/blog/posts:locked`)).toBe(false);
      expect(requests.slice(before)).toEqual([`GET /distribution/${host}/blog/posts:absent/json`, `GET /distribution/${host}/blog/posts:locked/json`]);
      // a registry elsewhere is never asked directly
      asked.length = 0;
      await docker.registryHasImage('registry.example.com/blog/posts:present').catch(() => undefined);
      expect(asked).toEqual([]);
    } finally {
      await new Promise((r) => registry.close(r));
    }
  });

  it('turns an unreachable socket into EnvironmentError naming it, with a next step', async () => {
    const missing = createDockerClient({ DOCKER_HOST: `unix://${dir}/nothing.sock` });
    const error = await missing.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).message).toBe(`cannot reach the Docker engine at unix://${dir}/nothing.sock (ENOENT)`);
    expect((error as EnvironmentError).hint).toMatch(/docker-up\.sh.*DOCKER_HOST/);
  });

  it('finds the failure inside a 200 build stream, with the failing step and its output', async () => {
    const stream = [
      '{"stream":"Step 1/3 : FROM blog/base:1"}\r\n{"stream":"\\n"}\r\n{"stream":" ---\\u003e 3f2a\\n"}\r\n{"str',
      'eam":"Step 2/3 : RUN sh -c \'echo boom; exit 3\'\\n"}\r\n{"stream":" ---\\u003e Running in 9c\\n"}\r\n',
      '{"stream":"boom\\n"}\r\n{"stream":"second ',
      'line\\n"}\r\n{"errorDetail":{"code":3,"message":"The command \'/bin/sh -c sh -c \'echo boom; exit 3\'\' returned a non-zero code: 3"},"error":"The command returned a non-zero code: 3"}\r\n',
    ];
    buildChunks = stream;
    const lines: string[] = [];
    const error = await client()
      .build(context(), { dockerfile: 'Dockerfile', tags: ['blog/posts:x'], buildArgs: { BASE: 'blog/base:1' }, builder: 'classic', signal: new AbortController().signal, onLine: (l) => lines.push(l) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageBuildError);
    const e = error as ImageBuildError;
    expect(e.step).toBe("Step 2/3 : RUN sh -c 'echo boom; exit 3'");
    expect(e.output).toEqual(['boom', 'second line']);
    expect(e.kind).toBe('failure');
    expect(lines[0]).toBe('Step 1/3 : FROM blog/base:1');
    const build = requests.find((r) => r.startsWith('POST /build'))!;
    expect(decodeURIComponent(build)).toContain('buildargs={"BASE":"blog/base:1"}');
    expect(decodeURIComponent(build)).toContain('dockerfile=Dockerfile');
  });

  it('turns a base image the registry refuses into RegistryAuthError, not a Dockerfile failure', async () => {
    buildChunks = [
      '{"stream":"Step 1/2 : FROM registry.example.com/base:1"}\r\n{"stream":"\\n"}\r\n',
      '{"errorDetail":{"message":"Head \\"https://registry.example.com/v2/base/manifests/1\\": no basic auth credentials"},"error":"x"}\r\n',
    ];
    const error = await client()
      .build(context(), { dockerfile: 'Dockerfile', tags: ['a:b'], buildArgs: {}, signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect((error as RegistryAuthError).registry).toBe('registry.example.com');
    expect((error as Error).message).toContain('refused registry.example.com/base:1 with no credentials');
    expect((error as Error).message).toContain('docker login registry.example.com');
  });

  it('returns the image id of a successful build', async () => {
    buildChunks = ['{"stream":"Step 1/1 : FROM scratch\\n"}\r\n{"aux":{"ID":"sha256:abc"}}\r\n{"stream":"Successfully built abc\\n"}\r\n'];
    const result = await client().build(context(), { dockerfile: 'Dockerfile', tags: ['a:b'], buildArgs: {}, builder: 'classic', signal: new AbortController().signal });
    expect(result.imageId).toBe('sha256:abc');
    expect(result.output).toEqual(['Step 1/1 : FROM scratch', 'Successfully built abc']);
  });

  it('classifies push errors reported inside the stream', async () => {
    pushChunks = ['{"status":"The push refers to repository [localhost:5000/blog/posts]"}\r\n{"errorDetail":{"message":"Get \\"http://localhost:5000/v2/\\": dial tcp 127.0.0.1:5000: connect: connection refused"},"error":"x"}\r\n'];
    const refused = await client().push('localhost:5000/blog/posts:t', { signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EnvironmentError);
    expect((refused as EnvironmentError).message).toMatch(/^cannot reach the registry localhost:5000/);
    expect(requests.some((r) => r.startsWith('POST /images/localhost:5000/blog/posts/push?tag=t'))).toBe(true);

    pushChunks = ['{"errorDetail":{"message":"unauthorized: authentication required"},"error":"x"}\r\n'];
    const denied = await client().push('registry.example.com/blog/posts:t', { signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(RegistryAuthError);
    expect((denied as RegistryAuthError).registry).toBe('registry.example.com');
    expect((denied as EnvironmentError).message).toBe(
      `the registry registry.example.com refused registry.example.com/blog/posts:t with no credentials (none for registry.example.com in ${dir}/config.json): unauthorized: authentication required; log in with \`docker login registry.example.com\``,
    );
    expect((denied as EnvironmentError).hint).toMatch(/docker login registry\.example\.com/);
  });

  it('sends the Docker config\'s credentials: the registry\'s own to push and query, all of them to build', async () => {
    const config = path.join(dir, 'with-auth');
    mkdirSync(config, { recursive: true });
    const auth = Buffer.from('ci:s3cret:with-colon').toString('base64');
    writeFileSync(path.join(config, 'config.json'), JSON.stringify({ auths: { 'https://registry.example.com/v1/': { auth }, 'other.example.com': { identitytoken: 'tok' } } }));
    const docker = client(config);
    pushChunks = ['{"aux":{"Tag":"t","Digest":"sha256:d"}}\r\n'];
    await docker.push('registry.example.com/blog/posts:t', { signal: new AbortController().signal });
    expect(decodeHeader(headers.get('POST /images/registry.example.com/blog/posts/push')?.['x-registry-auth'])).toEqual({ username: 'ci', password: 's3cret:with-colon', serveraddress: 'https://registry.example.com/v1/' });
    await docker.registryHasImage('registry.example.com/blog/posts:t');
    expect(decodeHeader(headers.get('GET /distribution/registry.example.com/blog/posts:t/json')?.['x-registry-auth'])).toMatchObject({ username: 'ci' });
    // a registry without credentials gets the empty object the push endpoint insists on
    await docker.push('localhost:5000/blog/posts:t', { signal: new AbortController().signal });
    expect(decodeHeader(headers.get('POST /images/localhost:5000/blog/posts/push')?.['x-registry-auth'])).toEqual({});

    buildChunks = ['{"aux":{"ID":"sha256:abc"}}\r\n'];
    await docker.build(context(), { dockerfile: 'Dockerfile', tags: ['a:b'], buildArgs: {}, signal: new AbortController().signal });
    expect(decodeHeader(headers.get('POST /build')?.['x-registry-config'])).toEqual({
      'registry.example.com': { username: 'ci', password: 's3cret:with-colon', serveraddress: 'https://registry.example.com/v1/' },
      'other.example.com': { identitytoken: 'tok', serveraddress: 'other.example.com' },
    });
  });

  it('splits references whose registry has a port', () => {
    expect(splitReference('localhost:5000/blog/posts:abc')).toEqual({ repository: 'localhost:5000/blog/posts', tag: 'abc' });
    expect(splitReference('localhost:5000/blog/posts')).toEqual({ repository: 'localhost:5000/blog/posts', tag: 'latest' });
    expect(splitReference('blog/posts:1')).toEqual({ repository: 'blog/posts', tag: '1' });
  });
});

describe('DockerClient.build with a failing context', () => {
  it('ends the request and says the context failed, instead of waiting forever', async () => {
    buildChunks = ['{"stream":"Step 1/1 : FROM scratch\\n"}\r\n'];
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent++ < 2) this.push(Buffer.alloc(512));
        else this.destroy(Object.assign(new Error("ENOENT: no such file or directory, open 'gone.txt'"), { code: 'ENOENT' }));
      },
    });
    const error = await client()
      .build(failing, { dockerfile: 'Dockerfile', tags: ['a:b'], buildArgs: {}, builder: 'classic', signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildContextChangedError);
    expect(error).toBeInstanceOf(FailureError);
    expect((error as Error).message).toBe("reading the build context failed: ENOENT: no such file or directory, open 'gone.txt'");
  });
});

describe('classifyBuildkitFailure', () => {
  // messages and failed step names as recorded in testdata/buildkit-*.jsonl
  it('a secret or ssh mount without a session serving it', () => {
    expect(classifyBuildkitFailure('no active sessions', '[2/2] RUN --mount=type=secret,id=npmrc cat /run/secrets/npmrc')).toEqual({ kind: 'needs-session', mount: 'secret' });
    expect(classifyBuildkitFailure('no active sessions', '[2/2] RUN --mount=type=ssh ls')).toEqual({ kind: 'needs-session', mount: 'ssh' });
  });
  it('a # syntax= frontend the engine cannot pull', () => {
    const message =
      'failed to solve with frontend dockerfile.v0: failed to solve with frontend gateway.v0: failed to do request: Head "https://registry-1.docker.io/v2/docker/dockerfile/manifests/1.4": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host';
    expect(classifyBuildkitFailure(message, 'resolve image config for docker.io/docker/dockerfile:1.4')).toEqual({
      kind: 'frontend-unavailable',
      frontend: 'docker.io/docker/dockerfile:1.4',
      cause: 'failed to do request: Head "https://registry-1.docker.io/v2/docker/dockerfile/manifests/1.4": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host',
    });
  });
  it('leaves ordinary failures unclassified', () => {
    expect(classifyBuildkitFailure('executor failed running [/bin/sh -c exit 3]: exit code: 3', '[a 1/1] RUN exit 3')).toBeUndefined();
    expect(classifyBuildkitFailure('failed to compute cache key: "/nothere" not found: not found', '[1/1] COPY nothere /x')).toBeUndefined();
  });
});
