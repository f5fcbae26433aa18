/**
 * How a request is declared: its method name, a valibot schema of its params (the params' type is
 * inferred from it, so it is written once) and its result type. The agent's `serve`
 * (agent/server/serve.ts) validates every request's params against the schema before its handler
 * runs; the fuzz tests (test/support/schemaValues.ts) draw valid and invalid params from it.
 *
 * The building blocks below fix the wire's conventions once: an optional field may be absent or
 * null (both read as absent), strings are at most {@link MAX_STRING} characters, and each failure
 * message says what the field must be ("must be a non-empty string"); the agent prefixes the
 * method and the field's path.
 */
import * as v from 'valibot';
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { ErrorData } from './errors';

/** The longest string a param may be unless its schema says otherwise. */
export const MAX_STRING = 4096;

/** A schema of params: an object of named fields (possibly with cross-field checks). */
export type ParamsSchema = v.GenericSchema<unknown, object>;

/** A request declared with {@link request}: what `serve` and the clients need of it. */
export interface Request<M extends string, S extends ParamsSchema, R> {
  readonly method: M;
  /** Checks and types the params (absent params are `{}`). */
  readonly params: S;
  readonly type: RequestType<v.InferOutput<S>, R, ErrorData>;
}

/** A request without params (`sendRequest(X.type)`); the agent still rejects non-object params. */
export interface Request0<M extends string, R> {
  readonly method: M;
  readonly params: typeof NoParams;
  readonly type: RequestType0<R, ErrorData>;
}

/** A notification a client sends; the agent drops one whose params do not match the schema. */
export interface ClientNotification<M extends string, S extends ParamsSchema> {
  readonly method: M;
  readonly params: S;
  readonly type: NotificationType<v.InferOutput<S>>;
}

/** Declares a request: `request('image/pull', PullParams).answers<PullResult>()`. */
export function request<M extends string, S extends ParamsSchema>(method: M, params: S) {
  return { answers: <R>(): Request<M, S, R> => ({ method, params, type: new RequestType<v.InferOutput<S>, R, ErrorData>(method) }) };
}

/** Declares a request that takes no params: `request0('berth/version').answers<VersionResult>()`. */
export function request0<M extends string>(method: M) {
  return { answers: <R>(): Request0<M, R> => ({ method, params: NoParams, type: new RequestType0<R, ErrorData>(method) }) };
}

/** Declares a client -> agent notification whose params the agent checks. */
export function clientNotification<M extends string, S extends ParamsSchema>(method: M, params: S): ClientNotification<M, S> {
  return { method, params, type: new NotificationType<v.InferOutput<S>>(method) };
}

// --- building blocks ------------------------------------------------------------------------------

const NON_EMPTY = 'must be a non-empty string';

/** No params (unknown fields are ignored, as for every request). */
export const NoParams = v.object({}, 'must be an object of named fields');

/** Params of named fields. Unknown fields are ignored; a non-object is refused. */
export const params = <E extends v.ObjectEntries>(entries: E) => v.object(entries, 'must be an object of named fields');

/** A required string of 1 to `max` characters. */
export const text = (max = MAX_STRING) =>
  v.pipe(v.string(NON_EMPTY), v.minLength(1, NON_EMPTY), v.maxLength(max, `must be a non-empty string of at most ${max} characters`));

/** A string of 0 to `max` characters. */
export const anyText = (max = MAX_STRING) =>
  v.pipe(v.string('must be a string'), v.maxLength(max, `must be a string of at most ${max} characters`));

/** A client-chosen token naming a stream or watch on the connection: 1 to 256 characters. */
export const token = () =>
  v.pipe(
    v.string('must be a string of 1 to 256 characters'),
    v.minLength(1, 'must be 1 to 256 characters'),
    v.maxLength(256, 'must be 1 to 256 characters'),
  );

/** An absolute path (a required string starting with "/"). */
export const absolutePath = () => v.pipe(text(), v.startsWith('/', 'must be absolute'));

export const bool = () => v.boolean('must be a boolean');

/** A finite number of at least `min`. */
export const number = (min: number) => {
  const m = `must be a number of at least ${min}`;
  return v.pipe(v.number(m), v.finite(m), v.minValue(min, m));
};

/** A whole number from `min` to `max`. */
export const integer = (min: number, max: number) => {
  const m = `must be a whole number from ${min} to ${max}`;
  return v.pipe(v.number(m), v.integer(m), v.minValue(min, m), v.maxValue(max, m));
};

/** An array of strings (argv entries may be long scripts: no length limit but the message's). */
export const texts = () => v.array(v.string('must be an array of strings'), 'must be an array of strings');

/** A non-empty array of strings, at most `max` of them. */
export const nonEmptyTexts = (max = 65536) => {
  const m = 'must be a non-empty array of strings';
  return v.pipe(v.array(v.string(m), m), v.minLength(1, m), v.maxLength(max, `must be an array of 1 to ${max} strings`));
};

/** An object whose values are strings (labels, build args, environments); not an array. */
export const stringMap = (maxEntries = 10_000, maxValue = 65536) => {
  const m = 'must be an object of strings';
  return v.pipe(
    v.custom<Record<string, unknown>>((x) => typeof x === 'object' && x !== null && !Array.isArray(x), m),
    v.record(v.string(), v.pipe(v.string(m), v.maxLength(maxValue, m)), m),
    v.check((r) => Object.keys(r).length <= maxEntries, `must be an object of at most ${maxEntries} strings`),
  );
};

/** One of the given strings. */
export const oneOf = <const T extends readonly [string, ...string[]]>(options: T) =>
  v.picklist(options, `must be ${options.map((o) => `"${o}"`).join(' or ')}`);

/** Optional: absent, or null (read as absent), or a value of `schema`. */
export const opt = <S extends v.GenericSchema>(schema: S) =>
  v.optional(
    v.pipe(
      v.nullable(schema),
      v.transform((x) => (x === null ? undefined : x) as Exclude<v.InferOutput<S>, null> | undefined),
    ),
  );
