/**
 * Pushing an image of the store to a registry (`image/push`, `berth push NAME[:TAG]`).
 *
 * What is pushed: the image the tag names, as the store holds it. Its manifest blob (kept by pull,
 * load and commit) names the config and layer blobs, which the store keeps as they were pulled or
 * made, so their digests are the manifest's. One exception: an image that never came from a
 * registry (no RepoDigests) and has layers stored uncompressed (a docker-save archive's layer
 * tars) is first given gzipped layers: each such layer is compressed once into a new blob, a new
 * manifest (same media type family, same config) names them, and the image record switches to
 * that manifest under the store lock. A second push then sends the very same bytes. Pulled
 * images are pushed unchanged, whatever their compression, so their manifest digest survives.
 *
 * Per blob (layers bottom first, then the config; three at once):
 *   1. HEAD in the target repository: present => nothing to send ("Layer already exists").
 *   2. A cross-repository mount from a repository of the same registry the store knows holds it:
 *      the repositories named by the RepoDigests of every stored image that contains the blob
 *      (pulls and pushes record them). 201 => mounted. 202 => not mounted; the upload session the
 *      registry opened is used for step 3. At most {@link MAX_MOUNT_TRIES} sources are tried.
 *   3. A monolithic upload: POST a session, PUT the body streamed from the blob file with its
 *      digest. Chunked (PATCH) uploads are not used.
 * Then the manifest is PUT under the tag, its digest (Docker-Content-Digest, checked) becomes
 * `NAME@DIGEST` in the image's RepoDigests, and a `push` event goes out.
 *
 * Auth is the pull's (registry/client.ts): one token for `repository:NAME:pull,push` plus
 * `repository:SOURCE:pull` for every mount source. A failure of any blob stops the others;
 * nothing in the store changes on failure except layers compressed in step 0, which are kept.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { PushedBlob, PushProgress, PushResult } from '../../protocol';
import { BerthError, ErrorCode, systemError } from '../errors';
import { MediaType, layerCompression, parseManifest } from '../oci';
import { familiarName, formatReference, parseReference, withDefaultTag, type ImageReference } from '../oci/reference';
import type { EventHub } from '../events';
import type { ImageRecord, Store } from '../store/store';
import type { PushTarget, RegistryClient } from '../registry/client';

export interface PushOptions {
  signal?: AbortSignal;
  onProgress?: (p: PushProgress) => void;
}

const OP = 'push';
/** Blobs checked/mounted/uploaded at once. */
const PARALLEL_UPLOADS = 3;
/** Mount sources tried per blob before uploading it. */
const MAX_MOUNT_TRIES = 3;
/** Most source repositories asked for in the token scope. */
const MAX_MOUNT_SOURCES = 8;
/** Progress notifications per blob at most this often while bytes are sent. */
const PROGRESS_INTERVAL_MS = 100;

/** One blob to push. */
interface BlobJob {
  digest: string;
  size: number;
  kind: 'layer' | 'config';
}

/** The manifest to push and the blobs it names. */
interface Prepared {
  rec: ImageRecord;
  manifestBytes: Buffer;
  mediaType: string;
  blobs: BlobJob[];
}

export interface PusherDeps {
  store: Store;
  registry: RegistryClient;
  events: EventHub;
}

export class Pusher {
  constructor(private readonly deps: PusherDeps) {}

