import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { cachedConfigFor, readCachedConfig } from './cache.js';
import { loadConfig } from './load.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-config-cache-'));
  mkdirSync(path.join(dir, 'posts'));
  writeFileSync(path.join(dir, 'posts', 'Dockerfile'), 'FROM scratch\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const text = `apiVersion: devloop/v1
kind: Config
metadata: { name: blog }
build:
  artifacts:
    - { image: blog/posts, context: posts }
profiles:
  - name: ci
    build: { concurrency: 1 }
`;

describe('the config cache', () => {
  it('gives the same config as a full load, for the same file, text and profiles only', () => {
    const file = path.join(dir, 'devloop.config.yaml');
    writeFileSync(file, text);
    const full = loadConfig({ cwd: dir, profiles: ['ci'] });
    expect(readCachedConfig(file, text, { profiles: ['ci'] })).toEqual(full);
    expect(cachedConfigFor({ cwd: path.join(dir, 'posts'), profiles: ['ci'] })).toEqual(full);
    expect(readCachedConfig(file, text, { profiles: [] })).toBeUndefined();
    expect(readCachedConfig(file, `${text}# edited\n`, { profiles: ['ci'] })).toBeUndefined();
  });

  it('is not used when a semantic check fails now, so the full load reports it with its position', () => {
    const file = path.join(dir, 'devloop.config.yaml');
    writeFileSync(file, text);
    loadConfig({ cwd: dir });
    rmSync(path.join(dir, 'posts'), { recursive: true });
    expect(readCachedConfig(file, text, {})).toBeUndefined();
    expect(cachedConfigFor({ cwd: dir })).toBeUndefined();
    const error = (() => {
      try {
        return loadConfig({ cwd: dir });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).details.join('\n')).toMatch(/devloop\.config\.yaml:6:/);
  });

  it('treats a corrupt entry as a miss', () => {
    const file = path.join(dir, 'devloop.config.yaml');
    writeFileSync(file, text);
    const full = loadConfig({ cwd: dir });
    const entry = path.join(dir, '.devloop', 'cache', 'config.json');
    expect(JSON.parse(readFileSync(entry, 'utf8')).key).toMatch(/^[0-9a-f]{64}$/);
    writeFileSync(entry, '{not json');
    expect(readCachedConfig(file, text, {})).toBeUndefined();
    expect(cachedConfigFor({ cwd: dir })).toBeUndefined();
    expect(loadConfig({ cwd: dir })).toEqual(full);
    expect(cachedConfigFor({ cwd: dir })).toEqual(full);
  });

  it('imports no schema at run time on the cached path (type imports aside)', () => {
    const src = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      // type imports load nothing; a dynamic import (load.ts, on a miss only) is not the cached path
      const code = readFileSync(file, 'utf8')
        .replace(/^import type .*$/gm, '')
        .replace(/^export type .*$/gm, '')
        .replace(/import\(\s*['"][^'"]+['"]\s*\)/g, '');
      const specifiers = [...code.matchAll(/(?:^|\s)(?:import|export)\s[^'"`;]*?\sfrom\s+['"](\.[^'"]+)['"]|^import\s+['"](\.[^'"]+)['"]/gm)].map((m) => m[1] ?? m[2]);
      for (const spec of specifiers) visit(path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'));
    };
    visit(path.join(src, 'config', 'cache.ts'));
    const staticOnly = [...seen];
    expect(staticOnly.some((f) => f.endsWith(path.join('config', 'load.ts')))).toBe(false);
    expect(staticOnly.some((f) => f.endsWith(path.join('config', 'schema.ts')))).toBe(false);
    expect(staticOnly.length).toBeGreaterThan(3);
  });
});
