import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { currentContext, loadStaticCredentials } from './kubeconfig.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function files(...texts: string[]): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-kubeconfig-'));
  dirs.push(dir);
  writeFileSync(path.join(dir, 'ca.crt'), 'CA-FROM-FILE');
  return texts.map((t, i) => {
    const f = path.join(dir, `config-${i}`);
    writeFileSync(f, t);
    return f;
  });
}

const base = `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: { server: "https://127.0.0.1:6443", certificate-authority: ca.crt }
users:
- name: u1
  user: { client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key-data: ${Buffer.from('KEY').toString('base64')} }
- name: u2
  user: { token: abc }
- name: sso
  user: { exec: { command: gke-gcloud-auth-plugin } }
contexts:
- name: one
  context: { cluster: c1, user: u1, namespace: team }
- name: two
  context: { cluster: c1, user: u2 }
- name: cloud
  context: { cluster: c1, user: sso }
current-context: one
`;

describe('static kubeconfig credentials', () => {
  it('reads certificates (data or files relative to the kubeconfig), tokens and the context namespace', () => {
    const [f] = files(base);
    const one = loadStaticCredentials(undefined, [f])!;
    expect(one).toMatchObject({ context: 'one', server: 'https://127.0.0.1:6443', user: 'u1', namespace: 'team', headers: {} });
    expect(one.ca!.toString()).toBe('CA-FROM-FILE');
    expect(one.cert!.toString()).toBe('CERT');
    expect(one.key!.toString()).toBe('KEY');
    const two = loadStaticCredentials('two', [f])!;
    expect(two.headers.Authorization).toBe('Bearer abc');
    expect(two.namespace).toBe('default');
  });

  it('leaves exec plugins, unknown contexts and merged files right', () => {
    const [f, g] = files(base, 'apiVersion: v1\nkind: Config\ncurrent-context: two\ncontexts: []\n');
    expect(loadStaticCredentials('cloud', [f])).toBeUndefined();
    expect(loadStaticCredentials('missing', [f])).toBeUndefined();
    // The first file that sets current-context wins, as with kubectl.
    expect(loadStaticCredentials(undefined, [g, f])!.context).toBe('two');
    expect(loadStaticCredentials(undefined, [path.join(os.tmpdir(), 'does-not-exist')])).toBeUndefined();
  });
});

describe('currentContext', () => {
  it('is the first current-context set among the files, as kubectl merges them', () => {
    const [empty, first, second] = files('apiVersion: v1\nkind: Config\n', 'current-context: kind-shop\n', 'current-context: other\n');
    expect(currentContext([empty, first, second])).toBe('kind-shop');
    expect(currentContext([empty, path.join(path.dirname(empty), 'missing')])).toBeUndefined();
  });
});
