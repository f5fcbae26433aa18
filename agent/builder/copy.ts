/**
 * COPY, ADD and WORKDIR as layer tars, made without a container: what the step adds is planned
 * from its sources (the build context, or another stage's or image's files), then written as an
 * OCI layer tar that the store unpacks like any pulled layer (store/unpack.ts, hostile-safe).
 *
 * Docker's rules, as Berth follows them:
 * - A source is relative to the context root (or to the root of `--from`'s files); `..` may not
 *   leave the context. Wildcards (`*`, `?`, `[...]`) match per path component. A symlink named as
 *   a source is followed inside the context (never out of it); symlinks inside copied directories
 *   are copied as symlinks.
 * - A directory's contents are copied, not the directory itself. A file goes to DEST/NAME when DEST
 *   ends with "/" or is an existing directory, else to DEST. Several sources need a DEST ending
 *   with "/". A relative DEST is relative to the WORKDIR. DEST is resolved inside the image, its
 *   symlinks followed inside the image.
 * - Copied files and directories keep their mode and mtime (whole seconds) and belong to 0:0, or
 *   to `--chown` (user[:group]; names from the image's /etc/passwd and /etc/group; without a group
 *   the gid is the uid); `--chmod` sets the mode of everything copied. Directories that DEST needs
 *   and the image lacks are made 0755 (owned as `--chown` says); directories the image has keep
 *   its mode and owner. Other file types (fifos, devices, sockets) are skipped with a warning.
 * - ADD: a local tar archive (plain, gzip or zstd) is extracted into DEST (owners, modes and mtimes
 *   from the archive; `--chown` does not apply to it), read with the project's tar reader; entries
 *   may not leave DEST (`..`), may not use whiteout names (`.wh.*`) or `trusted.overlay.*` xattrs.
 *   Anything else is copied as COPY would. URLs are refused (builds have no network).
 *
 * The plan's content digest (paths, types, modes, owners, link targets and the sha256 of every
 * file; archives by their bytes; not mtimes) is the COPY/ADD part of the step's cache key.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants as fsc, createReadStream, fstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { BerthError, isErrno } from '../errors';
import { gunzipSync, constants as zlibConstants } from 'node:zlib';
import { decompressingSource, detectCompression } from '../oci/decompress';
import { readTar } from '../oci/tar';
import { fileContentChunks, TarWriter, type TarWriteHeader } from '../oci/tarWriter';
import { type BuildContext, cleanRelative, hasWildcards, globComponent, type ContextEntry } from './context';
import type { MergedTree } from './rootfs';

const CHUNK = 1 << 20;
/** Yield to the event loop after this many bytes written, so a big COPY does not stall the agent. */
const YIELD_BYTES = 16 << 20;

/** What a plan item reads its content from. */
export interface FileSource {
  open(): { fd: number; size: number };
}

export type PlanItem =
  | { kind: 'dir'; path: string; mode: number; uid: number; gid: number; mtime: number }
  | { kind: 'file'; path: string; mode: number; uid: number; gid: number; mtime: number; source: FileSource }
  | { kind: 'symlink'; path: string; uid: number; gid: number; mtime: number; target: string }
  | { kind: 'archive'; path: string; source: FileSource; name: string };

/** A source entry: from the context or from a merged tree. */
interface SrcEntry {
  /** Relative to the source root, cleaned; "" for the root. */
  rel: string;
  st: Stats;
  /** Reads the content (files) or the link target (symlinks). */
  source: FileSource;
  linkTarget(): string;
}

/** Where COPY reads from: the build context or another stage's / image's files. */
export interface SourceFs {
  /** What a source is called in messages ("the build context", "stage builder"). */
  readonly what: string;
  /** Resolves a cleaned relative path, symlinks followed inside the source (the last as asked). */
  resolve(rel: string, followLast: boolean): SrcEntry | undefined;
  /** True when .dockerignore excludes `rel`. */
  excluded(rel: string): boolean;
  /** Entries below directory `dir`, parents first, sorted, without excluded ones. */
  walk(dir: SrcEntry, visit: (e: SrcEntry) => void, signal?: AbortSignal): void;
  /** Entries matching a wildcard pattern. */
  glob(pattern: string): SrcEntry[];
}

