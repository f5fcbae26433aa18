/**
 * Copying trees in and out of a *root*: a directory fd that stands for "/" (a container's root
 * filesystem, reached as /proc/PID/root, or a directory on the host). `berth cp` is built on it,
 * on both sides: the agent packs and extracts inside containers, the CLI on the user's host.
 *
 * The contract that makes it safe with hostile trees and hostile archives:
 * - Every lookup of a path inside the root goes through openat2(RESOLVE_IN_ROOT |
 *   RESOLVE_NO_MAGICLINKS): symlinks are followed as the container would follow them, and ".."
 *   or an absolute link can never leave the root. Only the last component of an operation is
 *   then named, as `/proc/self/fd/<parent fd>/<name>`, with calls that do not follow it (lstat,
 *   O_NOFOLLOW, lchown, symlink, mkdir, unlink), and metadata is set on fds opened that way
 *   (fchmod, fchown, futimes): nothing is ever written through a symlink, even when a process in
 *   a running container swaps a name for a link while we work.
 * - Archive entries are relative paths without "..", NUL or empty components; device nodes are
 *   refused; hard links must point at an entry of the same archive.
 * - Packing never follows a symlink (it is archived as a link) and does not descend into the
 *   kernel's filesystems (proc, sysfs, cgroup, devpts, mqueue) mounted in a running container.
 * Errors are BerthErrors naming the operation and the path inside the root, never the /proc path.
 */
import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import { native, RESOLVE } from '../../native';
import type { ContainerPathStat } from '../../protocol';
import { BerthError, ErrorCode, systemError } from '../errors';
import { readTar, type TarEntry } from './tar';
import { TarWriter } from './tarWriter';

const O_PATH = 0o10000000;
const IN_ROOT = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;
/** One component below an fd, never through a symlink or a magic link. */
const BENEATH_NOLINKS = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS;
const CHUNK = 256 * 1024;
/** Filesystems of the kernel that a running container has mounted: not copied. */
const KERNEL_FS = new Set([
  0x9fa0 /* proc */, 0x62656572 /* sysfs */, 0x27e0eb /* cgroup */, 0x63677270 /* cgroup2 */, 0x1cd1 /* devpts */, 0x19800202 /* mqueue */,
  0x64626720 /* debugfs */, 0x73636673 /* securityfs */,
]);

const fdPath = (fd: number, name?: string) => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

/** What `stat` reports of a path: the protocol's shape, also on the host side (the CLI). */
export type PathStat = ContainerPathStat;

function kindOf(st: Stats): PathStat['kind'] {
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
}

/** `path` inside the root, as an absolute normalised path ("" and "." are "/"). */
export function rootedPath(path: string, operation: string): string {
  if (typeof path !== 'string' || path.includes('\0'))
    throw new BerthError(ErrorCode.InvalidArgument, `${operation}: the path contains a NUL byte`, { operation });
  return posix.normalize(posix.join('/', path));
}

/** Opens `path` in the root (O_PATH unless `flags` say otherwise). The caller closes it. */
export function openInRoot(rootFd: number, path: string, flags: number, operation: string, mode = 0): number {
  const p = rootedPath(path, operation);
  try {
    return native().openat2(rootFd, p === '/' ? '.' : p.slice(1), flags, mode, IN_ROOT);
  } catch (e) {
    throw pathError(operation, p, e);
  }
}

function pathError(operation: string, path: string, e: unknown): BerthError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT')
    return new BerthError(ErrorCode.NotFound, `${operation}: no such file or directory: ${path}`, { operation, path, errno: code });
  if (code === 'ENOTDIR')
    return new BerthError(ErrorCode.InvalidArgument, `${operation}: not a directory: ${path}`, { operation, path, errno: code });
  const err = systemError(operation, e, { path });
  // The /proc/self/fd path in the message means nothing to the user: name the path in the root.
  err.message = err.message.replace(/`\/proc\/self\/fd\/\d+(\/[^`]*)?`/, `\`${path}\``);
  (err.data as { path?: string }).path = path;
  return err;
}

/**
 * lstat of `path` in the root: its parent resolved in the root, the last component not followed
 * (with `follow`, followed too, inside the root).
 */
