/**
 * The Docker Engine API front door (issue 12): HTTP/1.1 over the agent's second Unix socket, a
 * thin edge over the same core objects the JSON-RPC server uses (the {@link Services} agent/main.ts
 * builds), never over the JSON-RPC client. agent/main.ts listens (with its peer-credential check)
 * and hands each accepted connection to {@link DockerApi.accept}; this file parses HTTP (Node's
 * parser, bounded), routes with and without a `/v1.NN` prefix, and turns what the routes throw into
 * Docker's JSON errors (`{"message": "..."}`). One file per route group: system.ts, containers.ts,
 * images.ts, volumes.ts; their answers are shaped by agent/presenters/docker/.
 *
 * Every byte from the client is hostile: the request head is bounded (HEAD_LIMIT, answered 431),
 * bodies too (BODY_LIMIT, 413; no route of this slice reads one), the path is split into segments,
 * each percent-decoded and refused when it is empty, "." or "..", decodes to a "/" or a control
 * character, or does not decode (400). Query parameters Docker does not define are ignored.
 * A route that is not served answers 404 naming the method and the path, or 501 for a method
 * other than GET and HEAD (this slice writes nothing).
 * Errors: BerthError codes map to Docker's statuses (see {@link statusOf}); anything else is a
 * bug, logged with its stack and answered 500 naming the route.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { BerthError, ErrorCode } from '../errors';
import { containerRoutes } from './containers';
import { imageRoutes } from './images';
import { systemRoutes } from './system';
import { volumeRoutes } from './volumes';
import {
  API_VERSION,
  BODY_LIMIT,
  clip,
  type DockerContext,
  type DockerReply,
  HEAD_LIMIT,
  HttpError,
  MIN_API_VERSION,
  type Route,
} from './http';

export { API_VERSION, MIN_API_VERSION } from './http';
export type { DockerContext } from './http';

/** Docker's status for a core error. */
export function statusOf(err: BerthError): number {
  switch (err.code) {
    case ErrorCode.InvalidArgument:
    case ErrorCode.InvalidReference:
      return 400;
    case ErrorCode.PermissionDenied:
      return 403;
    case ErrorCode.NotFound:
    case ErrorCode.ManifestUnknown:
      return 404;
    case ErrorCode.Conflict:
      return 409;
    default:
      return 500;
  }
}

const ROUTES: readonly Route[] = [...systemRoutes, ...containerRoutes, ...imageRoutes, ...volumeRoutes];

export interface DockerApi {
  /** Serves HTTP on an accepted connection; `refusal`: answer every request 403 with it, then close. */
  accept(socket: Socket, refusal?: string): void;
  /** Ends every open connection. */
  close(): void;
}