  /** `image/push` (see the module comment). */
  async push(reference: string, opts: PushOptions = {}): Promise<PushResult> {
    const { store, registry, events } = this.deps;
    const ref = withDefaultTag(parseReference(reference));
    const name = formatReference(ref);
    if (ref.digest) {
      throw new BerthError(ErrorCode.InvalidReference, `push ${reference}: a digest reference cannot be pushed; push a tag (NAME[:TAG])`, {
        operation: OP,
        reference,
      });
    }
    const id = store.readRefs()[name];
    const found = id ? store.readImage(id) : undefined;
    if (!found) {
      throw new BerthError(
        ErrorCode.NotFound,
        `push ${familiarName(ref)}: no image has this tag in the store; tag one first (berth tag IMAGE ${familiarName(ref)})`,
        { operation: OP, reference: name },
      );
    }
    const report = reporters(opts.onProgress);
    const release = store.lease([
      found.id,
      found.manifestDigest,
      ...found.layers.map((l) => l.digest),
      ...found.layers.map((l) => l.chainId),
    ]);
    try {
      const prepared = await prepare(store, found, name, report, opts.signal);
      const releasePrepared = store.lease([prepared.rec.manifestDigest, ...prepared.blobs.map((b) => b.digest)]);
      try {
        const sources = mountSources(store, ref, prepared.blobs);
        const allSources = [...new Set([...sources.values()].flat())].slice(0, MAX_MOUNT_SOURCES);
        const abort = new AbortController();
        const onOuterAbort = () => abort.abort();
        opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
        if (opts.signal?.aborted) abort.abort();
        const target: PushTarget = { ref, mountSources: allSources, signal: abort.signal };
        const results: PushedBlob[] = new Array(prepared.blobs.length);
        try {
          for (const b of prepared.blobs) if (b.kind === 'layer') report(b, 'waiting', 0);
          let next = 0;
          let failure: unknown;
          const worker = async () => {
            while (failure === undefined && next < prepared.blobs.length) {
              const i = next++;
              const b = prepared.blobs[i];
              try {
                results[i] = await pushBlob(
                  store,
                  registry,
                  target,
                  b,
                  (sources.get(b.digest) ?? []).filter((s) => allSources.includes(s)),
                  report,
                );
              } catch (err) {
                if (failure === undefined) failure = err;
                abort.abort();
              }
            }
          };
          await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, prepared.blobs.length) }, worker));
          if (failure !== undefined) {
            if (opts.signal?.aborted) throw cancelled(name);
            throw failure;
          }
          const digest = await registry.putManifest(target, ref.tag as string, prepared.manifestBytes, prepared.mediaType);
          const repoDigest = `${ref.registry}/${ref.repository}@${digest}`;
          await store.locked(() => {
            const rec = store.readImage(prepared.rec.id);
            if (rec && !rec.repoDigests.includes(repoDigest)) {
              rec.repoDigests.push(repoDigest);
              store.writeImage(rec);
            }
          });
          events.emit('image', 'push', prepared.rec.id, { name: familiarName(ref) });
          return { reference: name, tag: ref.tag as string, digest, size: prepared.manifestBytes.length, blobs: results };
        } catch (err) {
          if (opts.signal?.aborted && !(err instanceof BerthError && err.code === ErrorCode.Cancelled)) throw cancelled(name, err);
          throw err;
        } finally {
          opts.signal?.removeEventListener('abort', onOuterAbort);
        }
      } finally {
        releasePrepared();
      }
    } finally {
      release();
    }
  }
}