export function statInRoot(rootFd: number, path: string, operation: string, follow = false): PathStat {
  const p = rootedPath(path, operation);
  if (p === '/') return statOf(fstatSync(rootFd), '/', '');
  if (follow) {
    const fd = openInRoot(rootFd, p, O_PATH, operation);
    try {
      return statOf(fstatSync(fd), posix.basename(p), '');
    } finally {
      closeSync(fd);
    }
  }
  const parent = openInRoot(rootFd, posix.dirname(p), O_PATH | C.O_DIRECTORY, operation);
  try {
    const name = posix.basename(p);
    let st: Stats;
    try {
      st = lstatSync(fdPath(parent, name));
    } catch (e) {
      throw pathError(operation, p, e);
    }
    return statOf(st, name, st.isSymbolicLink() ? readlinkSync(fdPath(parent, name)) : '');
  } finally {
    closeSync(parent);
  }
}

function statOf(st: Stats, name: string, linkTarget: string): PathStat {
  return { name, size: st.size, mode: st.mode & 0o7777, kind: kindOf(st), mtime: st.mtime.toISOString(), linkTarget };
}

// --- packing ----------------------------------------------------------------------------------

/**
 * A tar of `path` in the root, entries named from its base name (`etc/hosts` -> `hosts`, a dir
 * `/app` -> `app/...`; "/" -> "./..."), as `docker cp` sends it. A symlink at `path` is archived
 * as the link. Chunks come in order; the consumer's pace sets the pace (nothing is read ahead).
 */
export async function* packTree(rootFd: number, path: string, operation: string): AsyncGenerator<Buffer> {
  const p = rootedPath(path, operation);
  let chunks: Buffer[] = [];
  const tar = new TarWriter((b) => chunks.push(b));
  const flush = function* () {
    const out = chunks;
    chunks = [];
    yield* out;
  };
  const seen = new Map<string, string>();
  const top = p === '/' ? null : posix.basename(p);
  const parent = openInRoot(rootFd, p === '/' ? '/' : posix.dirname(p), O_PATH | C.O_DIRECTORY, operation);
  try {
    for (const step of walk(parent, top, top ?? '.', p, operation, seen, tar, null)) {
      if (step) {
        tar.writeContent(step);
      }
      if (chunks.length) yield* flush();
    }
    tar.finish();
    yield* flush();
  } finally {
    closeSync(parent);
  }
}

/**
 * Walks one entry (`name` in dir fd `dirFd`; null: the dir itself) into `tar`, depth first; yields
 * content chunks for the caller to write (so that it can hand them out one by one) and nulls
 * whenever headers were written.
 */