/** The front door over `ctx` (see the file's header). */
export function createDockerApi(ctx: DockerContext): DockerApi {
  const refusals = new WeakMap<Socket, string>();
  const server: Server = createServer(
    { maxHeaderSize: HEAD_LIMIT, requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 },
    (req, res) => {
      const refusal = refusals.get(req.socket);
      if (refusal !== undefined) {
        res.shouldKeepAlive = false;
        sendError(res, 403, refusal);
        return;
      }
      void handle(ctx, req, res);
    },
  );
  // A malformed or oversized head: Docker's JSON error, then the connection ends.
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const [status, reason, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', `the request head is larger than ${HEAD_LIMIT} bytes`]
        : [400, 'Bad Request', `malformed HTTP request (${err.code ?? err.message})`];
    const body = JSON.stringify({ message });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  const sockets = new Set<Socket>();
  return {
    accept(socket, refusal) {
      if (refusal !== undefined) refusals.set(socket, refusal);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      server.emit('connection', socket);
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** One request, start to end; never throws. */
async function handle(ctx: DockerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const shown = clip(rawPath);
  try {
    await drainBody(req);
    const { segments, versioned } = parsePath(rawPath);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    if (versioned) checkVersion(versioned);
    for (const route of ROUTES) {
      const params = match(route.path, segments);
      if (!params) continue;
      if (!route.methods.includes(method)) continue;
      const reply = await route.handle(ctx, { method, segments, query }, params);
      send(res, method, reply);
      return;
    }
    // Writes are the next slices' (issue 12): said as such, so that the docker CLI does not take
    // a 404 for "no such image" and start a pull.
    if (method !== 'GET' && method !== 'HEAD')
      return sendError(res, 501, `${method} ${shown} is not implemented by Berth yet: its Docker API serves reading only so far`);
    sendError(res, 404, `page not found: ${method} ${shown}`);
  } catch (err) {
    if (err instanceof HttpError) return sendError(res, err.status, err.message);
    if (err instanceof BerthError) return sendError(res, statusOf(err), err.message);
    ctx.log(`docker api: internal error during ${method} ${shown}: ${(err as Error)?.stack ?? String(err)}`);
    sendError(res, 500, `${method} ${shown}: internal error: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** Reads and drops the body (none of this slice's routes takes one), refusing more than BODY_LIMIT. */
function drainBody(req: IncomingMessage): Promise<void> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > BODY_LIMIT) {
    req.resume();
    return Promise.reject(new HttpError(413, `the request body is larger than ${BODY_LIMIT} bytes`));
  }
  return new Promise((resolve, reject) => {
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > BODY_LIMIT) {
        req.removeAllListeners('data');
        req.resume();
        reject(new HttpError(413, `the request body is larger than ${BODY_LIMIT} bytes`));
      }
    });
    req.on('end', () => resolve());
    req.on('error', reject);
  });
}

/**
 * The path's decoded segments, without a leading `/v1.NN` (returned as `versioned`). Throws a
 * 400 HttpError for a segment that is empty, "." or "..", does not decode, or decodes to a "/",
 * a NUL or another control character.
 */
export function parsePath(raw: string): { segments: string[]; versioned?: string } {
  if (!raw.startsWith('/')) throw new HttpError(400, `invalid request path "${clip(raw)}": it must start with "/"`);
  const parts = raw === '/' ? [] : raw.slice(1).split('/');
  const segments = parts.map((p) => {
    let s: string;
    try {
      s = decodeURIComponent(p);
    } catch (e) {
      if (!(e instanceof URIError)) throw e;
      throw new HttpError(400, `invalid request path "${clip(raw)}": "${clip(p)}" is not valid percent-encoding`);
    }
    if (s === '' || s === '.' || s === '..')
      throw new HttpError(400, `invalid request path "${clip(raw)}": empty, "." and ".." segments are refused`);
    if (s.includes('/')) throw new HttpError(400, `invalid request path "${clip(raw)}": an encoded "/" in a segment is refused`);
    if (/[\u0000-\u001f\u007f]/.test(s)) throw new HttpError(400, `invalid request path "${clip(raw)}": control characters are refused`);
    return s;
  });
  const m = segments.length > 0 ? /^v(\d{1,3}\.\d{1,3})$/.exec(segments[0]) : null;
  return m ? { segments: segments.slice(1), versioned: m[1] } : { segments };
}

/** Docker's refusal of a client version outside [MIN_API_VERSION, API_VERSION]. */
function checkVersion(v: string): void {
  const n = (s: string) => s.split('.').map(Number) as [number, number];
  const cmp = (a: string, b: string) => {
    const [x, y] = [n(a), n(b)];
    return x[0] - y[0] || x[1] - y[1];
  };
  if (cmp(v, API_VERSION) > 0) throw new HttpError(400, `client version ${v} is too new. Maximum supported API version is ${API_VERSION}`);
  if (cmp(v, MIN_API_VERSION) < 0)
    throw new HttpError(
      400,
      `client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
}

/** The segments the pattern's wildcards matched, or undefined. */
function match(pattern: readonly string[], segments: string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '**') {
      // One or more segments, then the rest of the pattern exactly.
      const rest = pattern.slice(i + 1);
      const end = segments.length - rest.length;
      if (end <= i) return undefined;
      for (let j = 0; j < rest.length; j++) if (rest[j] !== segments[end + j]) return undefined;
      out.push(segments.slice(i, end).join('/'));
      return out;
    }
    if (i >= segments.length) return undefined;
    if (p === '*') out.push(segments[i]);
    else if (p !== segments[i]) return undefined;
  }
  return pattern.length === segments.length ? out : undefined;
}

function send(res: ServerResponse, method: string, reply: DockerReply): void {
  const body = reply.text !== undefined ? reply.text : `${JSON.stringify(reply.json ?? null)}\n`;
  res.statusCode = reply.status ?? 200;
  res.setHeader('Content-Type', reply.text !== undefined ? 'text/plain; charset=utf-8' : 'application/json');
  res.setHeader('Api-Version', API_VERSION);
  res.setHeader('Server', 'Berth');
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(method === 'HEAD' ? undefined : body);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  const body = `${JSON.stringify({ message })}\n`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Api-Version', API_VERSION);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (status === 413) {
    // The rest of an oversized body is not read: the connection ends with the answer.
    res.setHeader('Connection', 'close');
    res.on('finish', () => res.socket?.destroySoon());
  }
  res.end(body);
}
