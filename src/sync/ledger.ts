/**
 * What was synced into an image's containers since that image was built, for replay into a
 * container that (re)starts from the image. Per image, the latest operation per container path,
 * in the order the paths were last touched. Holds paths only: replay reads the files again from
 * the working tree.
 */
import type { SyncOp } from '../plan/index.js';

export type LedgerEntry = { kind: 'copy'; containerPath: string; localPath: string } | { kind: 'delete'; containerPath: string };

export class SyncLedger {
  private readonly byImage = new Map<string, Map<string, LedgerEntry>>();

  /** Records an operation that was applied (deletes first, then copies, as the Syncer applies them). */
  record(op: SyncOp): void {
    const entries = this.byImage.get(op.image) ?? new Map<string, LedgerEntry>();
    this.byImage.set(op.image, entries);
    for (const containerPath of op.delete) {
      // Removing a directory supersedes everything recorded below it.
      const prefix = containerPath.endsWith('/') ? containerPath : `${containerPath}/`;
      for (const key of [...entries.keys()]) if (key.startsWith(prefix)) entries.delete(key);
      entries.delete(containerPath);
      entries.set(containerPath, { kind: 'delete', containerPath });
    }
    for (const { localPath, containerPath } of op.copy) {
      entries.delete(containerPath);
      entries.set(containerPath, { kind: 'copy', containerPath, localPath });
    }
  }

  /** The operation that brings a fresh container of `image` up to date; undefined when nothing was synced. */
  replayOp(image: string): SyncOp | undefined {
    const entries = this.byImage.get(image);
    if (!entries || entries.size === 0) return undefined;
    const op: SyncOp = { image, copy: [], delete: [] };
    for (const entry of entries.values()) {
      if (entry.kind === 'copy') op.copy.push({ localPath: entry.localPath, containerPath: entry.containerPath });
      else op.delete.push(entry.containerPath);
    }
    return op;
  }

  /** Forgets an image's history (its new image contains the files). */
  reset(image: string): void {
    this.byImage.delete(image);
  }

  size(image: string): number {
    return this.byImage.get(image)?.size ?? 0;
  }
}
