/**
 * Applies one layer blob to an empty directory in overlay form, the way Docker's overlay2 driver
 * lays out a layer's diff directory:
 *
 * - `.wh.NAME` becomes a character device 0/0 at NAME (the `.wh.` file itself is not created);
 * - `.wh..wh..opq` in D sets `trusted.overlay.opaque=y` on D; other `.wh..wh.*` entries are ignored;
 * - files, dirs, symlinks, hardlinks, devices and FIFOs are created with their owner, mode
 *   (setuid/setgid/sticky included), mtime and xattrs.
 *
 * Safety: the layer can never write outside `dir`. Names are normalised lexically; a `..` that
 * escapes, a non-directory at the root, an entry or hardlink target below a symlink this layer
 * created, and hardlinks to directories are refused (HostileLayer). The extractor never follows a
 * symlink: it keeps an in-memory record of everything it created (the directory was empty, so the
 * record is authoritative), checks parents against it, and creates files with O_EXCL|O_NOFOLLOW
 * after removing whatever this layer had put there before. xattrs in the `trusted.overlay.`
 * namespace are refused (HostileLayer), as they would let a layer fake whiteouts or opaque dirs.
 *
 * The work is synchronous fs calls on fds; the only await is the backpressure of write().
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { BerthError, ErrorCode, systemError } from '../errors';
import { native } from '../../native';
import { Decompressor } from '../oci/decompress';
import type { LayerIndexEntry } from '../oci/layerIndex';
import { TarParser, type TarHeader } from '../oci/tar';

export interface UnpackResult {
  /** "sha256:" + sha256 of the uncompressed tar stream. */
  diffId: string;
  /** Bytes of regular-file content written. */
  size: number;
  /** Bytes of the uncompressed tar stream (what `image save` writes back out). */
  tarSize: number;
  /** The layer's file index, in archive order (later duplicates replace earlier ones). */
  entries: LayerIndexEntry[];
  /** Hardlinks whose target is not in this layer; resolve with {@link resolveCrossLayerHardlinks}. */
  pendingHardlinks: { path: string; target: string }[];
}

export interface UnpackOptions {
  /** The layer's digest, for messages and error data. */
  layerDigest?: string;
  /** Limit on decompressed bytes (default 64 GiB). */
  maxBytes?: number;
  /** Aborts the unpack (write/finish reject with ErrorCode.Cancelled). */
  signal?: AbortSignal;
}

// What this layer has put at a path.
const K_DIR = 1;
const K_IMPLICIT = 2; // a parent created because an entry needed it
const K_FILE = 3;
const K_SYMLINK = 4;
const K_OTHER = 5; // device or FIFO
const K_WHITEOUT = 6;
const K_PENDING = 7; // a hardlink to a lower layer's file, not yet on disk

const OPEN_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const S_IFCHR = fs.constants.S_IFCHR;
const S_IFBLK = fs.constants.S_IFBLK;
const S_IFIFO = fs.constants.S_IFIFO;
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "unchanged" to chown
const OPQ_KEY = '\0opq'; // index key suffix of opaque markers (a path cannot contain NUL)
const EMPTY_DIGEST = 'sha256:' + createHash('sha256').digest('hex');

interface OpenFile {
  fd: number;
  path: string;
  header: TarHeader;
  hash: Hash | null;
  entry: LayerIndexEntry;
}

/**
 * Accepts a layer blob's bytes as they arrive (gzip, zstd or plain tar), decompresses them, hashes
 * the diffID, and extracts into `dir`, an empty directory that only the caller writes. On failure
 * the directory holds a partial layer; the caller removes it.
 */
export class LayerUnpacker {
  private readonly dir: string;
  private readonly digest: string | undefined;
  private readonly label: string;
  private readonly dec: Decompressor;
  private readonly parser: TarParser;
  private readonly diffHash = createHash('sha256');
  private readonly nodes = new Map<string, number>([['', K_DIR]]);
  private readonly index = new Map<string, LayerIndexEntry>();
  private readonly dirTimes = new Map<string, number>();
  private readonly pending = new Map<string, string>();
  private cur: OpenFile | null = null;
  private lastParent = '';
  private written = 0;
  private failure: Error | null = null;
  private finished = false;
  private currentName = '';
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = () => this.abort();
  /** xattrs the filesystem would not take (ENOTSUP/EPERM, e.g. user.* on symlinks), skipped as Docker does. */
  skippedXattrs = 0;