/** Checks, mounts or uploads one blob. */
async function pushBlob(
  store: Store,
  registry: RegistryClient,
  target: PushTarget,
  b: BlobJob,
  sources: string[],
  report: Reporter,
): Promise<PushedBlob> {
  const desc = { digest: b.digest, size: b.size };
  const path = store.blobPath(b.digest);
  let onDisk: number;
  try {
    onDisk = statSync(path).size;
  } catch (err) {
    throw systemError(`push: read blob ${b.digest}`, err, { path, digest: b.digest });
  }
  if (onDisk !== b.size) {
    throw new BerthError(
      ErrorCode.InvalidContent,
      `push: stored blob ${b.digest} is ${onDisk} bytes but the manifest says ${b.size}; the store is damaged`,
      {
        operation: OP,
        path,
        digest: b.digest,
      },
    );
  }
  if (await registry.blobExists(target, desc)) {
    report(b, 'exists', b.size);
    return { digest: b.digest, size: b.size, kind: b.kind, action: 'exists' };
  }
  let location: URL | undefined;
  for (const from of sources.slice(0, MAX_MOUNT_TRIES)) {
    const m = await registry.mountBlob(target, b.digest, from);
    if (m.mounted) {
      report(b, 'mounted', b.size, { from });
      return { digest: b.digest, size: b.size, kind: b.kind, action: 'mounted', from };
    }
    location = m.location;
  }
  report(b, 'pushing', 0);
  try {
    await registry.uploadBlob(target, desc, () => createReadStream(path, { highWaterMark: 1 << 20 }), {
      location,
      onProgress: (sent) => report(b, 'pushing', sent),
      onRetry: (attempt, reason) => report(b, 'retrying', 0, { message: `retry ${attempt}: ${reason}` }),
    });
  } catch (err) {
    if (!(err instanceof BerthError) && typeof (err as NodeJS.ErrnoException)?.syscall === 'string') {
      throw systemError(`push: read blob ${b.digest}`, err, { path, digest: b.digest });
    }
    throw err;
  }
  report(b, 'done', b.size);
  return { digest: b.digest, size: b.size, kind: b.kind, action: 'pushed' };
}

/**
 * The manifest to push for `rec` and its blobs. Compresses uncompressed layers of images that
 * never came from a registry (see the module comment) and switches the record to the new manifest.
 */
async function prepare(store: Store, rec: ImageRecord, name: string, report: Reporter, signal?: AbortSignal): Promise<Prepared> {
  let bytes = store.readBlob(rec.manifestDigest);
  const ctx = { operation: OP, digest: rec.manifestDigest };
  let manifest = parseManifest(bytes, rec.manifestMediaType, ctx);
  const plain = manifest.layers.map((l, i) => (layerCompression(l.mediaType) === 'none' ? i : -1)).filter((i) => i >= 0);
  if (plain.length > 0 && rec.repoDigests.length === 0) {
    const docker = manifest.mediaType === MediaType.DockerManifest;
    const raw = JSON.parse(bytes.toString('utf8')) as { layers: Record<string, unknown>[] };
    // New blobs are leased until the record names them, so a concurrent gc leaves them alone.
    const releases: (() => void)[] = [];
    try {
      for (const i of plain) {
        const l = manifest.layers[i];
        report({ digest: l.digest, size: l.size, kind: 'layer' }, 'preparing', 0);
        if (signal?.aborted) throw cancelled(name);
        const gz = await gzipBlob(store, l.digest, releases);
        raw.layers[i] = {
          ...raw.layers[i],
          mediaType: docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip,
          digest: gz.digest,
          size: gz.size,
        };
      }
      const newBytes = Buffer.from(JSON.stringify(raw));
      const newManifest = parseManifest(newBytes, manifest.mediaType, ctx);
      const newDigest = `sha256:${createHash('sha256').update(newBytes).digest('hex')}`;
      releases.push(store.lease([newDigest]));
      store.putBlob(newDigest, newBytes);
      rec = await store.locked(() => {
        const cur = store.readImage(rec.id);
        if (!cur)
          throw new BerthError(ErrorCode.NotFound, `push ${name}: the image was removed meanwhile`, { operation: OP, reference: name });
        if (cur.manifestDigest !== rec.manifestDigest) return cur; // another push converted it first
        cur.manifestDigest = newDigest;
        cur.manifestMediaType = newManifest.mediaType;
        cur.layers = cur.layers.map((l, i) => ({
          ...l,
          digest: newManifest.layers[i].digest,
          mediaType: newManifest.layers[i].mediaType,
          size: newManifest.layers[i].size,
        }));
        store.writeImage(cur);
        return cur;
      });
    } finally {
      for (const r of releases) r();
    }
    bytes = store.readBlob(rec.manifestDigest);
    manifest = parseManifest(bytes, rec.manifestMediaType, ctx);
  }
  const blobs: BlobJob[] = [
    ...manifest.layers.map((l): BlobJob => ({ digest: l.digest, size: l.size, kind: 'layer' })),
    { digest: manifest.config.digest, size: manifest.config.size, kind: 'config' },
  ];
  return { rec, manifestBytes: bytes, mediaType: manifest.mediaType, blobs };
}

