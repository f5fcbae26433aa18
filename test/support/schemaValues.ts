/**
 * Values drawn from the protocol's param schemas (protocol/schema.ts), for the fuzz tests: a walk
 * over valibot schema objects that makes values the schema accepts, and targeted invalid ones,
 * field by field: a value of the wrong JSON type, a required field left out, a string one longer
 * than its limit. Randomness comes from a seeded PRNG, so a failing case is replayed by its seed.
 *
 * Understood: object, string (min/max length, starts-with), boolean, number (min/max value,
 * integer), array (item, min/max length), record, picklist, union, optional, nullable, and pipes
 * (the first schema of a pipe is its shape; transforms and checks are left to the caller, who
 * keeps only what `v.safeParse` accepts).
 */
import * as v from 'valibot';

/** A seeded PRNG (mulberry32): numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Node {
  type: string;
  pipe?: Node[];
  wrapped?: Node;
  entries?: Record<string, Node>;
  item?: Node;
  value?: Node;
  options?: unknown[];
  requirement?: unknown;
  kind?: string;
}

/** A schema's shape: the schema itself, under a pipe, with the pipe's length and range actions. */
function shape(s: Node): { node: Node; actions: Node[] } {
  if (!s.pipe) return { node: s, actions: [] };
  // A pipe may start with a custom guard (stringMap): its shape is the next schema.
  const schemas = s.pipe.filter((p) => p.kind === 'schema' && p.type !== 'custom');
  const inner = shape(schemas[0] ?? s.pipe[0]);
  return { node: inner.node, actions: [...inner.actions, ...s.pipe.filter((p) => p.kind === 'validation')] };
}
const req = (actions: Node[], type: string) => actions.find((a) => a.type === type)?.requirement as never;
const isOptional = (s: Node) => s.type === 'optional' || s.type === 'nullish';

export interface DrawOptions {
  random: () => number;
  /** Strings to choose from before making one up (names of real objects reach deeper). */
  strings?: readonly string[];
}

/** A value `schema` accepts (cross-field checks aside), or undefined for an optional left out. */
export function validValue(schema: v.GenericSchema, o: DrawOptions, depth = 0): unknown {
  const r = o.random;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const { node, actions } = shape(schema as unknown as Node);
  switch (node.type) {
    case 'optional':
    case 'nullable':
    case 'nullish':
      if (r() < 0.4) return node.type === 'optional' ? undefined : r() < 0.5 ? null : undefined;
      return validValue(node.wrapped as never, o, depth);
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, e] of Object.entries(node.entries ?? {})) {
        const x = validValue(e as never, o, depth + 1);
        if (x !== undefined) out[k] = x;
      }
      return out;
    }
    case 'string': {
      const min: number = req(actions, 'min_length') ?? 0;
      const max: number = req(actions, 'max_length') ?? 4096;
      const prefix: string = req(actions, 'starts_with') ?? '';
      const fits = (s: string) => s.length >= min && s.length <= max && s.startsWith(prefix);
      const pool = (o.strings ?? []).filter(fits);
      if (pool.length && r() < 0.8) return pick(pool);
      // Upper case: not an image reference, so nothing made up is ever pulled from a registry.
      const made = `${prefix}Fuzz-${Math.floor(r() * 1e6)}`;
      return fits(made) ? made : prefix || 'x'.repeat(Math.max(min, 1));
    }
    case 'boolean':
      return r() < 0.5;
    case 'number': {
      const min: number = req(actions, 'min_value') ?? -1e6;
      const max: number = req(actions, 'max_value') ?? Math.max(min + 1e6, 1e6);
      const int = actions.some((a) => a.type === 'integer') || r() < 0.7;
      const x = min + r() * Math.min(max - min, 1e4);
      return int ? Math.min(Math.ceil(x), max) : x;
    }
    case 'array': {
      const min: number = req(actions, 'min_length') ?? 0;
      const n = min + Math.floor(r() * 3);
      return Array.from({ length: n }, () => validValue(node.item as never, o, depth + 1));
    }
    case 'record': {
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 3); i > 0; i--) out[`k${i}`] = validValue(node.value as never, o, depth + 1);
      return out;
    }
    case 'picklist':
      return pick(node.options ?? []);
    case 'union':
      return validValue(pick(node.options as never[]), o, depth);
    default:
      throw new Error(`schemaValues: no generator for a "${node.type}" schema`);
  }
}

/** A value of another JSON type than any `schema` accepts at its top (null for a required field). */
export function wrongType(schema: v.GenericSchema): unknown {
  const { node } = shape(schema as unknown as Node);
  switch (node.type) {
    case 'optional':
    case 'nullable':
    case 'nullish':
      return wrongType(node.wrapped as never) ?? 42;
    case 'string':
    case 'picklist':
      return node.type === 'picklist' ? 'no-such-option' : 42;
    case 'boolean':
      return 'yes';
    case 'number':
      return '1';
    case 'array':
      return 'x';
    case 'object':
      return 42; // valibot reads an array as an object: its fields are then missing, not it
    case 'record':
      return ['not', 'an', 'object'];
    case 'union':
      return { neither: true };
    default:
      return Symbol.for('unknown');
  }
}

export interface InvalidCase {
  /** The field made invalid ("" for the params as a whole). */
  field: string;
  what: 'wrong type' | 'missing' | 'too long';
  params: unknown;
}

/**
 * Params invalid in exactly one top-level field each (the others valid): every field of the wrong
 * type, every required field missing, every length-limited string one character too long; and
 * params that are not an object at all.
 */
export function invalidCases(schema: v.GenericSchema, o: DrawOptions): InvalidCase[] {
  const { node } = shape(schema as unknown as Node);
  const out: InvalidCase[] = [
    { field: '', what: 'wrong type', params: 'not an object' },
    { field: '', what: 'wrong type', params: [1, 2] },
  ];
  if (node.type !== 'object') return out;
  const base = (): Record<string, unknown> => {
    for (let i = 0; i < 50; i++) {
      const x = validValue(schema, o);
      if (v.safeParse(schema, x).success) return x as Record<string, unknown>;
    }
    throw new Error('schemaValues: no valid value found in 50 draws');
  };
  for (const [k, e] of Object.entries(node.entries ?? {})) {
    out.push({ field: k, what: 'wrong type', params: { ...base(), [k]: wrongType(e as never) } });
    if (!isOptional(e)) {
      const p = base();
      delete p[k];
      out.push({ field: k, what: 'missing', params: p });
    }
    const inner = shape(isOptional(e) ? (shape(e).node.wrapped ?? e) : e);
    const innermost = inner.node.type === 'nullable' ? shape(inner.node.wrapped as Node) : inner;
    const max: number | undefined = req(innermost.actions, 'max_length');
    if (innermost.node.type === 'string' && max !== undefined)
      out.push({ field: k, what: 'too long', params: { ...base(), [k]: '/'.padEnd(max + 1, 'x') } });
  }
  return out;
}
