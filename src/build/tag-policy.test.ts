import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.js';
import { dateTimeTag, gitCommitTag } from './tag-policy.js';

let dir: string;
const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });

beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-git-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('gitCommit tags', () => {
  it('are the short sha, with -dirty when the context has uncommitted changes', async () => {
    git('init', '-q');
    mkdirSync(path.join(dir, 'posts'));
    mkdirSync(path.join(dir, 'other'));
    writeFileSync(path.join(dir, 'posts', 'a'), '1');
    writeFileSync(path.join(dir, 'other', 'b'), '1');
    git('add', '.');
    git('commit', '-qm', 'one');
    const sha = git('rev-parse', '--short', 'HEAD').trim();
    expect(await gitCommitTag(path.join(dir, 'posts'))).toBe(sha);
    writeFileSync(path.join(dir, 'other', 'b'), '2'); // outside this context: still clean
    expect(await gitCommitTag(path.join(dir, 'posts'))).toBe(sha);
    writeFileSync(path.join(dir, 'posts', 'new'), 'x'); // untracked inside: dirty
    expect(await gitCommitTag(path.join(dir, 'posts'))).toBe(`${sha}-dirty`);
  });

  it('are a clear EnvironmentError outside git or before the first commit', async () => {
    const outside = await gitCommitTag(dir).catch((e: unknown) => e);
    expect(outside).toBeInstanceOf(EnvironmentError);
    expect((outside as EnvironmentError).message).toMatch(/is not inside a git repository/);
    git('init', '-q');
    const error = await gitCommitTag(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).message).toMatch(/has no commit yet/);
  });
});

describe('dateTime tags', () => {
  it('are the UTC time as YYYYMMDD-HHMMSS', () => {
    expect(dateTimeTag(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).toBe('20260102-030405');
  });
});
