/**
 * `container/diff`: what a container changed, read from its overlay upper directory alone, like
 * `docker diff`.
 *
 * The upper dir holds exactly what the container wrote:
 * - a character device 0/0 at NAME is a whiteout: NAME was deleted (D);
 * - a directory with `trusted.overlay.opaque=y` hides everything the lowers had below it: the
 *   directory itself is reported as C (or A when the image had none), and each entry the image had
 *   directly in it that the upper dir does not bring back is reported as D;
 * - anything else is C when the image (the merged view of its lower layers) has that path, else A.
 *
 * What the image has is answered from the layers' file indexes (image/layerIndex.ts), never by
 * walking the lower directories. Directories copied up only because something below them changed
 * exist in the upper dir, so the parents of every change show as C, as Docker shows them.
 * The walk never follows symlinks and works whether the container runs or not.
 */
import { lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { ContainerChange } from '../../../protocol';
import { native } from '../../../native';
import { BerthError, ErrorCode, isErrno, systemError } from '../../errors';
import { classify, parseIndex, type LayerIndexEntry } from '../../oci/layerIndex';
import type { Store } from '../../store/store';
import type { ContainerService } from './service';

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** What one path of an upper dir is, in overlay terms. */
export type UpperKind = 'whiteout' | 'opaque-dir' | 'dir' | 'file' | 'symlink' | 'other';

export interface UpperEntry {
  /** Relative to the upper dir, no leading slash ("etc/passwd"). */
  path: string;
  kind: UpperKind;
  stat: Stats;
}

/** True for overlayfs's whiteout: a character device with device number 0/0. */
export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** True when `path` (a directory) carries `trusted.overlay.opaque=y`. */
export function isOpaqueDir(path: string): boolean {
  try {
    return native().lgetxattr(path, OPAQUE_XATTR)?.toString() === 'y';
  } catch (e) {
    // No such attribute, no xattrs on this filesystem, or the directory is gone: not opaque.
    if (isErrno(e, 'ENODATA', 'ENOTSUP', 'EOPNOTSUPP', 'ENOENT')) return false;
    throw e;
  }
}

/**
 * Every entry below `upper` (not the root itself), parents before children, names sorted
 * bytewise within a directory. Whiteouts and opaque directories are recognised.
 */
export function walkUpper(upper: string): UpperEntry[] {
  const out: UpperEntry[] = [];
  const visit = (rel: string) => {
    const names = readdirSync(rel ? join(upper, rel) : upper).sort(byteOrder);
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(upper, path);
      const st = lstatSync(abs);
      let kind: UpperKind;
      if (st.isDirectory()) kind = isOpaqueDir(abs) ? 'opaque-dir' : 'dir';
      else if (isWhiteout(st)) kind = 'whiteout';
      else if (st.isFile()) kind = 'file';
      else if (st.isSymbolicLink()) kind = 'symlink';
      else kind = 'other';
      out.push({ path, kind, stat: st });
      if (st.isDirectory()) visit(path);
    }
  };
  visit('');
  return withoutRuntimeMountPoints(out);
}

/**
 * The empty files the runtime creates in the upper dir as mount points for the per-container
 * /etc/hostname, /etc/hosts and /etc/resolv.conf (the container's writes to them go to the bound
 * files, never here). They are not the container's changes, so diff and commit leave them out, as
 * Docker does, together with /etc when it was copied up for them alone.
 */
const RUNTIME_MOUNT_POINTS = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf']);

function withoutRuntimeMountPoints(entries: UpperEntry[]): UpperEntry[] {
  const kept = entries.filter((e) => !(RUNTIME_MOUNT_POINTS.has(e.path) && e.kind === 'file' && e.stat.size === 0));
  if (kept.length === entries.length) return entries;
  const etcHasOthers = kept.some((e) => e.path.startsWith('etc/'));
  return etcHasOthers ? kept : kept.filter((e) => !(e.path === 'etc' && e.kind === 'dir'));
}

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Docker's change kinds. */
export const CHANGE_MODIFIED = 0;
export const CHANGE_ADDED = 1;
export const CHANGE_DELETED = 2;

/**
 * The changes of an upper dir against the image whose layer indexes are given top layer first.
 * Paths are absolute ("/etc/passwd") and sorted.
 */
export function upperChanges(upper: string, lowerIndexesTopFirst: LayerIndexEntry[][]): ContainerChange[] {
  return classifyUpper(walkUpper(upper), lowerIndexesTopFirst);
}

/** {@link upperChanges} for an already walked upper dir. */
export function classifyUpper(entries: UpperEntry[], lowerIndexesTopFirst: LayerIndexEntry[][]): ContainerChange[] {
  const probe = (path: string): LayerIndexEntry => ({ path, type: 'file', size: 0, mode: 0, uid: 0, gid: 0, mtime: 0 });
  const present = entries.filter((e) => e.kind !== 'whiteout');
  const known = classify(
    present.map((e) => probe(e.path)),
    lowerIndexesTopFirst,
  );
  const out = new Map<string, number>();
  present.forEach((e, i) => {
    out.set(e.path, known[i].change === 'changed' ? CHANGE_MODIFIED : CHANGE_ADDED);
  });
  for (const e of entries) if (e.kind === 'whiteout') out.set(e.path, CHANGE_DELETED);

  // An opaque dir deletes what the image had directly in it, unless the upper dir has it again.
  const opaque = entries.filter((e) => e.kind === 'opaque-dir').map((e) => e.path);
  if (opaque.length > 0) {
    const opaqueSet = new Set(opaque);
    const candidates = new Set<string>();
    for (const index of lowerIndexesTopFirst) {
      for (const le of index) {
        if (le.type === 'whiteout' || le.type === 'opaque') continue;
        const slash = le.path.lastIndexOf('/');
        const parent = slash < 0 ? '.' : le.path.slice(0, slash);
        if (opaqueSet.has(parent) && !out.has(le.path)) candidates.add(le.path);
      }
    }
    const list = [...candidates];
    const below = classify(list.map(probe), lowerIndexesTopFirst);
    list.forEach((p, i) => {
      if (below[i].change === 'changed') out.set(p, CHANGE_DELETED);
    });
  }
  return [...out].map(([p, Kind]) => ({ Path: `/${p}`, Kind: Kind as ContainerChange['Kind'] })).sort((a, b) => byteOrder(a.Path, b.Path));
}

/** The file indexes of the given layers (chain IDs, bottom first), returned top first. */
export function lowerIndexes(store: Store, chainsBottomFirst: string[], operation: string): LayerIndexEntry[][] {
  return [...chainsBottomFirst].reverse().map((c) => {
    if (!store.hasLayer(c)) throw new BerthError(ErrorCode.NotFound, `${operation}: layer ${c} is missing from the store`, { operation });
    const path = store.layerIndexPath(c);
    try {
      return parseIndex(readFileSync(path));
    } catch (e) {
      if (e instanceof BerthError) throw e;
      throw systemError(`${operation}: read layer index`, e, { path });
    }
  });
}

/** `container/diff`: the container's changes (see the module comment). */
export function containerDiff(svc: ContainerService, ref: string): ContainerChange[] {
  const op = 'diff container';
  const rec = svc.find(ref, op);
  const { upper } = svc.runtimeOf(rec);
  const lowers = lowerIndexes(svc.store, rec.layers, op);
  try {
    return upperChanges(upper, lowers);
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw systemError(op, e, { path: upper });
  }
}
