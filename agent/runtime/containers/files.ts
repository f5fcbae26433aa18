/**
 * Browse Files: read-only access to the files of a container or an image, served from the layer
 * directories themselves (no shell in the container, no mount; stopped containers and images
 * that never ran work the same). The view is the one overlayfs gives the container:
 *
 *   container: its writable layer (upper/, live while it runs) over its image's layers, plus the
 *              per-container /etc/hostname, /etc/hosts and /etc/resolv.conf the runtime binds in;
 *   image:     its layers, top first.
 *
 * Volumes and host binds are not part of the view (they are mounts, not layers).
 *
 * Contracts (every path is hostile):
 * - Paths are absolute POSIX paths inside the rootfs, at most 4096 bytes, no NUL, no `..`
 *   component (InvalidArgument otherwise).
 * - Symlinks are resolved by this module as paths inside the rootfs (RootfsReader's rules: an
 *   absolute target starts again at the rootfs root, `..` stops at it, at most 40 links), never
 *   by the kernel on the host. `stat` reports a symlink as one (with its target) and also what it
 *   leads to; `readFile` and `readDirectory` read through symlinks, inside the rootfs.
 * - A running container can change its upper dir while the agent reads it (swap a directory for
 *   a symlink to the host's /). So files and directories are opened with O_NOFOLLOW and the
 *   opened descriptor's real path (/proc/self/fd) must be the path that was checked; otherwise
 *   the read fails (System, "changed while it was read"). Device nodes, fifos and sockets are
 *   never opened.
 * - `readFile` refuses files over {@link MAX_READ_BYTES} (InvalidArgument, errno EFBIG) before
 *   reading them; `readDirectory` refuses directories over {@link MAX_DIR_ENTRIES} entries.
 * Errors carry `data.errno` (ENOENT, ENOTDIR, EISDIR, ELOOP, EFBIG, EINVAL) so clients map them to
 * their own kinds (the extension: vscode.FileSystemError), and `data.path` (inside the rootfs).
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import type { FsDirEntry, FsFileType, FsStat, FsTarget } from '../../../protocol';
import { BerthError, ErrorCode, isErrno, systemError } from '../../errors';
import { RootfsReader } from './rootfs';
import type { ContainerService } from './service';

/** The largest file `readFile` returns (its bytes travel base64-encoded in one JSON answer). */
export const MAX_READ_BYTES = 16 * 1024 * 1024;
/** The most entries `readDirectory` returns. */
export const MAX_DIR_ENTRIES = 100_000;
/** Longest path accepted, in bytes (Linux's PATH_MAX). */
const MAX_PATH_BYTES = 4096;
/** How many symlinks one lookup may follow (Linux's limit). */
const MAX_LINKS = 40;
/** The per-container files the runtime binds over the image's (see service.ts, writeEtcFiles). */
const RUNTIME_FILES = ['hostname', 'hosts', 'resolv.conf'];

/** One opened view: the layers (canonical host dirs, top first) and how messages name it. */
interface View {
  /** "container web", "image 127.0.0.1:5000/box:v1". */
  name: string;
  reader: RootfsReader;
  layers: string[];
  /** Per entry of `layers`: the image layer index (0 = base), or undefined for the container's own. */
  layerIndex: (number | undefined)[];
  /** Absolute rootfs path -> host file bound over it (container views). */
  binds: Map<string, string>;
}

type Kind = 'file' | 'dir' | 'symlink' | 'other';

interface Resolved {
  /** The path's components after resolution (no symlinks left but perhaps the last). */
  components: string[];
  host: string;
  kind: Kind;
  /** Image layer index, or undefined for the container's own layer or its bound files. */
  layer: number | undefined;
}

type Errno = 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'ELOOP' | 'EFBIG' | 'EINVAL';

class Failure {
  constructor(readonly errno: Errno) {}
}

