/**
 * Skaffold profiles written as devloop profiles. The Skaffold reader of this version refuses `-p`,
 * so its loader is replaced here by one that answers as a reader applying Skaffold profiles would:
 * the Skaffold file's config (read by the real reader), with the named profile's effect applied
 * by devloop's own loader to the equivalent devloop document. Everything else is real.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Config, LoadOptions } from '../config/load.js';

/** What each profile does, as a devloop override of the base (a stand-in for JSON patches). */
const PROFILE_EFFECTS: Record<string, Record<string, unknown>> = {
  fast: { build: { concurrency: 4, tagPolicy: 'dateTime' } },
  remote: { deploy: { kubeContext: 'staging', namespace: 'shop-staging' }, build: { push: true } },
};

vi.mock('../config/load.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../config/load.js')>();
  const { configToDocument } = await import('./serialise.js');
  const { parse, stringify } = await import('yaml');
  const { readFileSync } = await import('node:fs');
  const { parseSkaffoldConfig } = await import('../config/skaffold/read.js');
  return {
    ...real,
    loadConfig: (options: LoadOptions): Config => {
      const active = (options.profiles ?? []).filter((p) => !p.startsWith('-'));
      // The real reader, given the file without its profiles (which it does not apply yet).
      const file = path.resolve(options.cwd, options.file!);
      const { profiles: _profiles, ...withoutProfiles } = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const base = parseSkaffoldConfig(stringify(withoutProfiles), file);
      if (active.length === 0) return { ...base, profiles: options.profiles ?? [] };
      // A JSON patch `remove` of deploy.kubectl.defaultNamespace: nothing a devloop profile can say.
      if (active.includes('nonamespace')) return { ...base, deploy: { ...base.deploy, namespace: undefined }, profiles: options.profiles ?? [] };
      const unknown = active.find((p) => !PROFILE_EFFECTS[p]);
      if (unknown) throw new Error(`profile "${unknown}" is not defined`);
      const document = { ...configToDocument(base), profiles: active.map((name) => ({ name, ...PROFILE_EFFECTS[name] })) };
      const applied = real.parseConfig(stringify(document), base.file.replace(/skaffold\.yaml$/, 'as-devloop.yaml'), { profiles: active });
      return { ...applied, file: base.file, source: base.source, profiles: options.profiles ?? [] };
    },
  };
});

const { parseConfig, loadConfig } = await import('../config/load.js');
const { initFromSkaffold } = await import('./from-skaffold.js');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('devloop init with Skaffold profiles', () => {
  it('writes each profile as a devloop profile that gives the same config as the Skaffold file with -p', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-init-prof-'));
    dirs.push(dir);
    mkdirSync(path.join(dir, 'api'));
    writeFileSync(path.join(dir, 'api', 'Dockerfile'), 'FROM scratch\n');
    const skaffoldFile = path.join(dir, 'skaffold.yaml');
    writeFileSync(
      skaffoldFile,
      `apiVersion: skaffold/v4beta14
kind: Config
metadata: { name: shop }
build:
  tagPolicy: { gitCommit: {} }
  artifacts:
    - image: shop/api
      context: api
deploy:
  kubectl: { defaultNamespace: shop }
profiles:
  - name: fast
  - name: remote
    activation:
      - kubeContext: staging
  - name: nonamespace
`,
    );
    const result = initFromSkaffold(skaffoldFile);
    expect(result.skippedProfiles).toEqual(['profile "nonamespace" is not written: as a devloop profile it would give a different deploy (a devloop profile sets keys; it cannot remove one)']);
    expect(result.text).toContain(`# ${result.skippedProfiles[0]}`);
    expect(result.text).toContain('# from the Skaffold profile "fast"\n');
    expect(result.text).toContain('# from the Skaffold profile "remote"; Skaffold also activates it when kubeContext staging, devloop only with -p remote');
    for (const name of ['fast', 'remote']) {
      const fromDevloop = parseConfig(result.text, result.file, { profiles: [name] });
      const fromSkaffold = loadConfig({ cwd: dir, file: skaffoldFile, profiles: [name] });
      expect({ ...fromDevloop, file: '', source: undefined, profiles: [] }).toEqual({ ...fromSkaffold, file: '', source: undefined, profiles: [] });
    }
    // The base is the config without any profile.
    expect(parseConfig(result.text, result.file).build.tagPolicy).toBe('gitCommit');
    expect(parseConfig(result.text, result.file).deploy.namespace).toBe('shop');
  });
});
