/**
 * The content-addressed store under $BERTH_ROOT. Layout:
 *
 *   blobs/sha256/<hex>       verified content: manifests, indexes, configs, layer blobs as served
 *   layers/<chain-hex>/      one unpacked layer, complete by construction:
 *       diff/                  the overlay lower directory (whiteouts as 0/0 char devices)
 *       index                  the per-layer file index (see oci/layerIndex.ts)
 *       layer.json             LayerRecord
 *   images/<config-hex>.json one ImageRecord per image ID (the config digest)
 *   refs.json                tag -> image ID
 *   format.json              {"formatVersion": N}: the record format of the whole store
 *
 * Format: image and layer records carry `formatVersion` ({@link RECORD_FORMAT}), and format.json
 * the store's. Records written before it existed (no field) have the same fields and are format 1:
 * image records are rewritten with the field the first time the store is opened by an agent that
 * knows formats (init), layer records are read as they are (their
 * directories are immutable once committed). A record of a newer format is refused with a sentence
 * naming the file, never half-read. refs.json is a plain map of Berth's own (tag -> image ID).
 *   tmp/                     work in progress; emptied whenever the agent starts
 *
 * Crash safety: everything is built under tmp/ and renamed into place only when complete and
 * verified. A blob file or a layer directory that exists under its final name is trusted; nothing
 * else is. Records are written after the things they name (layers before images, images before
 * refs), so a kill at any moment leaves at worst unreferenced data, which `gc` removes.
 *
 * Layers are keyed by chain ID (the OCI image spec's identity of a layer on top of its parents),
 * since a layer's index (added/changed/deleted) and cross-layer hardlinks depend on what is below.
 * Every image whose stack shares a prefix shares those directories.
 *
 * The store knows nothing of registries or the wire; one agent process is its only writer, and
 * mutations of refs/records go through `locked`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode, isErrno, systemError, unlessErrno } from '../errors';
import { mkdirp, randomName, removeAtomicLeftovers, writeFileAtomic } from './fsutil';
import { digestOf } from '../oci';

/** The format of image and layer records this agent reads and writes. */
export const RECORD_FORMAT = 1;

/** What the store knows about one unpacked layer (layers/<chain>/layer.json). */
export interface LayerRecord {
  /** {@link RECORD_FORMAT}; absent in records written before formats were recorded (format 1). */
  formatVersion?: number;
  chainId: string;
  diffId: string;
  parent: string | null;
  /** The blob it was unpacked from, and that blob's media type and size. */
  blobDigest: string;
  blobMediaType: string;
  blobSize: number;
  /** Bytes of the uncompressed tar (needed to write it into `save` archives). */
  tarSize: number;
  /** Bytes of regular-file content it holds. */
  size: number;
  created: string;
}

/** One image (images/<config-hex>.json). */
export interface ImageRecord {
  /** {@link RECORD_FORMAT}; absent in records written before formats were recorded (format 1). */
  formatVersion?: number;
  /** The image ID: digest of the config blob. */
  id: string;
  manifestDigest: string;
  manifestMediaType: string;
  /** The index the manifest was chosen from, when the tag named one. */
  indexDigest?: string;
  /** repository@digest names it was pulled by. */
  repoDigests: string[];
  layers: { digest: string; mediaType: string; size: number; diffId: string; chainId: string }[];
  /** When it entered the store, and when a tag last moved to it (RFC 3339). */
  added: string;
  lastTagTime: string;
}

export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : 'sha256:' + createHash('sha256').update(`${prev} ${d}`).digest('hex'));
  }
  return out;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/**
 * Checks a parsed record's format: absent (written before formats were recorded) or
 * {@link RECORD_FORMAT} is read; anything else is refused (InvalidContent) naming the file.
 */
function checkFormat<T extends { formatVersion?: number }>(rec: T, path: string, operation: string): T {
  const f = rec?.formatVersion;
  if (f === undefined || f === RECORD_FORMAT) return rec;
  throw new BerthError(
    ErrorCode.InvalidContent,
    `${operation}: \`${path}\` has record format ${JSON.stringify(f)}; this agent reads format ${RECORD_FORMAT} (written by a newer Berth?)`,
    { operation, path },
  );
}

function hexOf(digest: string): string {
  if (!DIGEST_RE.test(digest)) {
    throw new BerthError(ErrorCode.InvalidContent, `invalid digest "${digest}"`, { operation: 'store', digest });
  }
  return digest.slice(7);
}