function fail(op: string, view: View | undefined, path: string, errno: Errno, extra = ''): BerthError {
  const where = view ? ` in ${view.name}` : '';
  const what: Record<Errno, string> = {
    ENOENT: 'no such file or directory',
    ENOTDIR: 'not a directory',
    EISDIR: 'is a directory',
    ELOOP: 'too many levels of symbolic links',
    EFBIG: 'too large',
    EINVAL: 'invalid path',
  };
  const code = errno === 'ENOENT' ? ErrorCode.NotFound : ErrorCode.InvalidArgument;
  return new BerthError(code, `${op} ${JSON.stringify(path)}${where}: ${extra || what[errno]}`, { operation: op, path, errno });
}

/** Checks a client's path and splits it into components. */
export function checkPath(op: string, path: unknown): string[] {
  if (typeof path !== 'string') throw new BerthError(ErrorCode.InvalidArgument, `${op}: "path" must be a string`, { operation: op });
  const bad = (why: string) => fail(op, undefined, path, 'EINVAL', why);
  if (path.includes('\0')) throw bad('the path contains a NUL byte');
  if (!path.startsWith('/')) throw bad('the path must be absolute (start with "/")');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw bad(`the path is longer than ${MAX_PATH_BYTES} bytes`);
  const parts = path.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw bad('the path must not contain ".."');
  if (parts.some((c) => Buffer.byteLength(c) > 255)) throw bad('a path component is longer than 255 bytes');
  return parts;
}

function canonical(op: string, dir: string, what: string): string {
  try {
    return realpathSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new BerthError(ErrorCode.NotFound, `${op}: ${what} is missing from the store (${dir})`, { operation: op, path: dir });
    throw systemError(op, e, { path: dir });
  }
}

function openView(svc: ContainerService, target: FsTarget, op: string): View {
  const store = svc.store;
  if ('container' in target && typeof target.container === 'string') {
    const rec = svc.find(target.container, op);
    const { dir, upper } = svc.runtimeOf(rec);
    const lowers = [...rec.layers].reverse();
    const layers = [
      canonical(op, upper, `the writable layer of container ${rec.name}`),
      ...lowers.map((c) => canonical(op, store.layerDiffDir(c), `layer ${c}`)),
    ];
    const binds = new Map(RUNTIME_FILES.map((f) => [`/etc/${f}`, join(canonical(op, dir, `container ${rec.name}`), f)]));
    return {
      name: `container ${rec.name}`,
      reader: new RootfsReader(layers),
      layers,
      layerIndex: [undefined, ...lowers.map((_, i) => lowers.length - 1 - i)],
      binds,
    };
  }
  const reference = (target as { image: string }).image;
  const rec = svc.images.lookup(reference, op);
  const chains = rec.layers.map((l) => l.chainId).reverse();
  const layers = chains.map((c) => canonical(op, store.layerDiffDir(c), `layer ${c}`));
  return {
    name: `image ${reference}`,
    reader: new RootfsReader(layers),
    layers,
    layerIndex: chains.map((_, i) => chains.length - 1 - i),
    binds: new Map(),
  };
}

function layerOf(view: View, host: string): number | undefined {
  const i = view.layers.findIndex((l) => host === l || host.startsWith(l + '/'));
  return i < 0 ? undefined : view.layerIndex[i];
}

/**
 * Resolves components inside the view; symlinks are followed except a last one when
 * `followLast` is false. Returns a Failure (errno) instead of throwing, so stat can tell a
 * dangling link from a missing path.
 */
