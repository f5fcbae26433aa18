/**
 * Filesystem snapshots for comparing unpacked images: every entry's type, mode, owner, size,
 * content hash, link target, device numbers, xattrs and hardlink group, keyed by path. Snapshots are
 * plain JSON, so one taken inside a private mount namespace (overlay.ts) can be sent back on stdout.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { native } from '../../native';

/** What kind of entry a path is. */
export type FileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

/** The facts about one entry of a tree (lstat: symlinks are never followed). */
export interface FileFacts {
  type: FileType;
  /** Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of a regular file's content; 0 for every other type. */
  size: number;
  /** Modification time, whole seconds since the epoch (may be negative). */
  mtime: number;
  /** The nanoseconds part of the modification time, 0..999999999. */
  mtimeNs: number;
  /** Regular files: sha256 of the content, hex. */
  sha256?: string;
  /** Symlinks: the target, verbatim. */
  target?: string;
  /** Character and block devices: "major:minor". */
  rdev?: string;
  /** Extended attributes: name -> value as hex; names sorted. */
  xattrs: Record<string, string>;
  /**
   * Set only when two or more paths of the tree share the inode (hardlinks): the smallest such path,
   * so every member of a hardlink group carries the same id.
   */
  hardlinkGroup?: string;
}

/** A tree: "/" for the root, then "/bin", "/bin/busybox", ... in sorted order. */
export type TreeSnapshot = Record<string, FileFacts>;

/** Options for {@link snapshotTree}. */
export interface SnapshotOptions {
  /** Read xattrs (default true). */
  xattrs?: boolean;
  /** Hash file contents (default true). */
  hashes?: boolean;
}

function typeOf(mode: number): FileType {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o140000:
      return 'socket';
    default:
      throw new Error(`unknown file type in mode ${mode.toString(8)}`);
  }
}

