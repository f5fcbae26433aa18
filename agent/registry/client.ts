/**
 * The registry client, pull side: resolves references to digest-verified manifests and configs,
 * and streams blobs with retries and resume. The push side is uploads.ts, the requests, auth and
 * retries under both are transport.ts; RegistryClient is the one class callers hold.
 *
 * Protocol (OCI distribution spec / Docker registry v2): `GET /v2/` once per registry to learn the
 * auth challenge; Bearer tokens from the realm with scope "repository:<repo>:pull" (Basic
 * credentials from config.json sent to the realm when configured), cached per (registry, scope)
 * until shortly before expiry and dropped on a 401; Basic auth sent directly when that is what the
 * registry asks for. The Authorization header only ever goes to the registry's own origin (and
 * the realm's for token requests), never along a redirect to a CDN. HTTPS except for loopback and
 * `insecureRegistries` hosts. Docker Hub ("docker.io") is reached at registry-1.docker.io.
 *
 * Errors: every failure is a BerthError with `data.operation` 'pull' and `data.reference` the
 * normalised reference (plus digest/status where known): RegistryUnreachable, RegistryAuth,
 * ManifestUnknown, UnsupportedManifest, NoMatchingPlatform, DigestMismatch, RegistryError,
 * InvalidContent, Cancelled. Transient failures (network errors, stalls, truncated bodies, 5xx,
 * 429) are retried with exponential backoff and jitter; every loop is bounded.
 */
import { createHash } from 'node:crypto';
import type { Platform } from '../../protocol'; // type-only: erased, so vscode-jsonrpc is never loaded
import { BerthError, ErrorCode } from '../errors';
import {
  INDEX_MEDIA_TYPES,
  MANIFEST_ACCEPT,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  checkConfigMatchesManifest,
  digestOf,
  isDigest,
  matchesDigest,
  parseConfig,
  parseDigest,
  parseManifestDocument,
  type ImageConfig,
  type ImageManifest,
  type ManifestDocument,
} from '../oci';
import { formatReference, withDefaultTag, type ImageReference } from '../oci/reference';
import { TransportError, discard, readBody, streamBody } from './http';
import { isAttestation, offeredPlatforms, platformString, selectManifest } from '../oci/platform';
import { type Ctx, MAX_INDEX_DEPTH, Retryable, headerValue, contentRangeStart, isNodeStreamError, Fatal } from './transport';
import { RegistryUploads } from './uploads';

export type { RegistryClientOptions } from './transport';
export type { MountResult, PushTarget } from './uploads';

/** One platform's image, resolved and verified. */
export interface ResolvedImage {
  /** The reference as given, with the default tag added when it had neither tag nor digest. */
  reference: ImageReference;
  /** Digest of the single-platform manifest (verified). */
  manifestDigest: string;
  manifestMediaType: string;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  /** When the reference named an index/manifest list: its digest, media type and bytes (verified). */
  indexDigest?: string;
  indexMediaType?: string;
  indexBytes?: Buffer;
  /** The config blob (verified against manifest.config.digest) and its parsed form. */
  configBytes: Buffer;
  config: ImageConfig;
}

/** Options for {@link RegistryClient.fetchBlob}. */
export interface FetchBlobOptions {
  signal?: AbortSignal;
  /** Called before each retry: `attempt` is 1 for the first retry; `reason` says what failed. */
  onRetry?: (attempt: number, reason: string) => void;
}

export class RegistryClient extends RegistryUploads {
  /** Config downloads in flight, and configs fetched lately, per "registry/repository@digest" (see resolve). */
  protected readonly configFetches = new Map<string, Promise<Buffer>>();
  protected readonly recentConfigs = new Map<string, Buffer>();
  protected recentConfigBytes = 0;

  /** Keeps a fetched (verified) config for later resolves, dropping the oldest beyond 16 MiB in all. */
  private rememberConfig(key: string, bytes: Buffer): void {
    if (this.recentConfigs.has(key)) return;
    this.recentConfigs.set(key, bytes);
    this.recentConfigBytes += bytes.length;
    for (const [k, b] of this.recentConfigs) {
      if (this.recentConfigBytes <= 16 * 1024 * 1024 || k === key) break;
      this.recentConfigs.delete(k);
      this.recentConfigBytes -= b.length;
    }
  }