/**
 * Gzips a stored blob into a new stored blob (streamed through a temp file); returns its digest and
 * size. The new blob is leased before it lands (the release goes to `releases`).
 */
async function gzipBlob(store: Store, digest: string, releases: (() => void)[]): Promise<{ digest: string; size: number }> {
  const src = store.blobPath(digest);
  const tmp = store.tempPath('push-gzip');
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      createReadStream(src, { highWaterMark: 1 << 20 }),
      createGzip(),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const c of chunks) {
          hash.update(c);
          size += c.length;
          yield c;
        }
      },
      createWriteStream(tmp, { mode: 0o644, flags: 'wx' }),
    );
    const gz = `sha256:${hash.digest('hex')}`;
    releases.push(store.lease([gz]));
    if (store.hasBlob(gz)) rmSync(tmp, { force: true });
    else store.commitBlobFile(tmp, gz);
    return { digest: gz, size };
  } catch (err) {
    rmSync(tmp, { force: true });
    throw systemError(`push: compress layer ${digest}`, err, { path: src, digest });
  }
}

/**
 * Blob digest -> repositories of the target's registry (other than the target) that hold it, as
 * far as the store knows: the RepoDigests of every image whose layers or config include it. Most
 * widely known sources first.
 */
function mountSources(store: Store, target: ImageReference, blobs: BlobJob[]): Map<string, string[]> {
  const want = new Set(blobs.map((b) => b.digest));
  const found = new Map<string, Set<string>>();
  for (const img of store.listImages()) {
    const repos = new Set<string>();
    for (const rd of img.repoDigests) {
      const at = rd.indexOf('@');
      const slash = rd.indexOf('/');
      if (at < 0 || slash < 0 || slash > at) continue;
      const registry = rd.slice(0, slash);
      const repo = rd.slice(slash + 1, at);
      if (registry === target.registry && repo !== target.repository) repos.add(repo);
    }
    if (repos.size === 0) continue;
    for (const d of [img.id, ...img.layers.map((l) => l.digest)]) {
      if (!want.has(d)) continue;
      const set = found.get(d) ?? new Set<string>();
      for (const r of repos) set.add(r);
      found.set(d, set);
    }
  }
  const popularity = new Map<string, number>();
  for (const set of found.values()) for (const r of set) popularity.set(r, (popularity.get(r) ?? 0) + 1);
  const out = new Map<string, string[]>();
  for (const [d, set] of found)
    out.set(
      d,
      [...set].sort((a, b) => (popularity.get(b) ?? 0) - (popularity.get(a) ?? 0) || a.localeCompare(b)),
    );
  return out;
}

type Reporter = (b: BlobJob, phase: PushProgress['phase'], current: number, extra?: { from?: string; message?: string }) => void;

/** Progress per layer blob (the config is silent), throttled while bytes are sent. */
function reporters(sink?: (p: PushProgress) => void): Reporter {
  const last = new Map<string, { at: number; phase: string }>();
  return (b, phase, current, extra) => {
    if (!sink || b.kind !== 'layer') return;
    const now = Date.now();
    const prev = last.get(b.digest);
    if (prev && prev.phase === phase && phase === 'pushing' && now - prev.at < PROGRESS_INTERVAL_MS && current < b.size) return;
    last.set(b.digest, { at: now, phase });
    sink({
      digest: b.digest,
      phase,
      current,
      total: b.size,
      ...(extra?.from ? { from: extra.from } : {}),
      ...(extra?.message ? { message: extra.message } : {}),
    });
  };
}

function cancelled(reference: string, cause?: unknown): BerthError {
  return new BerthError(
    ErrorCode.Cancelled,
    `push ${reference}: cancelled`,
    { operation: OP, reference },
    cause === undefined ? undefined : { cause },
  );
}
