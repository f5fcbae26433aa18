/**
 * Streaming decompression of layer blobs, chosen by magic bytes: gzip (node:zlib, concatenated
 * members included), zstd (fzstd's streaming decoder) or plain tar (passed through). Other known
 * compressions (xz, bzip2, lz4, compress) are refused with a message that names them.
 *
 * The output goes to a synchronous callback, so the consumer (the tar parser and extractor) does its
 * work inside the same turn; {@link Decompressor.write} resolves once the chunk has been fully
 * decompressed and consumed, which is the backpressure. A limit on total decompressed bytes guards
 * against decompression bombs.
 */
import { createGunzip, constants as zc, type Gunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { BerthError, ErrorCode } from '../errors';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Default limit on decompressed bytes per layer: 64 GiB. */
export const DEFAULT_MAX_DECOMPRESSED = 64 * 1024 ** 3;

/** Decompressed bytes queued ahead of the consumer before zlib is paused. */
const QUEUE_HIGH = 4 * 1024 * 1024;

/** Largest zstd window accepted (the first frame's header is checked): 512 MiB. */
const MAX_ZSTD_WINDOW = 512 * 1024 ** 2;

/** Bytes {@link detectCompression} wants to see before deciding (fewer only at end of input). */
export const MAGIC_BYTES = 18;

/**
 * The compression of a blob that starts with `head`. Throws BerthError(InvalidContent) for
 * compressions Berth does not unpack. Anything unrecognised is taken for a plain tar (the tar
 * parser then judges it).
 */
export function detectCompression(head: Buffer, what = 'layer'): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  const refuse = (name: string) => {
    throw new BerthError(
      ErrorCode.InvalidContent,
      `${what} is ${name}-compressed; Berth unpacks gzip, zstd and uncompressed tar layers only`,
      {
        operation: 'decompress',
      },
    );
  };
  if (head.length >= 6 && head[0] === 0xfd && head.toString('latin1', 1, 6) === '7zXZ\0') refuse('xz');
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') refuse('bzip2');
  if (head.length >= 4 && head[0] === 0x04 && head[1] === 0x22 && head[2] === 0x4d && head[3] === 0x18) refuse('lz4');
  if (head.length >= 2 && head[0] === 0x1f && (head[1] === 0x9d || head[1] === 0xa0)) refuse('compress (.Z)');
  return 'none';
}

export interface DecompressOptions {
  /** Limit on total decompressed bytes (default {@link DEFAULT_MAX_DECOMPRESSED}). */
  maxBytes?: number;
  /** Names the blob in messages, e.g. "layer sha256:abc…". */
  what?: string;
}

/**
 * Decompresses a stream whose compression is detected from its first bytes. Output is handed to
 * `onData` synchronously, in order; if `onData` throws, the decompressor fails with that error.
 */
export class Decompressor {
  private head: Buffer[] = [];
  private headLen = 0;
  private impl: Impl | null = null;
  private failure: Error | null = null;
  private kind: Compression | undefined;
  /** Decompressed bytes produced so far. */
  bytesOut = 0;
  private readonly max: number;
  private readonly what: string;
  private readonly emit: (chunk: Buffer) => void;

  constructor(onData: (chunk: Buffer) => void, opts: DecompressOptions = {}) {
    this.max = opts.maxBytes ?? DEFAULT_MAX_DECOMPRESSED;
    this.what = opts.what ?? 'layer';
    this.emit = (chunk) => {
      this.bytesOut += chunk.length;
      if (this.bytesOut > this.max) {
        throw new BerthError(
          ErrorCode.InvalidContent,
          `${this.what} decompresses to more than ${this.max} bytes (the limit); refusing it as a decompression bomb`,
          { operation: 'decompress' },
        );
      }
      onData(chunk);
    };
  }

  /** The detected compression, once known. */
  get compression(): Compression | undefined {
    return this.kind;
  }