function resolve(view: View, parts: string[], followLast: boolean): Resolved | Failure {
  let pending = [...parts];
  const done: string[] = [];
  let links = 0;
  const root = (): Resolved => ({ components: [], host: view.layers[0]!, kind: 'dir', layer: view.layerIndex[0] });
  if (view.layers.length === 0) return new Failure('ENOENT');
  if (pending.length === 0) return root();
  let last: Resolved | undefined;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '..') {
      done.pop();
      last = undefined;
      continue;
    }
    const e = view.reader.entry([...done, c]);
    if (!e) return new Failure('ENOENT');
    if (e.kind === 'symlink' && (pending.length > 0 || followLast)) {
      if (++links > MAX_LINKS) return new Failure('ELOOP');
      let target: string;
      try {
        target = readlinkSync(e.host);
      } catch (err) {
        if (!isErrno(err, 'ENOENT', 'EINVAL')) throw err;
        return new Failure('ENOENT'); // removed or replaced meanwhile
      }
      if (target.startsWith('/')) done.length = 0;
      pending = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...pending];
      last = undefined;
      continue;
    }
    if (pending.length > 0 && e.kind !== 'dir') return new Failure('ENOTDIR');
    done.push(c);
    last = { components: [...done], host: e.host, kind: e.kind, layer: layerOf(view, e.host) };
  }
  if (last) return withBinds(view, last);
  // The path ended in ".." of a link target: look the directory it names up again.
  if (done.length === 0) return root();
  const e = view.reader.entry(done);
  if (!e) return new Failure('ENOENT');
  return withBinds(view, { components: [...done], host: e.host, kind: e.kind, layer: layerOf(view, e.host) });
}

/** A container's bound /etc files replace what the layers have at those paths. */
function withBinds(view: View, r: Resolved): Resolved {
  if (r.kind !== 'file') return r;
  const bound = view.binds.get('/' + r.components.join('/'));
  return bound ? { ...r, host: bound, layer: undefined } : r;
}

/**
 * Opens a file or directory that was checked by lstat, without following a symlink anywhere on
 * the way: O_NOFOLLOW for the last component, and the descriptor's real path for the others.
 */
function openChecked(op: string, path: string, host: string, dir: boolean): number {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (dir ? constants.O_DIRECTORY : 0);
  let fd: number;
  try {
    fd = openSync(host, flags);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') {
      throw new BerthError(ErrorCode.System, `${op} ${JSON.stringify(path)}: the file changed while it was read; try again`, {
        operation: op,
        path,
        errno: code,
      });
    }
    throw systemError(`${op} ${JSON.stringify(path)}`, e, { path: host });
  }
  let real: string | undefined;
  try {
    real = readlinkSync(`/proc/self/fd/${fd}`);
  } catch (e) {
    // No /proc (or the link cannot be read): treated as a path that does not match, below.
    if (!isErrno(e, 'ENOENT', 'EACCES', 'ENAMETOOLONG')) throw e;
    real = undefined;
  }
  if (real !== host) {
    closeSync(fd);
    throw new BerthError(ErrorCode.System, `${op} ${JSON.stringify(path)}: the file changed while it was read; try again`, {
      operation: op,
      path,
    });
  }
  return fd;
}

