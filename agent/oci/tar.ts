/**
 * A streaming tar reader: ustar, GNU long names/links ('L'/'K') and PAX extended headers ('x', 'g').
 *
 * {@link TarParser} is the push-based core: feed it Buffers with {@link TarParser.push} and it calls
 * a {@link TarHandler} synchronously for every entry (header, content chunks, end). It keeps no
 * content in memory: content chunks are views into the pushed Buffers. {@link readTar} wraps it as
 * an async iterator with natural backpressure (the next source chunk is read only once the consumer
 * has taken everything from the previous one).
 *
 * Layers come from strangers, so the reader is strict (its field decoders and PAX records are in
 * tarFields.ts): checksums are verified, metadata records are capped at 1 MiB, names at 4096 bytes, names with NUL or newline are refused, negative or absurd
 * numbers are refused, sparse and unknown entry types are refused, and an archive that stops before
 * its end-of-archive marker is an error. Every failure is a BerthError (ErrorCode.InvalidContent)
 * whose `data.entry` names the entry when there is one.
 */
import { cstr, invalid, type Pending, parseNumber, parseOctal, parsePax, printable } from './tarFields';

/** The entry types Berth extracts. */
export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One entry's header, with PAX and GNU overrides already applied. */
export interface TarHeader {
  /** The entry's path as written in the archive (not normalised). */
  name: string;
  type: TarEntryType;
  /** Permission bits incl. setuid/setgid/sticky (file-type bits masked off). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content that follow (0 for every type but 'file'). */
  size: number;
  /** Modification time in seconds since the epoch; PAX may make it fractional or negative. */
  mtime: number;
  /** Symlink target, or the archive path a hardlink points to; '' for other types. */
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from `SCHILY.xattr.*` (or `LIBARCHIVE.xattr.*`) PAX records; values are raw bytes. */
  xattrs?: Map<string, Buffer>;
}

/** Receives a parsed archive. Calls come in order: entry, data* (only when size > 0), end. */
export interface TarHandler {
  entry(header: TarHeader): void;
  /** A piece of the current entry's content: a view valid only during the call. */
  data(chunk: Buffer): void;
  end(): void;
}

/** Hostile-input limits; the defaults suit container layers. */
export interface TarLimits {
  /** Largest PAX ('x'/'g') or GNU long name/link ('L'/'K') record, in bytes (default 1 MiB). */
  maxMetaBytes?: number;
  /** Longest entry name or link target, in bytes (default 4096, Linux's PATH_MAX). */
  maxPathBytes?: number;
  /** Most metadata headers in a row before a real entry (default 32). */
  maxMetaHeaders?: number;
}

const BLOCK = 512;
const S_HEADER = 0;
const S_DATA = 1;
const S_PAD = 2;
const S_META = 3;
const S_END = 4;

/**
 * The push-based parser. Not re-entrant: call {@link push} again only after the previous call
 * returned. Any handler exception propagates out of push() and leaves the parser failed.
 */
export class TarParser {
  private state = S_HEADER;
  private readonly hdr = Buffer.alloc(BLOCK);
  private hdrFill = 0;
  private remaining = 0;
  private pad = 0;
  private meta: Buffer | null = null;
  private metaFill = 0;
  private metaType = '';
  private metaName = '';
  private metaCount = 0;
  private pending: Pending | null = null;
  private zeroBlocks = 0;
  private current = '';
  private failed: Error | null = null;
  private readonly maxMeta: number;
  private readonly maxPath: number;
  private readonly maxMetaHeaders: number;
  /** Bytes consumed so far (for messages). */
  offset = 0;

  constructor(
    private readonly handler: TarHandler,
    limits: TarLimits = {},
  ) {
    this.maxMeta = limits.maxMetaBytes ?? 1 << 20;
    this.maxPath = limits.maxPathBytes ?? 4096;
    this.maxMetaHeaders = limits.maxMetaHeaders ?? 32;
  }

  /** True once the end-of-archive marker has been read; later bytes are ignored. */
  get ended(): boolean {
    return this.state === S_END;
  }

