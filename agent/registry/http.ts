/**
 * The HTTP layer of the registry client: one request over node:http/node:https with keep-alive
 * agents, redirects (Authorization only ever sent to one origin), a stall timer, abort signals,
 * and size-limited body reading. It knows nothing about registries; failures are thrown as
 * {@link TransportError} or Node's own errors, and the client maps them to BerthErrors.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';

/** Keep-alive agents for both schemes. */
export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

/** Fresh keep-alive agents (free sockets do not keep the process alive). */
export function createAgents(): Agents {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 32 }),
  };
}

/** Why a request failed below HTTP semantics. */
export type TransportKind =
  /** No data (or no response) for the stall timeout. */
  | 'stall'
  /** The body is larger than the caller allows. */
  | 'too-large'
  /** Redirect trouble: too many, no/invalid Location, unsupported scheme. */
  | 'redirect';

export class TransportError extends Error {
  constructor(
    readonly kind: TransportKind,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** Splits "host", "host:port", "[v6]:port" into host (brackets removed) and port (may be ""). */
export function splitHostPort(hostPort: string): { host: string; port: string } {
  const m = /^\[([^\]]*)\](?::(\d*))?$/.exec(hostPort);
  if (m) return { host: m[1], port: m[2] ?? '' };
  const colon = hostPort.lastIndexOf(':');
  if (colon >= 0 && hostPort.indexOf(':') === colon) return { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
  return { host: hostPort, port: '' };
}

/** True for "localhost", 127.0.0.0/8 and ::1 (with or without port or brackets). */
export function isLoopbackHost(hostPort: string): boolean {
  const { host } = splitHostPort(hostPort.toLowerCase());
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * Whether a registry is reached over plain HTTP: always for loopback hosts; otherwise only when
 * listed in `insecure`. An entry "host:port" matches exactly; an entry "host" matches that host on
 * any port. Comparison is case-insensitive. Everything else is HTTPS.
 */
export function usePlainHttp(registryHost: string, insecure: readonly string[] = []): boolean {
  if (isLoopbackHost(registryHost)) return true;
  const want = registryHost.toLowerCase();
  const { host } = splitHostPort(want);
  for (const raw of insecure) {
    const e = raw
      .trim()
      .toLowerCase()
      .replace(/^https?:\/\//, '')
      .replace(/\/.*$/, '');
    if (!e) continue;
    if (e === want) return true;
    if (splitHostPort(e).port === '' && splitHostPort(e).host === host) return true;
  }
  return false;
}

/** A response whose body has not been read yet. */
export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Header values as sent, one array entry per header line (for WWW-Authenticate). */
  headersDistinct: NodeJS.Dict<string[]>;
  /** The URL that answered, after redirects. */
  url: URL;
  body: http.IncomingMessage;
}

/** A request body (push side): opened afresh for each send, so a 307/308 can replay it. */
export type RequestBody = () => Buffer | NodeJS.ReadableStream;

/** Options for {@link send}. */
export interface SendOptions {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  headers: Record<string, string>;
  /**
   * The body, when there is one. Set `content-length` in `headers` yourself. While a streamed body
   * is being sent the stall timer restarts with every chunk read from it, so a long upload is not
   * taken for a stall. Only 307/308 redirects are followed with a body (it is opened again); any
   * other redirect answer is returned as is.
   */
  body?: RequestBody;
  /** An Authorization header value and the only origin it may be sent to. */
  auth?: { origin: string; header: string };
  signal?: AbortSignal;
  /** Longest wait for the response head, in ms. */
  stallTimeoutMs: number;
  /** Redirects followed at most (default 5). */
  maxRedirects?: number;
  agents: Agents;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Sends a request and resolves with the first non-redirect response. Redirects (absolute or
 * relative Location) are followed up to `maxRedirects`, only to http(s) URLs; the Authorization
 * header goes only to requests whose origin equals `auth.origin`. Rejects with TransportError
 * ('stall', 'redirect'), Node's network errors, or an AbortError when `signal` fires.
 */
export async function send(url: URL, o: SendOptions): Promise<Response> {
  const maxRedirects = o.maxRedirects ?? 5;
  let cur = url;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const headers: Record<string, string> = { ...o.headers };
    if (o.auth && cur.origin === o.auth.origin) headers.authorization = o.auth.header;
    const res = await sendOnce(cur, o, headers);
    const status = res.statusCode ?? 0;
    if (!REDIRECTS.has(status) || (o.body && status !== 307 && status !== 308)) {
      return { status, headers: res.headers, headersDistinct: res.headersDistinct, url: cur, body: res };
    }
    discard(res);
    const location = res.headers.location;
    if (!location) throw new TransportError('redirect', `${cur.host} answered ${status} without a Location header`);
    let next: URL;
    try {
      next = new URL(location, cur);
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      throw new TransportError('redirect', `${cur.host} redirected to an invalid URL`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new TransportError('redirect', `${cur.host} redirected to an unsupported URL scheme ${next.protocol}`);
    }
    cur = next;
  }
  throw new TransportError('redirect', `${url.host} redirected more than ${maxRedirects} times`);
}

function sendOnce(url: URL, o: SendOptions, headers: Record<string, string>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? o.agents.https : o.agents.http;
    let req: http.ClientRequest;
    try {
      req = mod.request(url, { method: o.method, headers, agent, signal: o.signal }, (res) => {
        clearTimeout(timer);
        res.on('error', () => {}); // readers see errors through iteration; never crash on an unread body
        resolve(res);
      });
    } catch (e) {
      reject(e);
      return;
    }
    const timer = setTimeout(() => {
      req.destroy(new TransportError('stall', `${url.host} sent no answer for ${o.stallTimeoutMs} ms`));
    }, o.stallTimeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const body = o.body?.();
    if (body === undefined) {
      req.end();
    } else if (Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      // Streamed: every chunk read restarts the stall timer; a read error aborts the request.
      body.on('data', () => timer.refresh());
      body.on('error', (e: Error) => req.destroy(e));
      req.on('close', () => (body as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.());
      body.pipe(req);
    }
  });
}

/** Throws the body away: drained when small and announced, else the connection is closed. */
export function discard(res: http.IncomingMessage): void {
  const len = Number(res.headers['content-length']);
  if (Number.isFinite(len) && len <= 64 * 1024) res.resume();
  else res.destroy();
}

/**
 * Delivers the body chunk by chunk, awaiting `onChunk` before reading more (backpressure). When no
 * chunk arrives for `stallTimeoutMs` (time spent in `onChunk` does not count) the response is
 * destroyed and this rejects with TransportError('stall'). Resolves when the body ends cleanly;
 * rejects with the stream's error when it ends otherwise (dropped connection, abort).
 */
export async function streamBody(
  res: http.IncomingMessage,
  stallTimeoutMs: number,
  onChunk: (chunk: Buffer) => void | Promise<void>,
): Promise<void> {
  const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    for (;;) {
      const timer = setTimeout(() => {
        res.destroy(new TransportError('stall', `no data for ${stallTimeoutMs} ms`));
      }, stallTimeoutMs);
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } finally {
        clearTimeout(timer);
      }
      if (r.done) return;
      await onChunk(r.value);
    }
  } finally {
    if (!res.complete) res.destroy();
  }
}

/**
 * Reads a whole body of at most `limit` bytes. A larger Content-Length, or more bytes than
 * `limit`, rejects with TransportError('too-large') and closes the connection.
 */
export async function readBody(res: http.IncomingMessage, limit: number, stallTimeoutMs: number): Promise<Buffer> {
  const announced = Number(res.headers['content-length']);
  if (Number.isFinite(announced) && announced > limit) {
    res.destroy();
    throw new TransportError('too-large', `the body is ${announced} bytes; at most ${limit} are accepted`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  await streamBody(res, stallTimeoutMs, (c) => {
    total += c.length;
    if (total > limit) throw new TransportError('too-large', `the body is more than ${limit} bytes`);
    chunks.push(c);
  });
  return Buffer.concat(chunks, total);
}

/**
 * Reads at most `limit` bytes of a body (for error messages) and throws the rest away; never
 * rejects (a failed read gives what arrived).
 */
export async function readSome(res: http.IncomingMessage, limit: number, stallTimeoutMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    await streamBody(res, stallTimeoutMs, (c) => {
      const take = Math.min(c.length, limit - total);
      if (take > 0) chunks.push(c.subarray(0, take));
      total += take;
      if (total >= limit) throw new TransportError('too-large', 'enough');
    });
  } catch {
    // Any failure ends the read (the body only explains an error already being reported): keep what arrived.
  }
  return Buffer.concat(chunks);
}
