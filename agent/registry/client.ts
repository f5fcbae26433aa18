/**
 * The registry client, pull side: resolves references to digest-verified manifests and configs,
 * and streams blobs with retries and resume.
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
import { BerthError, ErrorCode, type ErrorData } from '../errors';
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
import { formatReference, registryApiHost, withDefaultTag, type ImageReference } from '../oci/reference';
import { parseTokenAnswer, parseWwwAuthenticate, pullScope, pushScope, tokenUrl, type AuthChallenge, type TokenAnswer } from './auth';
import { credentialsFor, loadDockerAuthConfig, type DockerAuthConfig } from './dockerConfig';
import {
  TransportError,
  createAgents,
  discard,
  readBody,
  readSome,
  send,
  streamBody,
  usePlainHttp,
  type Agents,
  type RequestBody,
  type Response,
} from './http';
import { isAttestation, offeredPlatforms, platformString, selectManifest } from '../oci/platform';

export interface RegistryClientOptions {
  /**
   * Directory of Docker's config.json (default $DOCKER_CONFIG or ~/.docker). Its `auths` entries
   * supply credentials: `auth` (base64 "user:pass") or `username`/`password`, keyed "host",
   * "host:port", "https://host/v1/", or "https://index.docker.io/v1/" for docker.io. Read once,
   * on first need.
   */
  dockerConfigDir?: string;
  /**
   * Hosts reached over plain HTTP ("host" matches any port, "host:port" only that port);
   * localhost, 127.0.0.0/8 and ::1 always are.
   */
  insecureRegistries?: string[];
  /** Retries after a transient failure (default 5). */
  retries?: number;
  /** Backoff base in ms (default 200): base * 2^(n-1) with jitter, capped at 5 s; Retry-After (429/503) honoured up to 30 s. */
  retryBaseMs?: number;
  /** No bytes for this long (ms) counts as a dropped connection (default 30000). */
  stallTimeoutMs?: number;
  /** User-Agent header (default "berth/0.1"). */
  userAgent?: string;
}

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

/** Largest token-server answer read. */
const MAX_TOKEN_BYTES = 1024 * 1024;
/** Most of an error body read (for the registry's error code and message). */
const MAX_ERROR_BYTES = 64 * 1024;
/** Index levels followed (an index naming an index naming a manifest). */
const MAX_INDEX_DEPTH = 2;
const BACKOFF_CAP_MS = 5000;
const RETRY_AFTER_CAP_MS = 30000;
/** Tokens are refreshed this long before they expire. */
const TOKEN_MARGIN_MS = 10000;

/**
 * A failure worth retrying: `status` for HTTP answers, `retryAfterMs` when the server said,
 * `unreachable` when no connection could be made, `permanent` when retrying cannot help.
 */
class Retryable extends Error {
  constructor(
    readonly reason: string,
    readonly o: { status?: number; retryAfterMs?: number; unreachable?: boolean; permanent?: boolean } = {},
  ) {
    super(reason);
  }
}

/** Wraps an error that must end the operation as is (the sink's own failures). */
class Fatal {
  constructor(readonly error: unknown) {}
}

