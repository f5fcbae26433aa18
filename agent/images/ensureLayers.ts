/**
 * Bringing an image's layers into the store, shared by pull (blobs from the registry), load and
 * commit (blobs already in the store): one streaming pass per layer (blob -> digest -> decompress
 * -> diffID -> untar into a temp directory), several layers at once, each committed only when its
 * digests check out and the layers below it are committed. What the store already has (layers by
 * chain ID, blobs by digest) is reused; a layer another pull is unpacking is waited for.
 *
 * Failure anywhere aborts the other layers of the same image and discards their temp work; layers
 * already committed stay (they are verified and may serve the next attempt).
 */
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { LayerProgress } from '../../protocol';
import { BerthError, ErrorCode, systemError } from '../errors';
import { type Descriptor, formatReference, type ImageReference } from '../oci';
import { classify, type LayerIndexEntry, parseIndex, serializeIndex } from '../oci/layerIndex';
import type { RegistryClient } from '../registry/client';
import type { Store } from '../store/store';
import { resolveCrossLayerHardlinks } from '../store/hardlinks';
import { LayerUnpacker, type UnpackResult } from '../store/unpack';

/** Layers downloaded at once per image. */
const PARALLEL_DOWNLOADS = 4;
/** Progress notifications per layer at most this often while bytes arrive. */
const PROGRESS_INTERVAL_MS = 100;

/** Layer work in flight across all pulls of one store, so two pulls never unpack a layer twice. */
const inflight = new WeakMap<Store, Map<string, Promise<void>>>();

/** Where missing blobs come from: the registry client (only `fetchBlob` is used). */
export interface BlobSource {
  registry: Pick<RegistryClient, 'fetchBlob'>;
}

export interface LayerOptions {
  signal?: AbortSignal;
  onProgress?: (p: LayerProgress) => void;
}

/**
 * Makes sure every layer of an image is in the store. `source` and `ref` name where missing blobs
 * are fetched from (pull); without them (load, commit) every blob must be in the store already, and
 * a missing one is NotFound. Cancelled when `opts.signal` aborts.
 */
export async function ensureLayers(
  store: Store,
  source: BlobSource | undefined,
  ref: ImageReference | undefined,
  layers: Descriptor[],
  diffIds: string[],
  chains: string[],
  opts: LayerOptions,
): Promise<void> {
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const slots = new Semaphore(PARALLEL_DOWNLOADS);
  const running = inflight.get(store) ?? new Map<string, Promise<void>>();
  inflight.set(store, running);
  const indexCache = new Map<string, LayerIndexEntry[]>();
  const tasks: Promise<void>[] = [];
  try {
    for (let i = 0; i < layers.length; i++) {
      const chain = chains[i];
      const report = progressReporter(layers[i], opts.onProgress);
      let task: Promise<void>;
      if (store.hasLayer(chain)) {
        report('exists', layers[i].size);
        task = Promise.resolve();
      } else if (running.has(chain)) {
        report('waiting', 0);
        task = running.get(chain)!.then(() => report('done', layers[i].size));
      } else {
        const lower = i > 0 ? tasks[i - 1] : Promise.resolve();
        task = unpackLayer({
          store,
          source,
          ref,
          desc: layers[i],
          diffId: diffIds[i],
          chains: chains.slice(0, i + 1),
          lower,
          slots,
          signal: abort.signal,
          report,
          indexCache,
        });
        running.set(chain, task);
        const forget = () => running.get(chain) === task && running.delete(chain);
        task.then(forget, forget);
      }
      tasks.push(task);
      // A failure stops the other layers of this image at once.
      task.catch((err) => abort.abort(err));
    }
    const results = await Promise.allSettled(tasks);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      if (opts.signal?.aborted) throw cancelled(ref);
      throw firstCause(results, failed.reason);
    }
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}

interface LayerJob {
  store: Store;
  source: BlobSource | undefined;
  ref: ImageReference | undefined;
  desc: Descriptor;
  diffId: string;
  /** Chain IDs from the bottom up to and including this layer. */
  chains: string[];
  /** Settles when the layer below is committed. */
  lower: Promise<void>;
  slots: Semaphore;
  signal: AbortSignal;
  report: (phase: LayerProgress['phase'], current: number, message?: string) => void;
  indexCache: Map<string, LayerIndexEntry[]>;
}

