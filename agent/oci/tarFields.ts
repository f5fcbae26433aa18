/**
 * The field decoders under the tar reader (tar.ts): numeric header fields (octal and base-256),
 * NUL-terminated strings, PAX extended-header records and the entry state they fill in. Strict
 * as the reader is: every malformed field is a BerthError(InvalidContent) naming the entry.
 */
import { BerthError, ErrorCode } from '../errors';

/** Pending metadata from 'x' / 'L' / 'K' headers, applied to the next real entry. */
export interface Pending {
  path?: string;
  linkpath?: string;
  longName?: string;
  longLink?: string;
  size?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: number;
  xattrs?: Map<string, Buffer>;
}

/** Parses PAX records ("%d %s=%s\n") into `p`; values are binary-safe. */
export function parsePax(data: Buffer, p: Pending, entry: string): void {
  let pos = 0;
  const n = data.length;
  while (pos < n) {
    // Some writers pad the record area with NULs.
    if (data[pos] === 0) {
      for (let i = pos; i < n; i++) if (data[i] !== 0) throw invalid('tar PAX header has data after NUL padding', entry);
      return;
    }
    let len = 0;
    let i = pos;
    for (; i < n && data[i] !== 0x20; i++) {
      const c = data[i];
      if (c < 0x30 || c > 0x39 || i - pos > 8) throw invalid('tar PAX header has a malformed record length', entry);
      len = len * 10 + (c - 0x30);
    }
    if (i === pos || i >= n || len < i - pos + 4 || pos + len > n || data[pos + len - 1] !== 0x0a) {
      throw invalid('tar PAX header has a malformed record', entry);
    }
    const kStart = i + 1;
    const recEnd = pos + len - 1;
    const eq = data.indexOf(0x3d, kStart);
    if (eq < 0 || eq >= recEnd || eq === kStart) throw invalid('tar PAX record has no key', entry);
    const key = data.toString('utf8', kStart, eq);
    const vStart = eq + 1;
    applyPax(p, key, data, vStart, recEnd, entry);
    pos += len;
  }
}

export function applyPax(p: Pending, key: string, data: Buffer, start: number, end: number, entry: string): void {
  const str = () => data.toString('utf8', start, end);
  // An empty value removes an earlier override (POSIX "delete" semantics).
  const empty = start === end;
  switch (key) {
    case 'path':
      if (empty) delete p.path;
      else p.path = str();
      return;
    case 'linkpath':
      if (empty) delete p.linkpath;
      else p.linkpath = str();
      return;
    case 'size':
      if (empty) delete p.size;
      else p.size = paxInt(str(), 'size', entry);
      return;
    case 'uid':
      if (empty) delete p.uid;
      else p.uid = paxInt(str(), 'uid', entry);
      return;
    case 'gid':
      if (empty) delete p.gid;
      else p.gid = paxInt(str(), 'gid', entry);
      return;
    case 'uname':
      p.uname = str();
      return;
    case 'gname':
      p.gname = str();
      return;
    case 'mtime': {
      if (empty) {
        delete p.mtime;
        return;
      }
      const s = str();
      if (!/^-?\d{1,20}(\.\d{0,30})?$/.test(s)) throw invalid(`tar PAX record mtime="${s.slice(0, 40)}" is not a number`, entry);
      p.mtime = Number(s);
      return;
    }
    default:
      break;
  }
  if (key.startsWith('SCHILY.xattr.')) {
    const name = key.slice(13);
    if (!name) throw invalid('tar PAX xattr record has an empty name', entry);
    (p.xattrs ??= new Map()).set(name, Buffer.from(data.subarray(start, end)));
  } else if (key.startsWith('LIBARCHIVE.xattr.')) {
    let name: string;
    try {
      name = decodeURIComponent(key.slice(17));
    } catch (e) {
      if (!(e instanceof URIError)) throw e;
      throw invalid('tar PAX xattr record has a malformed name', entry);
    }
    if (!name) throw invalid('tar PAX xattr record has an empty name', entry);
    // libarchive writes SCHILY too; SCHILY's raw bytes win when both are present.
    const xs = (p.xattrs ??= new Map());
    if (!xs.has(name)) xs.set(name, Buffer.from(data.toString('latin1', start, end), 'base64'));
  } else if (key.startsWith('GNU.sparse.')) {
    throw invalid(`tar entry "${entry}" is a sparse file (PAX ${key}), which layers may not contain`, entry);
  }
  // Anything else (atime, ctime, charset, comment, vendor keys) does not matter for extraction.
}

export function paxInt(s: string, what: string, entry: string): number {
  if (!/^\d{1,16}$/.test(s)) throw invalid(`tar PAX record ${what}="${s.slice(0, 40)}" is not a non-negative integer`, entry);
  const v = Number(s);
  if (!Number.isSafeInteger(v)) throw invalid(`tar PAX record ${what}=${s} is too large`, entry);
  return v;
}

/** A NUL-terminated field as a string. */
export function cstr(b: Buffer, off: number, len: number): string {
  let end = b.indexOf(0, off);
  if (end < 0 || end > off + len) end = off + len;
  return end === off ? '' : b.toString('utf8', off, end);
}

export function parseOctal(b: Buffer, off: number, len: number, what: string, entry: string): number {
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i];
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw invalid(`tar header of entry "${printable(entry)}" has a malformed ${what} field`, entry || undefined);
    v = v * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    if (b[i] !== 0x20 && b[i] !== 0)
      throw invalid(`tar header of entry "${printable(entry)}" has a malformed ${what} field`, entry || undefined);
  }
  return digits === 0 ? 0 : v;
}

/** An octal or base-256 numeric field (GNU/star extension for values that do not fit in octal). */
export function parseNumber(b: Buffer, off: number, len: number, what: string, entry: string): number {
  const first = b[off];
  if (first & 0x80) {
    if (first === 0xff) throw invalid(`tar header of entry "${printable(entry)}" has a negative ${what}`, entry);
    let v = first & 0x7f;
    for (let i = off + 1; i < off + len; i++) {
      v = v * 256 + b[i];
      if (v > Number.MAX_SAFE_INTEGER) throw invalid(`tar header of entry "${printable(entry)}" has an absurd ${what}`, entry);
    }
    return v;
  }
  return parseOctal(b, off, len, what, entry);
}

export function printable(s: string): string {
  return s.replace(/[\0-\x1f\x7f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\0' ? '\\0' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

export function invalid(message: string, entry?: string): BerthError {
  return new BerthError(
    ErrorCode.InvalidContent,
    message,
    entry !== undefined ? { operation: 'read tar', entry } : { operation: 'read tar' },
  );
}