  /** Feeds the next bytes of the archive. Throws BerthError(InvalidContent) on malformed input. */
  push(chunk: Buffer): void {
    if (this.failed) throw this.failed;
    try {
      this.pushInner(chunk);
    } catch (e) {
      this.failed = e as Error;
      throw e;
    }
  }

  /**
   * Declares the end of input. Throws when the archive is truncated (inside an entry, or with no
   * end-of-archive marker). A lone zero block before EOF is accepted, as GNU tar and Go accept it.
   */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.state === S_END) return;
    if (this.state === S_HEADER && this.hdrFill === 0 && this.zeroBlocks === 1 && !this.pending) {
      this.state = S_END;
      return;
    }
    let what: string;
    if (this.state === S_DATA) what = `entry "${this.current}" is missing ${this.remaining} bytes of content`;
    else if (this.state === S_META) what = `a ${this.metaName} record is cut short`;
    else if (this.state === S_PAD) what = `entry "${this.current}" is missing its padding`;
    else if (this.hdrFill > 0) what = 'the last header is cut short';
    else what = 'the end-of-archive marker is missing';
    this.failed = invalid(`tar archive is truncated: ${what}`, this.state === S_DATA || this.state === S_PAD ? this.current : undefined);
    throw this.failed;
  }

  private pushInner(chunk: Buffer): void {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      switch (this.state) {
        case S_HEADER: {
          let block: Buffer;
          if (this.hdrFill === 0 && n - off >= BLOCK) {
            block = chunk.subarray(off, off + BLOCK);
            off += BLOCK;
          } else {
            const take = Math.min(BLOCK - this.hdrFill, n - off);
            chunk.copy(this.hdr, this.hdrFill, off, off + take);
            this.hdrFill += take;
            off += take;
            if (this.hdrFill < BLOCK) break;
            this.hdrFill = 0;
            block = this.hdr;
          }
          this.offset += BLOCK;
          this.header(block);
          break;
        }
        case S_DATA: {
          const take = Math.min(this.remaining, n - off);
          const piece = chunk.subarray(off, off + take);
          off += take;
          this.offset += take;
          this.remaining -= take;
          this.handler.data(piece);
          if (this.remaining === 0) {
            this.state = this.pad > 0 ? S_PAD : S_HEADER;
            this.handler.end();
          }
          break;
        }
        case S_PAD: {
          const take = Math.min(this.pad, n - off);
          off += take;
          this.offset += take;
          this.pad -= take;
          if (this.pad === 0) this.state = S_HEADER;
          break;
        }
        case S_META: {
          const meta = this.meta!;
          const take = Math.min(meta.length - this.metaFill, n - off);
          chunk.copy(meta, this.metaFill, off, off + take);
          this.metaFill += take;
          off += take;
          this.offset += take;
          if (this.metaFill === meta.length) {
            this.meta = null;
            this.state = this.pad > 0 ? S_PAD : S_HEADER;
            this.metaRecord(this.metaType, meta);
          }
          break;
        }
        default:
          // After the end-of-archive marker: trailing bytes (padding to a record size) are ignored.
          return;
      }
    }
  }

  private header(b: Buffer): void {
    // One pass computes the checksum and detects zero blocks.
    let sum = 0;
    let high = 0;
    for (let i = 0; i < BLOCK; i++) {
      const c = b[i];
      if (i >= 148 && i < 156) continue;
      sum += c;
      if (c >= 128) high++;
    }
    let stored = 0;
    for (let i = 148; i < 156; i++) stored += b[i];
    if (sum === 0 && stored === 0) {
      if (this.pending) throw invalid('tar archive ends right after a metadata header');
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.state = S_END;
      return;
    }
    if (this.zeroBlocks > 0) throw invalid(`tar archive has a zero block in the middle (at byte ${this.offset - 2 * BLOCK})`);
    const uns = sum + 8 * 32;
    const signed = uns - 256 * high;
    const want = parseOctal(b, 148, 8, 'checksum', '');
    if (want !== uns && want !== signed) {
      const nm = cstr(b, 0, 100);
      throw invalid(`tar header of entry "${nm}" has a bad checksum (at byte ${this.offset - BLOCK})`, nm);
    }

    const typeflag = b[156];
    const ustar = b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72; // "ustar"
    const posix = ustar && b[262] === 0; // "ustar\0" + "00"; GNU writes "ustar  \0" and puts other fields after 345
    let name = cstr(b, 0, 100);
    if (posix && b[345] !== 0) name = cstr(b, 345, 155) + '/' + name;
    const rawName = name;
    let size = parseNumber(b, 124, 12, 'size', rawName);

    // Metadata headers: their content is collected, then applied to the next entry.
    if (typeflag === 0x78 /* x */ || typeflag === 0x67 /* g */ || typeflag === 0x4c /* L */ || typeflag === 0x4b /* K */) {
      const kind = String.fromCharCode(typeflag);
      const what =
        kind === 'x' ? 'PAX extended header' : kind === 'g' ? 'PAX global header' : kind === 'L' ? 'GNU long name' : 'GNU long link';
      if (size > this.maxMeta) {
        throw invalid(`tar ${what} "${rawName}" is ${size} bytes, over the ${this.maxMeta}-byte limit`, rawName);
      }
      if (++this.metaCount > this.maxMetaHeaders)
        throw invalid(`tar archive has more than ${this.maxMetaHeaders} metadata headers in a row`, rawName);
      if (!this.pending) this.pending = {};
      this.metaType = kind;
      this.metaName = what;
      this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
      this.current = rawName;
      if (size === 0) {
        this.metaRecord(kind, Buffer.alloc(0));
        return;
      }
      this.meta = Buffer.allocUnsafe(size);
      this.metaFill = 0;
      this.state = S_META;
      return;
    }

    let type: TarEntryType;
    switch (typeflag) {
      case 0x30: // '0'
      case 0x37: // '7' contiguous file
        type = 'file';
        break;
      case 0: // old-style: a trailing slash means a directory
        type = 'file';
        break;
      case 0x31:
        type = 'hardlink';
        break;
      case 0x32:
        type = 'symlink';
        break;
      case 0x33:
        type = 'char';
        break;
      case 0x34:
        type = 'block';
        break;
      case 0x35:
        type = 'dir';
        break;
      case 0x36:
        type = 'fifo';
        break;
      case 0x53: // 'S'
        throw invalid(
          `tar entry "${this.pending?.path ?? this.pending?.longName ?? rawName}" is a GNU sparse file, which layers may not contain`,
          rawName,
        );
      default: {
        const nm = this.pending?.path ?? this.pending?.longName ?? rawName;
        const tf = typeflag >= 0x20 && typeflag < 0x7f ? `'${String.fromCharCode(typeflag)}'` : `0x${typeflag.toString(16)}`;
        throw invalid(`tar entry "${nm}" has unsupported type ${tf}`, nm);
      }
    }

    const p = this.pending;
    this.pending = null;
    this.metaCount = 0;
    if (p?.path !== undefined) name = p.path;
    else if (p?.longName !== undefined) name = p.longName;
    if (typeflag === 0 && name.endsWith('/')) type = 'dir';
    let linkname = p?.linkpath ?? p?.longLink ?? cstr(b, 157, 100);
    if (p?.size !== undefined) size = p.size;
    this.checkName(name, name, 'entry name');
    if (type === 'hardlink' || type === 'symlink') {
      if (linkname === '') throw invalid(`tar entry "${name}" is a ${type} with an empty target`, name);
      this.checkName(linkname, name, 'link target');
    } else {
      linkname = '';
    }

    const header: TarHeader = {
      name,
      type,
      mode: parseNumber(b, 100, 8, 'mode', name) & 0o7777,
      uid: p?.uid ?? parseNumber(b, 108, 8, 'uid', name),
      gid: p?.gid ?? parseNumber(b, 116, 8, 'gid', name),
      size: type === 'file' ? size : 0,
      mtime: p?.mtime ?? parseNumber(b, 136, 12, 'mtime', name),
      linkname,
      uname: p?.uname ?? (ustar ? cstr(b, 265, 32) : ''),
      gname: p?.gname ?? (ustar ? cstr(b, 297, 32) : ''),
      devmajor: type === 'char' || type === 'block' ? parseNumber(b, 329, 8, 'devmajor', name) : 0,
      devminor: type === 'char' || type === 'block' ? parseNumber(b, 337, 8, 'devminor', name) : 0,
    };
    if (p?.xattrs) header.xattrs = p.xattrs;
    this.current = name;
    // Header-only types carry no content whatever their size field says (as Go's archive/tar reads them).
    this.handler.entry(header);
    if (header.size > 0) {
      this.remaining = header.size;
      this.pad = (BLOCK - (header.size % BLOCK)) % BLOCK;
      this.state = S_DATA;
    } else {
      this.handler.end();
    }
  }

  private checkName(s: string, entry: string, what: string): void {
    if (s === '') throw invalid(`tar entry has an empty ${what}`, entry);
    if (s.includes('\0')) throw invalid(`tar entry "${printable(entry)}": ${what} contains a NUL byte`, entry);
    if (s.includes('\n')) throw invalid(`tar entry "${printable(entry)}": ${what} contains a newline`, entry);
    if (s.length * 3 > this.maxPath && Buffer.byteLength(s) > this.maxPath) {
      throw invalid(`tar entry "${printable(entry).slice(0, 200)}…": ${what} is longer than ${this.maxPath} bytes`, entry);
    }
  }

  private metaRecord(kind: string, data: Buffer): void {
    const p = this.pending ?? (this.pending = {});
    if (kind === 'L' || kind === 'K') {
      let end = data.length;
      while (end > 0 && data[end - 1] === 0) end--;
      if (end > this.maxPath)
        throw invalid(`tar GNU long ${kind === 'L' ? 'name' : 'link'} is longer than ${this.maxPath} bytes`, this.current);
      const s = data.toString('utf8', 0, end);
      if (kind === 'L') p.longName = s;
      else p.longLink = s;
      return;
    }
    parsePax(data, kind === 'g' ? {} : p, this.current);
    // A global header applies to nothing here (Docker ignores them too), but it had to parse.
    if (kind === 'g' && Object.keys(p).length === 0) this.pending = null;
  }
}

