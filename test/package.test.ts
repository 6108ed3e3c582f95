/**
 * The published package installs and runs: a clean clone of the repository's HEAD is packed with
 * `npm pack` (its `prepack` compiles dist/), the tarball is installed with `npm install -g` into a
 * temporary prefix, and the installed `devloop` prints its version and builds a copy of
 * fixtures/blog against the real Docker engine.
 *
 * Only committed work is packed (the clone is of HEAD). The clone borrows the repository's
 * node_modules (a symlink) for the TypeScript compiler; the install fetches the package's
 * dependencies like a user's would (npm cache first, then the registry).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFixture, parseJsonLines, repoRoot, requireDocker } from './helpers.js';

let work: string;
let prefix: string;
let installedBin: string;
let packedFiles: string[];

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, NO_COLOR: '1', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...env },
  });
  if (result.error) throw result.error;
  return { exitCode: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'devloop-package-'));
  const clone = path.join(work, 'clone');
  execFileSync('git', ['clone', '--quiet', '--no-hardlinks', repoRoot, clone], { stdio: 'pipe', timeout: 120_000 });
  expect(existsSync(path.join(clone, 'dist')), 'a clean clone has no dist/').toBe(false);
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(clone, 'node_modules'), 'dir');

  const pack = run('npm', ['pack', '--json', '--pack-destination', work], clone, 240_000);
  expect(pack.exitCode, pack.stderr).toBe(0);
  // npm prints the prepack script's output before the JSON report.
  const report = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = report[0].files.map((f) => f.path);
  const tarball = path.join(work, report[0].filename);
  expect(existsSync(tarball)).toBe(true);

  prefix = path.join(work, 'prefix');
  const install = run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', tarball], work, 280_000);
  expect(install.exitCode, install.stderr).toBe(0);
  installedBin = path.join(prefix, 'bin', 'devloop');
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships the compiled CLI and the schema, and no sources or source maps', () => {
    expect(packedFiles).toContain('bin/devloop');
    expect(packedFiles).toContain('dist/cli/main.js');
    expect(packedFiles).toContain('dist/ui/Dashboard.js');
    expect(packedFiles).toContain('schemas/devloop.schema.json');
    expect(packedFiles.filter((f) => f.startsWith('src/') || f.endsWith('.map') || f.startsWith('test/'))).toEqual([]);
    const installed = path.join(prefix, 'lib', 'node_modules', 'devloop');
    expect(readFileSync(path.join(installed, 'schemas', 'devloop.schema.json'), 'utf8')).toBe(readFileSync(path.join(repoRoot, 'schemas', 'devloop.schema.json'), 'utf8'));
  });

  it('installed with npm install -g, `devloop --version` prints the package version', () => {
    expect(existsSync(installedBin)).toBe(true);
    const { version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const result = run(installedBin, ['--version'], work, 30_000);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });

  it('the installed devloop builds a fixture against the Docker engine', () => {
    requireDocker();
    const project = copyFixture('blog');
    try {
      const result = run(installedBin, ['build', '-o', 'json'], project.dir, 280_000);
      expect(result.exitCode, result.stderr).toBe(0);
      const final: Record<string, string> = {};
      for (const e of parseJsonLines(result.stdout)) {
        if (e.type === 'build' && (e.status === 'built' || e.status === 'cached')) final[e.image as string] = e.status as string;
      }
      expect(Object.keys(final).sort()).toEqual(['blog/base', 'blog/client', 'blog/comments', 'blog/posts', 'blog/query']);
      // The run went through the installed copy, not the repository's dist/.
      const trace = run(process.execPath, ['-e', `console.log(require('node:fs').realpathSync(${JSON.stringify(installedBin)}))`], work, 10_000);
      expect(trace.stdout.trim().startsWith(path.join(prefix, 'lib', 'node_modules', 'devloop'))).toBe(true);
    } finally {
      project.cleanup();
    }
  }, 300_000);
});
