/**
 * The registry client, push side (OCI distribution spec, "Pushing blobs" and "Pushing manifests"):
 * blob existence checks, cross-repository mounts, monolithic uploads and manifest PUTs, on the
 * transport (transport.ts). The orchestration of a push (what to send, in which order, what the
 * store records) is agent/images/push.ts.
 */
import { ErrorCode } from '../errors';
import { digestOf, isDigest } from '../oci';
import { formatReference, withDefaultTag, type ImageReference } from '../oci/reference';
import { pullScope, pushScope } from './auth';
import { discard, readSome, usePlainHttp, type Response } from './http';
import {
  type Ctx,
  MAX_ERROR_BYTES,
  RegistryTransport,
  Retryable,
  describe,
  registryErrorCodes,
  headerValue,
  isNetworkSyscall,
  isNodeStreamError,
  Fatal,
  retryAfterMs,
} from './transport';

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

export class RegistryUploads extends RegistryTransport {
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

  protected pushCtx(t: PushTarget): Ctx {
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
  protected uploadLocation(ctx: Ctx, res: Response, digest: string): URL {
    const raw = headerValue(res.headers.location);
    let url: URL | undefined;
    try {
      url = raw ? new URL(raw, res.url) : undefined;
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // an unparsable Location: refused below
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
  protected async failPush(ctx: Ctx, res: Response, doing: string, digest?: string): Promise<never> {
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
}
