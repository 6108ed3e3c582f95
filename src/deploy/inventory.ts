/**
 * The inventory: every object devloop applied (or is about to apply) for one project on one cluster.
 * Kept twice so `down` works whatever happened since:
 * - a local journal, `.devloop/inventory/<context>__<project>.json` in config.rootDir, written
 *   atomically (temp file + rename) before anything is applied and again with UIDs after;
 * - an in-cluster record, Secret `devloop-inventory-<project>` in namespace `default`, labelled as
 *   the project's, listing the same objects (survives a deleted checkout or another machine).
 *
 * Entries are only added before an apply and only removed once the object is known to be gone
 * (pruned or deleted), so an interrupted run leaves a superset, never a subset.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, openSync, fsyncSync, closeSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { KubeClient } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import { identity, type KubeObject } from '../kube/types.js';
import { projectLabels } from './labels.js';
import type { ObjectRef } from './types.js';
import { STATE_DIR_NAME, stateDirOf } from '../shared/paths.js';

export const INVENTORY_DIR = path.join(STATE_DIR_NAME, 'inventory');
export const INVENTORY_NAMESPACE = 'default';

export interface InventoryRecord {
  version: 1;
  project: string;
  context: string;
  server: string;
  objects: ObjectRef[];
  updatedAt: string;
}

export function inventorySecretName(project: string): string {
  return `devloop-inventory-${project}`;
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** Merges lists by identity (group, kind, namespace, name); a UID from a later list wins. */
export function mergeRefs(...lists: ReadonlyArray<readonly ObjectRef[]>): ObjectRef[] {
  const byId = new Map<string, ObjectRef>();
  for (const list of lists) {
    for (const ref of list) {
      const id = identity(ref);
      const prev = byId.get(id);
      byId.set(id, prev ? { ...prev, ...ref, uid: ref.uid ?? prev.uid } : { ...ref });
    }
  }
  return [...byId.values()];
}

/** The local journal of one project on one kube context. */
export class InventoryStore {
  readonly file: string;

  constructor(
    readonly rootDir: string,
    readonly context: string,
    readonly project: string,
    readonly server = '',
  ) {
    this.file = path.join(rootDir, INVENTORY_DIR, `${safe(context)}__${safe(project)}.json`);
  }

  read(): InventoryRecord | undefined {
    return readRecord(this.file);
  }

  objects(): ObjectRef[] {
    return this.read()?.objects ?? [];
  }

  /** Replaces the journal's object list, atomically (a crash leaves the old or the new file). */
  write(objects: readonly ObjectRef[]): void {
    const dir = path.dirname(this.file);
    mkdirSync(dir, { recursive: true });
    const ignore = path.join(stateDirOf(this.rootDir), '.gitignore');
    if (!existsSync(ignore)) writeFileSync(ignore, '# written by devloop: local state, never committed\n*\n');
    const record: InventoryRecord = { version: 1, project: this.project, context: this.context, server: this.server, objects: [...objects], updatedAt: new Date().toISOString() };
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  clear(): void {
    rmSync(this.file, { force: true });
  }
}

function readRecord(file: string): InventoryRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as InventoryRecord;
    if (parsed?.version !== 1 || !Array.isArray(parsed.objects)) return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

/** Every journal under rootDir's .devloop/inventory (for `down` when the config no longer parses). */
export function listJournals(rootDir: string): InventoryRecord[] {
  const dir = path.join(rootDir, INVENTORY_DIR);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => readRecord(path.join(dir, n)))
    .filter((r): r is InventoryRecord => r !== undefined);
}

/** The in-cluster record's object list, or [] when there is none. */
export async function readClusterInventory(kube: KubeClient, project: string, signal?: AbortSignal): Promise<{ objects: ObjectRef[]; uid?: string }> {
  try {
    const secret = await kube.request<KubeObject & { data?: Record<string, string> }>(
      'GET',
      `/api/v1/namespaces/${INVENTORY_NAMESPACE}/secrets/${inventorySecretName(project)}`,
      { signal },
    );
    const raw = secret.data?.objects ? Buffer.from(secret.data.objects, 'base64').toString('utf8') : '[]';
    const objects = JSON.parse(raw) as ObjectRef[];
    return { objects: Array.isArray(objects) ? objects : [], uid: secret.metadata.uid };
  } catch (error) {
    if (isNotFound(error)) return { objects: [] };
    throw error;
  }
}

/** Writes the in-cluster record (server-side apply of the Secret). */
export async function writeClusterInventory(kube: KubeClient, project: string, objects: readonly ObjectRef[], signal?: AbortSignal): Promise<void> {
  await kube.apply(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: inventorySecretName(project),
        namespace: INVENTORY_NAMESPACE,
        labels: { ...projectLabels(project), 'devloop.dev/inventory': 'true' },
        annotations: { 'devloop.dev/description': 'Objects devloop applied for this project; devloop down deletes them and this record.' },
      },
      type: 'Opaque',
      data: { objects: Buffer.from(JSON.stringify(objects)).toString('base64') },
    },
    { force: true, signal },
  );
}

/** Deletes the in-cluster record (only the one with `uid` when given). */
export async function deleteClusterInventory(kube: KubeClient, project: string, uid?: string, signal?: AbortSignal): Promise<void> {
  await kube.delete({ group: '', version: 'v1', kind: 'Secret', namespace: INVENTORY_NAMESPACE, name: inventorySecretName(project) }, { uid, signal });
}
