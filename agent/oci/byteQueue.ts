/**
 * A one-reader, one-writer byte queue with back-pressure: the agent feeds a `container/archive/put`
 * from `container/archive/write` notifications through one, and the CLI's host-side `cp` feeds
 * its extractor through one. No agent imports (it lives on the ground floor so clients may use it).
 */

/** Bytes the queue may hold before its writer is made to wait. */
const MAX_QUEUED = 4 << 20;

/**
 * A one-reader byte queue: `push` resolves once the bytes fit under {@link MAX_QUEUED} (the
 * writer's pace follows the reader's), the reader iterates until `end`; `fail` ends both sides.
 */
export class ByteQueue implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private error?: Error;
  private wakeReader?: () => void;
  private readonly roomWaiters: (() => void)[] = [];

  async push(b: Buffer): Promise<void> {
    if (this.error) throw this.error;
    if (this.ended) throw new Error('the archive has ended already');
    this.chunks.push(b);
    this.queued += b.length;
    this.wakeReader?.();
    while (this.queued > MAX_QUEUED && !this.error) await new Promise<void>((r) => this.roomWaiters.push(r));
    if (this.error) throw this.error;
  }

  end(): void {
    this.ended = true;
    this.wakeReader?.();
  }

  fail(e: Error): void {
    this.error ??= e;
    this.wakeReader?.();
    for (const r of this.roomWaiters.splice(0)) r();
  }

  get failed(): boolean {
    return this.error !== undefined;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.error) throw this.error;
      const b = this.chunks.shift();
      if (b) {
        this.queued -= b.length;
        if (this.queued <= MAX_QUEUED) for (const r of this.roomWaiters.splice(0)) r();
        yield b;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wakeReader = r));
      this.wakeReader = undefined;
    }
  }
}