async function unpackLayer(job: LayerJob): Promise<void> {
  const { store, desc } = job;
  const chain = job.chains[job.chains.length - 1];
  const tmpLayer = store.tempPath('layer');
  const diffDir = join(tmpLayer, 'diff');
  let tmpBlob: string | undefined;
  let unpacker: LayerUnpacker | undefined;
  const what = `layer ${desc.digest.slice(7, 19)}`;
  try {
    try {
      mkdirSync(diffDir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw systemError(`unpack ${what}`, err, { path: diffDir });
    }
    unpacker = new LayerUnpacker(diffDir, { layerDigest: desc.digest, signal: job.signal });
    const u = unpacker;
    let received = 0;
    job.report('waiting', 0);
    if (store.hasBlob(desc.digest)) {
      job.report('downloading', 0);
      for await (const chunk of createReadStream(store.blobPath(desc.digest), { highWaterMark: 1 << 20 })) {
        received += (chunk as Buffer).length;
        await u.write(chunk as Buffer);
        job.report('downloading', received);
      }
    } else {
      if (!job.source || !job.ref) {
        throw new BerthError(ErrorCode.NotFound, `${what}: blob ${desc.digest} is not in the store`, {
          operation: 'unpack layer',
          digest: desc.digest,
        });
      }
      const { registry } = job.source;
      const ref = job.ref;
      tmpBlob = store.tempPath('blob');
      const release = await job.slots.acquire(job.signal);
      let fd = -1;
      try {
        fd = openSync(tmpBlob, 'wx', 0o644);
        job.report('downloading', 0);
        // Bytes that do not decompress or parse may simply be corrupt: keep hashing to the end, so
        // a damaged download is reported as the digest mismatch it is. Hostile content stops at once.
        let malformed: unknown;
        await registry.fetchBlob(
          ref,
          { digest: desc.digest, size: desc.size },
          async (chunk) => {
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            received += chunk.length;
            job.report('downloading', received);
            if (malformed) return;
            try {
              await u.write(chunk);
            } catch (err) {
              if (!(err instanceof BerthError && err.code === ErrorCode.InvalidContent)) throw err;
              malformed = err;
            }
          },
          { signal: job.signal, onRetry: (attempt, reason) => job.report('retrying', received, `retry ${attempt}: ${reason}`) },
        );
        if (malformed) throw malformed;
      } catch (err) {
        if (isFsError(err)) throw systemError(`pull ${what}`, err, { path: tmpBlob, digest: desc.digest });
        throw err;
      } finally {
        if (fd >= 0) closeSync(fd);
        release();
      }
    }
    const res: UnpackResult = await u.finish();
    if (res.diffId !== job.diffId) {
      throw new BerthError(
        ErrorCode.DigestMismatch,
        `${what}: its uncompressed content hashes to ${res.diffId} but the image config says ${job.diffId}; nothing was stored`,
        { operation: 'unpack layer', digest: desc.digest, ...(job.ref ? { reference: formatReference(job.ref) } : {}) },
      );
    }
    job.report('finishing', received);
    await job.lower;
    if (job.signal.aborted) throw job.signal.reason ?? cancelled(job.ref);
    const lowerChainsTopFirst = job.chains.slice(0, -1).reverse();
    const lowerDirs = lowerChainsTopFirst.map((c) => store.layerDiffDir(c));
    resolveCrossLayerHardlinks(diffDir, res.pendingHardlinks, lowerDirs);
    const lowerIndexes = lowerChainsTopFirst.map((c) => loadIndex(store, c, job.indexCache));
    const entries = classify(res.entries, lowerIndexes);
    job.indexCache.set(chain, entries);
    try {
      writeFileSync(join(tmpLayer, 'index'), serializeIndex(entries), { mode: 0o644 });
    } catch (err) {
      throw systemError(`index ${what}`, err, { path: join(tmpLayer, 'index') });
    }
    if (tmpBlob) {
      store.commitBlobFile(tmpBlob, desc.digest);
      tmpBlob = undefined;
    }
    store.commitLayer(tmpLayer, {
      chainId: chain,
      diffId: job.diffId,
      parent: job.chains.length > 1 ? job.chains[job.chains.length - 2] : null,
      blobDigest: desc.digest,
      blobMediaType: desc.mediaType,
      blobSize: desc.size,
      tarSize: res.tarSize,
      size: res.size,
      created: new Date().toISOString(),
    });
    job.report('done', received);
  } catch (err) {
    unpacker?.abort(err instanceof Error ? err : undefined);
    rmSync(tmpLayer, { recursive: true, force: true });
    if (tmpBlob) rmSync(tmpBlob, { force: true });
    if (job.signal.aborted && !(err instanceof BerthError)) throw cancelled(job.ref);
    throw err;
  }
}

function loadIndex(store: Store, chain: string, cache: Map<string, LayerIndexEntry[]>): LayerIndexEntry[] {
  let entries = cache.get(chain);
  if (!entries) {
    const path = store.layerIndexPath(chain);
    try {
      entries = parseIndex(readFileSync(path));
    } catch (err) {
      throw systemError('read layer index', err, { path });
    }
    cache.set(chain, entries);
  }
  return entries;
}

function progressReporter(desc: Descriptor, sink?: (p: LayerProgress) => void) {
  let last = 0;
  let lastPhase = '';
  return (phase: LayerProgress['phase'], current: number, message?: string) => {
    if (!sink) return;
    const now = Date.now();
    if (phase === lastPhase && phase === 'downloading' && now - last < PROGRESS_INTERVAL_MS && current < desc.size) return;
    last = now;
    lastPhase = phase;
    sink({ digest: desc.digest, phase, current, total: desc.size, ...(message ? { message } : {}) });
  };
}

function cancelled(ref: ImageReference | undefined): BerthError {
  const reference = ref ? formatReference(ref) : undefined;
  return new BerthError(
    ErrorCode.Cancelled,
    `pull${reference ? ' ' + reference : ''}: cancelled; the store is unchanged by the unfinished layers`,
    {
      operation: 'pull',
      ...(reference ? { reference } : {}),
    },
  );
}

/** The error that started a cascade, rather than the aborts it caused in sibling layers. */
function firstCause(results: PromiseSettledResult<void>[], fallback: unknown): unknown {
  for (const r of results) {
    if (r.status === 'rejected' && !(r.reason instanceof BerthError && r.reason.code === ErrorCode.Cancelled)) return r.reason;
  }
  return fallback;
}

function isFsError(err: unknown): boolean {
  return !(err instanceof BerthError) && typeof (err as NodeJS.ErrnoException)?.syscall === 'string';
}

/** Bounded parallelism, cancellable while waiting. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(signal: AbortSignal): Promise<() => void> {
    if (this.free > 0) {
      this.free--;
    } else {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.waiting = this.waiting.filter((w) => w !== go);
          reject(signal.reason);
        };
        const go = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        this.waiting.push(go);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
