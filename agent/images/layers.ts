/**
 * The layer inspector's core: what each layer of an image adds, changes and deletes, the image's
 * merged tree, and its efficiency (bytes that later layers overwrite or delete), all computed from
 * the per-layer indexes written at unpack (see ../oci/layerIndex.ts). No tar is read again.
 *
 * `analyze` is pure (indexes in, answer out) so it can be tested with hand-made indexes;
 * `LayerInspector` loads indexes from the store and keeps a few recent analyses, since layers are
 * immutable and an image ID names its layers for good.
 */
import { readFileSync } from 'node:fs';
import type { ImageLayersResult, LayerFileEntry, LayerFilesParams, LayerFilesResult, InspectedLayer, WastedFile } from '../../protocol';
import { BerthError, ErrorCode, systemError } from '../errors';
import type { ImageRecord, Store } from '../store/store';
import { parseIndex, type LayerIndexEntry } from '../oci/layerIndex';
import type { ImageConfig } from '../oci';

/** One layer as the analysis needs it. */
export interface LayerInput {
  digest: string;
  diffId: string;
  chainId: string;
  /** Bytes of regular-file content (the store's LayerRecord.size). */
  size: number;
  entries: LayerIndexEntry[];
}

/** Where a path of the merged tree comes from. */
interface Placed {
  e: LayerIndexEntry;
  layer: number;
}

export interface Analysis {
  summary: ImageLayersResult;
  /** Per layer, its records in index (tar) order; converted to the wire form a page at a time. */
  layerEntries: LayerIndexEntry[][];
  /** The final tree, in the order paths first appeared, each entry with the layer that provides it. */
  merged: Placed[];
}

/** How many wasted files the summary lists (largest first); totals count all of them. */
export const WASTED_LIST_LIMIT = 200;

type History = NonNullable<ImageConfig['history']>;

/** Pairs config history steps with layers, skipping `empty_layer` steps. */
export function layerHistory(
  history: History | undefined,
  layerCount: number,
): { createdBy: string; created?: string; comment?: string }[] {
  const out: { createdBy: string; created?: string; comment?: string }[] = [];
  for (const h of history ?? []) {
    if (h.empty_layer) continue;
    if (out.length === layerCount) break;
    out.push({ createdBy: h.created_by ?? '', ...(h.created ? { created: h.created } : {}), ...(h.comment ? { comment: h.comment } : {}) });
  }
  while (out.length < layerCount) out.push({ createdBy: '' });
  return out;
}

export function toWire(e: LayerIndexEntry, layer: number): LayerFileEntry {
  const w: LayerFileEntry = {
    path: e.path,
    type: e.type,
    size: e.size,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
    change: e.change ?? 'added',
    layer,
  };
  if (e.digest) w.digest = e.digest;
  if (e.linkTarget !== undefined) w.linkTarget = e.linkTarget;
  return w;
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** True when `path` is strictly below one of `dirs` (or anything, when "." is among them). */
function underAny(path: string, dirs: Set<string>): boolean {
  if (dirs.has('.')) return path !== '.';
  for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) if (dirs.has(path.slice(0, i))) return true;
  return false;
}

/**
 * Analyses a stack of layers, bottom first. Walks the layers once, keeping the merged view so far
 * (path -> top-most entry): a later layer's whiteouts, opaque directories and replacements of a
 * path end the life of what was below, and a regular file whose life ends that way is "wasted" by
 * the layer that ended it ("identical" when the new file has the same content digest).
 */
