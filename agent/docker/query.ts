/**
 * Query parameters as the Engine API defines them, read from hostile input: booleans, integers,
 * and `filters`, a JSON object of filter name to values in either of Docker's two encodings
 * (`{"label":["a=b"]}`, or the older `{"label":{"a=b":true}}`). Filters come back as a Map, so no
 * key a client sends ("__proto__", "constructor") reaches an object's prototype. Everything
 * malformed is a 400 HttpError with a sentence.
 */
import { clip, HttpError } from './http';

/** Bytes of the `filters` parameter. */
const FILTERS_LIMIT = 64 * 1024;

/** Docker's boolean: absent -> `dflt`; "", "0", "no", "false", "none" -> false; anything else true. */
export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
}

/** An integer parameter; absent or "" -> `dflt`; anything but an integer -> 400. */
export function intParam(q: URLSearchParams, name: string, dflt: number): number {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  if (!/^-?\d{1,15}$/.test(v)) throw new HttpError(400, `invalid value for "${name}": "${clip(v)}" is not an integer`);
  return Number(v);
}

/** The filters: name -> values (see the file's header). */
export type Filters = Map<string, string[]>;

/** `filters` parsed and checked against the names the route knows (`known`); `later`: Docker's, not served yet. */
export function filtersParam(q: URLSearchParams, known: readonly string[], later: readonly string[] = []): Filters {
  const raw = q.get('filters');
  const out: Filters = new Map();
  if (raw === null || raw === '') return out;
  if (raw.length > FILTERS_LIMIT) throw new HttpError(400, `invalid filters: longer than ${FILTERS_LIMIT} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new HttpError(400, `invalid filters: not JSON (${(e as Error).message}): "${clip(raw)}"`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new HttpError(400, 'invalid filters: want a JSON object of filter names to lists of values, e.g. {"label":["a=b"]}');
  for (const [name, value] of Object.entries(parsed)) {
    let values: string[];
    if (Array.isArray(value) && value.every((x) => typeof x === 'string')) values = value;
    else if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.values(value).every((x) => typeof x === 'boolean')
    )
      values = Object.entries(value as Record<string, boolean>)
        .filter(([, on]) => on)
        .map(([k]) => k);
    else throw new HttpError(400, `invalid filters: the values of "${clip(name)}" must be a list of strings or a map of strings to true`);
    if (later.includes(name)) throw new HttpError(400, `filter "${name}" is not supported by Berth yet`);
    if (!known.includes(name)) throw new HttpError(400, `invalid filter '${clip(name)}'`);
    out.set(name, [...(out.get(name) ?? []), ...values]);
  }
  return out;
}

/**
 * Docker's label filter: every value ("key" or "key=value") must hold for `labels`. A label
 * filter of several values is an AND, as Docker's.
 */
export function labelsMatch(labels: Record<string, string>, wanted: string[] | undefined): boolean {
  if (!wanted) return true;
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    const key = eq < 0 ? w : w.slice(0, eq);
    if (!Object.hasOwn(labels, key)) return false;
    return eq < 0 || labels[key] === w.slice(eq + 1);
  });
}

/** "true"/"1" or "false"/"0" of a boolean filter (dangling); anything else is 400. */
export function boolFilter(name: string, values: string[]): boolean {
  const set = new Set(values.map((v) => v.toLowerCase()));
  if (set.size !== 1) throw new HttpError(400, `invalid filter '${name}': give one value, true or false`);
  const [v] = set;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new HttpError(400, `invalid filter '${name}=${clip(v)}': want true or false`);
}
