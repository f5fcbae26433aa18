/**
 * A tar writer: POSIX ustar headers, with a PAX extended header in front of an entry whenever a
 * field does not fit ustar (long names or link targets, large ids/sizes, fractional mtimes) or the
 * entry has extended attributes (`SCHILY.xattr.*`, as GNU tar writes them).
 *
 * {@link TarWriter} emits Buffers to a sink (or collects them); {@link encodeHeader},
 * {@link contentPadding} and {@link endOfArchive} are the pieces for callers that stream content
 * themselves (`image save`). {@link rawHeader} and {@link paxData} build headers with no checks at
 * all, for tests that need archives a well-behaved writer refuses to produce.
 */
import { readSync } from 'node:fs';
import { BerthError, ErrorCode } from '../errors';
import type { TarEntryType } from './tar';

/** An entry to write. Defaults: type 'file', mode 0644 (0755 for dirs), uid/gid 0, mtime 0. */
export interface TarWriteHeader {
  name: string;
  type?: TarEntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Content bytes; for addEntry() it defaults to the content's length. */
  size?: number;
  /** Seconds since the epoch; fractional values go into PAX. */
  mtime?: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as `SCHILY.xattr.<name>` PAX records (binary-safe). */
  xattrs?: Map<string, Buffer> | Record<string, Buffer | string>;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};
const MAX_OCT7 = 0o7777777;
const MAX_OCT11 = 0o77777777777;

/**
 * The header block(s) for one entry: a PAX 'x' header and its records first when needed, then the
 * ustar header. Throws BerthError(InvalidArgument) for names with NUL/newline, ".." components,
 * empty names, or negative numbers.
 */