export function analyze(layers: LayerInput[], history: History | undefined, wastedLimit = WASTED_LIST_LIMIT): Analysis {
  const steps = layerHistory(history, layers.length);
  const live = new Map<string, Placed>();
  const wasted: WastedFile[] = [];
  const summaries: InspectedLayer[] = [];
  let totalBytes = 0;

  const end = (old: Placed, by: number, reason: WastedFile['reason']) => {
    if (old.e.type === 'file' && old.e.size > 0) wasted.push({ path: old.e.path, size: old.e.size, layer: old.layer, by, reason });
  };

  layers.forEach((layer, i) => {
    const counts = { added: 0, changed: 0, deleted: 0 };
    // Deletions first: whatever this layer hides is gone before its own entries land.
    const deletedTrees = new Set<string>(); // whiteouts (the path and below), opaque and replaced dirs (below)
    for (const e of layer.entries) {
      counts[e.change ?? 'added']++;
      if (e.type === 'file') totalBytes += e.size;
      if (e.type === 'whiteout') {
        const old = live.get(e.path);
        if (old) {
          end(old, i, 'deleted');
          live.delete(e.path);
        }
        deletedTrees.add(e.path);
      } else if (e.type === 'opaque') {
        deletedTrees.add(e.path);
      } else if (e.type !== 'dir' && live.get(e.path)?.e.type === 'dir') {
        deletedTrees.add(e.path);
      }
    }
    if (deletedTrees.size > 0) {
      for (const [p, old] of live) {
        if (underAny(p, deletedTrees)) {
          end(old, i, 'deleted');
          live.delete(p);
        }
      }
    }
    for (const e of layer.entries) {
      if (e.type === 'whiteout' || e.type === 'opaque') continue;
      const old = live.get(e.path);
      if (old && old.layer !== i) {
        const identical = old.e.type === 'file' && e.type === 'file' && !!old.e.digest && old.e.digest === e.digest;
        end(old, i, identical ? 'identical' : 'overwritten');
      }
      live.set(e.path, { e, layer: i });
    }
    const h = steps[i];
    summaries.push({
      index: i,
      digest: layer.digest,
      diffId: layer.diffId,
      chainId: layer.chainId,
      size: layer.size,
      createdBy: h.createdBy,
      ...(h.created ? { created: h.created } : {}),
      ...(h.comment ? { comment: h.comment } : {}),
      entries: layer.entries.length,
      ...counts,
    });
  });

  const merged = [...live.values()];
  let wastedBytes = 0;
  let identicalBytes = 0;
  for (const w of wasted) {
    wastedBytes += w.size;
    if (w.reason === 'identical') identicalBytes += w.size;
  }
  wasted.sort((a, b) => b.size - a.size || byPath(a, b) || a.layer - b.layer);
  let mergedBytes = 0;
  for (const m of merged) if (m.e.type === 'file') mergedBytes += m.e.size;
  return {
    summary: {
      layers: summaries,
      efficiency: {
        totalBytes,
        mergedBytes,
        mergedEntries: merged.length,
        wastedBytes,
        wastedFiles: wasted.length,
        identicalBytes,
        score: totalBytes === 0 ? 1 : (totalBytes - wastedBytes) / totalBytes,
        wasted: wasted.slice(0, wastedLimit),
      },
    },
    layerEntries: layers.map((l) => l.entries),
    merged,
  };
}

/** The page limit when the caller gives none, and the most one page may hold. */
export const DEFAULT_PAGE = 5000;
export const MAX_PAGE = 20000;

/** One page of a layer's entries (or of the merged tree), in index order; the client builds the tree. `layer` is an index or a chain ID. */
export function page(a: Analysis, params: Omit<LayerFilesParams, 'reference'>): LayerFilesResult {
  const op = 'layer files';
  let list: Placed[] | LayerIndexEntry[];
  let layer: number;
  if (params.merged) {
    list = a.merged;
    layer = a.layerEntries.length - 1;
  } else {
    const want = params.layer;
    layer =
      typeof want === 'number' ? want : a.summary.layers.findIndex((l) => l.chainId === want || l.diffId === want || l.digest === want);
    if (!Number.isInteger(layer) || layer < 0 || layer >= a.layerEntries.length) {
      throw new BerthError(ErrorCode.NotFound, `${op}: the image has no layer ${JSON.stringify(want)}`, { operation: op });
    }
    list = a.layerEntries[layer];
  }
  const offset = params.offset ?? 0;
  const limit = Math.min(params.limit ?? DEFAULT_PAGE, MAX_PAGE);
  const entries = params.merged
    ? (list as Placed[]).slice(offset, offset + limit).map((p) => toWire(p.e, p.layer))
    : (list as LayerIndexEntry[]).slice(offset, offset + limit).map((e) => toWire(e, layer));
  return { layer, merged: !!params.merged, total: list.length, offset, entries };
}

/** Loads indexes from the store and remembers the last few analyses by image ID. */
export class LayerInspector {
  private readonly cache = new Map<string, Analysis>();

  constructor(
    private readonly store: Store,
    private readonly keep = 4,
  ) {}

  analysis(rec: ImageRecord, config: ImageConfig): Analysis {
    const hit = this.cache.get(rec.id);
    if (hit) {
      this.cache.delete(rec.id);
      this.cache.set(rec.id, hit);
      return hit;
    }
    const layers: LayerInput[] = rec.layers.map((l) => {
      const path = this.store.layerIndexPath(l.chainId);
      let buf: Buffer;
      try {
        buf = readFileSync(path);
      } catch (err) {
        throw systemError('read layer index', err, { path });
      }
      return {
        digest: l.digest,
        diffId: l.diffId,
        chainId: l.chainId,
        size: this.store.readLayer(l.chainId).size,
        entries: parseIndex(buf),
      };
    });
    const a = analyze(layers, config.history);
    this.cache.set(rec.id, a);
    while (this.cache.size > this.keep) this.cache.delete(this.cache.keys().next().value as string);
    return a;
  }
}
