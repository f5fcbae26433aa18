/**
 * The one way a request is served: `serve(connection, Request, handler)` checks the params against
 * the request's schema (protocol/schema.ts), runs the handler with the typed params and the
 * request's cancellation token, and turns what it throws into the wire's errors. Every file of
 * agent/server/ registers its requests with it; nothing re-checks the params by hand afterwards
 * (checks a schema cannot express, against the store or the host, are the core's).
 *
 * Errors: params that do not match answer InvalidArgument, naming the method and the field's path
 * ("container/create: params.memory: \"memory\" must be a number of at least 0"); a BerthError
 * answers its code and data; anything else is a bug: Internal, with the method named, and the
 * stack in the agent's log.
 */
import * as v from 'valibot';
import { type CancellationToken, ResponseError, type RequestType, type RequestType0 } from 'vscode-jsonrpc';
import { type ClientNotification, ErrorCode, type ErrorData, type ParamsSchema } from '../../protocol';
import { BerthError } from '../errors';
import type { AgentConnection } from './connection';

/** What `serve` needs of a request declaration (protocol/schema.ts `request`, `request0`). */
interface Served {
  method: string;
  params: ParamsSchema;
  // biome-ignore lint/suspicious/noExplicitAny: matched only to read the result type
  type: RequestType<any, any, any> | RequestType0<any, any>;
}

// biome-ignore lint/suspicious/noExplicitAny: see Served
type ResultOf<T> = T extends RequestType0<infer R, any> ? R : T extends RequestType<any, infer R, any> ? R : never;

export type Handler<D extends Served> = (
  params: v.InferOutput<D['params']>,
  token: CancellationToken,
) => ResultOf<D['type']> | Promise<ResultOf<D['type']>>;

/** Registers `handler` for `request` on the connection (see the file's header). */
export function serve<D extends Served>(connection: AgentConnection, request: D, handler: Handler<D>): void {
  // Registered by method name, so that absent or positional params reach the schema (and answer
  // InvalidArgument) instead of the library's generic InvalidParams. vscode-jsonrpc calls an
  // untyped handler with (token) when params are absent, (params, token) for an object, and
  // spreads positional params before the token.
  connection.rpc.onRequest(request.method, async (...args: unknown[]): Promise<unknown> => {
    const token = args[args.length - 1] as CancellationToken;
    const raw = args.length === 1 ? {} : args.length === 2 ? args[0] : args.slice(0, -1);
    try {
      return await handler(parseParams(request.method, request.params, raw), token);
    } catch (err) {
      return toResponseError(request.method, err, connection.log);
    }
  });
}

/**
 * Registers `handler` for a notification a client sends; one whose params do not match is
 * dropped (a notification has no answer to carry an error), and so is a handler's exception (it
 * is logged).
 */
export function serveNotification<S extends ParamsSchema>(
  connection: AgentConnection,
  notification: ClientNotification<string, S>,
  handler: (params: v.InferOutput<S>) => void,
): void {
  connection.rpc.onNotification(notification.method, (...args: unknown[]) => {
    const r = v.safeParse(notification.params, args.length === 1 ? args[0] : args);
    if (!r.success) return;
    try {
      handler(r.output);
    } catch (err) {
      connection.log(`internal error handling ${notification.method}: ${(err as Error)?.stack ?? String(err)}`);
    }
  });
}

/** The params checked against `schema`, or InvalidArgument naming the first bad field. */
export function parseParams<S extends ParamsSchema>(method: string, schema: S, raw: unknown): v.InferOutput<S> {
  // valibot takes an array for an object; params are named fields, never positional.
  if (Array.isArray(raw))
    throw new BerthError(ErrorCode.InvalidArgument, `${method}: params must be an object of named fields`, { operation: method });
  const r = v.safeParse(schema, raw);
  if (r.success) return r.output;
  throw new BerthError(ErrorCode.InvalidArgument, `${method}: ${describeIssue(schema, r.issues[0])}`, { operation: method });
}

/**
 * One issue in words: `params.a.b[2]: "b" must be ...`, the quoted name being the innermost field
 * (clients and the fuzz tests read it); a missing field gets its schema's own message.
 */
export function describeIssue(root: v.GenericSchema, issue: v.GenericIssue): string {
  const keys = (issue.path ?? []).map((p) => p.key as string | number);
  if (keys.length === 0) return `params ${issue.message}`;
  const where = `params${keys.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('')}`;
  const name = [...keys].reverse().find((k) => typeof k === 'string') ?? keys[0];
  const last = keys[keys.length - 1];
  const missing = issue.kind === 'schema' && issue.input === undefined && issue.expected === `"${last}"`;
  const what = missing ? (messageOf(entryAt(root, keys)) ?? 'is missing') : issue.message;
  return `${where}: "${name}" ${what}`;
}

type Walkable = {
  type?: string;
  pipe?: Walkable[];
  wrapped?: Walkable;
  entries?: Record<string, Walkable>;
  item?: Walkable;
  value?: Walkable;
  message?: unknown;
};

/** The schema itself under pipes and optional/nullable wrappers. */
function base(s: Walkable | undefined): Walkable | undefined {
  for (let i = 0; s && i < 32; i++) {
    if (s.pipe) s = s.pipe[0];
    else if (s.wrapped) s = s.wrapped;
    else return s;
  }
  return s;
}

/** The schema of the field at `keys` under `root`. */
function entryAt(root: Walkable, keys: (string | number)[]): Walkable | undefined {
  let s: Walkable | undefined = root;
  for (const k of keys) {
    const b = base(s);
    s = b?.entries ? b.entries[String(k)] : (b?.item ?? b?.value);
  }
  return s;
}

function messageOf(s: Walkable | undefined): string | undefined {
  const m = base(s)?.message;
  return typeof m === 'string' ? m : undefined;
}

/** A handler's failure as the wire's error (see the file's header). */
export function toResponseError(operation: string, err: unknown, log: (msg: string) => void): ResponseError<ErrorData> {
  if (err instanceof BerthError) return new ResponseError(err.code, err.message, err.data);
  log(`internal error during ${operation}: ${(err as Error)?.stack ?? String(err)}`);
  return new ResponseError(ErrorCode.Internal, `${operation}: internal error: ${(err as Error)?.message ?? String(err)}`, { operation });
}