/** The build context as a {@link SourceFs}. */
export function contextSource(ctx: BuildContext): SourceFs {
  const wrap = (e: ContextEntry): SrcEntry => ({
    rel: e.rel,
    st: e.st,
    source: { open: () => ctx.openFile(e) },
    linkTarget: () => readlinkSync(e.abs),
  });
  return {
    what: 'the build context',
    resolve: (rel, followLast) => {
      const e = ctx.resolve(rel, followLast);
      return e ? wrap(e) : undefined;
    },
    excluded: (rel) => ctx.ignore.excludes(rel),
    walk: (dir, visit, signal) => {
      const root = ctx.resolve(dir.rel, true);
      if (root) ctx.walk(root, (e) => visit(wrap(e)), signal);
    },
    glob: (pattern) => ctx.glob(pattern).map(wrap),
  };
}

/** A stage's or image's merged files as a {@link SourceFs} (no .dockerignore there). */
export function treeSource(tree: MergedTree, what: string): SourceFs {
  const entryAt = (components: string[]): SrcEntry | undefined => {
    const e = tree.lstat(components);
    if (!e) return undefined;
    return {
      rel: components.join('/'),
      st: e.st,
      source: {
        open: () => {
          const fd = openSync(e.host, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
          const st = fstatSync(fd);
          if (!st.isFile()) {
            closeSync(fd);
            throw new Error(`${e.host} is not a regular file`);
          }
          return { fd, size: st.size };
        },
      },
      linkTarget: () => readlinkSync(e.host),
    };
  };
  const split = (rel: string) => rel.split('/').filter(Boolean);
  return {
    what,
    resolve: (rel, followLast) => {
      let r: ReturnType<MergedTree['resolve']>;
      try {
        r = tree.resolve(rel, followLast);
      } catch (e) {
        // A loop, a non-directory in the way, or a link gone meanwhile: no such source.
        if (isErrno(e, 'ENOENT', 'EINVAL') || (e instanceof Error && (e.message === 'ELOOP' || e.message === 'ENOTDIR'))) return undefined;
        throw e;
      }
      return r.entry ? entryAt(r.components) : undefined;
    },
    excluded: () => false,
    walk: (dir, visit, signal) => {
      const rec = (components: string[]) => {
        for (const name of tree.list(components)) {
          signal?.throwIfAborted();
          const e = entryAt([...components, name]);
          if (!e) continue;
          visit(e);
          if (e.st.isDirectory()) rec([...components, name]);
        }
      };
      rec(split(dir.rel));
    },
    glob: (pattern) => {
      const parts = split(pattern);
      let current: string[][] = [[]];
      for (let i = 0; i < parts.length; i++) {
        const next: string[][] = [];
        for (const dir of current) {
          const names = hasWildcards(parts[i]) ? tree.list(dir).filter((n) => globComponent(parts[i]).test(n)) : [parts[i]];
          for (const n of names) {
            const e = tree.lstat([...dir, n]);
            if (e && (i === parts.length - 1 || e.st.isDirectory())) next.push([...dir, n]);
          }
        }
        current = next;
      }
      return current.map(entryAt).filter((e): e is SrcEntry => e !== undefined);
    },
  };
}

export interface CopyRequest {
  keyword: 'COPY' | 'ADD';
  /** Sources after substitution. */
  sources: string[];
  /** The destination after substitution. */
  dest: string;
  /** The image's working directory ("" for /). */
  workdir: string;
  /** Owner of what is copied and of directories made for it. */
  owner: { uid: number; gid: number };
  chmod?: number;
  /** Whether sources come from the build context (then `..` may not leave it and ADD may extract). */
  fromContext: boolean;
  /** Build time, seconds (mtime of directories made). */
  now: number;
  signal?: AbortSignal;
}

export interface CopyPlan {
  items: PlanItem[];
  /** Warnings (skipped special files). */
  warnings: string[];
}

/** A URL or git source, which ADD does not fetch. */
export function isRemoteSource(src: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(src) || /^git@/.test(src);
}

/**
 * Plans a COPY or ADD (see the module comment). `fail(what)` makes the step's error
 * ("Dockerfile:N: COPY: what"). `dest` is the destination image's merged files.
 */
export function planCopy(src: SourceFs, dest: MergedTree, req: CopyRequest, fail: (what: string) => BerthError): CopyPlan {
  const warnings: string[] = [];
  const items: PlanItem[] = [];
  // The sources.
  const found: { name: string; entry: SrcEntry }[] = [];
  for (const raw of req.sources) {
    if (req.keyword === 'ADD' && isRemoteSource(raw))
      throw fail(`${raw}: ADD from a URL is not supported (builds have no network); download it into the build context and COPY it`);
    if (req.fromContext && escapesRoot(raw)) throw fail(`${raw} is outside the build context`);
    const rel = cleanRelative(raw);
    if (hasWildcards(rel)) {
      let matches: SrcEntry[];
      try {
        matches = src.glob(rel);
      } catch (e) {
        throw fail((e as Error).message);
      }
      if (matches.length === 0)
        throw fail(`no file in ${src.what} matches ${raw}${req.fromContext ? ' (or every match is excluded by .dockerignore)' : ''}`);
      for (const m of matches) {
        const r = m.st.isSymbolicLink() ? src.resolve(m.rel, true) : m;
        if (!r) throw fail(`${m.rel}: the symlink leads nowhere inside ${src.what}`);
        found.push({ name: posix.basename(m.rel), entry: r });
      }
      continue;
    }
    if (rel !== '' && src.excluded(rel)) throw fail(`${raw}: excluded by .dockerignore`);
    const e = src.resolve(rel, true);
    if (!e) throw fail(`${raw}: no such file or directory in ${src.what}`);
    found.push({ name: rel === '' ? '' : posix.basename(rel), entry: e });
  }

  // The destination.
  const destAbs = req.dest.startsWith('/') ? req.dest : posix.join(req.workdir || '/', req.dest);
  const wantsDir = req.dest.endsWith('/') || req.dest === '.' || req.dest.endsWith('/.');
  if (found.length > 1 && !wantsDir) {
    throw fail(`with more than one source file, the destination must be a directory and end with a / (got "${req.dest}")`);
  }
  let resolved: ReturnType<MergedTree['resolve']>;
  try {
    resolved = dest.resolve(destAbs, true);
  } catch (e) {
    throw fail(
      `the destination ${destAbs} ${(e as Error).message === 'ENOTDIR' ? 'goes through a file of the image' : 'has too many levels of symlinks'}`,
    );
  }
  const destPath = resolved.components.join('/');
  const destIsDir = wantsDir || resolved.entry?.st.isDirectory() === true;
  const join = (...parts: string[]) => parts.filter((p) => p !== '').join('/');
  const mode = (st: Stats) => (req.chmod !== undefined ? req.chmod : st.mode & 0o7777);
  const mtime = (st: Stats) => Math.floor(st.mtimeMs / 1000);
  const { uid, gid } = req.owner;

  const add = (path: string, e: SrcEntry) => {
    if (path === '') throw fail('cannot copy a file onto the root directory');
    if (e.st.isDirectory()) items.push({ kind: 'dir', path, mode: mode(e.st), uid, gid, mtime: mtime(e.st) });
    else if (e.st.isFile()) items.push({ kind: 'file', path, mode: mode(e.st), uid, gid, mtime: mtime(e.st), source: e.source });
    else if (e.st.isSymbolicLink()) items.push({ kind: 'symlink', path, uid, gid, mtime: mtime(e.st), target: e.linkTarget() });
    else warnings.push(`${req.keyword}: skipped ${e.rel}: only files, directories and symlinks are copied`);
  };

  for (const { name, entry } of found) {
    if (entry.st.isDirectory()) {
      const prefix = entry.rel === '' ? '' : `${entry.rel}/`;
      src.walk(entry, (e) => add(join(destPath, e.rel.slice(prefix.length)), e), req.signal);
      if (destPath === '') continue;
      // The destination directory itself, so an empty source directory still makes it.
      items.unshift({ kind: 'dir', path: destPath, mode: -1, uid, gid, mtime: req.now });
      continue;
    }
    if (req.keyword === 'ADD' && req.fromContext && entry.st.isFile() && isTarArchive(entry.source, entry.rel, fail)) {
      items.push({ kind: 'archive', path: destPath, source: entry.source, name: entry.rel });
      continue;
    }
    add(destIsDir ? join(destPath, name || posix.basename(entry.rel)) : destPath, entry);
  }
  return { items, warnings };
}

/** True when `p` (relative to a root) goes above it with "..". */
function escapesRoot(p: string): boolean {
  let depth = 0;
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (--depth < 0) return true;
    } else depth++;
  }
  return false;
}