export function encodeHeader(h: TarWriteHeader): Buffer {
  const type = h.type ?? 'file';
  checkPath(h.name, h.name, 'name');
  const linkname = h.linkname ?? '';
  if (type === 'hardlink' || type === 'symlink') {
    if (!linkname) throw bad(`tar entry "${h.name}": a ${type} needs a link target`, h.name);
    if (linkname.includes('\0') || linkname.includes('\n')) throw bad(`tar entry "${h.name}": link target contains NUL or newline`, h.name);
    if (type === 'hardlink') checkPath(linkname, h.name, 'hardlink target');
  }
  const size = type === 'file' ? (h.size ?? 0) : 0;
  const mode = h.mode ?? (type === 'dir' ? 0o755 : 0o644);
  const uid = h.uid ?? 0;
  const gid = h.gid ?? 0;
  const mtime = h.mtime ?? 0;
  for (const [k, v] of [
    ['size', size],
    ['uid', uid],
    ['gid', gid],
    ['mode', mode],
    ['devmajor', h.devmajor ?? 0],
    ['devminor', h.devminor ?? 0],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw bad(`tar entry "${h.name}": ${k} must be a non-negative integer`, h.name);
  }
  if (!Number.isFinite(mtime)) throw bad(`tar entry "${h.name}": mtime must be finite`, h.name);

  const pax: Array<[string, string | Buffer]> = [];
  let name = h.name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const split = splitUstar(name);
    if (split) [prefix, name] = split;
    else {
      pax.push(['path', h.name]);
      name = truncate(h.name, 100);
    }
  }
  let link = linkname;
  if (Buffer.byteLength(link) > 100) {
    pax.push(['linkpath', link]);
    link = truncate(link, 100);
  }
  if (size > MAX_OCT11) pax.push(['size', String(size)]);
  if (uid > MAX_OCT7) pax.push(['uid', String(uid)]);
  if (gid > MAX_OCT7) pax.push(['gid', String(gid)]);
  const uname = h.uname ?? '';
  const gname = h.gname ?? '';
  if (Buffer.byteLength(uname) > 32) pax.push(['uname', uname]);
  if (Buffer.byteLength(gname) > 32) pax.push(['gname', gname]);
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_OCT11) pax.push(['mtime', formatMtime(mtime)]);
  if (h.xattrs) {
    const entries = h.xattrs instanceof Map ? [...h.xattrs] : Object.entries(h.xattrs);
    for (const [k, v] of entries) {
      if (!k || k.includes('\0') || k.includes('=') || k.includes('\n')) throw bad(`tar entry "${h.name}": bad xattr name "${k}"`, h.name);
      pax.push([`SCHILY.xattr.${k}`, typeof v === 'string' ? Buffer.from(v) : v]);
    }
  }

  const ustar = rawHeader({
    name,
    prefix,
    mode,
    uid: Math.min(uid, MAX_OCT7),
    gid: Math.min(gid, MAX_OCT7),
    size: Math.min(size, MAX_OCT11),
    mtime: Math.max(0, Math.min(Math.floor(mtime), MAX_OCT11)),
    typeflag: TYPEFLAG[type],
    linkname: link,
    uname: truncate(uname, 32),
    gname: truncate(gname, 32),
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (pax.length === 0) return ustar;
  const data = paxData(pax);
  const base = h.name.slice(h.name.lastIndexOf('/', h.name.length - 2) + 1);
  const paxHdr = rawHeader({
    name: truncate(`PaxHeaders/${base}`, 100),
    typeflag: 'x',
    size: data.length,
    mode: 0o644,
    mtime: Math.max(0, Math.min(Math.floor(mtime), MAX_OCT11)),
  });
  return Buffer.concat([paxHdr, data, contentPadding(data.length), ustar]);
}

/** Zero bytes that pad `size` bytes of content to a whole block. */
export function contentPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** Raw header fields. Numbers are written in octal; a Buffer is copied into the field verbatim. */
export interface RawHeaderFields {
  name?: string | Buffer;
  mode?: number | Buffer;
  uid?: number | Buffer;
  gid?: number | Buffer;
  size?: number | Buffer;
  mtime?: number | Buffer;
  /** One character, e.g. '0', 'x', 'L', 'S'. Default '0'. */
  typeflag?: string;
  linkname?: string | Buffer;
  /** Default "ustar\0"; GNU tar writes "ustar " with version " \0". */
  magic?: string | Buffer;
  version?: string | Buffer;
  uname?: string | Buffer;
  gname?: string | Buffer;
  devmajor?: number | Buffer;
  devminor?: number | Buffer;
  prefix?: string | Buffer;
  /** Override the checksum: a number is written in octal as is; 'bad' writes a wrong one. */
  checksum?: number | 'bad';
}

/**
 * One 512-byte header built exactly as told, with no validation: for tests that craft malicious
 * archives (names with "..", absurd sizes, bad checksums).
 */
export function rawHeader(f: RawHeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  const str = (v: string | Buffer | undefined, off: number, len: number) => {
    if (v === undefined) return;
    const buf = typeof v === 'string' ? Buffer.from(v) : v;
    buf.copy(b, off, 0, Math.min(len, buf.length));
  };
  const num = (v: number | Buffer | undefined, off: number, len: number) => {
    if (v === undefined) v = 0;
    if (Buffer.isBuffer(v)) return str(v, off, len);
    b.write(
      v
        .toString(8)
        .padStart(len - 1, '0')
        .slice(-(len - 1)),
      off,
      'latin1',
    );
  };
  str(f.name, 0, 100);
  num(f.mode ?? 0o644, 100, 8);
  num(f.uid, 108, 8);
  num(f.gid, 116, 8);
  num(f.size, 124, 12);
  num(f.mtime, 136, 12);
  b.write(f.typeflag ?? '0', 156, 1, 'latin1');
  str(f.linkname, 157, 100);
  str(f.magic ?? 'ustar\0', 257, 6);
  str(f.version ?? '00', 263, 2);
  str(f.uname, 265, 32);
  str(f.gname, 297, 32);
  num(f.devmajor, 329, 8);
  num(f.devminor, 337, 8);
  str(f.prefix, 345, 155);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i];
  if (f.checksum === 'bad') sum += 1;
  else if (typeof f.checksum === 'number') sum = f.checksum;
  b.write(sum.toString(8).padStart(6, '0').slice(-6) + '\0 ', 148, 'latin1');
  return b;
}

/** PAX records ("%d key=value\n") with correct lengths; values may be binary. */
export function paxData(records: Array<[string, string | Buffer]>): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of records) {
    const val = typeof v === 'string' ? Buffer.from(v) : v;
    const rest = Buffer.byteLength(k) + val.length + 3; // ' ' '=' '\n'
    let len = rest + String(rest).length;
    if (String(len).length !== String(rest).length) len = rest + String(len).length;
    out.push(Buffer.from(`${len} ${k}=`), val, Buffer.from('\n'));
  }
  return Buffer.concat(out);
}

/**
 * Writes an archive entry by entry. With a sink, every piece goes to it as it is produced;
 * without one, the pieces are collected and {@link finish} returns the whole archive.
 */
