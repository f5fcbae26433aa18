/**
 * The registry client's transport: one place for what every registry request needs. HTTP(S) with
 * keep-alive agents, the auth handshake (`GET /v2/` challenges, Bearer tokens per registry and
 * scope, Basic credentials from Docker's config.json, never sent off the registry's origin),
 * bounded retries with backoff for transient failures, and the BerthErrors failures become.
 * RegistryUploads (uploads.ts) and RegistryClient (client.ts) stand on it; see client.ts for the
 * protocol and the error codes.
 */
import { BerthError, ErrorCode, type ErrorData } from '../errors';
import { registryApiHost, type ImageReference } from '../oci/reference';
import { parseTokenAnswer, parseWwwAuthenticate, pullScope, tokenUrl, type AuthChallenge, type TokenAnswer } from './auth';
import { credentialsFor, loadDockerAuthConfig, type DockerAuthConfig } from './dockerConfig';
import {
  TransportError,
  createAgents,
  discard,
  readBody,
  readSome,
  send,
  usePlainHttp,
  type Agents,
  type RequestBody,
  type Response,
} from './http';

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

/** Largest token-server answer read. */
export const MAX_TOKEN_BYTES = 1024 * 1024;
/** Most of an error body read (for the registry's error code and message). */
export const MAX_ERROR_BYTES = 64 * 1024;
/** Index levels followed (an index naming an index naming a manifest). */
export const MAX_INDEX_DEPTH = 2;
export const BACKOFF_CAP_MS = 5000;
export const RETRY_AFTER_CAP_MS = 30000;
/** Tokens are refreshed this long before they expire. */
export const TOKEN_MARGIN_MS = 10000;

/**
 * A failure worth retrying: `status` for HTTP answers, `retryAfterMs` when the server said,
 * `unreachable` when no connection could be made, `permanent` when retrying cannot help.
 */
export class Retryable extends Error {
  constructor(
    readonly reason: string,
    readonly o: { status?: number; retryAfterMs?: number; unreachable?: boolean; permanent?: boolean } = {},
  ) {
    super(reason);
  }
}

/** Wraps an error that must end the operation as is (the sink's own failures). */
export class Fatal {
  constructor(readonly error: unknown) {}
}