/**
 * True when the file is a tar archive ADD extracts: a plain or gzip-compressed tar (Docker's xz
 * and bzip2 are refused with an error rather than copied silently; zstd files are copied, as
 * Docker copies them).
 */
function isTarArchive(source: FileSource, name: string, fail: (what: string) => BerthError): boolean {
  const { fd, size } = source.open();
  try {
    if (size === 0) return false;
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    const n = readSync(fd, head, 0, head.length, 0);
    let comp: ReturnType<typeof detectCompression>;
    try {
      comp = detectCompression(head.subarray(0, n), 'the ADD source');
    } catch (e) {
      if (!(e instanceof BerthError)) throw e; // xz, bzip2, lz4, compress: refused
      throw fail(
        `${name}: a compressed archive Berth does not extract (ADD extracts plain and gzip-compressed tar archives); decompress it in the context, or COPY it`,
      );
    }
    if (comp === 'none') return tarChecksumOk(head.subarray(0, n));
    if (comp !== 'gzip') return false;
    try {
      return tarChecksumOk(gunzipSync(head.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH }));
    } catch (e) {
      // Not gzip after all (Z_DATA_ERROR and the like): copied as a file, as Docker does.
      if (String((e as { code?: unknown })?.code).startsWith('Z_')) return false;
      throw e;
    }
  } finally {
    closeSync(fd);
  }
}

