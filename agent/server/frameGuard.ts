/**
 * A guard in front of the JSON-RPC reader of a socket connection: it follows the LSP-style framing
 * (`Content-Length: N` headers, a blank line, N bytes of body) and stops a peer before the reader
 * buffers what it announces: a header block over {@link MAX_HEADER_BYTES}, a missing or malformed
 * Content-Length, or a body over the limit ends the stream with an error (the agent then closes
 * the connection and logs why). Bytes pass through unchanged and unbuffered.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Largest message the agent reads: cp and build chunks are at most a few MiB of base64. */
export const MAX_MESSAGE_BYTES = 32 << 20;
export const MAX_HEADER_BYTES = 8192;

export class FrameGuard extends Transform {
  private header: Buffer = Buffer.alloc(0);
  private bodyLeft = 0;

  constructor(private readonly maxBody = MAX_MESSAGE_BYTES) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - off);
        this.bodyLeft -= n;
        off += n;
        continue;
      }
      const before = this.header.length;
      this.header = Buffer.concat([this.header, chunk.subarray(off)]);
      const end = this.header.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.header.length > MAX_HEADER_BYTES) {
          cb(new Error(`a message header of more than ${MAX_HEADER_BYTES} bytes`));
          return;
        }
        off = chunk.length;
        break;
      }
      if (end > MAX_HEADER_BYTES) {
        cb(new Error(`a message header of more than ${MAX_HEADER_BYTES} bytes`));
        return;
      }
      const m = /(?:^|\r\n)Content-Length:[ \t]*(\d{1,16})[ \t]*(?:\r\n|$)/i.exec(this.header.subarray(0, end).toString('latin1'));
      if (!m) {
        cb(new Error('a message without a valid Content-Length header'));
        return;
      }
      const length = Number(m[1]);
      if (length > this.maxBody) {
        cb(new Error(`a message of ${length} bytes (at most ${this.maxBody})`));
        return;
      }
      off += end + 4 - before;
      this.header = Buffer.alloc(0);
      this.bodyLeft = length;
    }
    cb(null, chunk);
  }
}