  constructor(dir: string, opts: UnpackOptions = {}) {
    this.dir = dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir;
    this.digest = opts.layerDigest;
    this.label = opts.layerDigest ? `unpack layer ${opts.layerDigest}` : 'unpack layer';
    this.parser = new TarParser({
      entry: (h) => this.onEntry(h),
      data: (c) => this.onData(c),
      end: () => this.onEnd(),
    });
    this.dec = new Decompressor(
      (chunk) => {
        this.diffHash.update(chunk);
        this.parser.push(chunk);
      },
      { maxBytes: opts.maxBytes, what: 'the layer blob' },
    );
    this.signal = opts.signal;
    if (this.signal) {
      if (this.signal.aborted) this.abort();
      else this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** Takes the next bytes of the blob; resolves when it may take more. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.finished) throw new Error('LayerUnpacker: write after finish');
    try {
      await this.dec.write(chunk);
    } catch (e) {
      throw this.fail(e);
    }
    if (this.failure) throw this.failure;
  }

  /** End of input: verifies the compressed stream and the tar ended properly, then applies directory mtimes. */
  async finish(): Promise<UnpackResult> {
    if (this.failure) throw this.failure;
    if (this.finished) throw new Error('LayerUnpacker: finish called twice');
    try {
      await this.dec.end();
      if (this.failure) throw this.failure;
      this.parser.end();
      // Directory times last: creating children changed them.
      for (const [rel, t] of this.dirTimes) {
        const p = this.abs(rel);
        try {
          fs.utimesSync(p, t, t);
        } catch (e) {
          throw systemError('unpack layer', e, { path: p, digest: this.digest });
        }
      }
    } catch (e) {
      throw this.fail(e);
    }
    this.finished = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    const pendingHardlinks: UnpackResult['pendingHardlinks'] = [];
    for (const [path, target] of this.pending) pendingHardlinks.push({ path, target });
    const entries: LayerIndexEntry[] = [];
    for (const e of this.index.values()) entries.push(e);
    return { diffId: 'sha256:' + this.diffHash.digest('hex'), size: this.written, tarSize: this.dec.bytesOut, entries, pendingHardlinks };
  }

  /** Stops the unpack; pending and later write()/finish() calls reject with `err` (default: Cancelled). */
  abort(err?: Error): void {
    if (this.failure || this.finished) return;
    this.fail(err ?? new BerthError(ErrorCode.Cancelled, `${this.label}: cancelled`, { operation: 'unpack layer', digest: this.digest }));
  }

  // ------------------------------------------------------------------------------------------
  // Failure handling

  private fail(e: unknown): Error {
    if (!this.failure) {
      this.failure = this.wrap(e);
      this.dec.destroy(this.failure);
      if (this.cur) {
        try {
          fs.closeSync(this.cur.fd);
        } catch {
          // Closing while failing: whatever close says must not replace the first failure.
        }
        this.cur = null;
      }
      this.signal?.removeEventListener('abort', this.onAbort);
    }
    return this.failure;
  }

  /** Gives every error the layer's name: parser/decompressor messages get the "unpack layer …:" prefix. */
  private wrap(e: unknown): Error {
    if (e instanceof BerthError) {
      if (e.data.operation === 'unpack layer') return e;
      return new BerthError(
        e.code,
        `${this.label}: ${e.message}`,
        { ...e.data, operation: 'unpack layer', digest: this.digest },
        { cause: e },
      );
    }
    return systemError('unpack layer', e, { digest: this.digest, entry: this.currentName || undefined });
  }

  private hostile(entry: string, why: string): BerthError {
    return new BerthError(ErrorCode.HostileLayer, `${this.label}: entry "${printable(entry)}" ${why}`, {
      operation: 'unpack layer',
      entry,
      digest: this.digest,
    });
  }

  private invalid(entry: string, why: string): BerthError {
    return new BerthError(ErrorCode.InvalidContent, `${this.label}: entry "${printable(entry)}" ${why}`, {
      operation: 'unpack layer',
      entry,
      digest: this.digest,
    });
  }

  private sys(e: unknown, path: string): BerthError {
    return systemError('unpack layer', e, { path, entry: this.currentName, digest: this.digest });
  }

  // ------------------------------------------------------------------------------------------
  // Paths