/** True when `b` starts with a tar header block whose checksum is right. */
function tarChecksumOk(b: Buffer): boolean {
  if (b.length < 512 || b[0] === 0) return false;
  const field = b
    .toString('latin1', 148, 156)
    .replace(/[\0 ]+$/g, '')
    .trim();
  if (!/^[0-7]{1,7}$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  return sum === parseInt(field, 8);
}

export interface WrittenPlan {
  /** The digest of what was copied (see the module comment). */
  contentDigest: string;
  /** Entries written (not counting directories the destination needed). */
  entries: number;
}

/**
 * Writes `items` as a layer tar through `write`: every directory an item needs comes first (the
 * image's own metadata when it has the directory, else 0755 owned by `owner`), then the items.
 * Items of kind 'dir' with mode -1 are directories the plan needs (as their parents are).
 */
export async function writePlan(
  items: PlanItem[],
  dest: MergedTree,
  owner: { uid: number; gid: number },
  now: number,
  write: (chunk: Buffer) => void,
  fail: (what: string) => BerthError,
  signal?: AbortSignal,
): Promise<WrittenPlan> {
  const tar = new TarWriter(write);
  const content = createHash('sha256');
  const emitted = new Set<string>();
  let sinceYield = 0;
  let entries = 0;
  const pace = async (n: number) => {
    sinceYield += n;
    if (sinceYield >= YIELD_BYTES) {
      sinceYield = 0;
      await new Promise((r) => setImmediate(r));
      signal?.throwIfAborted();
    }
  };
  const needDir = (path: string) => {
    if (path === '' || emitted.has(path)) return;
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (emitted.has(p)) continue;
      emitted.add(p);
      const e = dest.lstat(parts.slice(0, i));
      if (e?.st.isDirectory())
        tar.addEntry({
          name: `${p}/`,
          type: 'dir',
          mode: e.st.mode & 0o7777,
          uid: e.st.uid,
          gid: e.st.gid,
          mtime: Math.floor(e.st.mtimeMs / 1000),
        });
      else tar.addEntry({ name: `${p}/`, type: 'dir', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: now });
    }
  };
  const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');

  for (const item of items) {
    signal?.throwIfAborted();
    if (item.kind === 'dir' && item.mode === -1) {
      needDir(item.path);
      continue;
    }
    if (item.kind === 'archive') {
      needDir(item.path);
      content.update(`A\0${item.path}\0`);
      entries += await extractArchive(item, tar, content, needDir, fail, pace);
      continue;
    }
    needDir(parentOf(item.path));
    entries++;
    if (item.kind === 'dir') {
      content.update(`D\0${item.path}\0${item.mode}\0${item.uid}\0${item.gid}\n`);
      emitted.add(item.path);
      tar.addEntry({ name: `${item.path}/`, type: 'dir', mode: item.mode, uid: item.uid, gid: item.gid, mtime: item.mtime });
    } else if (item.kind === 'symlink') {
      content.update(`L\0${item.path}\0${item.uid}\0${item.gid}\0${item.target}\n`);
      tar.addEntry({
        name: item.path,
        type: 'symlink',
        linkname: item.target,
        mode: 0o777,
        uid: item.uid,
        gid: item.gid,
        mtime: item.mtime,
      });
    } else {
      const fileHash = createHash('sha256');
      const { fd, size } = item.source.open();
      try {
        tar.beginEntry({ name: item.path, type: 'file', size, mode: item.mode, uid: item.uid, gid: item.gid, mtime: item.mtime });
        for (const chunk of fileContentChunks(fd, size, CHUNK)) {
          fileHash.update(chunk);
          tar.writeContent(chunk);
          await pace(chunk.length);
        }
        tar.endEntry();
      } finally {
        closeSync(fd);
      }
      content.update(`F\0${item.path}\0${item.mode}\0${item.uid}\0${item.gid}\0${fileHash.digest('hex')}\n`);
    }
  }
  tar.finish();
  return { contentDigest: `sha256:${content.digest('hex')}`, entries };
}

