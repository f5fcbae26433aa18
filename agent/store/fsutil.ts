/**
 * Small filesystem helpers with one promise each: writes are atomic (temp file in the same
 * directory, fsync, rename), so a reader never sees half a file, whatever moment the agent dies.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, writeSync, mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { systemError, unlessErrno } from '../errors';

/**
 * Writes `data` to `path` atomically: temp file + fsync + rename + fsync of the directory. With
 * `durable: false` the two fsyncs are skipped: readers still never see half a file, but after a
 * power loss the file may be missing or empty — for files that can be written again from a record.
 */
export function writeFileAtomic(path: string, data: Buffer | string, mode = 0o600, opts: { durable?: boolean } = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx', mode);
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    const durable = opts.durable ?? true;
    if (durable) fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
    if (durable) fsyncDir(dirname(path));
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    rmSync(tmp, { force: true });
    throw systemError('write', err, { path });
  }
}

/** The name {@link writeFileAtomic} gives its temp file: ".<name>.<12 hex>.tmp". */
export const ATOMIC_TEMP_RE = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temp files of atomic writes a killed process left in `dir` (not recursive); a
 * missing directory is fine. Call only when no write can be in flight (at start). Returns them.
 */
export function removeAtomicLeftovers(dir: string): string[] {
  const names = unlessErrno(['ENOENT', 'ENOTDIR'], () => readdirSync(dir));
  if (!names) return [];
  const removed: string[] = [];
  for (const n of names) {
    if (!ATOMIC_TEMP_RE.test(n)) continue;
    rmSync(join(dir, n), { force: true });
    removed.push(join(dir, n));
  }
  return removed;
}

/** fsync a directory so a rename inside it is durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function mkdirp(dir: string, mode = 0o700): void {
  try {
    mkdirSync(dir, { recursive: true, mode });
  } catch (err) {
    throw systemError('create directory', err, { path: dir });
  }
}

/** A fresh random name, for temp entries. */
export function randomName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}