/** Node network errors that will not go away by retrying: DNS names that do not exist, TLS trust. */
const PERMANENT_NET = new Set([
  'ENOTFOUND',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_NOT_YET_VALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);
/** Network errors raised before any response: the host is (for now) unreachable. */
const CONNECT_NET = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ENOTFOUND']);

interface Ctx {
  ref: ImageReference;
  /** Normalised reference for messages and data. */
  name: string;
  signal?: AbortSignal;
  /** What the request serves, for messages and `data.operation` (default 'pull'). */
  operation?: 'pull' | 'push';
  /** Token scopes to ask for (default: pull of `ref.repository`). */
  scopes?: string[];
}

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

/** Where a push goes, for the push-side methods of {@link RegistryClient}. */
export interface PushTarget {
  /** The repository pushed to (its tag, if any, is not used by the blob methods). */
  ref: ImageReference;
  /**
   * Other repositories of the same registry that blobs may be mounted from: their pull scope is
   * asked for along with the push scope of `ref`, in one token for the whole push.
   */
  mountSources?: string[];
  signal?: AbortSignal;
}

/** What {@link RegistryClient.mountBlob} achieved. */
export type MountResult =
  /** The registry linked the blob into the repository (201). */
  | { mounted: true }
  /** It did not (202: the blob is not readable there); `location` is the upload session it opened instead. */
  | { mounted: false; location?: URL };

interface CachedToken {
  value: Promise<string>;
  until: number;
}

export class RegistryClient {
  private readonly opts: Required<Omit<RegistryClientOptions, 'dockerConfigDir'>> & { dockerConfigDir?: string };
  private agents: Agents = createAgents();
  private authConfig?: DockerAuthConfig;
  /** Challenges learnt per registry from `GET /v2/` or a 401 (empty: no auth needed). */
  private readonly challenges = new Map<string, Promise<AuthChallenge[]>>();
  /** Bearer tokens per "registry|scope". */
  private readonly tokens = new Map<string, CachedToken>();
  /** Config downloads in flight, and configs fetched lately, per "registry/repository@digest" (see resolve). */
  private readonly configFetches = new Map<string, Promise<Buffer>>();
  private readonly recentConfigs = new Map<string, Buffer>();
  private recentConfigBytes = 0;

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

  constructor(opts: RegistryClientOptions = {}) {
    this.opts = {
      dockerConfigDir: opts.dockerConfigDir,
      insecureRegistries: opts.insecureRegistries ?? [],
      retries: Math.max(0, Math.min(opts.retries ?? 5, 100)),
      retryBaseMs: Math.max(0, opts.retryBaseMs ?? 200),
      stallTimeoutMs: Math.max(1, opts.stallTimeoutMs ?? 30000),
      userAgent: opts.userAgent ?? 'berth/0.1',
    };
  }

  /** Closes idle keep-alive connections. The client stays usable. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
    this.agents = createAgents();
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
  // Push side (OCI distribution spec, "Pushing blobs" and "Pushing manifests"). Every method asks
  // for a token with push access to the target (and pull access to `mountSources`); failures are
  // BerthErrors with `data.operation` 'push': RegistryAuth ("push denied to ..."), RegistryError
  // (the registry's own error code and message, the digest named), RegistryUnreachable,
  // DigestMismatch, Cancelled. Transient failures are retried as for pulls.
  // -------------------------------------------------------------------------------------------

  /**
   * Whether the repository already has the blob (`HEAD /v2/<name>/blobs/<digest>`: 200 yes, 404
   * no). A 200 whose Content-Length differs from `size` counts as no (the upload will settle it).
   */
  async blobExists(t: PushTarget, desc: { digest: string; size: number }): Promise<boolean> {
    const ctx = this.pushCtx(t);
    return this.withRetries(ctx, async () => {
      const res = await this.exchange(ctx, 'HEAD', this.path(ctx.ref, 'blobs', desc.digest), {});
      res.body.resume();
      if (res.status === 404) return false;
      if (res.status !== 200) await this.failPush(ctx, res, `checking blob ${desc.digest}`, desc.digest);
      const len = headerValue(res.headers['content-length']);
      return len === undefined || Number(len) === desc.size;
    });
  }

  /**
   * Asks the registry to link a blob it holds in repository `from` into the target repository
   * (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<from>`). 201: mounted. 202: not (the
   * blob is unknown there or not readable); the upload session the registry opened instead is
   * returned, for {@link uploadBlob} to use.
   */
  async mountBlob(t: PushTarget, digest: string, from: string): Promise<MountResult> {
    const ctx = this.pushCtx(t);
    const path = `/v2/${ctx.ref.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    return this.withRetries(ctx, async () => {
      const res = await this.exchange(ctx, 'POST', path, { 'content-length': '0' });
      if (res.status === 201) {
        discard(res.body);
        return { mounted: true };
      }
      if (res.status === 202) {
        discard(res.body);
        return { mounted: false, location: this.uploadLocation(ctx, res, digest) };
      }
      return this.failPush(ctx, res, `mounting blob ${digest} from ${from}`, digest);
    });
  }

  /**
   * Uploads one blob monolithically: an upload session (`location` when the caller has one, else
   * `POST /v2/<name>/blobs/uploads/`), then `PUT <location>?digest=<digest>` with the whole body,
   * streamed from `open()` (called again for each attempt; never buffered here). A failure that may
   * pass (a dropped connection, 5xx, 429, an expired session) starts over with a new session.
   * `onProgress(sent)` reports the bytes handed to the connection in the current attempt. The
   * registry's 201 must name the same digest when it names one (DigestMismatch otherwise).
   */
  async uploadBlob(
    t: PushTarget,
    desc: { digest: string; size: number },
    open: () => NodeJS.ReadableStream,
    opts: { location?: URL; onProgress?: (sent: number) => void; onRetry?: (attempt: number, reason: string) => void } = {},
  ): Promise<void> {
    const ctx = this.pushCtx(t);
    let location = opts.location;
    let sent = 0;
    await this.withRetries(
      ctx,
      async () => {
        if (!location) {
          const res = await this.exchange(ctx, 'POST', `/v2/${ctx.ref.repository}/blobs/uploads/`, { 'content-length': '0' });
          if (res.status !== 202) await this.failPush(ctx, res, `starting the upload of blob ${desc.digest}`, desc.digest);
          discard(res.body);
          location = this.uploadLocation(ctx, res, desc.digest);
        }
        const url = new URL(location);
        location = undefined; // a session serves one attempt
        url.searchParams.set('digest', desc.digest);
        sent = 0;
        const body = () => {
          const stream = open();
          stream.on('data', (c: Buffer) => {
            sent += c.length;
            opts.onProgress?.(sent);
          });
          return stream;
        };
        let res: Response;
        try {
          res = await this.exchange(
            ctx,
            'PUT',
            url,
            { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
            body,
          );
        } catch (e) {
          if (isNodeStreamError(e) && (e as NodeJS.ErrnoException).syscall && !isNetworkSyscall(e)) throw new Fatal(e); // the local file failed
          throw e;
        }
        if (res.status === 404) {
          const text = await readSome(res.body, MAX_ERROR_BYTES, this.opts.stallTimeoutMs);
          if (registryErrorCodes(text).includes('BLOB_UPLOAD_UNKNOWN'))
            throw new Retryable(`the registry forgot the upload session of ${desc.digest}`);
          throw this.err(ErrorCode.RegistryError, ctx, `uploading blob ${desc.digest}: the registry answered 404${describe(text)}`, {
            status: 404,
            digest: desc.digest,
          });
        }
        if (res.status < 200 || res.status > 299) await this.failPush(ctx, res, `uploading blob ${desc.digest}`, desc.digest);
        discard(res.body);
        const said = headerValue(res.headers['docker-content-digest']);
        if (isDigest(said) && said !== desc.digest) {
          throw this.err(ErrorCode.DigestMismatch, ctx, `the registry stored blob ${desc.digest} as ${said}`, { digest: desc.digest });
        }
      },
      { onRetry: opts.onRetry },
    );
  }

  /**
   * PUTs a manifest under `reference` (a tag, or its own digest) and returns its digest. The bytes
   * go as they are (their digest is the image's identity); the registry's Docker-Content-Digest,
   * when given, must agree (DigestMismatch otherwise). Registry refusals (MANIFEST_INVALID,
   * MANIFEST_BLOB_UNKNOWN, TAG_INVALID ...) are RegistryError with the registry's words.
   */
  async putManifest(t: PushTarget, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const ctx = this.pushCtx(t);
    const digest = digestOf(bytes);
    return this.withRetries(ctx, async () => {
      const res = await this.exchange(
        ctx,
        'PUT',
        this.path(ctx.ref, 'manifests', reference),
        { 'content-type': mediaType, 'content-length': String(bytes.length) },
        () => bytes,
      );
      if (res.status < 200 || res.status > 299) await this.failPush(ctx, res, `storing the manifest as ${reference}`, digest);
      discard(res.body);
      const said = headerValue(res.headers['docker-content-digest']);
      if (isDigest(said) && said !== digest) {
        throw this.err(ErrorCode.DigestMismatch, ctx, `the registry stored the manifest ${digest} as ${said}`, { digest });
      }
      return digest;
    });
  }

  private pushCtx(t: PushTarget): Ctx {
    const r = t.ref;
    const sources = [...new Set(t.mountSources ?? [])].filter((s) => s !== r.repository);
    return {
      ref: r,
      name: formatReference(withDefaultTag(r)),
      signal: t.signal,
      operation: 'push',
      scopes: [pushScope(r.repository), ...sources.map(pullScope)],
    };
  }

  /**
   * The upload session URL of a 202: its Location, relative to the registry or absolute. It must
   * be http(s), and plain http only when the registry itself is reached that way.
   */
  private uploadLocation(ctx: Ctx, res: Response, digest: string): URL {
    const raw = headerValue(res.headers.location);
    let url: URL | undefined;
    try {
      url = raw ? new URL(raw, res.url) : undefined;
    } catch {
      url = undefined;
    }
    const plainOk = usePlainHttp(url?.host ?? '', this.opts.insecureRegistries) || res.url.protocol === 'http:';
    if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && plainOk))) {
      throw this.err(
        ErrorCode.RegistryError,
        ctx,
        `the registry opened an upload for blob ${digest} without a usable Location (${JSON.stringify((raw ?? '').slice(0, 200))})`,
        {
          digest,
        },
      );
    }
    return url;
  }

  /**
   * Throws the BerthError for a push answer that is not a success: 401/403 => RegistryAuth ("push
   * denied"); 5xx/429 => Retryable; anything else => RegistryError naming `doing` and the
   * registry's error code and message.
   */
  private async failPush(ctx: Ctx, res: Response, doing: string, digest?: string): Promise<never> {
    const status = res.status;
    if (status === 429 || status >= 500) {
      discard(res.body);
      throw new Retryable(`the registry answered ${status} when ${doing}`, { status, retryAfterMs: retryAfterMs(res) });
    }
    const body = await readSome(res.body, MAX_ERROR_BYTES, this.opts.stallTimeoutMs);
    if (status === 401 || status === 403) throw this.authError(ctx, status, !!this.credentials(ctx.ref.registry));
    throw this.err(ErrorCode.RegistryError, ctx, `${doing}: the registry answered ${status}${describe(body)}`, {
      status,
      ...(digest ? { digest } : {}),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Manifests
  // -------------------------------------------------------------------------------------------

  /**
   * GETs a manifest by tag or digest and verifies it: by digest the body must hash to it (and have
   * `size` bytes when given); by tag a Docker-Content-Digest header, when present, must match.
   */
  private async getManifest(
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

  // -------------------------------------------------------------------------------------------
  // Requests, auth, retries
  // -------------------------------------------------------------------------------------------

  private baseUrl(registry: string): URL {
    const host = registryApiHost(registry);
    return new URL(
      `${usePlainHttp(host, this.opts.insecureRegistries) || usePlainHttp(registry, this.opts.insecureRegistries) ? 'http' : 'https'}://${host}`,
    );
  }

  private path(r: ImageReference, kind: 'manifests' | 'blobs', reference: string): string {
    return `/v2/${r.repository}/${kind}/${reference}`;
  }

  private credentials(registry: string) {
    this.authConfig ??= loadDockerAuthConfig(this.opts.dockerConfigDir);
    return credentialsFor(this.authConfig, registry);
  }

  private async request(
    ctx: Ctx,
    method: Method,
    url: URL,
    headers: Record<string, string>,
    auth?: { origin: string; header: string },
    body?: RequestBody,
  ): Promise<Response> {
    if (ctx.signal?.aborted) throw this.cancelled(ctx);
    return send(url, {
      method,
      headers: { 'user-agent': this.opts.userAgent, ...headers },
      auth,
      body,
      signal: ctx.signal,
      stallTimeoutMs: this.opts.stallTimeoutMs,
      agents: this.agents,
    });
  }

  /**
   * One authenticated request to the registry: Authorization from the known challenge; on a 401
   * the challenge is re-read from the answer, a cached token dropped, and the request sent once
   * more. Returns whatever the registry answered then (a 401 included).
   */
  private async exchange(
    ctx: Ctx,
    method: Method,
    path: string | URL,
    headers: Record<string, string>,
    body?: RequestBody,
  ): Promise<Response> {
    const base = this.baseUrl(ctx.ref.registry);
    const url = new URL(path, base);
    for (let round = 0; ; round++) {
      const authorization = await this.authorization(ctx, base);
      const res = await this.request(
        ctx,
        method,
        url,
        headers,
        authorization ? { origin: base.origin, header: authorization } : undefined,
        body,
      );
      if (res.status !== 401 || round >= 1) return res;
      const fresh = parseWwwAuthenticate(res.headersDistinct['www-authenticate']);
      discard(res.body);
      if (fresh.length === 0 && !authorization) return res;
      if (fresh.length > 0) this.challenges.set(ctx.ref.registry, Promise.resolve(fresh));
      this.tokens.delete(`${ctx.ref.registry}|${scopesOf(ctx).join(' ')}`);
    }
  }

  /** The Authorization value for the registry's challenge, or undefined when none is needed/possible. */
  private async authorization(ctx: Ctx, base: URL): Promise<string | undefined> {
    const registry = ctx.ref.registry;
    let p = this.challenges.get(registry);
    if (!p) {
      p = this.ping(ctx, base);
      this.challenges.set(registry, p);
      p.catch(() => this.challenges.delete(registry));
    }
    const challenges = await p;
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) return `Bearer ${await this.token(ctx, bearer)}`;
    if (challenges.some((c) => c.scheme === 'basic')) {
      const creds = this.credentials(registry);
      if (creds) return basicHeader(creds.username, creds.password);
    }
    return undefined;
  }

  /** `GET /v2/`: the challenges of a 401, else none. */
  private async ping(ctx: Ctx, base: URL): Promise<AuthChallenge[]> {
    const res = await this.request(ctx, 'GET', new URL('/v2/', base), {});
    if (res.status === 401) {
      discard(res.body);
      return parseWwwAuthenticate(res.headersDistinct['www-authenticate']);
    }
    if (res.status >= 500 || res.status === 429) {
      discard(res.body);
      throw new Retryable(`${base.host} answered ${res.status} to /v2/`, { status: res.status, retryAfterMs: retryAfterMs(res) });
    }
    discard(res.body);
    return [];
  }

  /** A Bearer token for the context's scopes (pulling the repository by default), cached per (registry, scopes). */
  private async token(ctx: Ctx, challenge: AuthChallenge): Promise<string> {
    const scope = scopesOf(ctx);
    const key = `${ctx.ref.registry}|${scope.join(' ')}`;
    const cached = this.tokens.get(key);
    if (cached && cached.until > Date.now()) return cached.value;
    const entry: CachedToken = { value: Promise.resolve(''), until: Number.POSITIVE_INFINITY };
    entry.value = this.fetchToken(ctx, challenge, scope).then(
      (a) => {
        entry.until = Date.now() + Math.max(0, a.expiresIn * 1000 - TOKEN_MARGIN_MS);
        return a.token;
      },
      (e: unknown) => {
        if (this.tokens.get(key) === entry) this.tokens.delete(key);
        throw e;
      },
    );
    this.tokens.set(key, entry);
    return entry.value;
  }

  private async fetchToken(ctx: Ctx, challenge: AuthChallenge, scope: string[]): Promise<TokenAnswer> {
    const registry = ctx.ref.registry;
    let url: URL;
    try {
      url = tokenUrl(challenge, scope);
    } catch {
      throw this.err(
        ErrorCode.RegistryError,
        ctx,
        `registry ${registry} named an invalid token server "${String(challenge.params.realm).slice(0, 200)}"`,
      );
    }
    const creds = this.credentials(registry);
    // Credentials go to the realm only over HTTPS, or plain HTTP to a host we would reach that way anyway.
    const mayAuth = creds && (url.protocol === 'https:' || usePlainHttp(url.host, this.opts.insecureRegistries));
    const auth = mayAuth ? { origin: url.origin, header: basicHeader(creds.username, creds.password) } : undefined;
    const res = await this.request(ctx, 'GET', url, { accept: 'application/json' }, auth);
    if (res.status === 401 || res.status === 403) {
      discard(res.body);
      throw this.authError(ctx, res.status, !!mayAuth);
    }
    if (res.status === 429 || res.status >= 500) {
      discard(res.body);
      throw new Retryable(`the token server ${url.host} answered ${res.status}`, { status: res.status, retryAfterMs: retryAfterMs(res) });
    }
    if (res.status !== 200) {
      discard(res.body);
      throw this.err(ErrorCode.RegistryError, ctx, `the token server ${url.host} for ${registry} answered ${res.status}`, {
        status: res.status,
      });
    }
    let body: Buffer;
    try {
      body = await readBody(res.body, MAX_TOKEN_BYTES, this.opts.stallTimeoutMs);
    } catch (e) {
      if (e instanceof TransportError && e.kind === 'too-large') {
        throw this.err(ErrorCode.RegistryError, ctx, `the token server ${url.host} sent an answer larger than 1 MiB`);
      }
      throw e;
    }
    const answer = parseTokenAnswer(body);
    if (!answer) throw this.err(ErrorCode.RegistryError, ctx, `the token server ${url.host} for ${registry} sent no usable token`);
    return answer;
  }

  /**
   * Throws the BerthError for a non-success answer (reading at most 64 KiB of its body): 404 and
   * MANIFEST_UNKNOWN/NAME_UNKNOWN/BLOB_UNKNOWN => ManifestUnknown; 401/403 => RegistryAuth;
   * 5xx/429 => Retryable (RegistryError once retries run out); anything else => RegistryError.
   */
  private async failStatus(ctx: Ctx, res: Response, what: 'manifest' | 'blob', digest?: string): Promise<never> {
    const status = res.status;
    if (status === 429 || status >= 500) {
      discard(res.body);
      throw new Retryable(`the registry answered ${status}`, { status, retryAfterMs: retryAfterMs(res) });
    }
    const body = await readSome(res.body, MAX_ERROR_BYTES, this.opts.stallTimeoutMs);
    const codes = registryErrorCodes(body);
    const extra: Partial<ErrorData> = { status, ...(digest ? { digest } : {}) };
    if (status === 404 || codes.some((c) => c === 'MANIFEST_UNKNOWN' || c === 'NAME_UNKNOWN' || c === 'BLOB_UNKNOWN')) {
      const msg =
        what === 'blob'
          ? `blob unknown: the registry ${ctx.ref.registry} does not have ${digest}`
          : codes.includes('NAME_UNKNOWN')
            ? `manifest unknown: the registry has no repository ${ctx.ref.repository}`
            : `manifest unknown: the registry has no such tag/repository`;
      throw this.err(ErrorCode.ManifestUnknown, ctx, msg, extra);
    }
    if (status === 401 || status === 403) {
      throw this.authError(ctx, status, !!this.credentials(ctx.ref.registry));
    }
    const detail = registryErrorMessage(body);
    throw this.err(ErrorCode.RegistryError, ctx, `registry ${ctx.ref.registry} answered ${status}${detail ? ` (${detail})` : ''}`, extra);
  }

  private authError(ctx: Ctx, status: number, hadCredentials: boolean): BerthError {
    const registry = ctx.ref.registry;
    const cfg = this.authConfig;
    const file = cfg?.path ?? '~/.docker/config.json';
    if (ctx.operation === 'push') {
      const where = `${registry}/${ctx.ref.repository}`;
      const why = hadCredentials
        ? `the credentials from ${file} were refused or may not push there; check them, and that the account may push to ${ctx.ref.repository}`
        : `the registry wants credentials that may push; add them to "auths" in ${file}`;
      return this.err(
        ErrorCode.RegistryAuth,
        ctx,
        `push denied to ${where} (${status}): ${why}` + (cfg?.problem ? ` (${cfg.problem})` : ''),
        { status },
      );
    }
    const msg = hadCredentials
      ? `registry ${registry} refused the credentials from ${file} (${status}); check them there, or that they may pull ${ctx.ref.repository}`
      : `registry ${registry} denied access (${status}): the repository does not exist or needs credentials; add them to "auths" in ${file}`;
    return this.err(ErrorCode.RegistryAuth, ctx, msg + (cfg?.problem ? ` (${cfg.problem})` : ''), { status });
  }

  /**
   * Runs `fn` until it succeeds, retrying Retryable failures and transient network errors with
   * backoff. Failures without progress (per `progress`) count against `retries`; bytes arriving
   * reset the count. Hard cap on total attempts. Abort => Cancelled.
   */
  private async withRetries<T>(
    ctx: Ctx,
    fn: () => Promise<T>,
    o: { onRetry?: (attempt: number, reason: string) => void; progress?: () => number } = {},
  ): Promise<T> {
    const max = this.opts.retries;
    const hardCap = (max + 1) * 20;
    let failures = 0;
    let lastProgress = o.progress?.() ?? 0;
    for (let attempt = 1; ; attempt++) {
      if (ctx.signal?.aborted) throw this.cancelled(ctx);
      let failure: Retryable;
      try {
        return await fn();
      } catch (e) {
        if (e instanceof Fatal) throw e.error;
        if (ctx.signal?.aborted) throw this.cancelled(ctx, e);
        if (e instanceof BerthError) throw e;
        if (e instanceof TransportError && e.kind === 'redirect') throw this.err(ErrorCode.RegistryError, ctx, e.message);
        failure = toRetryable(e);
      }
      const p = o.progress?.() ?? 0;
      if (p > lastProgress) failures = 0;
      lastProgress = p;
      failures++;
      if (failures > max || attempt >= hardCap || failure.o.permanent) throw this.giveUp(ctx, failure, attempt);
      o.onRetry?.(attempt, failure.reason);
      await this.sleep(ctx, this.backoff(failures, failure));
    }
  }

  private giveUp(ctx: Ctx, f: Retryable, attempts: number): BerthError {
    const host = registryApiHost(ctx.ref.registry);
    const tries = attempts === 1 ? '' : ` after ${attempts} attempts`;
    if (f.o.unreachable) {
      return this.err(
        ErrorCode.RegistryUnreachable,
        ctx,
        `cannot reach registry ${host}${tries}: ${f.reason}; check the name, the network and any proxy`,
      );
    }
    if (f.o.status !== undefined) {
      return this.err(ErrorCode.RegistryError, ctx, `registry ${host} kept failing${tries}: ${f.reason}; try again later`, {
        status: f.o.status,
      });
    }
    return this.err(ErrorCode.RegistryError, ctx, `registry ${host} kept failing${tries}: ${f.reason}`);
  }

  private backoff(failures: number, f: Retryable): number {
    const { retryAfterMs, status } = f.o;
    if (retryAfterMs !== undefined && (status === 429 || status === 503)) return Math.min(retryAfterMs, RETRY_AFTER_CAP_MS);
    const exp = Math.min(BACKOFF_CAP_MS, this.opts.retryBaseMs * 2 ** Math.min(failures - 1, 20));
    return Math.round(exp / 2 + Math.random() * (exp / 2));
  }

  private sleep(ctx: Ctx, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = ctx.signal;
      if (signal?.aborted) return reject(this.cancelled(ctx));
      const onAbort = () => {
        clearTimeout(t);
        reject(this.cancelled(ctx));
      };
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private data(ctx: Ctx, extra: Partial<ErrorData> = {}): ErrorData {
    return { operation: ctx.operation ?? 'pull', reference: ctx.name, ...extra };
  }

  private err(code: ErrorCode, ctx: Ctx, why: string, extra: Partial<ErrorData> = {}): BerthError {
    return new BerthError(code, `${ctx.operation ?? 'pull'} ${ctx.name}: ${why}`, this.data(ctx, extra));
  }

  private cancelled(ctx: Ctx, cause?: unknown): BerthError {
    return new BerthError(
      ErrorCode.Cancelled,
      `${ctx.operation ?? 'pull'} ${ctx.name}: cancelled`,
      this.data(ctx),
      cause === undefined ? undefined : { cause },
    );
  }
}