export class TarWriter {
  private readonly chunks: Buffer[] = [];
  private open: { name: string; size: number; written: number } | null = null;
  private finished = false;

  constructor(private readonly sink?: (chunk: Buffer) => void) {}

  /** Adds a whole entry; `content` is required for non-empty files. */
  addEntry(header: TarWriteHeader, content?: Buffer): void {
    const size = (header.type ?? 'file') === 'file' ? (header.size ?? content?.length ?? 0) : 0;
    this.beginEntry({ ...header, size });
    if (content?.length) this.writeContent(content);
    this.endEntry();
  }

  /** Starts an entry whose content follows in {@link writeContent} calls. */
  beginEntry(header: TarWriteHeader): void {
    if (this.finished) throw new Error('TarWriter: finished already');
    if (this.open) throw new Error(`TarWriter: entry "${this.open.name}" is not finished`);
    const size = (header.type ?? 'file') === 'file' ? (header.size ?? 0) : 0;
    this.emit(encodeHeader(header));
    this.open = { name: header.name, size, written: 0 };
  }

  writeContent(chunk: Buffer): void {
    const o = this.open;
    if (!o) throw new Error('TarWriter: no entry is open');
    if (o.written + chunk.length > o.size) throw new Error(`TarWriter: entry "${o.name}" got more than its ${o.size} bytes`);
    o.written += chunk.length;
    this.emit(chunk);
  }

  endEntry(): void {
    const o = this.open;
    if (!o) throw new Error('TarWriter: no entry is open');
    if (o.written !== o.size) throw new Error(`TarWriter: entry "${o.name}" got ${o.written} of its ${o.size} bytes`);
    if (o.size % BLOCK) this.emit(contentPadding(o.size));
    this.open = null;
  }

  /** Writes the end-of-archive marker; returns the whole archive when there is no sink. */
  finish(): Buffer {
    if (this.open) throw new Error(`TarWriter: entry "${this.open.name}" is not finished`);
    if (!this.finished) this.emit(endOfArchive());
    this.finished = true;
    return this.sink ? Buffer.alloc(0) : Buffer.concat(this.chunks);
  }

  private emit(b: Buffer): void {
    if (this.sink) this.sink(b);
    else this.chunks.push(b);
  }
}

function checkPath(p: string, entry: string, what: string): void {
  if (!p) throw bad(`tar entry has an empty ${what}`, entry);
  if (p.includes('\0') || p.includes('\n')) throw bad(`tar entry "${entry}": ${what} contains NUL or newline`, entry);
  if (p.split('/').includes('..')) throw bad(`tar entry "${entry}": ${what} contains a ".." component`, entry);
}

/** Splits a long name into ustar prefix (≤155 bytes) and name (≤100 bytes) at a slash, if possible. */
function splitUstar(p: string): [string, string] | null {
  if (Buffer.byteLength(p) > 256) return null;
  for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) {
    const pre = p.slice(0, i);
    const rest = p.slice(i + 1);
    if (Buffer.byteLength(pre) <= 155 && rest && Buffer.byteLength(rest) <= 100) return [pre, rest];
    if (Buffer.byteLength(pre) > 155) break;
  }
  return null;
}

function truncate(s: string, bytes: number): string {
  const b = Buffer.from(s);
  if (b.length <= bytes) return s;
  return b
    .subarray(0, bytes)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
}

function formatMtime(t: number): string {
  if (Number.isInteger(t)) return String(t);
  const s = t.toFixed(9).replace(/0+$/, '');
  return s.endsWith('.') ? s.slice(0, -1) : s;
}

function bad(message: string, entry: string): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, message, { operation: 'write tar', entry });
}

/**
 * The content of a file entry whose header already says `size`: the first `size` bytes of the
 * open file `fd`, in fresh Buffers of at most `chunkSize`. A file that shrank while it was read
 * (a build context or a container changing underneath) ends in one chunk of zeros, so the entry
 * keeps the size its header says; bytes beyond `size` (it grew) are not read.
 */
export function* fileContentChunks(fd: number, size: number, chunkSize: number): Generator<Buffer> {
  const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)));
  let done = 0;
  while (done < size) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), done);
    if (n === 0) {
      yield Buffer.alloc(size - done);
      return;
    }
    yield Buffer.from(buf.subarray(0, n));
    done += n;
  }
}
