/**
 * The error every core module throws. It carries a wire code and structured data, yet knows nothing
 * of JSON-RPC: the server turns it into a ResponseError at the edge.
 */
import { ErrorCode, type ErrorData } from '../protocol/errors';

export { ErrorCode };
export type { ErrorData };

export class BerthError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly data: ErrorData,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BerthError';
  }
}

/** Node's own fs/syscall errors carry these fields. */
export interface SystemErrorLike {
  code?: string;
  syscall?: string;
  path?: string;
  message: string;
}

/**
 * Wraps a failed system call as a BerthError naming the operation, the syscall and the path, the
 * way crun words it: "unpack layer: mknod `/var/lib/berth/...`: EPERM".
 */
export function systemError(operation: string, err: unknown, extra: Partial<ErrorData> = {}): BerthError {
  if (err instanceof BerthError) return err;
  const e = err as SystemErrorLike;
  const errno = typeof e?.code === 'string' ? e.code : undefined;
  const path = typeof e?.path === 'string' ? e.path : extra.path;
  const syscall = typeof e?.syscall === 'string' ? e.syscall : extra.syscall;
  const what = [syscall, path ? `\`${path}\`` : undefined].filter(Boolean).join(' ');
  const message = `${operation}: ${what ? what + ': ' : ''}${errno ?? (e?.message || String(err))}${hint(errno)}`;
  return new BerthError(ErrorCode.System, message, { ...extra, operation, path, syscall, errno }, { cause: err });
}

function hint(errno: string | undefined): string {
  switch (errno) {
    case 'ENOSPC':
      return ' (the disk holding the Berth store is full; free space or move BERTH_ROOT)';
    case 'EDQUOT':
      return ' (disk quota exceeded for the Berth store)';
    case 'EACCES':
    case 'EPERM':
      return ' (the agent needs root; is it running as root?)';
    case 'EROFS':
      return ' (the store is on a read-only filesystem)';
    default:
      return '';
  }
}

export function isBerthError(err: unknown, code?: ErrorCode): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

/** The errno name of a Node system error (`'ENOENT'`), or undefined for anything else. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as SystemErrorLike | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** True when `err` is a system error with one of `codes` (e.g. `isErrno(e, 'ENOENT', 'ENOTDIR')`). */
export function isErrno(err: unknown, ...codes: string[]): boolean {
  const errno = errnoOf(err);
  return errno !== undefined && codes.includes(errno);
}

/**
 * Runs `fn` and returns its result, or `undefined` when it fails with one of the expected errnos.
 * Any other failure is rethrown: this is how Berth writes "it may already be gone", without a
 * catch-all that would also swallow EACCES, EIO or a bug.
 */
export function unlessErrno<T>(codes: readonly string[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (isErrno(e, ...codes)) return undefined;
    throw e;
  }
}

/** The asynchronous twin of {@link unlessErrno}. */
export async function unlessErrnoAsync<T>(codes: readonly string[], fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (isErrno(e, ...codes)) return undefined;
    throw e;
  }
}
