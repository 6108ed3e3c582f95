import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { UsageError } from '../errors.js';
import type { DevloopEvent } from '../events.js';
import type { CommandContext } from './context.js';
import { run, type Ask } from './init.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-init-cli-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

/** A command context as main.ts builds it, with streams that record what was written. */
function context(cwd: string, flags: CommandContext['flags'] = {}, extra: Partial<CommandContext> = {}) {
  const out = { stdout: '', stderr: '', events: [] as DevloopEvent[] };
  const ctx = {
    cwd,
    profiles: [],
    output: 'text',
    color: false,
    verbose: false,
    signal: new AbortController().signal,
    sink: { emit: (e: DevloopEvent) => out.events.push(e) },
    stdout: { write: (s: string) => ((out.stdout += s), true) },
    stderr: { write: (s: string) => ((out.stderr += s), true) },
    stdin: { isTTY: false } as NodeJS.ReadStream,
    args: [],
    flags,
    loadConfig: () => Promise.reject(new Error('init loads no config through the context')),
    ...extra,
  } as CommandContext;
  return { ctx, out };
}

const TREE = {
  'api/Dockerfile': 'FROM scratch\n',
  'jobs/Dockerfile': 'FROM scratch\n',
  'k8s/app.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: { name: api }\nspec: { containers: [{ name: api, image: shop/api }, { name: j, image: shop/nightly }] }\n',
};

const SKAFFOLD = {
  'skaffold.yaml': 'apiVersion: skaffold/v4beta14\nkind: Config\nmetadata: { name: shop }\nbuild:\n  artifacts:\n    - image: shop/api\n      context: api\nmanifests:\n  rawYaml: [k8s/*.yaml]\n',
  'api/Dockerfile': 'FROM scratch\n',
  'k8s/app.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: { name: api }\nspec: { containers: [{ name: api, image: shop/api }] }\n',
};

describe('devloop init', () => {
  it('writes devloop.config.yaml from skaffold.yaml, which devloop then reads in its place', async () => {
    const dir = project(SKAFFOLD);
    const { ctx, out } = context(dir);
    expect(await run(ctx)).toBe(0);
    const file = path.join(dir, 'devloop.config.yaml');
    expect(readFileSync(file, 'utf8')).toContain('# Written by `devloop init` from skaffold.yaml');
    expect(loadConfig({ cwd: dir }).file).toBe(file);
    expect(out.events).toContainEqual(expect.objectContaining({ type: 'message', text: expect.stringContaining(`wrote ${file} from skaffold.yaml`) }));
  });

  it('refuses to overwrite an existing config without --force (a usage error: exit 2), and replaces it with --force', async () => {
    const dir = project({ ...SKAFFOLD, 'devloop.config.yaml': '# mine\n' });
    const refused = await run(context(dir).ctx).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UsageError);
    expect((refused as UsageError).exitCode).toBe(2);
    expect((refused as UsageError).message).toBe(`${path.join(dir, 'devloop.config.yaml')} already exists: devloop init does not overwrite it`);
    expect((refused as UsageError).hint).toContain('--force');
    expect(readFileSync(path.join(dir, 'devloop.config.yaml'), 'utf8')).toBe('# mine\n');

    expect(await run(context(dir, { force: true }).ctx)).toBe(0);
    expect(readFileSync(path.join(dir, 'devloop.config.yaml'), 'utf8')).toContain('devloop init');
  });

  it('--stdout prints the config and writes nothing, even where a config exists', async () => {
    const dir = project({ ...SKAFFOLD, 'devloop.config.yaml': '# mine\n' });
    const { ctx, out } = context(dir, { stdout: true });
    expect(await run(ctx)).toBe(0);
    expect(out.stdout).toContain('apiVersion: devloop/v1');
    expect(readFileSync(path.join(dir, 'devloop.config.yaml'), 'utf8')).toBe('# mine\n');
  });

  it('-f names a Skaffold config elsewhere: the file is written beside it', async () => {
    const dir = project(Object.fromEntries(Object.entries(SKAFFOLD).map(([k, v]) => [`app/${k}`, v])));
    expect(await run(context(dir, {}, { configFile: 'app/skaffold.yaml' }).ctx)).toBe(0);
    expect(existsSync(path.join(dir, 'app', 'devloop.config.yaml'))).toBe(true);
    const notSkaffold = project({ 'other.yaml': 'apiVersion: devloop/v1\n' });
    await expect(run(context(notSkaffold, {}, { configFile: 'other.yaml' }).ctx)).rejects.toThrow(/is not a Skaffold config/);
  });

  it('without a terminal and without --yes, refuses and lists what it would ask', async () => {
    const dir = project(TREE);
    const error = (await run(context(dir).ctx).catch((e: unknown) => e)) as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.details).toEqual(['jobs/Dockerfile: no manifest uses an image named "jobs"']);
    expect(error.hint).toContain('--yes');
    expect(existsSync(path.join(dir, 'devloop.config.yaml'))).toBe(false);
  });

  it('--yes writes the questions as comments', async () => {
    const dir = project(TREE);
    expect(await run(context(dir, { yes: true }).ctx)).toBe(0);
    const text = readFileSync(path.join(dir, 'devloop.config.yaml'), 'utf8');
    expect(text).toContain('# Unanswered: which image does jobs/Dockerfile build?');
    expect(loadConfig({ cwd: dir }).build.artifacts.map((a) => a.image)).toEqual(['shop/api']);
  });

  it('asks on the terminal, asking again after an answer that is not valid', async () => {
    const dir = project(TREE);
    const prompts: string[] = [];
    const replies = ['9', 'shop/nightly'];
    const ask: Ask = async (prompt) => (prompts.push(prompt), replies.shift() ?? '');
    const { ctx, out } = context(dir);
    expect(await run(ctx, ask)).toBe(0);
    expect(prompts).toHaveLength(2);
    expect(prompts[0]).toContain('Which image does jobs/Dockerfile build?');
    expect(out.stderr).toContain('there is no choice 9');
    expect(loadConfig({ cwd: dir }).build.artifacts.map((a) => a.image)).toEqual(['shop/api', 'shop/nightly']);
  });

  it('takes no -p', async () => {
    await expect(run(context(project(SKAFFOLD), {}, { profiles: ['dev'] }).ctx)).rejects.toThrow(/takes no -p/);
  });

  it('never loads Ink or React (it asks with plain readline)', () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const m of source.matchAll(/(?:from\s+|import\(\s*)['"]([^'"]+)['"]/g)) {
        const spec = m[1];
        if (!spec.startsWith('.')) packages.add(spec.split('/')[0]);
        else {
          const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '');
          const found = [`${target}.ts`, `${target}.tsx`, path.join(target, 'index.ts')].find((c) => existsSync(c));
          if (found) visit(found);
        }
      }
    };
    visit(path.join(here, 'init.ts'));
    expect(seen.size).toBeGreaterThan(5);
    expect([...packages]).not.toContain('ink');
    expect([...packages]).not.toContain('react');
  });
});