function kindOf(st: Stats): FsFileType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** Metadata of a resolved entry; files and directories through a checked descriptor. */
function statOf(op: string, path: string, r: Resolved): Stats {
  if (r.kind === 'file' || r.kind === 'dir') {
    const fd = openChecked(op, path, r.host, r.kind === 'dir');
    try {
      return fstatSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  try {
    return lstatSync(r.host);
  } catch (e) {
    throw systemError(`${op} ${JSON.stringify(path)}`, e, { path: r.host });
  }
}

function toStat(st: Stats, type: FsFileType, symlink: boolean, layer: number | undefined, linkTarget?: string): FsStat {
  return {
    type,
    symlink,
    ...(linkTarget !== undefined ? { linkTarget } : {}),
    size: type === 'file' ? st.size : 0,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.floor(st.mtimeMs),
    ...(layer !== undefined ? { layer } : {}),
  };
}

/** `fs/stat`: what `path` is; for a symlink, also what it leads to (type 'symlink' when nowhere). */
export function statPath(svc: ContainerService, target: FsTarget, path: string): FsStat {
  const op = 'stat';
  const parts = checkPath(op, path);
  const view = openView(svc, target, op);
  const own = resolve(view, parts, false);
  if (own instanceof Failure) throw fail(op, view, path, own.errno);
  if (own.kind !== 'symlink') return toStat(statOf(op, path, own), own.kind, false, own.layer);
  let linkTarget: string;
  try {
    linkTarget = readlinkSync(own.host);
  } catch (e) {
    throw systemError(`${op} ${JSON.stringify(path)}`, e, { path: own.host });
  }
  const to = resolve(view, parts, true);
  if (to instanceof Failure) return toStat(statOf(op, path, own), 'symlink', true, own.layer, linkTarget);
  return toStat(statOf(op, path, to), to.kind, true, to.layer, linkTarget);
}

/** `fs/readDirectory`: the merged directory at `path` (symlinks followed inside the rootfs), sorted by name. */
export function readDirectory(svc: ContainerService, target: FsTarget, path: string): FsDirEntry[] {
  const op = 'read directory';
  const parts = checkPath(op, path);
  const view = openView(svc, target, op);
  const r = resolve(view, parts, true);
  if (r instanceof Failure) throw fail(op, view, path, r.errno);
  if (r.kind !== 'dir') throw fail(op, view, path, 'ENOTDIR');
  const seen = new Set<string>();
  const found: { name: string; kind: Kind }[] = [];
  for (const hostDir of view.reader.directoryLayers(r.components)) {
    const fd = openChecked(op, path, hostDir, true);
    try {
      const base = `/proc/self/fd/${fd}`;
      for (const name of readdirSync(base)) {
        if (seen.has(name)) continue;
        seen.add(name);
        if (seen.size > MAX_DIR_ENTRIES) throw fail(op, view, path, 'EFBIG', `more than ${MAX_DIR_ENTRIES} entries`);
        let st: Stats;
        try {
          st = lstatSync(`${base}/${name}`);
        } catch (e) {
          if (isErrno(e, 'ENOENT')) continue; // removed meanwhile (a running container)
          throw e;
        }
        if (st.isCharacterDevice() && st.rdev === 0) continue; // a whiteout: hidden here and below
        found.push({ name, kind: kindOf(st) });
      }
    } finally {
      closeSync(fd);
    }
  }
  found.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return found.map(({ name, kind }) => {
    if (kind !== 'symlink') return { name, type: kind, symlink: false };
    const to = resolve(view, [...r.components, name], true);
    return { name, type: to instanceof Failure ? 'symlink' : to.kind, symlink: true };
  });
}

/** `fs/readFile`: the bytes of the regular file at `path` (symlinks followed inside the rootfs). */
export function readFile(svc: ContainerService, target: FsTarget, path: string, maxBytes = MAX_READ_BYTES): Buffer {
  const op = 'read file';
  const parts = checkPath(op, path);
  const view = openView(svc, target, op);
  const r = resolve(view, parts, true);
  if (r instanceof Failure) throw fail(op, view, path, r.errno);
  if (r.kind === 'dir') throw fail(op, view, path, 'EISDIR');
  if (r.kind !== 'file') throw fail(op, view, path, 'EINVAL', 'not a regular file (a device, fifo or socket is never opened)');
  const tooLarge = (size: number) =>
    fail(op, view, path, 'EFBIG', `the file is ${mib(size)}; Browse Files opens files up to ${mib(maxBytes)}`);
  const fd = openChecked(op, path, r.host, false);
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) throw tooLarge(size);
    // The file may grow while it is read (a running container): read at most one byte past the cap.
    const buf = Buffer.alloc(Math.min(size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) break;
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > maxBytes) throw tooLarge(n);
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw systemError(`${op} ${JSON.stringify(path)}`, e, { path: r.host });
  } finally {
    closeSync(fd);
  }
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