/** Re-emits the entries of a tar archive under `item.path` (see the module comment). */
async function extractArchive(
  item: Extract<PlanItem, { kind: 'archive' }>,
  tar: TarWriter,
  content: Hash,
  needDir: (path: string) => void,
  fail: (what: string) => BerthError,
  pace: (n: number) => Promise<void>,
): Promise<number> {
  const { fd } = item.source.open();
  const stream = createReadStream('', { fd, autoClose: true, highWaterMark: CHUNK });
  const archiveHash = createHash('sha256');
  const hashing = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      archiveHash.update(c);
      await pace(c.length);
      yield c;
    }
  };
  const under = (name: string): string => {
    const parts: string[] = [];
    for (const c of name.split('/')) {
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (parts.length === 0) throw fail(`${item.name}: the archive entry "${name}" leaves the destination`);
        parts.pop();
      } else parts.push(c);
    }
    return [item.path, ...parts].filter(Boolean).join('/');
  };
  let n = 0;
  try {
    for await (const entry of readTar(decompressingSource(hashing(stream), { what: `ADD ${item.name}` }))) {
      const h = entry.header;
      const base = h.name.replace(/\/+$/, '').split('/').pop() ?? '';
      if (base.startsWith('.wh.'))
        throw fail(`${item.name}: the archive entry "${h.name}" has a name reserved for layer whiteouts (.wh.*)`);
      if (h.xattrs && [...h.xattrs.keys()].some((k) => k.startsWith('trusted.overlay.'))) {
        throw fail(`${item.name}: the archive entry "${h.name}" carries trusted.overlay.* attributes`);
      }
      const path = under(h.name);
      const header: TarWriteHeader = {
        name: h.type === 'dir' ? `${path}/` : path,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        mtime: Math.max(0, h.mtime),
        ...(h.xattrs?.size ? { xattrs: h.xattrs } : {}),
        ...(h.type === 'char' || h.type === 'block' ? { devmajor: h.devmajor, devminor: h.devminor } : {}),
      };
      if (path === item.path && h.type !== 'dir')
        throw fail(`${item.name}: the archive entry "${h.name}" would replace the destination directory`);
      if (path.includes('/')) needDir(path.slice(0, path.lastIndexOf('/')));
      if (h.type === 'symlink') header.linkname = h.linkname;
      if (h.type === 'hardlink') header.linkname = under(h.linkname);
      n++;
      if (h.type === 'file') {
        tar.beginEntry({ ...header, size: h.size });
        for await (const c of entry.content) tar.writeContent(Buffer.from(c));
        tar.endEntry();
      } else tar.addEntry(header);
    }
  } catch (e) {
    if (e instanceof BerthError && e.data.operation === 'build') throw e;
    if (e instanceof BerthError) throw fail(`${item.name}: ${e.message}`);
    throw e;
  } finally {
    stream.destroy();
  }
  content.update(`${archiveHash.digest('hex')}\n`);
  return n;
}

/** Parses `--chown` ("user[:group]", names or ids) against the image's /etc/passwd and /etc/group. */
export function resolveOwner(
  spec: string,
  readEtc: (name: 'passwd' | 'group') => string | undefined,
  fail: (what: string) => BerthError,
): { uid: number; gid: number } {
  const parts = spec.split(':');
  if (parts.length > 2 || parts[0] === '' || parts[1] === '') throw fail(`--chown must be user[:group], got "${spec.slice(0, 64)}"`);
  const lookup = (file: 'passwd' | 'group', name: string, field: number): number => {
    if (/^[0-9]{1,10}$/.test(name)) {
      const n = Number(name);
      if (n > 0xfffffffe) throw fail(`--chown: ${name} is out of range`);
      return n;
    }
    for (const line of (readEtc(file) ?? '').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length > field && /^[0-9]{1,10}$/.test(f[field])) return Number(f[field]);
    }
    throw fail(`--chown: unable to find ${file === 'passwd' ? 'user' : 'group'} ${name} in the image's /etc/${file}`);
  };
  const uid = lookup('passwd', parts[0], 2);
  const gid = parts.length === 2 ? lookup('group', parts[1], 2) : uid;
  return { uid, gid };
}