  /** Takes the next compressed bytes; resolves once they are decompressed and consumed. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    if (!this.impl) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen < MAGIC_BYTES) return;
      chunk = this.start();
    }
    try {
      await this.impl!.write(chunk);
    } catch (e) {
      throw this.fail(e);
    }
  }

  /** End of input: flushes and verifies that the compressed stream was complete. */
  async end(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.impl) {
      if (this.headLen === 0) {
        throw this.fail(new BerthError(ErrorCode.InvalidContent, `${this.what} is empty (0 bytes)`, { operation: 'decompress' }));
      }
      const chunk = this.start();
      try {
        await this.impl!.write(chunk);
      } catch (e) {
        throw this.fail(e);
      }
    }
    try {
      await this.impl!.end();
    } catch (e) {
      throw this.fail(e);
    }
  }

  /** Stops: releases zlib's resources; later calls reject with `err` (or a generic error). */
  destroy(err?: Error): void {
    if (!this.failure) this.failure = err ?? new Error('decompressor destroyed');
    this.impl?.destroy();
  }

  private start(): Buffer {
    const all = this.head.length === 1 ? this.head[0] : Buffer.concat(this.head);
    this.head = [];
    try {
      this.kind = detectCompression(all, this.what);
      if (this.kind === 'zstd') checkZstdWindow(all, this.what);
    } catch (e) {
      throw this.fail(e);
    }
    this.impl =
      this.kind === 'gzip'
        ? new GzipImpl(this.emit, this.what)
        : this.kind === 'zstd'
          ? new ZstdImpl(this.emit, this.what)
          : new PlainImpl(this.emit);
    return all;
  }

  private fail(e: unknown): Error {
    const err = e instanceof Error ? e : new Error(String(e));
    if (!this.failure) this.failure = err;
    this.impl?.destroy();
    return this.failure;
  }
}

interface Impl {
  write(chunk: Buffer): Promise<void> | void;
  end(): Promise<void> | void;
  destroy(): void;
}

class PlainImpl implements Impl {
  constructor(private readonly emit: (c: Buffer) => void) {}
  write(chunk: Buffer): void {
    this.emit(chunk);
  }
  end(): void {}
  destroy(): void {}
}

/**
 * gzip through node:zlib, which inflates on the libuv threadpool. Output is queued and consumed in a
 * separate macrotask, so zlib inflates the next piece on another core while the consumer (tar
 * parsing and extraction) works on this one. The queue is bounded: zlib is paused above 4 MiB.
 */
class GzipImpl implements Impl {
  private readonly z: Gunzip;
  private failure: Error | null = null;
  private reject: ((e: Error) => void) | null = null;
  private queue: Buffer[] = [];
  private qHead = 0;
  private queued = 0;
  private scheduled = false;
  private paused = false;
  private zEnded = false;
  private onDrained: (() => void) | null = null;

  constructor(
    private readonly emit: (c: Buffer) => void,
    what: string,
  ) {
    // Node's gunzip continues through concatenated members and ignores trailing non-gzip bytes.
    this.z = createGunzip({ chunkSize: 256 * 1024 });
    this.z.on('data', (c: Buffer) => {
      if (this.failure) return;
      this.queue.push(c);
      this.queued += c.length;
      if (this.queued >= QUEUE_HIGH && !this.paused) {
        this.paused = true;
        this.z.pause();
      }
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drain);
      }
    });
    this.z.on('end', () => {
      this.zEnded = true;
      this.checkDrained();
    });
    this.z.on('error', (e: NodeJS.ErrnoException) => {
      const truncated = e.code === 'Z_BUF_ERROR' || e.errno === zc.Z_BUF_ERROR;
      this.setFailure(
        new BerthError(
          ErrorCode.InvalidContent,
          truncated ? `${what} is truncated (the gzip stream ends early)` : `${what} is not valid gzip: ${e.message}`,
          { operation: 'decompress' },
          { cause: e },
        ),
      );
    });
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    if (this.failure) return;
    try {
      while (this.qHead < this.queue.length) {
        const c = this.queue[this.qHead++];
        this.queued -= c.length;
        this.emit(c);
        if (this.failure) return;
      }
    } catch (e) {
      this.setFailure(e as Error);
      return;
    }
    this.queue = [];
    this.qHead = 0;
    if (this.paused) {
      this.paused = false;
      this.z.resume();
    }
    this.checkDrained();
  };

  private checkDrained(): void {
    if (this.zEnded && this.qHead >= this.queue.length && !this.scheduled && this.onDrained) {
      const done = this.onDrained;
      this.onDrained = null;
      done();
    }
  }

  private setFailure(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.queue = [];
    this.z.destroy();
    this.reject?.(e);
  }

  write(chunk: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.reject = reject;
      this.z.write(chunk, (err) => {
        this.reject = null;
        if (this.failure) reject(this.failure);
        else if (err) reject(err);
        else resolve();
      });
    });
  }

  end(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.reject = reject;
      this.onDrained = () => {
        this.reject = null;
        if (this.failure) reject(this.failure);
        else resolve();
      };
      this.z.end();
    });
  }

  destroy(): void {
    if (!this.failure) this.failure = new Error('decompressor destroyed');
    this.queue = [];
    this.z.destroy();
  }
}

