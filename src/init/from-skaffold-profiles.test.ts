/**
 * Skaffold profiles written as devloop profiles, checked against the real Skaffold reader: with
 * `-p NAME`, and through an activation devloop carries over (kubeContext, env).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { initFromSkaffold } from './from-skaffold.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const comparable = (c: Config) => ({ ...c, file: '', source: undefined, profiles: [], activatedProfiles: undefined });

describe('devloop init with Skaffold profiles', () => {
  it('writes each profile as a devloop profile that gives the same config as the Skaffold file, with -p and by activation', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-init-prof-'));
    dirs.push(dir);
    mkdirSync(path.join(dir, 'api'));
    writeFileSync(path.join(dir, 'api', 'Dockerfile'), 'FROM scratch\n');
    mkdirSync(path.join(dir, 'k8s'));
    writeFileSync(path.join(dir, 'k8s', 'api.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: api }\n');
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
    patches:
      - { op: replace, path: /build/tagPolicy, value: { dateTime: {} } }
  - name: remote
    activation:
      - kubeContext: staging
    patches:
      - { op: replace, path: /deploy/kubectl/defaultNamespace, value: shop-staging }
  - name: bycommand
    activation:
      - command: run
    patches:
      - { op: replace, path: /deploy/kubectl/defaultNamespace, value: shop-run }
  - name: nonamespace
    patches:
      - { op: remove, path: /deploy/kubectl/defaultNamespace }
`,
    );
    const result = initFromSkaffold(skaffoldFile);
    expect(result.skippedProfiles).toEqual(['profile "nonamespace" is not written: as a devloop profile it would give a different deploy (a devloop profile sets keys; it cannot remove one)']);
    expect(result.text).toContain(`# ${result.skippedProfiles[0]}`);
    expect(result.text).toContain('# from the Skaffold profile "fast"\n');
    expect(result.text).toContain('# from the Skaffold profile "remote"; it activates itself when kubeContext staging, as in Skaffold');
    expect(result.text).toContain('# from the Skaffold profile "bycommand"; Skaffold also activates it when command run, devloop only with -p bycommand');
    const off = ['-fast', '-remote', '-bycommand', '-nonamespace'];
    for (const name of ['fast', 'remote', 'bycommand']) {
      const others = off.filter((p) => p !== `-${name}`);
      const fromDevloop = parseConfig(result.text, result.file, { profiles: [name, ...others] });
      const fromSkaffold = loadConfig({ cwd: dir, file: skaffoldFile, profiles: [name, ...others] });
      expect(comparable(fromDevloop)).toEqual(comparable(fromSkaffold));
    }
    // activation carried over: in the staging context both files turn "remote" on by themselves
    const inStaging = { kubeContext: 'staging', env: {}, profiles: ['-bycommand'] };
    expect(parseConfig(result.text, result.file, inStaging).deploy.namespace).toBe('shop-staging');
    expect(loadConfig({ cwd: dir, file: skaffoldFile, ...inStaging }).deploy.namespace).toBe('shop-staging');
    // The base is the config without any profile.
    const base = parseConfig(result.text, result.file, { kubeContext: 'dev', env: {}, profiles: ['-bycommand'] });
    expect(base.build.tagPolicy).toBe('gitCommit');
    expect(base.deploy.namespace).toBe('shop');
  });
});