// Linux's dev_t encoding (glibc gnu_dev_major / gnu_dev_minor).
function major(dev: bigint): bigint {
  return ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
}
function minor(dev: bigint): bigint {
  return (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

function readXattrs(path: string): Record<string, string> {
  const n = native();
  const out: Record<string, string> = {};
  for (const name of n.llistxattr(path).sort()) {
    const v = n.lgetxattr(path, name);
    if (v !== null) out[name] = v.toString('hex');
  }
  return out;
}

/**
 * Walks `dir` (never following symlinks, never opening FIFOs or devices) and returns the facts of
 * every entry, keyed "/"-rooted, in sorted order. Bounded by the tree itself: no symlink is followed.
 */
export async function snapshotTree(dir: string, opts: SnapshotOptions = {}): Promise<TreeSnapshot> {
  const wantX = opts.xattrs !== false;
  const wantHash = opts.hashes !== false;
  const out: TreeSnapshot = {};
  const inodes = new Map<string, string[]>();

  const visit = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs, { bigint: true });
    const type = typeOf(Number(st.mode));
    const facts: FileFacts = {
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === 'file' ? Number(st.size) : 0,
      mtime: Number(st.mtimeNs / 1_000_000_000n - (st.mtimeNs % 1_000_000_000n < 0n ? 1n : 0n)),
      mtimeNs: Number(((st.mtimeNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n),
      xattrs: wantX ? readXattrs(abs) : {},
    };
    if (type === 'file' && wantHash) facts.sha256 = await sha256File(abs);
    if (type === 'symlink') facts.target = await readlink(abs);
    if (type === 'char' || type === 'block') facts.rdev = `${major(st.rdev)}:${minor(st.rdev)}`;
    if (type !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const list = inodes.get(key) ?? [];
      list.push(rel);
      inodes.set(key, list);
    }
    out[rel] = facts;
    if (type === 'dir') {
      const names = (await readdir(abs)).sort();
      for (const name of names) await visit(join(abs, name), rel === '/' ? `/${name}` : `${rel}/${name}`);
    }
  };
  await visit(dir, '/');

  for (const paths of inodes.values()) {
    if (paths.length < 2) continue;
    const group = [...paths].sort()[0];
    for (const p of paths) out[p].hardlinkGroup = group;
  }
  return out;
}

/** Aspects {@link diffTrees} can be told to ignore. */
export type DiffIgnore =
  /** the "/" entry entirely */
  | 'root'
  /** every mtime */
  | 'mtime'
  /** mtimes of directories only */
  | 'dirMtime'
  /** mtimes of symlinks only */
  | 'symlinkMtime'
  /** nanoseconds parts of mtimes only */
  | 'mtimeNs'
  /** extended attributes */
  | 'xattrs'
  /** hardlink groups */
  | 'hardlinks'
  /** uid and gid */
  | 'owner'
  /** permission bits */
  | 'mode';

/** Options for {@link diffTrees}. */
export interface DiffOptions {
  ignore?: DiffIgnore[];
  /** Paths to leave out: a string matches that path and everything under it; a RegExp is tested. */
  ignorePaths?: Array<string | RegExp>;
  /** Xattr names to leave out of the comparison (e.g. /^trusted\.overlay\./). */
  ignoreXattrs?: Array<string | RegExp>;
  /** Names for the two sides in messages; default ["a", "b"]. */
  labels?: [string, string];
}

function fmtMode(m: number): string {
  return m.toString(8).padStart(4, '0');
}

/**
 * Human-readable differences between two snapshots, one line each, sorted by path
 * ("/srv/x: mode 0755 (a) != 0700 (b)", "/srv/y: only in b (file)"). Empty when they match.
 */
export function diffTrees(a: TreeSnapshot, b: TreeSnapshot, opts: DiffOptions = {}): string[] {
  const ig = new Set(opts.ignore ?? []);
  const [la, lb] = opts.labels ?? ['a', 'b'];
  const skipPath = (p: string): boolean =>
    (ig.has('root') && p === '/') ||
    (opts.ignorePaths ?? []).some((m) => (typeof m === 'string' ? p === m || p.startsWith(m.endsWith('/') ? m : m + '/') : m.test(p)));
  const skipX = (n: string): boolean => (opts.ignoreXattrs ?? []).some((m) => (typeof m === 'string' ? m === n : m.test(n)));
  const out: string[] = [];
  const paths = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const p of paths) {
    if (skipPath(p)) continue;
    const x = a[p];
    const y = b[p];
    if (!x || !y) {
      const [side, f] = x ? [la, x] : [lb, y];
      out.push(`${p}: only in ${side} (${f.type})`);
      continue;
    }
    const diff = (what: string, u: unknown, v: unknown): void => {
      if (u !== v) out.push(`${p}: ${what} ${String(u)} (${la}) != ${String(v)} (${lb})`);
    };
    diff('type', x.type, y.type);
    if (x.type !== y.type) continue;
    if (!ig.has('mode')) diff('mode', fmtMode(x.mode), fmtMode(y.mode));
    if (!ig.has('owner')) diff('owner', `${x.uid}:${x.gid}`, `${y.uid}:${y.gid}`);
    diff('size', x.size, y.size);
    diff('sha256', x.sha256, y.sha256);
    diff('target', x.target, y.target);
    diff('rdev', x.rdev, y.rdev);
    const mtimeIgnored = ig.has('mtime') || (ig.has('dirMtime') && x.type === 'dir') || (ig.has('symlinkMtime') && x.type === 'symlink');
    if (!mtimeIgnored) {
      diff('mtime', x.mtime, y.mtime);
      if (!ig.has('mtimeNs')) diff('mtimeNs', x.mtimeNs, y.mtimeNs);
    }
    if (!ig.has('hardlinks')) diff('hardlinkGroup', x.hardlinkGroup ?? '-', y.hardlinkGroup ?? '-');
    if (!ig.has('xattrs')) {
      const names = [...new Set([...Object.keys(x.xattrs), ...Object.keys(y.xattrs)])].sort();
      for (const n of names) if (!skipX(n)) diff(`xattr ${n}`, x.xattrs[n] ?? '(none)', y.xattrs[n] ?? '(none)');
    }
  }
  return out;
}
