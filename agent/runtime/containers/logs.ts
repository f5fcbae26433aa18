/**
 * A container's output on disk: one JSON object a line, `{"t": RFC 3339 nano, "s": "stdout" |
 * "stderr", "l": line}`, in `<dir>/container.log`. When the file passes the size cap it becomes
 * `container.log.1` (replacing the previous one) and a new file starts: at most twice the cap is
 * kept. Writes are synchronous appends from the agent's event loop, so a reader that reads the
 * files and subscribes in the same tick misses nothing and sees nothing twice.
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { LogLine } from '../../../protocol';
import { isErrno } from '../../errors';

export const LOG_FILE = 'container.log';
export const DEFAULT_LOG_CAP = 10 * 1024 * 1024;
/** Longer lines are split, as Docker's json-file driver does at 16 KiB. */
const MAX_LINE = 16 * 1024;

/** RFC 3339 with nanoseconds (from a millisecond clock plus hrtime's sub-millisecond part). */
export function nanoTime(ms = Date.now()): string {
  const sub = Number(process.hrtime.bigint() % 1_000_000n);
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_, m: string) => `.${m}${String(sub).padStart(6, '0')}Z`);
}

export class LogWriter {
  private fd: number;
  private size: number;
  private readonly partial = { stdout: '', stderr: '' };
  private readonly listeners = new Set<(l: LogLine) => void>();

  constructor(
    private readonly dir: string,
    private readonly cap = DEFAULT_LOG_CAP,
  ) {
    const path = join(dir, LOG_FILE);
    this.fd = openSync(path, 'a', 0o600);
    this.size = statSync(path).size;
  }

  /** Calls `fn` for every line from now on; returns the unsubscribe function. */
  subscribe(fn: (l: LogLine) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** A chunk of a stream: complete lines are written, the rest waits for its newline. */
  write(stream: 'stdout' | 'stderr', chunk: string): void {
    let text = this.partial[stream] + chunk;
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      this.line(stream, text.slice(0, nl));
      text = text.slice(nl + 1);
    }
    while (text.length >= MAX_LINE) {
      this.line(stream, text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    this.partial[stream] = text;
  }

  /** Writes what is left without a newline, and closes the file. */
  close(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.partial[s]) this.line(s, this.partial[s]);
      this.partial[s] = '';
    }
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.listeners.clear();
  }

  private line(stream: 'stdout' | 'stderr', text: string): void {
    const l: LogLine = { time: nanoTime(), stream, line: text };
    const rec = Buffer.from(JSON.stringify({ t: l.time, s: stream === 'stdout' ? 'stdout' : 'stderr', l: text }) + '\n');
    if (this.fd >= 0) {
      if (this.size + rec.length > this.cap && this.size > 0) this.rotate();
      writeSync(this.fd, rec);
      this.size += rec.length;
    }
    for (const fn of this.listeners) {
      try {
        fn(l);
      } catch {
        // Everything is caught on purpose: a subscriber's failure must not stop the logging.
      }
    }
  }

  private rotate(): void {
    closeSync(this.fd);
    const path = join(this.dir, LOG_FILE);
    renameSync(path, `${path}.1`);
    this.fd = openSync(path, 'a', 0o600);
    this.size = 0;
  }
}

/** The stored lines, oldest first, filtered by `since` (epoch seconds) and `tail`. */
export function readLogs(dir: string, opts: { since?: number; tail?: number } = {}): LogLine[] {
  const out: LogLine[] = [];
  for (const name of [`${LOG_FILE}.1`, LOG_FILE]) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) continue; // rotated away meanwhile
      throw e;
    }
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      try {
        const r = JSON.parse(raw) as { t: string; s: string; l: string };
        out.push({ time: r.t, stream: r.s === 'stderr' ? 'stderr' : 'stdout', line: r.l });
      } catch (e) {
        // a torn last line after a crash
        if (!(e instanceof SyntaxError)) throw e;
      }
    }
  }
  let lines = out;
  if (opts.since !== undefined) {
    const sinceMs = opts.since * 1000;
    lines = lines.filter((l) => Date.parse(l.time) >= Math.floor(sinceMs));
  }
  if (opts.tail !== undefined && opts.tail >= 0) lines = opts.tail === 0 ? [] : lines.slice(-opts.tail);
  return lines;
}
