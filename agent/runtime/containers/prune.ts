/**
 * `container/prune` and `image/prune`: remove what is not in use, and say how much space went.
 * Containers: every one that is not running (created or exited), through the service's own
 * remove (so `destroy` is emitted and the layers' leases are released). Images: dangling ones (no
 * tag), or with `all` every image, that no container uses; the store's gc then drops the layers
 * and blobs nothing names any more.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PruneResult } from '../../../protocol';
import { BerthError, ErrorCode, unlessErrno } from '../../errors';
import type { ImageService } from '../../images/service';
import { invertRefs } from '../../images/catalog';
import type { ContainerService } from './service';

/** Bytes of everything under `path` (apparent sizes of files, symlinks and dirs' own blocks not counted). */
export function treeSize(path: string): number {
  let total = 0;
  // Removed meanwhile (ENOENT), or replaced by a file (ENOTDIR): counts as nothing.
  const st = unlessErrno(['ENOENT'], () => lstatSync(path));
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() || st.isSymbolicLink() ? st.size : 0;
  const names = unlessErrno(['ENOENT', 'ENOTDIR'], () => readdirSync(path));
  if (!names) return 0;
  for (const n of names) total += treeSize(join(path, n));
  return total;
}

/** `container/prune`. */
export async function pruneContainers(svc: ContainerService): Promise<PruneResult> {
  const out: PruneResult = { Deleted: [], Untagged: [], SpaceReclaimed: 0 };
  for (const { record } of svc.views(true)) {
    if (record.state.status === 'running') continue;
    const rec = svc.tryFind(record.id);
    if (!rec) continue;
    const size = treeSize(svc.runtimeOf(rec).dir);
    try {
      await svc.remove(record.id);
    } catch (e) {
      // Started or removed meanwhile: not pruned.
      if (e instanceof BerthError && (e.code === ErrorCode.Conflict || e.code === ErrorCode.NotFound)) continue;
      throw e;
    }
    out.Deleted.push(record.id);
    out.SpaceReclaimed += size;
  }
  return out;
}

/** `image/prune`. */
export async function pruneImages(images: ImageService, all = false): Promise<PruneResult> {
  const { store } = images;
  const out: PruneResult = { Deleted: [], Untagged: [], SpaceReclaimed: 0 };
  const tagged = invertRefs(store.readRefs());
  const candidates = store.listImages().filter((img) => (all || !tagged.has(img.id)) && images.imageUsers(img.id).length === 0);
  for (const img of candidates) {
    // What could go with it, measured before it goes.
    const layerSizes = new Map<string, number>();
    const blobSizes = new Map<string, number>();
    for (const l of img.layers) {
      if (store.hasLayer(l.chainId)) layerSizes.set(l.chainId, treeSize(store.layerDir(l.chainId)));
      blobSizes.set(l.digest, Math.max(0, store.blobSize(l.digest)));
    }
    for (const d of [img.id, img.manifestDigest]) blobSizes.set(d, Math.max(0, store.blobSize(d)));
    let removed: Awaited<ReturnType<ImageService['remove']>>;
    try {
      removed = await images.remove(img.id, true);
    } catch (e) {
      if (e instanceof BerthError && (e.code === ErrorCode.NotFound || e.code === ErrorCode.Conflict)) continue;
      throw e;
    }
    out.Untagged.push(...removed.Untagged);
    out.Deleted.push(...removed.Deleted);
    for (const d of removed.Deleted) out.SpaceReclaimed += layerSizes.get(d) ?? 0;
    for (const [d, size] of blobSizes) if (!store.hasBlob(d)) out.SpaceReclaimed += size;
  }
  return out;
}
