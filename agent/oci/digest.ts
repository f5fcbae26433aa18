/**
 * Digests ("sha256:<hex>", "sha512:<hex>"): syntax checks, hashing and comparison, and the
 * error shape every OCI parser shares ({@link ParseContext}, {@link parseFailure}).
 */
import { createHash } from 'node:crypto';
import { BerthError, ErrorCode, type ErrorData } from '../errors';

/** Data copied into every error a parser throws (e.g. `{operation:'pull', reference, digest}`). */
export type ParseContext = Partial<ErrorData>;

function prefix(ctx: ParseContext): string {
  const op = ctx.operation ?? 'parse image';
  return ctx.reference ? `${op} ${ctx.reference}` : op;
}

/** The error a parser throws: the context's operation and reference, then why. */
export function parseFailure(code: ErrorCode, ctx: ParseContext, why: string): BerthError {
  return new BerthError(code, `${prefix(ctx)}: ${why}`, { ...ctx, operation: ctx.operation ?? 'parse image' });
}

// ---------------------------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------------------------

/** A parsed digest. */
export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512';
  /** Lowercase hex: 64 digits for sha256, 128 for sha512. */
  hex: string;
}

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** True when `s` is "sha256:" + 64 lowercase hex or "sha512:" + 128 lowercase hex. */
export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Splits a digest; throws BerthError(InvalidContent) unless it is a sha256/sha512 digest with exact hex length. */
export function parseDigest(s: string, ctx: ParseContext = {}): ParsedDigest {
  if (!isDigest(s)) {
    const shown = String(s as unknown).slice(0, 140);
    throw parseFailure(ErrorCode.InvalidContent, ctx, `"${shown}" is not a valid digest (expected sha256: and 64 lowercase hex digits)`);
  }
  const i = s.indexOf(':');
  return { algorithm: s.slice(0, i) as 'sha256' | 'sha512', hex: s.slice(i + 1) };
}

/** Lowercase hex sha256 of `buf`. */
export function sha256Hex(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** "sha256:" + the sha256 of `buf`; with `algorithm` 'sha512', "sha512:" + its sha512. */
export function digestOf(buf: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(buf).digest('hex')}`;
}

/** True when `buf` hashes to `digest` (either algorithm). False for malformed digests. */
export function matchesDigest(buf: Uint8Array, digest: string): boolean {
  if (!isDigest(digest)) return false;
  const { algorithm } = parseDigest(digest);
  return digestOf(buf, algorithm) === digest;
}
