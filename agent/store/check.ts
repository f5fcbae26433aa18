/**
 * The store's verifier (`berth check`): proves the invariants store.ts promises, or lists where
 * they fail.
 *
 *   blobs/sha256/<hex>   every file's content hashes to its name
 *   layers/<chain>/      layer.json parses and names this chain (chain ID = its parent's chain
 *                        and its diff ID), its parent layer exists, diff/ and index exist, and
 *                        every index entry is in diff/ with the type (and, for files, the size)
 *                        the index records; whiteouts are 0/0 character devices, opaque
 *                        directories carry trusted.overlay.opaque=y
 *   images/<hex>.json    parses and is named by its ID; its config, manifest (and index) blobs
 *                        and every layer's blob and unpacked layer exist, in the chain order of
 *                        its diff IDs
 *   refs.json            parses; every tag points at an image record that exists
 *   containers/<id>/     config.json parses; the layers it runs on exist
 *   anywhere             no leftovers of interrupted work: temp files of atomic writes
 *                        (".<name>.<random>.tmp"), layer directories without a record, tmp/
 *                        entries older than this agent
 *
 * Problems are either damage (content that is wrong or missing: only a new pull, or removing the
 * image, mends it) or garbage (leftovers nothing trusts). `repair` removes garbage and blobs whose
 * content does not match their name (nothing can use them; a pull fetches them again), never
 * anything an image or container still needs intact. Layers and blobs no image or container uses
 * are not problems: the store's crash-safety design allows them (a pull killed after committing a
 * layer leaves one), and `image prune` reclaims them; the summary counts them.
 *
 * The check holds the store's record lock, so it sees one state of records and refs; pulls keep
 * downloading meanwhile and record their images after it. Work in progress under tmp/ that this
 * agent started is counted, never looked into or removed.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, readdirSync, readFileSync, rmSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { StoreCheckResult, StoreCheckSummary, StoreProblem, StoreProblemKind } from '../../protocol';
import { isErrno, unlessErrno } from '../errors';
import { parseIndex } from '../oci/layerIndex';
import { native } from '../../native';
import { ATOMIC_TEMP_RE } from './fsutil';
import { chainIds, type ImageRecord, type LayerRecord, type Store } from './store';

const HEX_RE = /^[0-9a-f]{64}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
/** randomName(prefix) of fsutil.ts: "<prefix>-<ms since the epoch, base 36>-<12 hex>". */
const TEMP_NAME_RE = /^.+-([0-9a-z]{1,11})-[0-9a-f]{12}$/;

export interface CheckOptions {
  /** Remove what is garbage (see the module comment). */
  repair?: boolean;
  /**
   * When this agent started (ms since the epoch): tmp/ entries named before it are leftovers of
   * an earlier run; later ones are work in flight. Default: now (every tmp/ entry is in flight).
   */
  startedAt?: number;
  /** Yields to the event loop between steps (the agent keeps serving); default setImmediate. */
  yieldNow?: () => Promise<void>;
}

/** Verifies `store`; see the module comment. Never throws for what it finds; only for bugs. */
export async function checkStore(store: Store, opts: CheckOptions = {}): Promise<StoreCheckResult> {
  return store.locked(() => new Checker(store, opts).run());
}

class Checker {
  private readonly problems: StoreProblem[] = [];
  private readonly summary: StoreCheckSummary = {
    blobs: 0,
    blobBytes: 0,
    layers: 0,
    files: 0,
    images: 0,
    tags: 0,
    containers: 0,
    unreferencedLayers: 0,
    unreferencedBlobs: 0,
    inFlight: 0,
    problems: 0,
    repaired: 0,
    durationMs: 0,
  };
  /** Blobs whose content is good, and layers whose record is readable. */
  private readonly goodBlobs = new Set<string>();
  private readonly layers = new Map<string, LayerRecord>();
  private readonly images = new Map<string, ImageRecord>();
  private readonly yieldNow: () => Promise<void>;

  constructor(
    private readonly store: Store,
    private readonly opts: CheckOptions,
  ) {
    this.yieldNow = opts.yieldNow ?? (() => new Promise((r) => setImmediate(r)));
  }

