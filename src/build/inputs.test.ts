import { chmodSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Artifact } from '../config/load.js';
import { FileHashCache } from './hash-cache.js';
import { computeInputs, explainChange, inputDigestTag, readLastManifest, writeLastManifest } from './inputs.js';

let root: string;
let ctx: string;

function artifact(over: Partial<Artifact> = {}): Artifact {
  return {
    image: 'blog/posts',
    context: 'posts',
    dockerfile: 'Dockerfile',
    buildArgs: { NODE_ENV: 'production' },
    requires: [{ image: 'blog/base', alias: 'BASE' }],
    contextDir: ctx,
    dockerfilePath: path.join(ctx, over.dockerfile ?? 'Dockerfile'),
    ...over,
  };
}

const base = { 'blog/base': 'aaaa' };

async function tagOf(a: Artifact = artifact(), required: Record<string, string> = base): Promise<string> {
  const hashes = await FileHashCache.load(root);
  return inputDigestTag((await computeInputs(a, required, hashes)).digest);
}

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'devloop-inputs-'));
  ctx = path.join(root, 'posts');
  mkdirSync(path.join(ctx, 'public'), { recursive: true });
  mkdirSync(path.join(ctx, 'node_modules', 'x'), { recursive: true });
  writeFileSync(path.join(ctx, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nCOPY . /app\n');
  writeFileSync(path.join(ctx, 'Dockerfile.dev'), 'ARG BASE\nFROM ${BASE}\nCOPY . /srv\n');
  writeFileSync(path.join(ctx, '.dockerignore'), 'node_modules\n*.log\n');
  writeFileSync(path.join(ctx, 'public', 'index.html'), '<h1>posts</h1>\n');
  writeFileSync(path.join(ctx, 'start.sh'), 'echo start\n');
  writeFileSync(path.join(ctx, 'node_modules', 'x', 'index.js'), 'module.exports = 1\n');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('inputDigest tags', () => {
  it('are the same for the same inputs, and 16 hex digits', async () => {
    const first = await tagOf();
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    expect(await tagOf()).toBe(first);
  });

  it("do not depend on devloop's own state in a context that holds it (context: .)", async () => {
    const atRoot = artifact({ context: '.', contextDir: ctx, stateDir: path.join(ctx, '.devloop') });
    const before = await tagOf(atRoot);
    mkdirSync(path.join(ctx, '.devloop', 'cache'), { recursive: true });
    writeFileSync(path.join(ctx, '.devloop', 'cache', 'file-hashes.json'), '{}');
    expect(await tagOf(atRoot)).toBe(before);
    writeFileSync(path.join(ctx, 'public', 'index.html'), '<h1>changed</h1>\n');
    expect(await tagOf(atRoot)).not.toBe(before);
  });

  it('do not depend on mtimes or on files .dockerignore excludes', async () => {
    const first = await tagOf();
    utimesSync(path.join(ctx, 'start.sh'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    writeFileSync(path.join(ctx, 'node_modules', 'x', 'index.js'), 'changed');
    writeFileSync(path.join(ctx, 'debug.log'), 'noise');
    expect(await tagOf()).toBe(first);
  });

  const changes: Array<[string, () => Promise<string>]> = [
    ['content', async () => (writeFileSync(path.join(ctx, 'public', 'index.html'), '<h1>changed</h1>\n'), tagOf())],
    ['executable bit', async () => (chmodSync(path.join(ctx, 'start.sh'), 0o755), tagOf())],
    ['new file', async () => (writeFileSync(path.join(ctx, 'public', 'new.css'), ''), tagOf())],
    ['new empty directory', async () => (mkdirSync(path.join(ctx, 'cache')), tagOf())],
    ['removed file', async () => (unlinkSync(path.join(ctx, 'start.sh')), tagOf())],
    ['build arg value', () => tagOf(artifact({ buildArgs: { NODE_ENV: 'development' } }))],
    ['new build arg', () => tagOf(artifact({ buildArgs: { NODE_ENV: 'production', DEBUG: '1' } }))],
    ['target', () => tagOf(artifact({ target: 'dev' }))],
    ['dockerfile path', () => tagOf(artifact({ dockerfile: 'Dockerfile.dev' }))],
    ['dockerfile content', async () => (writeFileSync(path.join(ctx, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nCOPY . /other\n'), tagOf())],
    ['required image tag', () => tagOf(artifact(), { 'blog/base': 'bbbb' })],
    ['.dockerignore', async () => (writeFileSync(path.join(ctx, '.dockerignore'), 'node_modules\n'), tagOf())],
  ];
  for (const [what, change] of changes) {
    it(`change when the ${what} changes`, async () => {
      const before = await tagOf();
      expect(await change()).not.toBe(before);
    });
  }
});

describe('explainChange', () => {
  async function manifestNow(a = artifact(), required = base) {
    return (await computeInputs(a, required, await FileHashCache.load(root))).manifest;
  }

  it('names the changed file relative to the config root', async () => {
    const before = await manifestNow();
    writeFileSync(path.join(ctx, 'public', 'index.html'), 'x');
    expect(explainChange(before, await manifestNow(), 'services/posts')).toEqual(['services/posts/public/index.html changed']);
  });

  it('names added and removed files, mode changes, build args, target and required images', async () => {
    const before = await manifestNow();
    writeFileSync(path.join(ctx, 'added.txt'), '');
    unlinkSync(path.join(ctx, 'public', 'index.html'));
    chmodSync(path.join(ctx, 'start.sh'), 0o755);
    const after = await manifestNow(artifact({ buildArgs: { NODE_ENV: 'dev' }, target: 'x' }), { 'blog/base': 'cccc' });
    expect(explainChange(before, after, '', 10)).toEqual([
      'required image blog/base changed',
      'target changed to x',
      'build arg NODE_ENV changed',
      'added.txt added',
      'mode of start.sh changed (0644 -> 0755)',
      'public/index.html removed',
    ]);
    expect(explainChange(before, after, '', 2)).toEqual(['required image blog/base changed', 'target changed to x', 'and 4 more']);
  });

  it('reports a Dockerfile change once', async () => {
    const before = await manifestNow();
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\n');
    expect(explainChange(before, await manifestNow(), 'posts')).toEqual(['posts/Dockerfile changed']);
  });

  it('says so when there is no earlier build, and nothing when nothing changed', async () => {
    const now = await manifestNow();
    expect(explainChange(undefined, now)).toEqual(['no earlier build recorded']);
    expect(explainChange(now, await manifestNow())).toEqual([]);
  });

  it('round-trips the last manifest through .devloop/cache', async () => {
    const now = await manifestNow();
    await writeLastManifest(root, now, 'abc');
    const read = await readLastManifest(root, 'blog/posts');
    expect(read?.tag).toBe('abc');
    expect(explainChange(read, now)).toEqual([]);
    expect(await readLastManifest(root, 'blog/other')).toBeUndefined();
  });
});
