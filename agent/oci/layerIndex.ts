/**
 * The per-layer file index: one record per path a layer sets (files, dirs, links, devices,
 * whiteouts, opaque markers), written next to the unpacked layer so that a layer inspector can list
 * and diff layers without reading the tar again.
 *
 * Paths are relative to the layer root, without a leading slash ("usr/bin/env"); the root itself is
 * ".". Digests are "sha256:<hex>" of a regular file's content.
 */
import { BerthError, ErrorCode } from '../errors';

export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'whiteout' | 'opaque';
export type LayerChange = 'added' | 'changed' | 'deleted';

export interface LayerIndexEntry {
  path: string;
  type: LayerEntryType;
  /** Content bytes for files (and hardlinks to files of this layer); 0 otherwise. */
  size: number;
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (may be fractional). */
  mtime: number;
  /** "sha256:<hex>" of the content, for regular files (and hardlinks to them when known). */
  digest?: string;
  /** Symlink target as stored, or the layer path a hardlink points to. */
  linkTarget?: string;
  /** Set by {@link classify}. */
  change?: LayerChange;
}

const TYPES: readonly LayerEntryType[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'whiteout', 'opaque'];
const CHANGES: readonly LayerChange[] = ['added', 'changed', 'deleted'];
const TYPE_SET = new Set<string>(TYPES);
const CHANGE_SET = new Set<string>(CHANGES);
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** What one lower layer says about paths, prepared for fast merged-view lookups. */
interface LowerView {
  /** Paths the layer provides (anything but whiteouts and opaque markers). */
  present: Set<string>;
  /** Paths the layer deletes (whiteouts). */
  whiteouts: Set<string>;
  /** Directories whose lower contents the layer hides. */
  opaque: Set<string>;
}

const viewCache = new WeakMap<LayerIndexEntry[], LowerView>();

function viewOf(entries: LayerIndexEntry[]): LowerView {
  let v = viewCache.get(entries);
  if (v) return v;
  v = { present: new Set(), whiteouts: new Set(), opaque: new Set() };
  for (const e of entries) {
    if (e.type === 'whiteout') v.whiteouts.add(e.path);
    else if (e.type === 'opaque') v.opaque.add(e.path);
    else v.present.add(e.path);
  }
  viewCache.set(entries, v);
  return v;
}

/** True when `path` exists in the merged view of `lowers` (top first), honouring whiteouts and opaque dirs. */
function existsBelow(path: string, lowers: LowerView[]): boolean {
  let ancestors: string[] | undefined;
  for (const L of lowers) {
    if (L.present.has(path)) return true;
    if (L.whiteouts.has(path)) return false;
    if (L.whiteouts.size === 0 && L.opaque.size === 0) continue;
    // A deleted or opaque ancestor in this layer hides the path in every layer below it.
    if (L.opaque.has('.')) return false;
    if (!ancestors) {
      ancestors = [];
      for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) ancestors.push(path.slice(0, i));
    }
    for (const a of ancestors) if (L.whiteouts.has(a) || L.opaque.has(a)) return false;
  }
  return false;
}

/**
 * Returns copies of `entries` with `change` set: 'deleted' for whiteouts and opaque markers (an
 * opaque marker deletes everything below that directory in the lowers), 'changed' when the path
 * exists in the merged view of the lower layers (given top first), else 'added'. Lower views are
 * cached per array, so classifying a stack layer by layer stays linear.
 */
export function classify(entries: LayerIndexEntry[], lowerIndexesTopFirst: LayerIndexEntry[][]): LayerIndexEntry[] {
  const lowers = lowerIndexesTopFirst.map(viewOf);
  return entries.map((e) => {
    let change: LayerChange;
    if (e.type === 'whiteout' || e.type === 'opaque') change = 'deleted';
    else change = existsBelow(e.path, lowers) ? 'changed' : 'added';
    return { ...e, change };
  });
}

/**
 * Serialises an index compactly: one JSON document `{"v":1,"e":[tuple...]}` where each tuple is
 * [path, type, size, mode, uid, gid, mtime, digest|0, linkTarget|0, change|0].
 */
export function serializeIndex(entries: LayerIndexEntry[]): Buffer {
  const rows = entries.map((e) => [e.path, e.type, e.size, e.mode, e.uid, e.gid, e.mtime, e.digest ?? 0, e.linkTarget ?? 0, e.change ?? 0]);
  return Buffer.from(JSON.stringify({ v: 1, e: rows }));
}

/** Parses and validates an index written by {@link serializeIndex}; throws BerthError(InvalidContent) if corrupt. */
export function parseIndex(buf: Buffer): LayerIndexEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw corrupt(`not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || (doc as { v?: unknown }).v !== 1 || !Array.isArray((doc as { e?: unknown }).e)) {
    throw corrupt('not a version-1 layer index');
  }
  const rows = (doc as { e: unknown[] }).e;
  const out: LayerIndexEntry[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!Array.isArray(r) || r.length !== 10) throw corrupt(`entry ${i} is not a 10-field tuple`);
    const [path, type, size, mode, uid, gid, mtime, digest, link, change] = r as unknown[];
    if (typeof path !== 'string' || path === '' || path.includes('\0') || path.startsWith('/')) throw corrupt(`entry ${i} has a bad path`);
    if (typeof type !== 'string' || !TYPE_SET.has(type)) throw corrupt(`entry ${i} ("${path}") has a bad type`);
    if (!isUint(size) || !isUint(mode) || mode > 0o7777 || !isUint(uid) || !isUint(gid))
      throw corrupt(`entry ${i} ("${path}") has a bad number`);
    if (typeof mtime !== 'number' || !Number.isFinite(mtime)) throw corrupt(`entry ${i} ("${path}") has a bad mtime`);
    const e: LayerIndexEntry = { path, type: type as LayerEntryType, size, mode, uid, gid, mtime };
    if (digest !== 0) {
      if (typeof digest !== 'string' || !DIGEST_RE.test(digest)) throw corrupt(`entry ${i} ("${path}") has a bad digest`);
      e.digest = digest;
    }
    if (link !== 0) {
      if (typeof link !== 'string' || link.includes('\0')) throw corrupt(`entry ${i} ("${path}") has a bad link target`);
      e.linkTarget = link;
    }
    if (change !== 0) {
      if (typeof change !== 'string' || !CHANGE_SET.has(change)) throw corrupt(`entry ${i} ("${path}") has a bad change`);
      e.change = change as LayerChange;
    }
    out[i] = e;
  }
  return out;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function corrupt(why: string): BerthError {
  return new BerthError(ErrorCode.InvalidContent, `layer index is corrupt: ${why}`, { operation: 'read layer index' });
}