  /**
   * Resolves a reference to one platform's manifest and config, all digest-verified. A tag is
   * looked up at the registry (a digest in the reference wins over its tag); an index is followed
   * to the entry {@link selectManifest} picks for `platform` (at most 2 index levels, loops
   * refused). A single-platform manifest is returned whatever its platform (callers may compare
   * `config.os`/`config.architecture`). Throws NoMatchingPlatform (with `data.platform`) when an
   * index has no entry for it.
   */
  async resolve(ref: ImageReference, platform: Platform, signal?: AbortSignal): Promise<ResolvedImage> {
    const r = withDefaultTag(ref);
    const ctx: Ctx = { ref: r, name: formatReference(r), signal };
    const top = await this.getManifest(ctx, r.digest ?? (r.tag as string), r.digest);
    let doc: ManifestDocument = parseManifestDocument(top.bytes, top.contentType, this.data(ctx, { digest: top.digest }));
    let current = top;
    let index: { digest: string; mediaType: string; bytes: Buffer } | undefined;
    const seen = new Set<string>([top.digest]);
    for (let depth = 0; doc.kind === 'index'; depth++) {
      if (depth === 0) index = { digest: top.digest, mediaType: doc.mediaType, bytes: top.bytes };
      if (depth >= MAX_INDEX_DEPTH) {
        throw this.err(ErrorCode.UnsupportedManifest, ctx, `image indexes are nested more than ${MAX_INDEX_DEPTH} levels deep`, {
          digest: current.digest,
        });
      }
      let desc = selectManifest(doc.index, platform);
      if (!desc) {
        desc = doc.index.manifests.find((d) => !d.platform && !isAttestation(d) && INDEX_MEDIA_TYPES.includes(d.mediaType));
      }
      if (!desc) {
        const offered = offeredPlatforms(doc.index);
        throw this.err(
          ErrorCode.NoMatchingPlatform,
          ctx,
          `the image has no variant for ${platformString(platform)}; it offers ${offered.length ? offered.join(', ') : 'no runnable platforms'}`,
          { platform: platformString(platform), digest: current.digest },
        );
      }
      if (seen.has(desc.digest)) {
        throw this.err(ErrorCode.InvalidContent, ctx, `the image index refers back to ${desc.digest} (a loop)`, { digest: desc.digest });
      }
      if (desc.size > MAX_MANIFEST_BYTES) {
        throw this.err(
          ErrorCode.InvalidContent,
          ctx,
          `manifest ${desc.digest} is ${desc.size} bytes; at most ${MAX_MANIFEST_BYTES} are accepted`,
          {
            digest: desc.digest,
          },
        );
      }
      seen.add(desc.digest);
      current = await this.getManifest(ctx, desc.digest, desc.digest, desc.size);
      doc = parseManifestDocument(current.bytes, desc.mediaType, this.data(ctx, { digest: current.digest }));
    }
    const manifest = doc.manifest;
    const cfgDesc = manifest.config;
    if (cfgDesc.size > MAX_CONFIG_BYTES) {
      throw this.err(ErrorCode.InvalidContent, ctx, `the image config is ${cfgDesc.size} bytes; at most ${MAX_CONFIG_BYTES} are accepted`, {
        digest: cfgDesc.digest,
      });
    }
    // Concurrent pulls of one image share one download of its config, as they share its layers;
    // configs fetched lately are kept (bounded; verified bytes, per repository) for pulls that
    // resolve while the first is still downloading layers. The shared fetch runs to its end (it
    // is small); a caller that cancels stops waiting for it.
    const key = `${r.registry}/${r.repository}@${cfgDesc.digest}`;
    const kept = this.recentConfigs.get(key);
    let fetching = kept ? Promise.resolve(kept) : this.configFetches.get(key);
    if (!fetching) {
      fetching = this.fetchSmallBlob(r, cfgDesc, MAX_CONFIG_BYTES)
        .then((bytes) => (this.rememberConfig(key, bytes), bytes))
        .finally(() => this.configFetches.delete(key));
      this.configFetches.set(key, fetching);
    }
    if (signal?.aborted) throw this.cancelled(ctx);
    const configBytes = await (signal
      ? new Promise<Buffer>((resolve, reject) => {
          const onAbort = () => reject(this.cancelled(ctx));
          signal.addEventListener('abort', onAbort, { once: true });
          fetching!.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
        })
      : fetching);
    const config = parseConfig(configBytes, this.data(ctx, { digest: cfgDesc.digest }));
    checkConfigMatchesManifest(config, manifest, this.data(ctx, { digest: current.digest }));
    const out: ResolvedImage = {
      reference: r,
      manifestDigest: current.digest,
      manifestMediaType: doc.mediaType,
      manifestBytes: current.bytes,
      manifest,
      configBytes,
      config,
    };
    if (index) {
      out.indexDigest = index.digest;
      out.indexMediaType = index.mediaType;
      out.indexBytes = index.bytes;
    }
    return out;
  }

