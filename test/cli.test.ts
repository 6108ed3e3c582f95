/**
 * The CLI's contract as a user meets it: help, version, usage errors, config errors with
 * file:line:column, exit codes. Drives bin/devloop; needs neither Docker nor the cluster.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFixture, parseJsonLines, repoRoot, runDevloop } from './helpers.js';

let fixture: ReturnType<typeof copyFixture>;
beforeAll(() => {
  fixture = copyFixture('blog');
});
afterAll(() => fixture.cleanup());

describe('devloop CLI', () => {
  it('--version prints the package version', async () => {
    const { version } = await import(path.join(repoRoot, 'package.json'), { with: { type: 'json' } }).then((m) => m.default as { version: string });
    const result = await runDevloop(['--version'], { cwd: repoRoot });
    expect(result).toMatchObject({ exitCode: 0, stdout: `${version}\n` });
  });

  it('--help lists every command and the exit codes', async () => {
    const result = await runDevloop(['--help'], { cwd: repoRoot });
    expect(result.exitCode).toBe(0);
    for (const command of ['dev', 'build', 'deploy', 'render', 'down']) expect(result.stdout).toContain(`  ${command}`);
    expect(result.stdout).toContain('Exit codes');
  });

  it('<command> --help shows that command\'s flags', async () => {
    const result = await runDevloop(['build', '--help'], { cwd: repoRoot });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('--file-output FILE');
  });

  it('an unknown command is a usage error (exit 2) naming the commands', async () => {
    const result = await runDevloop(['biuld'], { cwd: repoRoot });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('unknown command "biuld"');
    expect(result.stderr).toContain('build');
  });

  it('an unknown flag is a usage error (exit 2)', async () => {
    const result = await runDevloop(['build', '--pus'], { cwd: fixture.dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/Unknown option '--pus'/);
  });

  it('no config file: exit 2 and how to get one', async () => {
    const result = await runDevloop(['build'], { cwd: '/' });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('no devloop.config.yaml');
  });

  it('config errors: every problem as file:line:column, exit 2, also as JSON', async () => {
    const file = path.join(fixture.dir, 'broken.yaml');
    writeFileSync(file, 'apiVersion: devloop/v1\nkind: Config\nmetadata: { name: blog }\nbuild:\n  concurency: 2\n  artifacts:\n    - image: blog/x\n      context: nowhere\n');
    const text = await runDevloop(['-f', 'broken.yaml', 'build'], { cwd: fixture.dir });
    expect(text.exitCode).toBe(2);
    expect(text.stderr).toContain(`${file}:5:3: build.concurency: unknown key "concurency" (did you mean "concurrency"?)`);
    expect(text.stderr).toContain(`${file}:8:16: build.artifacts[0].context: context directory`);

    const json = await runDevloop(['-f', 'broken.yaml', '-o', 'json', 'build'], { cwd: fixture.dir });
    expect(json.exitCode).toBe(2);
    const [event] = parseJsonLines(json.stdout);
    expect(event).toMatchObject({ type: 'error', error: { kind: 'user', problems: expect.any(Array) } });
    expect((event.error as { problems: unknown[] }).problems).toHaveLength(2);
  });

  it('an unknown profile is a usage error with a suggestion', async () => {
    const result = await runDevloop(['-p', 'cj', 'build', '--dry-run'], { cwd: fixture.dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('Did you mean -p ci?');
  });
});