/** Classifies a thrown network/transport error. */
function toRetryable(e: unknown): Retryable {
  if (e instanceof Retryable) return e;
  if (e instanceof TransportError) return new Retryable(e.kind === 'stall' ? `no answer (${e.message})` : e.message);
  const code = (e as NodeJS.ErrnoException)?.code;
  const msg = (e as Error)?.message ?? String(e);
  if (typeof code === 'string') {
    const tls = /^(ERR_TLS|CERT_|ERR_SSL|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(code);
    const permanent = PERMANENT_NET.has(code) || tls;
    const text = msg.includes(code) ? msg : `${code}: ${msg}`;
    return new Retryable(text, { unreachable: CONNECT_NET.has(code) || permanent, permanent });
  }
  return new Retryable(msg);
}

/** " (CODE: message)" of a registry error body, or "". */
function describe(body: Buffer): string {
  const m = registryErrorMessage(body);
  return m ? ` (${m})` : '';
}

/** Whether a Node error came from the network side of a request rather than from reading a local file. */
function isNetworkSyscall(e: unknown): boolean {
  const sc = (e as NodeJS.ErrnoException)?.syscall;
  return sc === 'connect' || sc === 'write' || sc === 'read' || sc === 'getaddrinfo' || sc === 'writev';
}

/** The token scopes a request context asks for. */
function scopesOf(ctx: Ctx): string[] {
  return ctx.scopes ?? [pullScope(ctx.ref.repository)];
}

function basicHeader(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The first byte of "bytes START-END/TOTAL", or undefined. */
function contentRangeStart(v: string | undefined): number | undefined {
  const m = /^bytes\s+(\d{1,15})-\d{1,15}\/(?:\d{1,15}|\*)$/i.exec((v ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

/** Retry-After in ms (seconds or an HTTP date), undefined when absent or unparsable. */
function retryAfterMs(res: Response): number | undefined {
  const v = headerValue(res.headers['retry-after'])?.trim();
  if (!v) return undefined;
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

/** Errors a body can end with when the connection drops or is destroyed mid-stream. */
function isNodeStreamError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && (code.startsWith('E') || code.startsWith('HPE_') || code.startsWith('ERR_'));
}

/** The `code`s of a registry error body ({"errors":[{"code":...}]}). */
function registryErrorCodes(body: Buffer): string[] {
  try {
    const v = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(v.errors)) return [];
    return v.errors
      .slice(0, 20)
      .flatMap((e: unknown) => (typeof (e as { code?: unknown })?.code === 'string' ? [(e as { code: string }).code] : []));
  } catch {
    return [];
  }
}

/** The first error's message from a registry error body, trimmed for a one-line message. */
function registryErrorMessage(body: Buffer): string | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const e = Array.isArray(v.errors) ? v.errors[0] : undefined;
    if (!e) return undefined;
    const text = [e.code, e.message].filter((x) => typeof x === 'string').join(': ');
    return text.replace(/\s+/g, ' ').slice(0, 200) || undefined;
  } catch {
    return undefined;
  }
}