  /**
   * The digest the registry has for the reference now (HEAD on the manifest, Docker-Content-Digest
   * header), or undefined when the registry sent none (or a malformed one). Throws
   * ManifestUnknown, RegistryAuth, RegistryUnreachable, RegistryError, Cancelled.
   */
  async headManifest(ref: ImageReference, signal?: AbortSignal): Promise<string | undefined> {
    const r = withDefaultTag(ref);
    const ctx: Ctx = { ref: r, name: formatReference(r), signal };
    return this.withRetries(ctx, async () => {
      const res = await this.exchange(ctx, 'HEAD', this.path(r, 'manifests', r.digest ?? (r.tag as string)), { accept: MANIFEST_ACCEPT });
      if (res.status !== 200) await this.failStatus(ctx, res, 'manifest');
      res.body.resume();
      const d = headerValue(res.headers['docker-content-digest']);
      return isDigest(d) ? d : undefined;
    });
  }

  /**
   * Streams a blob to `sink` exactly once, in order, byte for byte. On a dropped connection, a
   * stall, a truncated body, 5xx or 429 it retries with backoff and resumes with
   * `Range: bytes=N-` from the bytes already delivered (skipping the first N itself when the
   * server ignores Range and answers 200). The sink may return a promise (backpressure): it is
   * awaited before more is read; an error it throws ends the fetch with that error. At the end the
   * total must equal `desc.size` and the hash must equal `desc.digest` (sha256 or sha512), else
   * BerthError(DigestMismatch); bytes beyond `desc.size` are never delivered. `onRetry(attempt,
   * reason)` is called before each retry (attempt 1 = first retry). Retries reset while bytes
   * keep arriving; the total number of requests is bounded.
   */
  async fetchBlob(
    ref: ImageReference,
    desc: { digest: string; size: number },
    sink: (chunk: Buffer) => void | Promise<void>,
    opts: FetchBlobOptions = {},
  ): Promise<void> {
    const r = withDefaultTag(ref);
    const ctx: Ctx = { ref: r, name: formatReference(r), signal: opts.signal };
    const { algorithm } = parseDigest(desc.digest, this.data(ctx, { digest: desc.digest }));
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw this.err(ErrorCode.InvalidContent, ctx, `blob ${desc.digest} has an invalid size ${desc.size}`, { digest: desc.digest });
    }
    const hash = createHash(algorithm);
    let delivered = 0;
    const mismatch = (why: string) =>
      this.err(ErrorCode.DigestMismatch, ctx, `blob ${desc.digest} ${why}; nothing was stored`, { digest: desc.digest });