function* walk(
  dirFd: number,
  name: string | null,
  archiveName: string,
  shownPath: string,
  operation: string,
  seen: Map<string, string>,
  tar: TarWriter,
  parentDev: number | null,
): Generator<Buffer | null> {
  let st: Stats;
  try {
    st = name === null ? fstatSync(dirFd) : lstatSync(fdPath(dirFd, name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && parentDev !== null) return; // vanished meanwhile
    throw pathError(operation, shownPath, e);
  }
  const base = { name: archiveName, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
  if (st.isSymbolicLink()) {
    tar.addEntry({ ...base, type: 'symlink', linkname: readlinkSync(fdPath(dirFd, name!)) });
    yield null;
    return;
  }
  if (st.isDirectory()) {
    const fd = name === null ? dirFd : openChild(dirFd, name, C.O_DIRECTORY, operation, shownPath);
    try {
      tar.addEntry({ ...base, type: 'dir', name: archiveName === '.' ? './' : `${archiveName}/` });
      yield null;
      // A kernel filesystem mounted there (a running container's /proc, /sys): the mount point only.
      if (parentDev !== null && st.dev !== parentDev && KERNEL_FS.has(statfsSync(fdPath(fd)).type)) return;
      for (const child of readdirSync(fdPath(fd)).sort()) {
        yield* walk(
          fd,
          child,
          archiveName === '.' ? child : `${archiveName}/${child}`,
          posix.join(shownPath, child),
          operation,
          seen,
          tar,
          st.dev,
        );
      }
    } finally {
      if (fd !== dirFd) closeSync(fd);
    }
    return;
  }
  if (st.isFile()) {
    const key = `${st.dev}:${st.ino}`;
    if (st.nlink > 1) {
      const first = seen.get(key);
      if (first !== undefined) {
        tar.addEntry({ ...base, type: 'hardlink', linkname: first });
        yield null;
        return;
      }
      seen.set(key, archiveName);
    }
    const fd = name === null ? openSync(fdPath(dirFd), 'r') : openChild(dirFd, name, C.O_RDONLY, operation, shownPath);
    try {
      // The size is the one in the header: a file that grows meanwhile is cut, one that shrinks padded.
      tar.beginEntry({ ...base, type: 'file', size: st.size });
      yield null;
      let left = st.size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) {
          buf.fill(0);
          left -= buf.length;
          yield buf;
          continue;
        }
        left -= n;
        yield buf.subarray(0, n);
      }
      tar.endEntry();
      yield null;
    } finally {
      closeSync(fd);
    }
    return;
  }
  if (st.isFIFO()) {
    tar.addEntry({ ...base, type: 'fifo' });
    yield null;
    return;
  }
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    tar.addEntry({
      ...base,
      type: st.isCharacterDevice() ? 'char' : 'block',
      devmajor: Math.floor(st.rdev / 256) & 0xfff,
      devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
    });
    yield null;
  }
  // Sockets are not archived (tar cannot hold them).
}

/** Opens `name` below `dirFd` without following any link; `flags` O_RDONLY or O_DIRECTORY. */
function openChild(dirFd: number, name: string, flags: number, operation: string, shownPath: string): number {
  try {
    return native().openat2(dirFd, name, flags | C.O_NOFOLLOW, 0, BENEATH_NOLINKS);
  } catch (e) {
    throw pathError(operation, shownPath, e);
  }
}

// --- extracting -------------------------------------------------------------------------------

export interface ExtractOptions {
  /**
   * Renames the archive's first path component (`hosts` -> `hosts.bak`): how `cp SRC DEST` names
   * DEST when it does not exist. Only entries under `from` are renamed.
   */
  rename?: { from: string; to: string };
  /** Owners for what is created: the archive's (`cp -a`), one pair, or unchanged (the caller's). */
  owner?: 'archive' | { uid: number; gid: number };
}

/** Checks and normalises an archive entry's name: relative, no "..", no empty name. */
export function entryPath(raw: string, operation: string): string | null {
  if (raw.includes('\0')) throw hostile(operation, raw, 'a NUL byte in the name');
  const parts = raw.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw hostile(operation, raw, 'a ".." component');
  return parts.length ? parts.join('/') : null;
}

function hostile(operation: string, entry: string, what: string): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, `${operation}: archive entry "${entry.replace(/\0/g, '\\0')}" has ${what}`, {
    operation,
    entry,
  });
}

/**
 * Extracts the tar from `source` into directory `dest` of the root (which must exist). Existing
 * files are replaced, existing directories kept (their metadata updated), a directory is never
 * replaced by a file or the reverse (an error, as docker cp says). Returns the entries written.
 */
export async function extractTree(
  rootFd: number,
  dest: string,
  source: AsyncIterable<Buffer>,
  operation: string,
  opts: ExtractOptions = {},
): Promise<number> {
  const destPath = rootedPath(dest, operation);
  const destFd = openInRoot(rootFd, destPath, O_PATH | C.O_DIRECTORY, operation);
  let count = 0;
  const dirTimes: [string, number][] = [];
  try {
    for await (const entry of readTar(source)) {
      let rel = entryPath(entry.header.name, operation);
      if (rel === null) continue; // "./": the destination itself
      if (opts.rename) {
        const [first, ...rest] = rel.split('/');
        if (first === opts.rename.from) rel = posix.normalize([opts.rename.to, ...rest].join('/'));
        if (rel === '.') continue; // the directory whose contents go into dest: dest stays as it is
      }
      await extractEntry(rootFd, destPath, rel, entry, operation, opts, dirTimes);
      count++;
    }
    // Directory times last: creating their children changed them.
    for (const [p, mtime] of dirTimes.reverse()) {
      withParent(rootFd, p, operation, (fd, name) => lutimesSync(fdPath(fd, name), mtime, mtime));
    }
  } finally {
    closeSync(destFd);
  }
  return count;
}

