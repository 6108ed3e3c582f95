/**
 * What the watcher reports: one file-system change per path, and their net effect over a batch.
 * Pure values and functions; the coalescer (coalesce.ts) and the planner (src/plan) use them.
 */

export interface FileChange {
  /** Absolute path. */
  path: string;
  kind: 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';
}

/**
 * Keeps the net effect per path of a sequence of changes (last state wins; created then removed in
 * the same batch vanishes; removed then re-created is a change). Order of first appearance is kept.
 */
export function netChanges(changes: readonly FileChange[]): FileChange[] {
  const first = new Map<string, FileChange['kind']>();
  const last = new Map<string, FileChange['kind']>();
  for (const c of changes) {
    if (!first.has(c.path)) first.set(c.path, c.kind);
    last.set(c.path, c.kind);
  }
  const result: FileChange[] = [];
  for (const [p, firstKind] of first) {
    const lastKind = last.get(p)!;
    const isDir = lastKind === 'addDir' || lastKind === 'unlinkDir';
    const existedBefore = firstKind === 'change' || firstKind === 'unlink' || firstKind === 'unlinkDir';
    const existsAfter = lastKind === 'add' || lastKind === 'change' || lastKind === 'addDir';
    if (!existedBefore && !existsAfter) continue;
    let kind: FileChange['kind'];
    if (existedBefore && existsAfter) kind = isDir ? 'addDir' : 'change';
    else if (existsAfter) kind = isDir ? 'addDir' : 'add';
    else kind = isDir ? 'unlinkDir' : 'unlink';
    result.push({ path: p, kind });
  }
  return result;
}