  private abs(rel: string): string {
    return rel === '' ? this.dir : this.dir + '/' + rel;
  }

  /** Lexical normalisation: strips "/", "./", collapses "." and "..", refuses escapes. Root is ''. */
  private normalize(name: string, entry: string, what: string): string {
    // Fast path: already clean.
    if (
      !name.startsWith('/') &&
      !name.startsWith('./') &&
      !name.includes('//') &&
      !name.includes('/.') &&
      name !== '.' &&
      !name.startsWith('..')
    ) {
      return name.endsWith('/') ? name.slice(0, -1) : name;
    }
    const out: string[] = [];
    for (const part of name.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (out.length === 0) throw this.hostile(entry, `${what} escapes the layer directory`);
        out.pop();
      } else out.push(part);
    }
    return out.join('/');
  }

  /** Makes sure every ancestor of `rel` is a directory of this layer, creating missing ones (0755 root:root). */
  private ensureParents(rel: string, entry: string): void {
    const slash = rel.lastIndexOf('/');
    if (slash < 0) return;
    const parent = rel.slice(0, slash);
    if (parent === this.lastParent) return;
    let missing = false;
    for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) {
      const a = rel.slice(0, i);
      if (!missing) {
        const k = this.nodes.get(a);
        if (k === K_DIR || k === K_IMPLICIT) continue;
        if (k === K_SYMLINK) throw this.hostile(entry, `is under a symlinked parent ("${printable(a)}" is a symlink in this layer)`);
        if (k !== undefined) throw this.invalid(entry, `has a parent "${printable(a)}" that is not a directory`);
        missing = true;
      }
      const p = this.abs(a);
      try {
        fs.mkdirSync(p, 0o755);
        fs.chmodSync(p, 0o755); // whatever the umask
      } catch (e) {
        throw this.sys(e, p);
      }
      this.nodes.set(a, K_IMPLICIT);
    }
    this.lastParent = parent;
  }

  /** Removes what this layer had put at `rel` (a later entry replaces an earlier one). */
  private removeExisting(rel: string, kind: number): void {
    const p = this.abs(rel);
    try {
      if (kind === K_DIR || kind === K_IMPLICIT) {
        fs.rmSync(p, { recursive: true, force: true });
        const prefix = rel + '/';
        for (const m of [this.nodes, this.index, this.dirTimes, this.pending] as Map<string, unknown>[]) {
          for (const k of m.keys()) if (k.startsWith(prefix)) m.delete(k);
        }
        this.index.delete(rel + OPQ_KEY);
        this.lastParent = '';
      } else if (kind !== K_PENDING) {
        fs.unlinkSync(p);
      }
    } catch (e) {
      throw this.sys(e, p);
    }
    this.nodes.delete(rel);
    this.index.delete(rel);
    this.dirTimes.delete(rel);
    this.pending.delete(rel);
  }

  // ------------------------------------------------------------------------------------------
  // Entries

  private onEntry(h: TarHeader): void {
    this.currentName = h.name;
    if (h.uid > MAX_ID || h.gid > MAX_ID) throw this.invalid(h.name, `has an owner id out of range (${h.uid}:${h.gid})`);
    const rel = this.normalize(h.name, h.name, 'name');
    const slash = rel.lastIndexOf('/');
    const base = slash < 0 ? rel : rel.slice(slash + 1);

    if (base.startsWith('.wh.')) {
      // A whiteout's content (if any) is not kept: cur stays null, so onData drops it.
      this.whiteout(h, rel, slash < 0 ? '' : rel.slice(0, slash), base);
      return;
    }
    if (rel === '') {
      if (h.type !== 'dir') throw this.hostile(h.name, `is a ${h.type} at the layer root (only a directory may be "/")`);
      this.applyDirMeta(h, '');
      this.index.set('', this.indexEntry(h, '.', 'dir'));
      return;
    }
    this.ensureParents(rel, h.name);
    const prev = this.nodes.get(rel);
    if (prev !== undefined) {
      if (h.type === 'dir' && (prev === K_DIR || prev === K_IMPLICIT)) {
        this.applyDirMeta(h, rel);
        this.nodes.set(rel, K_DIR);
        this.index.delete(rel);
        this.index.set(rel, this.indexEntry(h, rel, 'dir'));
        return;
      }
      this.removeExisting(rel, prev);
    }
    const p = this.abs(rel);
    switch (h.type) {
      case 'file': {
        let fd: number;
        try {
          fd = fs.openSync(p, OPEN_FLAGS, 0o600);
        } catch (e) {
          throw this.sys(e, p);
        }
        const entry = this.indexEntry(h, rel, 'file');
        this.cur = { fd, path: p, header: h, hash: h.size > 0 ? createHash('sha256') : null, entry };
        this.nodes.set(rel, K_FILE);
        this.index.set(rel, entry);
        return; // content, then onEnd() finishes the file
      }
      case 'dir':
        try {
          fs.mkdirSync(p, 0o700);
        } catch (e) {
          throw this.sys(e, p);
        }
        this.nodes.set(rel, K_DIR);
        this.applyDirMeta(h, rel);
        this.index.set(rel, this.indexEntry(h, rel, 'dir'));
        return;
      case 'symlink':
        try {
          fs.symlinkSync(h.linkname, p);
          fs.lchownSync(p, h.uid, h.gid);
        } catch (e) {
          throw this.sys(e, p);
        }
        this.nodes.set(rel, K_SYMLINK);
        this.setXattrs(h, p);
        this.lutimes(p, h.mtime);
        this.index.set(rel, { ...this.indexEntry(h, rel, 'symlink'), linkTarget: h.linkname });
        return;
      case 'hardlink':
        this.hardlink(h, rel, p);
        return;
      case 'char':
      case 'block':
      case 'fifo': {
        const ifmt = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        try {
          native().mknod(p, ifmt | h.mode, h.devmajor, h.devminor);
          fs.lchownSync(p, h.uid, h.gid);
          fs.chmodSync(p, h.mode); // mknod's mode went through the umask
        } catch (e) {
          throw this.sys(e, p);
        }
        this.nodes.set(rel, K_OTHER);
        this.setXattrs(h, p);
        this.lutimes(p, h.mtime);
        this.index.set(rel, this.indexEntry(h, rel, h.type));
        return;
      }
    }
  }

  private onData(chunk: Buffer): void {
    const f = this.cur;
    if (!f) return; // whiteout content
    const n = chunk.length;
    let off = 0;
    try {
      while (off < n) off += fs.writeSync(f.fd, chunk, off, n - off);
    } catch (e) {
      throw this.sys(e, f.path);
    }
    f.hash!.update(chunk);
    this.written += n;
  }

  private onEnd(): void {
    const f = this.cur;
    if (!f) return;
    this.cur = null;
    const h = f.header;
    try {
      // Owner first: chown clears setuid/setgid and file capabilities, so mode and xattrs follow it.
      fs.fchownSync(f.fd, h.uid, h.gid);
      fs.fchmodSync(f.fd, h.mode);
      this.setXattrs(h, f.path);
      fs.futimesSync(f.fd, h.mtime, h.mtime);
    } catch (e) {
      try {
        fs.closeSync(f.fd);
      } catch {
        // Closing while failing: whatever close says must not replace the first failure.
      }
      throw e instanceof BerthError ? e : this.sys(e, f.path);
    }
    try {
      fs.closeSync(f.fd);
    } catch (e) {
      throw this.sys(e, f.path);
    }
    f.entry.digest = f.hash ? 'sha256:' + f.hash.digest('hex') : EMPTY_DIGEST;
  }

  private whiteout(h: TarHeader, rel: string, parent: string, base: string): void {
    if (base === '.wh..wh..opq') {
      // The parent directory hides the lower layers' contents.
      if (parent !== '') {
        this.ensureParents(rel, h.name);
        const k = this.nodes.get(parent);
        if (k === K_SYMLINK) throw this.hostile(h.name, `is under a symlinked parent ("${printable(parent)}" is a symlink in this layer)`);
        if (k !== K_DIR && k !== K_IMPLICIT) throw this.invalid(h.name, `marks "${printable(parent)}" opaque, but it is not a directory`);
      }
      const p = this.abs(parent);
      try {
        native().lsetxattr(p, OPAQUE_XATTR, Buffer.from('y'));
      } catch (e) {
        throw this.sys(e, p);
      }
      const key = parent + OPQ_KEY;
      this.index.delete(key);
      this.index.set(key, this.indexEntry(h, parent || '.', 'opaque'));
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): ignored
    const name = base.slice(4);
    if (name === '' || name === '.' || name === '..') throw this.invalid(h.name, 'is a whiteout with no file name');
    const target = parent ? parent + '/' + name : name;
    this.ensureParents(target, h.name);
    const prev = this.nodes.get(target);
    if (prev !== undefined) this.removeExisting(target, prev);
    const p = this.abs(target);
    try {
      native().mknod(p, S_IFCHR, 0, 0);
      fs.lchownSync(p, h.uid, h.gid);
    } catch (e) {
      throw this.sys(e, p);
    }
    this.nodes.set(target, K_WHITEOUT);
    this.index.set(target, { ...this.indexEntry(h, target, 'whiteout'), mode: 0 });
  }

  private hardlink(h: TarHeader, rel: string, p: string): void {
    const t = this.normalize(h.linkname, h.name, 'hardlink target');
    if (t === '') throw this.hostile(h.name, 'is a hardlink to the layer root directory');
    // The target's ancestors must not be symlinks (the kernel would follow them) and must be dirs.
    let ancestorsPresent = true;
    for (let i = t.indexOf('/'); i > 0; i = t.indexOf('/', i + 1)) {
      const k = this.nodes.get(t.slice(0, i));
      if (k === K_SYMLINK) throw this.hostile(h.name, `is a hardlink whose target "${printable(h.linkname)}" is under a symlinked parent`);
      if (k === undefined) ancestorsPresent = false;
      else if (k !== K_DIR && k !== K_IMPLICIT)
        throw this.invalid(h.name, `is a hardlink to "${printable(h.linkname)}", which this layer deleted or replaced`);
    }
    const tk = ancestorsPresent ? this.nodes.get(t) : undefined;
    const entry: LayerIndexEntry = { ...this.indexEntry(h, rel, 'hardlink'), linkTarget: t };
    if (tk === K_DIR || tk === K_IMPLICIT) throw this.hostile(h.name, `is a hardlink to a directory ("${printable(h.linkname)}")`);
    if (tk === K_WHITEOUT) throw this.invalid(h.name, `is a hardlink to "${printable(h.linkname)}", which this layer deleted`);
    if (tk === undefined || tk === K_PENDING) {
      // The target comes from a lower layer: resolved once those are unpacked.
      this.pending.set(rel, tk === K_PENDING ? this.pending.get(t)! : t);
      this.nodes.set(rel, K_PENDING);
      this.index.set(rel, entry);
      return;
    }
    const tp = this.abs(t);
    try {
      fs.linkSync(tp, p);
    } catch (e) {
      throw this.sys(e, p);
    }
    this.nodes.set(rel, tk); // a hardlink to a symlink is a symlink, for the parent checks
    const te = this.index.get(t);
    if (te) {
      entry.size = te.size;
      entry.mode = te.mode;
      entry.uid = te.uid;
      entry.gid = te.gid;
      entry.mtime = te.mtime;
      if (te.digest) entry.digest = te.digest;
    }
    this.index.set(rel, entry);
  }

  private applyDirMeta(h: TarHeader, rel: string): void {
    const p = this.abs(rel);
    try {
      fs.chownSync(p, h.uid, h.gid);
      fs.chmodSync(p, h.mode);
    } catch (e) {
      throw this.sys(e, p);
    }
    this.setXattrs(h, p);
    this.dirTimes.set(rel, h.mtime);
  }

  private setXattrs(h: TarHeader, p: string): void {
    if (!h.xattrs) return;
    for (const [name, value] of h.xattrs) {
      if (name.startsWith('trusted.overlay.')) {
        throw this.hostile(h.name, `sets the overlay xattr "${name}", which could fake whiteouts or opaque directories`);
      }
      try {
        native().lsetxattr(p, name, value);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM') {
          this.skippedXattrs++;
          continue;
        }
        throw this.sys(e, p);
      }
    }
  }

  private lutimes(p: string, t: number): void {
    try {
      fs.lutimesSync(p, t, t);
    } catch (e) {
      throw this.sys(e, p);
    }
  }

  private indexEntry(h: TarHeader, path: string, type: LayerIndexEntry['type']): LayerIndexEntry {
    return { path, type, size: h.size, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime };
  }
}

/** `s` with control characters escaped, for messages naming a hostile entry. */
export function printable(s: string): string {
  return s.replace(/[\0-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
