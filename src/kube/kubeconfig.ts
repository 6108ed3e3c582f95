/**
 * A fast path for reading the kubeconfig, for one-shot commands (deploy, render, down): importing
 * @kubernetes/client-node costs about half a second, more than a whole `devloop down` of a small
 * project spends talking to the cluster.
 *
 * Contract: handles the common, static credentials (client certificate and key, bearer token, basic
 * auth, CA data or files, insecure-skip-tls-verify, tls-server-name) of the selected context and
 * returns undefined for anything else (exec plugins, auth providers, token files, proxies, a missing
 * context): the caller then loads client-node, which handles all of it and reports the errors.
 * Reads files only; never throws.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

export interface StaticCredentials {
  context: string;
  server: string;
  user: string;
  namespace: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
  headers: Record<string, string>;
}

interface Named<T> {
  name: string;
  value: T;
  dir: string;
}

const USER_KEYS = new Set(['client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'token', 'username', 'password']);
const CLUSTER_KEYS = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name']);

export function kubeconfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.KUBECONFIG) return env.KUBECONFIG.split(path.delimiter).filter(Boolean);
  return [path.join(os.homedir(), '.kube', 'config')];
}

export function loadStaticCredentials(contextOverride?: string, files: string[] = kubeconfigFiles()): StaticCredentials | undefined {
  try {
    const clusters: Named<Record<string, unknown>>[] = [];
    const users: Named<Record<string, unknown>>[] = [];
    const contexts: Named<Record<string, string>>[] = [];
    let current: string | undefined;
    for (const file of files) {
      if (!existsSync(file)) continue;
      const doc = parse(readFileSync(file, 'utf8')) as Record<string, any> | null;
      if (!doc || typeof doc !== 'object') continue;
      const dir = path.dirname(path.resolve(file));
      for (const c of doc.clusters ?? []) clusters.push({ name: c.name, value: c.cluster ?? {}, dir });
      for (const u of doc.users ?? []) users.push({ name: u.name, value: u.user ?? {}, dir });
      for (const c of doc.contexts ?? []) contexts.push({ name: c.name, value: c.context ?? {}, dir });
      current ||= doc['current-context'];
    }
    const contextName = contextOverride ?? current;
    const context = contexts.find((c) => c.name === contextName);
    if (!contextName || !context) return undefined;
    const cluster = clusters.find((c) => c.name === context.value.cluster);
    const user = users.find((u) => u.name === context.value.user);
    if (!cluster || typeof cluster.value.server !== 'string') return undefined;
    if (Object.keys(cluster.value).some((k) => !CLUSTER_KEYS.has(k))) return undefined;
    if (user && Object.keys(user.value).some((k) => !USER_KEYS.has(k))) return undefined;
    const read = (data: unknown, file: unknown, dir: string): Buffer | undefined => {
      if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
      if (typeof file === 'string' && file) return readFileSync(path.resolve(dir, file));
      return undefined;
    };
    const u = user?.value ?? {};
    const headers: Record<string, string> = {};
    if (typeof u.token === 'string' && u.token) headers.Authorization = `Bearer ${u.token}`;
    else if (typeof u.username === 'string') headers.Authorization = `Basic ${Buffer.from(`${u.username}:${String(u.password ?? '')}`).toString('base64')}`;
    return {
      context: contextName,
      server: cluster.value.server,
      user: user?.name ?? context.value.user ?? 'unknown',
      namespace: context.value.namespace || 'default',
      ca: read(cluster.value['certificate-authority-data'], cluster.value['certificate-authority'], cluster.dir),
      cert: user ? read(u['client-certificate-data'], u['client-certificate'], user.dir) : undefined,
      key: user ? read(u['client-key-data'], u['client-key'], user.dir) : undefined,
      rejectUnauthorized: cluster.value['insecure-skip-tls-verify'] === true ? false : undefined,
      servername: typeof cluster.value['tls-server-name'] === 'string' ? cluster.value['tls-server-name'] : undefined,
      headers,
    };
  } catch {
    return undefined;
  }
}

/**
 * The kubeconfig's current-context (the first file that sets one, as kubectl merges them), or
 * undefined when no file sets it. Reads files only; never throws.
 */
export function currentContext(files: string[] = kubeconfigFiles()): string | undefined {
  for (const file of files) {
    try {
      if (!existsSync(file)) continue;
      const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown> | null;
      const current = doc && typeof doc === 'object' ? doc['current-context'] : undefined;
      if (typeof current === 'string' && current !== '') return current;
    } catch {
      // an unreadable file sets nothing
    }
  }
  return undefined;
}