  async run(): Promise<StoreCheckResult> {
    const t0 = Date.now();
    await this.checkBlobs();
    await this.checkLayers();
    this.checkImages();
    this.checkRefs();
    this.checkContainers();
    this.checkTemp();
    this.countUnreferenced();
    if (this.opts.repair) this.repair();
    this.summary.problems = this.problems.length;
    this.summary.repaired = this.problems.filter((p) => p.repaired).length;
    this.summary.durationMs = Date.now() - t0;
    return { problems: this.problems, summary: this.summary };
  }

  private problem(kind: StoreProblemKind, path: string, message: string, repairable = false): void {
    this.problems.push({ kind, path, message, repairable, repaired: false });
  }

  /** Directory entries, or a problem (and []) when the directory cannot be read. */
  private list(dir: string, kind: StoreProblemKind): string[] {
    try {
      return readdirSync(dir).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dir !== this.store.blobsDir && dir !== this.store.layersDir && dir !== this.store.imagesDir) return [];
      this.problem(kind, dir, `cannot list the directory: ${code ?? (err as Error).message}`);
      return [];
    }
  }

  /** A leftover temp file of an atomic write, or an entry Berth never makes there. */
  private stray(dir: string, name: string, what: string): void {
    const path = join(dir, name);
    if (ATOMIC_TEMP_RE.test(name)) this.problem('temp-leftover', path, `a temporary file of an interrupted write in ${what}`, true);
    else this.problem('stray', path, `an entry ${what} does not hold (not removed: Berth did not make it)`);
  }

  // --- blobs -----------------------------------------------------------------------------------

  private async checkBlobs(): Promise<void> {
    const dir = this.store.blobsDir;
    for (const name of this.list(dir, 'blob')) {
      const path = join(dir, name);
      if (!HEX_RE.test(name)) {
        this.stray(dir, name, 'the blob directory');
        continue;
      }
      let st: Stats;
      try {
        st = lstatSync(path);
      } catch (err) {
        this.problem('blob', path, `cannot stat the blob: ${(err as NodeJS.ErrnoException).code}`);
        continue;
      }
      if (!st.isFile()) {
        this.problem('blob', path, 'the blob is not a regular file');
        continue;
      }
      this.summary.blobs++;
      this.summary.blobBytes += st.size;
      let actual: string;
      try {
        actual = await hashFile(path);
      } catch (err) {
        this.problem('blob', path, `cannot read the blob: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        continue;
      }
      if (actual !== name) this.problem('blob-corrupt', path, `the content hashes to sha256:${actual}, not to the blob's name`, true);
      else this.goodBlobs.add(`sha256:${name}`);
    }
  }

  // --- layers ----------------------------------------------------------------------------------

  private async checkLayers(): Promise<void> {
    const dir = this.store.layersDir;
    const names = this.list(dir, 'layer');
    for (const name of names) {
      const path = join(dir, name);
      if (!HEX_RE.test(name)) {
        this.stray(dir, name, 'the layer directory');
        continue;
      }
      const recPath = join(path, 'layer.json');
      if (!existsSync(recPath)) {
        this.problem(
          'partial-layer',
          path,
          'a layer directory without layer.json: nothing trusts it (an interrupted or damaged layer)',
          true,
        );
        continue;
      }
      let rec: LayerRecord;
      try {
        rec = JSON.parse(readFileSync(recPath, 'utf8')) as LayerRecord;
      } catch (err) {
        this.problem('layer', recPath, `the layer record is unreadable: ${(err as Error).message}`);
        continue;
      }
      const chainId = `sha256:${name}`;
      if (
        rec === null ||
        typeof rec !== 'object' ||
        rec.chainId !== chainId ||
        !DIGEST_RE.test(String(rec.diffId)) ||
        !DIGEST_RE.test(String(rec.blobDigest))
      ) {
        this.problem('layer', recPath, `the layer record does not describe layer ${chainId} (chainId, diffId or blobDigest is wrong)`);
        continue;
      }
      this.summary.layers++;
      this.layers.set(chainId, rec);
      for (const f of this.list(path, 'layer')) {
        if (f !== 'diff' && f !== 'index' && f !== 'layer.json') this.stray(path, f, 'a layer directory');
      }
      await this.checkLayerContent(path);
      await this.yieldNow();
    }
    // Chains: a layer's ID follows from its parent's and its diff ID, and the parent exists.
    for (const [chainId, rec] of this.layers) {
      const recPath = join(this.store.layerDir(chainId), 'layer.json');
      if (rec.parent === null) {
        if (chainId !== rec.diffId) this.problem('layer', recPath, `a base layer's chain ID must be its diff ID ${rec.diffId}`);
        continue;
      }
      if (typeof rec.parent !== 'string' || !DIGEST_RE.test(rec.parent)) {
        this.problem('layer', recPath, 'the parent is not a digest');
        continue;
      }
      const expected = chainIds([rec.parent, rec.diffId])[1];
      if (expected !== chainId)
        this.problem('layer', recPath, `the chain ID of parent ${rec.parent} and diff ID ${rec.diffId} is ${expected}, not ${chainId}`);
      if (!this.layers.has(rec.parent)) this.problem('layer', recPath, `its parent layer ${rec.parent} is missing`);
    }
  }

  /** diff/ and index exist, and each index entry is in diff/ as recorded. */
  private async checkLayerContent(layerDir: string): Promise<void> {
    const diff = join(layerDir, 'diff');
    const indexPath = join(layerDir, 'index');
    // A missing diff directory is reported below.
    const diffSt: Stats | undefined = unlessErrno(['ENOENT', 'ENOTDIR'], () => lstatSync(diff));
    if (!diffSt?.isDirectory()) {
      this.problem('layer', diff, 'the layer has no diff directory');
      return;
    }
    let entries: ReturnType<typeof parseIndex>;
    try {
      entries = parseIndex(readFileSync(indexPath));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.problem('layer-index', indexPath, code ? `cannot read the layer index: ${code}` : (err as Error).message);
      return;
    }
    let n = 0;
    for (const e of entries) {
      if (++n % 2000 === 0) await this.yieldNow();
      if (e.path.split('/').includes('..')) {
        this.problem('layer-index', indexPath, `entry "${e.path}" leads out of the layer`);
        continue;
      }
      const p = e.path === '.' ? diff : join(diff, e.path);
      let st: Stats;
      try {
        st = lstatSync(p);
      } catch (err) {
        this.problem(
          'layer-content',
          p,
          `the index lists a ${e.type} "${e.path}" that is not in the layer (${(err as NodeJS.ErrnoException).code})`,
        );
        continue;
      }
      const wrong = mismatch(e.type, e.size, st, p);
      if (wrong) this.problem('layer-content', p, `the index lists "${e.path}" as ${wrong}`);
      else if (e.type === 'file' || e.type === 'hardlink') this.summary.files++;
    }
  }

  // --- images, refs, containers ----------------------------------------------------------------

  private checkImages(): void {
    const dir = this.store.imagesDir;
    for (const name of this.list(dir, 'image')) {
      const path = join(dir, name);
      const m = /^([0-9a-f]{64})\.json$/.exec(name);
      if (!m) {
        this.stray(dir, name, 'the image directory');
        continue;
      }
      let rec: ImageRecord;
      try {
        rec = JSON.parse(readFileSync(path, 'utf8')) as ImageRecord;
      } catch (err) {
        this.problem('image', path, `the image record is unreadable: ${(err as Error).message}`);
        continue;
      }
      const id = `sha256:${m[1]}`;
      if (
        rec === null ||
        typeof rec !== 'object' ||
        rec.id !== id ||
        !DIGEST_RE.test(String(rec.manifestDigest)) ||
        !Array.isArray(rec.layers)
      ) {
        this.problem('image', path, `the record does not describe image ${id} (id, manifestDigest or layers is wrong)`);
        continue;
      }
      this.summary.images++;
      this.images.set(id, rec);
      const needBlob = (digest: string, what: string) => {
        if (!DIGEST_RE.test(String(digest))) this.problem('image', path, `its ${what} digest "${digest}" is not a digest`);
        else if (!this.goodBlobs.has(digest)) {
          this.problem(
            'image-blob',
            this.store.blobPath(digest),
            `image ${id.slice(7, 19)} needs its ${what} blob ${digest}, which is ${this.store.hasBlob(digest) ? 'corrupt' : 'missing'}`,
          );
        }
      };
      needBlob(id, 'config');
      needBlob(rec.manifestDigest, 'manifest');
      if (rec.indexDigest) needBlob(rec.indexDigest, 'index');
      const diffIds = rec.layers.map((l) => l?.diffId);
      if (!diffIds.every((d) => DIGEST_RE.test(String(d)))) {
        this.problem('image', path, 'a layer has no valid diff ID');
        continue;
      }
      const chains = chainIds(diffIds);
      rec.layers.forEach((l, i) => {
        needBlob(l.digest, `layer ${i}`);
        if (l.chainId !== chains[i])
          this.problem('image', path, `layer ${i} is recorded as chain ${l.chainId}, but its diff IDs make ${chains[i]}`);
        const layer = this.layers.get(chains[i]);
        if (!layer)
          this.problem(
            'image-layer',
            this.store.layerDir(chains[i]),
            `image ${id.slice(7, 19)} needs layer ${i} (chain ${chains[i]}), which is missing or damaged`,
          );
        else if (layer.diffId !== l.diffId)
          this.problem(
            'image-layer',
            this.store.layerDir(chains[i]),
            `layer ${i} of image ${id.slice(7, 19)} has diff ID ${layer.diffId}, not ${l.diffId}`,
          );
      });
    }
  }

  private checkRefs(): void {
    const path = join(this.store.root, 'refs.json');
    let refs: Record<string, string>;
    try {
      refs = this.store.readRefs();
    } catch (err) {
      this.problem('ref', path, (err as Error).message);
      return;
    }
    for (const [tag, id] of Object.entries(refs)) {
      this.summary.tags++;
      if (typeof id !== 'string' || !DIGEST_RE.test(id)) this.problem('ref', path, `tag ${tag} points at "${String(id)}", not an image ID`);
      else if (!this.images.has(id)) this.problem('ref', path, `tag ${tag} points at image ${id}, which has no valid record`);
    }
    for (const name of this.list(this.store.root, 'stray'))
      if (ATOMIC_TEMP_RE.test(name)) this.stray(this.store.root, name, 'the store root');
  }

  private checkContainers(): void {
    const dir = join(this.store.root, 'containers');
    for (const id of this.list(dir, 'container')) {
      const cdir = join(dir, id);
      if (!HEX_RE.test(id)) {
        if (ATOMIC_TEMP_RE.test(id)) this.stray(dir, id, 'the container directory');
        continue;
      }
      const path = join(cdir, 'config.json');
      let rec: { id?: unknown; layers?: unknown };
      try {
        rec = JSON.parse(readFileSync(path, 'utf8')) as { id?: unknown; layers?: unknown };
      } catch (err) {
        this.problem('container', path, `the container record is unreadable: ${(err as Error).message}`);
        continue;
      }
      this.summary.containers++;
      if (!Array.isArray(rec.layers)) {
        this.problem('container', path, 'the record lists no layers');
        continue;
      }
      for (const c of rec.layers) {
        if (typeof c !== 'string' || !this.layers.has(c))
          this.problem('container', path, `container ${id.slice(0, 12)} runs on layer ${String(c)}, which is missing or damaged`);
      }
      for (const f of this.list(cdir, 'container')) if (ATOMIC_TEMP_RE.test(f)) this.stray(cdir, f, 'a container directory');
    }
  }

  private checkTemp(): void {
    const dir = this.store.tmpDir;
    const since = this.opts.startedAt ?? Date.now();
    for (const name of this.list(dir, 'stray')) {
      const m = TEMP_NAME_RE.exec(name);
      const made = m ? parseInt(m[1], 36) : NaN;
      if (m && made >= since) {
        this.summary.inFlight++;
        continue;
      }
      this.problem(
        'temp-leftover',
        join(dir, name),
        m
          ? `work left in tmp/ by an earlier run of the agent (${new Date(made).toISOString()})`
          : 'an entry in tmp/ that Berth did not name',
        true,
      );
    }
  }

  private countUnreferenced(): void {
    const usedLayers = new Set<string>();
    const usedBlobs = new Set<string>();
    for (const img of this.images.values()) {
      usedBlobs.add(img.id).add(img.manifestDigest);
      if (img.indexDigest) usedBlobs.add(img.indexDigest);
      for (const l of img.layers) {
        usedLayers.add(l.chainId);
        usedBlobs.add(l.digest);
      }
    }
    const cdir = join(this.store.root, 'containers');
    for (const id of existsSync(cdir) ? readdirSync(cdir) : []) {
      try {
        const rec = JSON.parse(readFileSync(join(cdir, id, 'config.json'), 'utf8')) as { layers?: unknown };
        if (Array.isArray(rec.layers)) for (const c of rec.layers) if (typeof c === 'string') usedLayers.add(c);
      } catch (e) {
        // A missing or unreadable record is reported by checkContainers.
        if (!(e instanceof SyntaxError) && !isErrno(e, 'ENOENT', 'ENOTDIR', 'EISDIR')) throw e;
      }
    }
    // A used layer's ancestors are used too.
    for (const c of [...usedLayers]) {
      for (let p = this.layers.get(c)?.parent; p && !usedLayers.has(p); p = this.layers.get(p)?.parent) usedLayers.add(p);
    }
    for (const c of this.layers.keys()) if (!usedLayers.has(c)) this.summary.unreferencedLayers++;
    for (const b of this.goodBlobs) if (!usedBlobs.has(b)) this.summary.unreferencedBlobs++;
  }

  // --- repair ----------------------------------------------------------------------------------

  private repair(): void {
    for (const p of this.problems) {
      if (!p.repairable) continue;
      try {
        if (p.kind === 'partial-layer' || (p.kind === 'temp-leftover' && lstatSync(p.path).isDirectory())) this.store.discard(p.path);
        else rmSync(p.path, { force: true });
        p.repaired = true;
      } catch (err) {
        p.message += ` (repair failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      }
    }
  }
}

/** Why an index entry of `type` (and `size`) does not match what is on disk, or undefined. */
function mismatch(type: string, size: number, st: Stats, path: string): string | undefined {
  switch (type) {
    case 'file':
      if (!st.isFile()) return 'a file, but it is not a regular file';
      if (st.size !== size) return `a file of ${size} bytes, but it has ${st.size}`;
      return undefined;
    case 'hardlink':
      return st.isDirectory() ? 'a hard link, but it is a directory' : undefined;
    case 'dir':
      return st.isDirectory() ? undefined : 'a directory, but it is not one';
    case 'symlink':
      return st.isSymbolicLink() ? undefined : 'a symbolic link, but it is not one';
    case 'char':
      return st.isCharacterDevice() ? undefined : 'a character device, but it is not one';
    case 'block':
      return st.isBlockDevice() ? undefined : 'a block device, but it is not one';
    case 'fifo':
      return st.isFIFO() ? undefined : 'a FIFO, but it is not one';
    case 'whiteout':
      return st.isCharacterDevice() && st.rdev === 0 ? undefined : 'a whiteout, but it is not a 0/0 character device';
    case 'opaque': {
      if (!st.isDirectory()) return 'an opaque directory, but it is not a directory';
      let value: Buffer | null = null;
      try {
        value = native().lgetxattr(path, 'trusted.overlay.opaque');
      } catch (e) {
        // No xattr support: reported as missing.
        if (!isErrno(e, 'ENOTSUP', 'EOPNOTSUPP')) throw e;
      }
      return value?.toString() === 'y' ? undefined : 'an opaque directory, but it has no trusted.overlay.opaque=y';
    }
    default:
      return `an entry of unknown type "${type}"`;
  }
}

/** sha256 hex of a file's content, streamed. */
function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