/** One entry from {@link readTar}: its header and an async iterable over its content. */
export interface TarEntry {
  header: TarHeader;
  /**
   * The content, in chunks that are views into the source's Buffers. Reading it is optional: the
   * iterator skips whatever is left when the consumer moves on to the next entry.
   */
  content: AsyncIterable<Buffer>;
}

/**
 * Reads a tar archive from an async source (a stream, a file handle's chunks) entry by entry.
 * The source is pulled only as fast as the consumer takes entries and content. Throws
 * BerthError(InvalidContent) for malformed or truncated archives.
 */
export async function* readTar(source: AsyncIterable<Buffer | Uint8Array>, limits?: TarLimits): AsyncGenerator<TarEntry> {
  type Ev = { k: 0; h: TarHeader } | { k: 1; c: Buffer } | { k: 2 };
  let queue: Ev[] = [];
  const parser = new TarParser(
    {
      entry: (h) => queue.push({ k: 0, h }),
      data: (c) => queue.push({ k: 1, c }),
      end: () => queue.push({ k: 2 }),
    },
    limits,
  );
  const it = source[Symbol.asyncIterator]();
  let done = false;
  let qi = 0;
  // Pulls until an event is available; returns null at the end of the source.
  const next = async (): Promise<Ev | null> => {
    while (qi >= queue.length) {
      queue = [];
      qi = 0;
      if (done || parser.ended) return null;
      const r = await it.next();
      if (r.done) {
        done = true;
        parser.end();
        continue;
      }
      const v = r.value;
      parser.push(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    }
    return queue[qi++];
  };
  try {
    for (;;) {
      const ev = await next();
      if (!ev) return;
      if (ev.k !== 0) continue; // leftovers of an entry the consumer skipped
      let finished = false;
      const content: AsyncIterable<Buffer> = {
        [Symbol.asyncIterator]: async function* () {
          while (!finished) {
            const e = await next();
            if (!e || e.k === 2) {
              finished = true;
              return;
            }
            if (e.k === 1) yield e.c;
          }
        },
      };
      yield { header: ev.h, content };
      // Skip the rest of this entry's content if the consumer did not read it all.
      while (!finished) {
        const e = await next();
        if (!e || e.k === 2) finished = true;
      }
    }
  } finally {
    if (!done) await it.return?.();
  }
}