export class Store {
  readonly blobsDir: string;
  readonly layersDir: string;
  readonly imagesDir: string;
  readonly tmpDir: string;
  private readonly refsPath: string;
  private lock: Promise<unknown> = Promise.resolve();
  /** Chain IDs and blob digests in use by operations in flight; gc leaves them alone. */
  private readonly leases = new Map<string, number>();

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs', 'sha256');
    this.layersDir = join(root, 'layers');
    this.imagesDir = join(root, 'images');
    this.tmpDir = join(root, 'tmp');
    this.refsPath = join(root, 'refs.json');
  }

  /**
   * Creates the layout and discards whatever a previous run left half-done: tmp/, and the temp
   * files of atomic writes (writeFileAtomic) killed before their rename, in blobs/, images/, the
   * root (refs.json) and each containers/<id>/ (container records).
   */
  init(): void {
    mkdirp(this.root);
    for (const d of [this.blobsDir, this.layersDir, this.imagesDir]) mkdirp(d);
    try {
      rmSync(this.tmpDir, { recursive: true, force: true });
      const containers = join(this.root, 'containers');
      const containerDirs = existsSync(containers) ? readdirSync(containers).map((id) => join(containers, id)) : [];
      for (const d of [this.blobsDir, this.imagesDir, this.root, ...containerDirs]) removeAtomicLeftovers(d);
    } catch (err) {
      throw systemError('clean store tmp', err, { path: this.tmpDir });
    }
    mkdirp(this.tmpDir);
    this.migrateOnce();
  }

  /**
   * `format.json` says which record format the whole store is in. A store without it was written
   * before formats were recorded: its image records are migrated once (migrateImages), then the
   * file is written, so later starts read one small file instead of every image record. A store
   * of a newer format is refused: this agent would misread it.
   */
  private migrateOnce(): void {
    const path = join(this.root, 'format.json');
    let format: unknown;
    try {
      format = (JSON.parse(readFileSync(path, 'utf8')) as { formatVersion?: unknown })?.formatVersion;
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !(err instanceof SyntaxError)) throw systemError('read store format', err, { path });
    }
    if (format === RECORD_FORMAT) return;
    if (typeof format === 'number' && format > RECORD_FORMAT) {
      throw new BerthError(
        ErrorCode.InvalidContent,
        `open store: \`${path}\` says format ${format}; this agent reads format ${RECORD_FORMAT} (written by a newer Berth?)`,
        { operation: 'open store', path },
      );
    }
    this.migrateImages();
    writeFileAtomic(path, `${JSON.stringify({ formatVersion: RECORD_FORMAT })}\n`, 0o644);
  }

  /** Runs `fn` with exclusive access to records and refs. */
  locked<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined); // the caller gets `run`'s failure; the chain must go on
    return run;
  }

  /** Marks keys (chain IDs, digests) as in use until the returned function is called. */
  lease(keys: string[]): () => void {
    for (const k of keys) this.leases.set(k, (this.leases.get(k) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const k of keys) {
        const n = (this.leases.get(k) ?? 1) - 1;
        if (n <= 0) this.leases.delete(k);
        else this.leases.set(k, n);
      }
    };
  }

  /** A fresh directory under tmp/ for work in progress. */
  tempPath(prefix: string): string {
    return join(this.tmpDir, randomName(prefix));
  }

  // --- blobs -----------------------------------------------------------------------------------

  blobPath(digest: string): string {
    return join(this.blobsDir, hexOf(digest));
  }

  hasBlob(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  readBlob(digest: string): Buffer {
    try {
      return readFileSync(this.blobPath(digest));
    } catch (err) {
      throw systemError('read blob', err, { digest, path: this.blobPath(digest) });
    }
  }

  /** Stores bytes already in memory after checking they hash to `digest`. */
  putBlob(digest: string, bytes: Buffer): void {
    const actual = digestOf(bytes);
    if (actual !== digest) {
      throw new BerthError(ErrorCode.DigestMismatch, `content hashes to ${actual}, expected ${digest}; nothing was stored`, {
        operation: 'store blob',
        digest,
      });
    }
    if (!this.hasBlob(digest)) writeFileAtomic(this.blobPath(digest), bytes, 0o644);
  }

  /** Moves a verified temp file into place as the blob `digest`. The caller has verified it. */
  commitBlobFile(tmpFile: string, digest: string): void {
    try {
      renameSync(tmpFile, this.blobPath(digest));
    } catch (err) {
      throw systemError('store blob', err, { digest, path: tmpFile });
    }
  }

  // --- layers ----------------------------------------------------------------------------------

  layerDir(chainId: string): string {
    return join(this.layersDir, hexOf(chainId));
  }

  layerDiffDir(chainId: string): string {
    return join(this.layerDir(chainId), 'diff');
  }

  layerIndexPath(chainId: string): string {
    return join(this.layerDir(chainId), 'index');
  }

  hasLayer(chainId: string): boolean {
    return existsSync(join(this.layerDir(chainId), 'layer.json'));
  }

  readLayer(chainId: string): LayerRecord {
    const path = join(this.layerDir(chainId), 'layer.json');
    try {
      return checkFormat(JSON.parse(readFileSync(path, 'utf8')) as LayerRecord, path, 'read layer record');
    } catch (err) {
      throw systemError('read layer record', err, { path });
    }
  }

  /**
   * Renames a complete layer built in `tmpLayerDir` (holding diff/, index and layer.json) into
   * place. If another operation completed the same layer first, the new copy is discarded.
   */
  commitLayer(tmpLayerDir: string, record: LayerRecord): void {
    writeFileAtomic(join(tmpLayerDir, 'layer.json'), JSON.stringify({ formatVersion: RECORD_FORMAT, ...record }), 0o644);
    const final = this.layerDir(record.chainId);
    if (this.hasLayer(record.chainId)) {
      this.discard(tmpLayerDir);
      return;
    }
    try {
      if (existsSync(final)) this.discard(final);
      renameSync(tmpLayerDir, final);
    } catch (err) {
      throw systemError('store layer', err, { path: final });
    }
  }

  /** Removes a directory tree by first renaming it into tmp/, so it vanishes atomically. */
  discard(path: string): void {
    const doomed = this.tempPath('doomed');
    try {
      renameSync(path, doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw systemError('remove', err, { path });
    }
    rmSync(doomed, { recursive: true, force: true });
  }

  // --- images and refs -------------------------------------------------------------------------

  private imagePath(id: string): string {
    return join(this.imagesDir, `${hexOf(id)}.json`);
  }

  readImage(id: string): ImageRecord | undefined {
    const path = this.imagePath(id);
    if (!existsSync(path)) return undefined;
    try {
      return checkFormat(JSON.parse(readFileSync(path, 'utf8')) as ImageRecord, path, 'read image record');
    } catch (err) {
      throw systemError('read image record', err, { path });
    }
  }

  writeImage(rec: ImageRecord): void {
    writeFileAtomic(this.imagePath(rec.id), JSON.stringify({ formatVersion: RECORD_FORMAT, ...rec }, null, 1), 0o644);
  }

  /**
   * Rewrites image records written before formats were recorded with `formatVersion` (same fields
   * otherwise), so the store on disk says what it is. Returns the IDs rewritten. A record that does
   * not parse is left for `berth check` to report, not touched here.
   */
  migrateImages(): string[] {
    const migrated: string[] = [];
    for (const name of readdirSync(this.imagesDir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      const path = join(this.imagesDir, name);
      let rec: ImageRecord;
      try {
        rec = JSON.parse(readFileSync(path, 'utf8')) as ImageRecord;
      } catch (err) {
        if (err instanceof SyntaxError) continue;
        throw systemError('migrate image record', err, { path });
      }
      if (!rec || typeof rec !== 'object' || rec.formatVersion !== undefined) continue;
      this.writeImage(rec);
      migrated.push(rec.id);
    }
    return migrated;
  }

  listImages(): ImageRecord[] {
    const out: ImageRecord[] = [];
    for (const name of readdirSync(this.imagesDir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      const rec = this.readImage(`sha256:${name.slice(0, 64)}`);
      if (rec) out.push(rec);
    }
    return out;
  }

  deleteImage(id: string): void {
    rmSync(this.imagePath(id), { force: true });
  }

  /** tag (normalised reference) -> image ID. */
  readRefs(): Record<string, string> {
    if (!existsSync(this.refsPath)) return {};
    try {
      const parsed = JSON.parse(readFileSync(this.refsPath, 'utf8')) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, string>;
    } catch (err) {
      throw systemError('read refs', err, { path: this.refsPath });
    }
    throw new BerthError(ErrorCode.InvalidContent, `${this.refsPath} is not a JSON object`, {
      operation: 'read refs',
      path: this.refsPath,
    });
  }

  writeRefs(refs: Record<string, string>): void {
    const sorted = Object.fromEntries(Object.entries(refs).sort(([a], [b]) => a.localeCompare(b)));
    writeFileAtomic(this.refsPath, JSON.stringify(sorted, null, 1), 0o644);
  }

  /** Bytes of regular-file content of the given chain (sum of layer sizes). */
  layersSize(chainIds: string[]): number {
    let total = 0;
    for (const c of chainIds) if (this.hasLayer(c)) total += this.readLayer(c).size;
    return total;
  }

  /**
   * Deletes layers and blobs that no image record names and no lease holds. Returns what went.
   * Call under `locked`.
   */
  gc(): string[] {
    const keepLayers = new Set<string>();
    const keepBlobs = new Set<string>();
    for (const img of this.listImages()) {
      keepBlobs.add(img.id);
      keepBlobs.add(img.manifestDigest);
      if (img.indexDigest) keepBlobs.add(img.indexDigest);
      for (const l of img.layers) {
        keepLayers.add(l.chainId);
        keepBlobs.add(l.digest);
      }
    }
    const deleted: string[] = [];
    for (const name of readdirSync(this.layersDir)) {
      const chainId = `sha256:${name}`;
      if (!DIGEST_RE.test(chainId) || keepLayers.has(chainId) || this.leases.has(chainId)) continue;
      this.discard(join(this.layersDir, name));
      deleted.push(chainId);
    }
    for (const name of readdirSync(this.blobsDir)) {
      const digest = `sha256:${name}`;
      if (!DIGEST_RE.test(digest) || keepBlobs.has(digest) || this.leases.has(digest)) continue;
      rmSync(join(this.blobsDir, name), { force: true });
    }
    return deleted;
  }

  /** Size on disk of a blob, or -1. */
  blobSize(digest: string): number {
    return unlessErrno(['ENOENT'], () => statSync(this.blobPath(digest)).size) ?? -1;
  }
}