class ZstdImpl implements Impl {
  private readonly d: ZstdDecompress;
  private userError: Error | null = null;

  constructor(
    emit: (c: Buffer) => void,
    private readonly what: string,
  ) {
    this.d = new ZstdDecompress((u8) => {
      if (u8.length === 0) return;
      try {
        emit(Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength));
      } catch (e) {
        // Remembered so that it is not mistaken for a zstd format error below.
        this.userError = e as Error;
        throw e;
      }
    });
  }

  write(chunk: Buffer): void {
    this.push(chunk, false);
  }

  end(): void {
    this.push(new Uint8Array(0), true);
  }

  private push(chunk: Uint8Array, final: boolean): void {
    try {
      this.d.push(chunk, final);
    } catch (e) {
      if (this.userError) throw this.userError;
      const code = (e as { code?: number }).code;
      const msg =
        code === 5 ? `${this.what} is truncated (the zstd stream ends early)` : `${this.what} is not valid zstd: ${(e as Error).message}`;
      throw new BerthError(ErrorCode.InvalidContent, msg, { operation: 'decompress' }, { cause: e });
    }
  }

  destroy(): void {}
}

/** Refuses a first zstd frame whose window would make the decoder allocate absurd memory. */
function checkZstdWindow(head: Buffer, what: string): void {
  if (head.length < 6) return;
  const fhd = head[4];
  const singleSegment = (fhd >> 5) & 1;
  let window: number;
  if (singleSegment) {
    // No window descriptor: the window is the frame content size, which the decoder allocates up front.
    const fcf = fhd >> 6;
    const dictBytes = [0, 1, 2, 4][fhd & 3];
    const fsb = fcf ? 1 << fcf : 1;
    const off = 5 + dictBytes;
    if (head.length < off + fsb) return;
    window = 0;
    for (let i = fsb - 1; i >= 0; i--) window = window * 256 + head[off + i];
    if (fcf === 1) window += 256;
  } else {
    const wd = head[5];
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  if (window > MAX_ZSTD_WINDOW) {
    throw new BerthError(
      ErrorCode.InvalidContent,
      `${what} uses a ${window}-byte zstd window, over Berth's ${MAX_ZSTD_WINDOW}-byte limit`,
      {
        operation: 'decompress',
      },
    );
  }
}

/**
 * Decompresses an async source (a read stream of a blob) into an async iterable of plain chunks,
 * detecting the compression as {@link Decompressor} does. The source is read only as fast as the
 * consumer pulls. Input is fed in pieces of at most 64 KiB, which bounds what one pull can expand
 * to; `maxBytes` bounds the total. Throws BerthError(InvalidContent) for corrupt or truncated input.
 */
export async function* decompressingSource(
  source: AsyncIterable<Buffer | Uint8Array>,
  opts: DecompressOptions = {},
): AsyncGenerator<Buffer> {
  let out: Buffer[] = [];
  const dec = new Decompressor((c) => out.push(c), opts);
  const PIECE = 64 * 1024;
  let ok = false;
  try {
    for await (const raw of source) {
      const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let off = 0; off < chunk.length; off += PIECE) {
        await dec.write(chunk.subarray(off, Math.min(off + PIECE, chunk.length)));
        if (out.length) {
          const ready = out;
          out = [];
          yield* ready;
        }
      }
    }
    await dec.end();
    ok = true;
    const ready = out;
    out = [];
    yield* ready;
  } finally {
    if (!ok) dec.destroy();
  }
}