/** Node network errors that will not go away by retrying: DNS names that do not exist, TLS trust. */
export const PERMANENT_NET = new Set([
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
export const CONNECT_NET = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ENOTFOUND']);

export interface Ctx {
  ref: ImageReference;
  /** Normalised reference for messages and data. */
  name: string;
  signal?: AbortSignal;
  /** What the request serves, for messages and `data.operation` (default 'pull'). */
  operation?: 'pull' | 'push';
  /** Token scopes to ask for (default: pull of `ref.repository`). */
  scopes?: string[];
}

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

interface CachedToken {
  value: Promise<string>;
  until: number;
}

/** The transport under {@link RegistryClient}: requests, auth, retries and errors. */
export class RegistryTransport {
  protected readonly opts: Required<Omit<RegistryClientOptions, 'dockerConfigDir'>> & { dockerConfigDir?: string };
  protected agents: Agents = createAgents();
  protected authConfig?: DockerAuthConfig;
  /** Challenges learnt per registry from `GET /v2/` or a 401 (empty: no auth needed). */
  protected readonly challenges = new Map<string, Promise<AuthChallenge[]>>();
  /** Bearer tokens per "registry|scope". */
  protected readonly tokens = new Map<string, CachedToken>();

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

  // -------------------------------------------------------------------------------------------
  // Requests, auth, retries
  // -------------------------------------------------------------------------------------------

  protected baseUrl(registry: string): URL {
    const host = registryApiHost(registry);
    return new URL(
      `${usePlainHttp(host, this.opts.insecureRegistries) || usePlainHttp(registry, this.opts.insecureRegistries) ? 'http' : 'https'}://${host}`,
    );
  }

  protected path(r: ImageReference, kind: 'manifests' | 'blobs', reference: string): string {
    return `/v2/${r.repository}/${kind}/${reference}`;
  }

  protected credentials(registry: string) {
    this.authConfig ??= loadDockerAuthConfig(this.opts.dockerConfigDir);
    return credentialsFor(this.authConfig, registry);
  }

  protected async request(
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
  protected async exchange(
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
  protected async authorization(ctx: Ctx, base: URL): Promise<string | undefined> {
    const registry = ctx.ref.registry;
    let p = this.challenges.get(registry);
    if (!p) {
      p = this.ping(ctx, base);
      this.challenges.set(registry, p);
      p.catch(() => this.challenges.delete(registry)); // a failed ping is forgotten (the await below reports it)
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
  protected async ping(ctx: Ctx, base: URL): Promise<AuthChallenge[]> {
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
  protected async token(ctx: Ctx, challenge: AuthChallenge): Promise<string> {
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

  protected async fetchToken(ctx: Ctx, challenge: AuthChallenge, scope: string[]): Promise<TokenAnswer> {
    const registry = ctx.ref.registry;
    let url: URL;
    try {
      url = tokenUrl(challenge, scope);
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // an unparsable or non-http(s) realm
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
  protected async failStatus(ctx: Ctx, res: Response, what: 'manifest' | 'blob', digest?: string): Promise<never> {
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

  protected authError(ctx: Ctx, status: number, hadCredentials: boolean): BerthError {
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
  protected async withRetries<T>(
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

  protected giveUp(ctx: Ctx, f: Retryable, attempts: number): BerthError {
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

  protected backoff(failures: number, f: Retryable): number {
    const { retryAfterMs, status } = f.o;
    if (retryAfterMs !== undefined && (status === 429 || status === 503)) return Math.min(retryAfterMs, RETRY_AFTER_CAP_MS);
    const exp = Math.min(BACKOFF_CAP_MS, this.opts.retryBaseMs * 2 ** Math.min(failures - 1, 20));
    return Math.round(exp / 2 + Math.random() * (exp / 2));
  }

  protected sleep(ctx: Ctx, ms: number): Promise<void> {
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

  protected data(ctx: Ctx, extra: Partial<ErrorData> = {}): ErrorData {
    return { operation: ctx.operation ?? 'pull', reference: ctx.name, ...extra };
  }

  protected err(code: ErrorCode, ctx: Ctx, why: string, extra: Partial<ErrorData> = {}): BerthError {
    return new BerthError(code, `${ctx.operation ?? 'pull'} ${ctx.name}: ${why}`, this.data(ctx, extra));
  }

  protected cancelled(ctx: Ctx, cause?: unknown): BerthError {
    return new BerthError(
      ErrorCode.Cancelled,
      `${ctx.operation ?? 'pull'} ${ctx.name}: cancelled`,
      this.data(ctx),
      cause === undefined ? undefined : { cause },
    );
  }
}

/** Classifies a thrown network/transport error. */
export function toRetryable(e: unknown): Retryable {
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
export function describe(body: Buffer): string {
  const m = registryErrorMessage(body);
  return m ? ` (${m})` : '';
}

/** Whether a Node error came from the network side of a request rather than from reading a local file. */
export function isNetworkSyscall(e: unknown): boolean {
  const sc = (e as NodeJS.ErrnoException)?.syscall;
  return sc === 'connect' || sc === 'write' || sc === 'read' || sc === 'getaddrinfo' || sc === 'writev';
}

/** The token scopes a request context asks for. */
export function scopesOf(ctx: Ctx): string[] {
  return ctx.scopes ?? [pullScope(ctx.ref.repository)];
}

export function basicHeader(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The first byte of "bytes START-END/TOTAL", or undefined. */
export function contentRangeStart(v: string | undefined): number | undefined {
  const m = /^bytes\s+(\d{1,15})-\d{1,15}\/(?:\d{1,15}|\*)$/i.exec((v ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

/** Retry-After in ms (seconds or an HTTP date), undefined when absent or unparsable. */
export function retryAfterMs(res: Response): number | undefined {
  const v = headerValue(res.headers['retry-after'])?.trim();
  if (!v) return undefined;
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

/** Errors a body can end with when the connection drops or is destroyed mid-stream. */
export function isNodeStreamError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && (code.startsWith('E') || code.startsWith('HPE_') || code.startsWith('ERR_'));
}

/** The `code`s of a registry error body ({"errors":[{"code":...}]}). */
export function registryErrorCodes(body: Buffer): string[] {
  try {
    const v = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(v.errors)) return [];
    return v.errors
      .slice(0, 20)
      .flatMap((e: unknown) => (typeof (e as { code?: unknown })?.code === 'string' ? [(e as { code: string }).code] : []));
  } catch (e) {
    if (e instanceof SyntaxError) return []; // not JSON: no codes
    throw e;
  }
}

/** The first error's message from a registry error body, trimmed for a one-line message. */
export function registryErrorMessage(body: Buffer): string | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const e = Array.isArray(v.errors) ? v.errors[0] : undefined;
    if (!e) return undefined;
    const text = [e.code, e.message].filter((x) => typeof x === 'string').join(': ');
    return text.replace(/\s+/g, ' ').slice(0, 200) || undefined;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined; // not JSON: no message
    throw e;
  }
}
