/**
 * Finding and reading a folder's devcontainer.json: where it is looked for
 * ({@link CONFIG_LOCATIONS}), and reading it as a regular UTF-8 file of at most
 * {@link MAX_CONFIG_BYTES}. Errors are BerthErrors naming the file ({@link configError}).
 */
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode } from '../errors';

/** Largest devcontainer.json read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Where a folder's configuration is looked for, in order. */
export const CONFIG_LOCATIONS = ['.devcontainer/devcontainer.json', '.devcontainer.json'] as const;

/** A config problem: InvalidArgument naming the file (and the line and column of a parse error). */
export function configError(operation: string, file: string, what: string, pos?: { line: number; column: number }): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, `${operation}: ${file}: ${what}`, {
    operation,
    path: file,
    ...(pos ? { line: pos.line, column: pos.column } : {}),
  });
}

/**
 * The configuration file of `folder` (absolute): the first of {@link CONFIG_LOCATIONS} that
 * exists; NotFound naming both places when none does.
 */
export function findConfig(folder: string, operation: string, exists: (p: string) => boolean): string {
  for (const rel of CONFIG_LOCATIONS) {
    const p = join(folder, rel);
    if (exists(p)) return p;
  }
  throw new BerthError(
    ErrorCode.NotFound,
    `${operation}: no dev container configuration in ${folder} (looked for ${CONFIG_LOCATIONS.join(' and ')})`,
    { operation, path: folder },
  );
}

/** Reads the file: a regular file (symlinks followed) of at most {@link MAX_CONFIG_BYTES}, UTF-8. */
export function readConfigText(file: string, operation: string): string {
  let fd: number;
  try {
    fd = openSync(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BerthError(
      code === 'ENOENT' ? ErrorCode.NotFound : ErrorCode.InvalidArgument,
      `${operation}: cannot open ${file}: ${code ?? (e as Error).message}`,
      {
        operation,
        path: file,
        syscall: 'open',
        errno: code,
      },
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw configError(operation, file, 'is not a regular file');
    if (st.size > MAX_CONFIG_BYTES)
      throw configError(operation, file, `is ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} a devcontainer.json may have`);
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    const text = buf.subarray(0, n).toString('utf8');
    if (text.includes('\uFFFD') && !buf.subarray(0, n).includes(Buffer.from('\uFFFD')))
      throw configError(operation, file, 'is not valid UTF-8');
    return text;
  } finally {
    closeSync(fd);
  }
}