function withParent<T>(rootFd: number, path: string, operation: string, fn: (parentFd: number, name: string) => T): T {
  const parent = openInRoot(rootFd, posix.dirname(path), O_PATH | C.O_DIRECTORY, operation);
  try {
    return fn(parent, posix.basename(path));
  } catch (e) {
    throw e instanceof BerthError ? e : pathError(operation, path, e);
  } finally {
    closeSync(parent);
  }
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function extractEntry(
  rootFd: number,
  destPath: string,
  rel: string,
  entry: TarEntry,
  operation: string,
  opts: ExtractOptions,
  dirTimes: [string, number][],
): Promise<void> {
  const h = entry.header;
  const path = posix.join(destPath, rel);
  const owner = opts.owner === 'archive' ? { uid: h.uid, gid: h.gid } : opts.owner;
  const parent = openInRoot(rootFd, posix.dirname(path), O_PATH | C.O_DIRECTORY, operation);
  const name = posix.basename(path);
  const at = fdPath(parent, name);
  try {
    const existing = lstatOrNull(at);
    if (h.type === 'dir') {
      if (existing && !existing.isDirectory())
        throw new BerthError(ErrorCode.Conflict, `${operation}: cannot overwrite non-directory ${path} with a directory`, {
          operation,
          path,
        });
      if (!existing) mkdirSync(at, 0o700);
      const fd = openChild(parent, name, C.O_DIRECTORY, operation, path);
      try {
        if (owner) fchownSync(fd, owner.uid, owner.gid);
        fchmodSync(fd, h.mode & 0o7777);
      } finally {
        closeSync(fd);
      }
      dirTimes.push([path, h.mtime]);
      return;
    }
    if (existing?.isDirectory())
      throw new BerthError(ErrorCode.Conflict, `${operation}: cannot overwrite directory ${path} with a non-directory`, {
        operation,
        path,
      });
    if (existing) unlinkSync(at);
    if (h.type === 'file') {
      const fd = openSync(at, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of entry.content) {
          for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
        }
        if (owner) fchownSync(fd, owner.uid, owner.gid);
        fchmodSync(fd, h.mode & 0o7777);
        futimesSync(fd, h.mtime, h.mtime);
      } finally {
        closeSync(fd);
      }
      return;
    } else if (h.type === 'symlink') {
      if (h.linkname.includes('\0')) throw hostile(operation, h.name, 'a NUL byte in its link target');
      symlinkSync(h.linkname, at);
      if (owner) lchownSync(at, owner.uid, owner.gid);
      lutimesSync(at, h.mtime, h.mtime);
      return;
    } else if (h.type === 'hardlink') {
      let target = entryPath(h.linkname, operation);
      if (target === null) throw hostile(operation, h.name, 'a hard link to the archive root');
      if (opts.rename) {
        const [first, ...rest] = target.split('/');
        if (first === opts.rename.from) target = posix.normalize([opts.rename.to, ...rest].join('/'));
      }
      const tpath = posix.join(destPath, target);
      withParent(rootFd, tpath, operation, (tfd, tname) => {
        const st = lstatSync(fdPath(tfd, tname));
        if (st.isDirectory()) throw hostile(operation, h.name, 'a hard link to a directory');
        linkSync(fdPath(tfd, tname), at);
      });
      return; // a link shares its target's owner, mode and times
    } else {
      throw new BerthError(
        ErrorCode.InvalidArgument,
        `${operation}: archive entry "${h.name}" is a ${h.type === 'fifo' ? 'FIFO' : 'device node'}; cp copies files, directories and links only`,
        {
          operation,
          entry: h.name,
        },
      );
    }
  } catch (e) {
    throw e instanceof BerthError ? e : pathError(operation, path, e);
  } finally {
    closeSync(parent);
  }
}