    await this.withRetries(
      ctx,
      async () => {
        if (delivered > 0 && delivered === desc.size) return; // everything arrived before the connection failed
        const headers: Record<string, string> = {};
        if (delivered > 0) headers.range = `bytes=${delivered}-`;
        const res = await this.exchange(ctx, 'GET', this.path(r, 'blobs', desc.digest), headers);
        let skip = 0;
        if (res.status === 200) {
          skip = delivered;
          const len = Number(res.headers['content-length']);
          if (res.headers['content-length'] !== undefined && Number.isFinite(len) && len !== desc.size) {
            discard(res.body);
            throw mismatch(`is ${len} bytes at the registry but ${desc.size} in the manifest`);
          }
        } else if (res.status === 206 && delivered > 0) {
          const start = contentRangeStart(headerValue(res.headers['content-range']));
          if (start === undefined || start > delivered) {
            discard(res.body);
            throw new Retryable(
              `the registry answered an unusable range (${headerValue(res.headers['content-range']) ?? 'no Content-Range'})`,
            );
          }
          skip = delivered - start;
        } else if (res.status === 416 && delivered > 0) {
          discard(res.body);
          throw mismatch(`is shorter at the registry than the ${desc.size} bytes the manifest says`);
        } else {
          await this.failStatus(ctx, res, 'blob', desc.digest);
        }
        try {
          await streamBody(res.body, this.opts.stallTimeoutMs, async (chunk) => {
            if (skip > 0) {
              const n = Math.min(skip, chunk.length);
              skip -= n;
              chunk = chunk.subarray(n);
              if (chunk.length === 0) return;
            }
            if (delivered + chunk.length > desc.size) throw mismatch(`is longer than the ${desc.size} bytes the manifest says`);
            hash.update(chunk);
            delivered += chunk.length;
            try {
              await sink(chunk);
            } catch (e) {
              throw new Fatal(e);
            }
            if (ctx.signal?.aborted) throw this.cancelled(ctx);
          });
        } catch (e) {
          if (e instanceof BerthError || e instanceof Fatal) throw e;
          if (e instanceof TransportError && e.kind === 'stall')
            throw new Retryable(`the download stalled (no data for ${this.opts.stallTimeoutMs} ms)`);
          if (isNodeStreamError(e)) throw new Retryable(`the connection dropped after ${delivered} of ${desc.size} bytes`);
          throw e; // the sink's own error
        }
        if (delivered < desc.size) throw new Retryable(`the body ended after ${delivered} of ${desc.size} bytes`);
      },
      { onRetry: opts.onRetry, progress: () => delivered },
    );
    const got = `${algorithm}:${hash.digest('hex')}`;
    if (got !== desc.digest) throw mismatch(`hashes to ${got}`);
  }

  /**
   * Fetches a small blob (a config) into memory: `desc.size` must be at most `limit`
   * (InvalidContent otherwise), and the bytes must match size and digest (DigestMismatch).
   */
  async fetchSmallBlob(ref: ImageReference, desc: { digest: string; size: number }, limit: number, signal?: AbortSignal): Promise<Buffer> {
    const r = withDefaultTag(ref);
    if (!(desc.size <= limit)) {
      const ctx: Ctx = { ref: r, name: formatReference(r), signal };
      throw this.err(ErrorCode.InvalidContent, ctx, `blob ${desc.digest} is ${desc.size} bytes; at most ${limit} are accepted`, {
        digest: desc.digest,
      });
    }
    const chunks: Buffer[] = [];
    await this.fetchBlob(r, desc, (c) => void chunks.push(Buffer.from(c)), { signal });
    return Buffer.concat(chunks);
  }

  // -------------------------------------------------------------------------------------------
  // Manifests
  // -------------------------------------------------------------------------------------------

  /**
   * GETs a manifest by tag or digest and verifies it: by digest the body must hash to it (and have
   * `size` bytes when given); by tag a Docker-Content-Digest header, when present, must match.
   */
  protected async getManifest(
    ctx: Ctx,
    reference: string,
    expectDigest?: string,
    expectSize?: number,
  ): Promise<{ bytes: Buffer; contentType?: string; digest: string }> {
    const got = await this.withRetries(ctx, async () => {
      const res = await this.exchange(ctx, 'GET', this.path(ctx.ref, 'manifests', reference), { accept: MANIFEST_ACCEPT });
      if (res.status !== 200) await this.failStatus(ctx, res, 'manifest', expectDigest);
      let bytes: Buffer;
      try {
        bytes = await readBody(res.body, MAX_MANIFEST_BYTES, this.opts.stallTimeoutMs);
      } catch (e) {
        if (e instanceof TransportError && e.kind === 'too-large') {
          throw this.err(
            ErrorCode.InvalidContent,
            ctx,
            `the manifest is larger than ${MAX_MANIFEST_BYTES} bytes`,
            expectDigest ? { digest: expectDigest } : {},
          );
        }
        throw e;
      }
      return { bytes, contentType: headerValue(res.headers['content-type']), header: headerValue(res.headers['docker-content-digest']) };
    });
    if (expectDigest) {
      if (!matchesDigest(got.bytes, expectDigest) || (expectSize !== undefined && got.bytes.length !== expectSize)) {
        throw this.err(
          ErrorCode.DigestMismatch,
          ctx,
          `the manifest the registry sent for ${expectDigest} does not match that digest; nothing was stored`,
          {
            digest: expectDigest,
          },
        );
      }
      return { bytes: got.bytes, contentType: got.contentType, digest: expectDigest };
    }
    if (isDigest(got.header)) {
      if (!matchesDigest(got.bytes, got.header)) {
        throw this.err(
          ErrorCode.DigestMismatch,
          ctx,
          `the manifest body hashes to ${digestOf(got.bytes)} but the registry says ${got.header}; nothing was stored`,
          { digest: got.header },
        );
      }
      return { bytes: got.bytes, contentType: got.contentType, digest: got.header };
    }
    return { bytes: got.bytes, contentType: got.contentType, digest: digestOf(got.bytes) };
  }
}
