/**
 * `devloop init` as a user runs it: on a copy of fixtures/init-skaffold, `bin/devloop init` writes
 * devloop.config.yaml, and `bin/devloop render` prints the same manifests (with the same built
 * image references) from the written file as from skaffold.yaml. Render asks the real engine
 * whether images exist and the real cluster how to reach its registry: run under the e2e lock.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyFixture, runDevloop } from './helpers.js';

let fixture: ReturnType<typeof copyFixture> | undefined;
afterEach(() => fixture?.cleanup());

describe('devloop init', () => {
  it('from skaffold.yaml writes a config that renders exactly as the Skaffold file does', async () => {
    fixture = copyFixture('init-skaffold');
    const { dir } = fixture;
    const init = await runDevloop(['init'], { cwd: dir });
    expect(init.exitCode, init.stderr).toBe(0);
    expect(init.stdout).toContain(`wrote ${path.join(dir, 'devloop.config.yaml')} from skaffold.yaml`);
    const written = readFileSync(path.join(dir, 'devloop.config.yaml'), 'utf8');
    expect(written).toContain('# from skaffold.yaml:15 build.artifacts[1]');
    expect(written).toContain('Not carried over, as they do not change a dev loop: deploy.logs, test.');

    const fromSkaffold = await runDevloop(['render', '-f', 'skaffold.yaml'], { cwd: dir });
    const fromDevloop = await runDevloop(['render'], { cwd: dir });
    expect(fromSkaffold.exitCode, fromSkaffold.stderr).toBe(0);
    expect(fromDevloop.exitCode, fromDevloop.stderr).toBe(0);
    expect(fromSkaffold.stderr).toContain('a Skaffold config (skaffold/v4beta14)');
    expect(fromDevloop.stderr).not.toContain('Skaffold config');
    // The built references replaced the names as written, in both.
    expect(fromDevloop.stdout).toMatch(/image: \S*init-shop\/api:[0-9a-f]{12,}/);
    expect(fromDevloop.stdout).not.toContain('image: init-shop/web:latest');
    expect(fromDevloop.stdout).toBe(fromSkaffold.stdout);

    // A second init refuses to overwrite (exit 2) and says how.
    const again = await runDevloop(['init'], { cwd: dir });
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain('already exists: devloop init does not overwrite it');
    expect(again.stderr).toContain('--force');
  });

  it('without skaffold.yaml pairs Dockerfiles with the manifests\' images; --yes leaves the rest as comments', async () => {
    fixture = copyFixture('init-skaffold');
    const { dir } = fixture;
    rmSync(path.join(dir, 'skaffold.yaml'));
    // No terminal and no --yes: it lists its question and writes nothing.
    const refused = await runDevloop(['init'], { cwd: dir });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('platform/base/Dockerfile: no manifest uses an image named "base"');
    expect(existsSync(path.join(dir, 'devloop.config.yaml'))).toBe(false);

    const init = await runDevloop(['init', '--yes'], { cwd: dir });
    expect(init.exitCode, init.stderr).toBe(0);
    const written = readFileSync(path.join(dir, 'devloop.config.yaml'), 'utf8');
    expect(written).toContain('# Unanswered: which image does platform/base/Dockerfile build?');
    const render = await runDevloop(['render'], { cwd: dir });
    expect(render.exitCode, render.stderr).toBe(0);
    expect(render.stdout).toMatch(/image: \S*init-shop\/api:[0-9a-f]{12,}/);
    expect(render.stdout).toMatch(/image: \S*init-shop\/web:[0-9a-f]{12,}/);
  });
});
