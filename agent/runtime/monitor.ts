/**
 * The agent's side of a container monitor that outlives the agent (native/helper/monitor-socket.c,
 * which describes the protocol): the helper that launched a container stays as its monitor and serves
 * its stdio, signals and exit on `<container dir>/monitor.sock`. Any agent can connect (the one
 * that started the container, right after "started", or a new one after a restart) and gets a
 * {@link LaunchedContainer} exactly like a freshly launched one: output streams, stdin, kill,
 * resize and the exit.
 *
 * Frames, both ways: 1 type byte, u32 LE length (<= 65536), payload.
 *   monitor -> agent: O stdout, E stderr, L lost byte count, X exit status line
 *   agent -> monitor: i stdin, c close stdin, r "ROWS COLS", s signal number
 *
 * When no monitor answers, the container exited while no agent was connected (its monitor wrote
 * `exit` and perhaps `spill`, the frames it could not deliver: {@link readLeftovers}), or the
 * monitor itself was killed (neither file: the container is lost).
 */
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { unlessErrno } from '../errors';
import type { ExitStatus, LaunchedContainer } from './launched';

export const MONITOR_SOCKET = 'monitor.sock';
export const EXIT_FILE = 'exit';
export const SPILL_FILE = 'spill';
const FRAME_MAX = 65536;

/** A status line ("exited 3", "killed SIGKILL") as an ExitStatus; undefined when it is not one. */
export function exitStatusOf(line: string): ExitStatus | undefined {
  let m = /^exited (\d{1,3})$/.exec(line.trim());
  if (m) return { code: Number(m[1]) };
  m = /^killed (SIG[A-Z0-9+-]{1,16})$/.exec(line.trim());
  if (m) {
    const n = osConstants.signals[m[1] as NodeJS.Signals];
    return { code: 128 + (typeof n === 'number' ? n : 0), signal: m[1] };
  }
  return undefined;
}

export type MonitorFrame =
  | { type: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'lost'; bytes: number }
  | { type: 'exit'; status: ExitStatus };

/** A malformed frame; `frames` are the good ones before it. */
export class FrameError extends Error {
  constructor(
    message: string,
    readonly frames: MonitorFrame[],
  ) {
    super(message);
  }
}

/**
 * Incremental frame decoder for the monitor's side of the stream (socket or spill file). Throws
 * a {@link FrameError} on a malformed frame (unknown type, oversized length, bad payload): the
 * monitor is ours, but the file it wrote sits on disk and is read back, so it is checked like
 * any input.
 */
export class FrameDecoder {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): MonitorFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: MonitorFrame[] = [];
    const fail = (m: string): never => {
      throw new FrameError(m, out);
    };
    let at = 0;
    while (this.buf.length - at >= 5) {
      const type = String.fromCharCode(this.buf[at]);
      const len = this.buf.readUInt32LE(at + 1);
      if (len > FRAME_MAX) fail(`monitor frame of ${len} bytes (at most ${FRAME_MAX})`);
      if (this.buf.length - at - 5 < len) break;
      const payload = this.buf.subarray(at + 5, at + 5 + len);
      at += 5 + len;
      if (type === 'O' || type === 'E') out.push({ type: type === 'O' ? 'stdout' : 'stderr', data: Buffer.from(payload) });
      else if (type === 'L') {
        const n = Number(payload.toString('latin1'));
        if (!Number.isSafeInteger(n) || n < 0) fail(`monitor frame L with "${payload.toString('latin1').slice(0, 40)}"`);
        out.push({ type: 'lost', bytes: n });
      } else if (type === 'X') {
        const status = exitStatusOf(payload.toString('latin1'));
        out.push({ type: 'exit', status: status ?? fail(`monitor exit frame "${payload.toString('latin1').slice(0, 40)}"`) });
      } else fail(`monitor frame of unknown type 0x${this.buf[at - 5 - len].toString(16)}`);
    }
    this.buf = this.buf.subarray(at);
    return out;
  }

  /** Bytes of an incomplete frame left over. */
  get pending(): number {
    return this.buf.length;
  }
}

function frame(type: string, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32LE(body.length, 1);
  return Buffer.concat([h, body]);
}

/** A note in the output for bytes the monitor had to drop while no agent listened. */
export function lostNote(bytes: number): Buffer {
  return Buffer.from(`[berth: ${bytes} bytes of output were lost while the agent was away]\n`);
}

/**
 * Connects to the monitor in `dir`. Rejects (with the socket error: ENOENT, ECONNREFUSED) when
 * none listens. `pid` is the container's init as recorded at start; `helperPid` the monitor's,
 * when known.
 */
export function connectMonitor(dir: string, pid: number, helperPid = 0): Promise<LaunchedContainer> {
  return new Promise((resolve, reject) => {
    // sun_path holds 107 bytes; a deep store is reached through an fd of the directory.
    let dirFd: number | undefined;
    let path = join(dir, MONITOR_SOCKET);
    if (Buffer.byteLength(path) > 100) {
      dirFd = openSync(dir, 'r');
      path = `/proc/self/fd/${dirFd}/${MONITOR_SOCKET}`;
    }
    const sock: Socket = createConnection({ path });
    const closeDir = () => {
      if (dirFd !== undefined) closeSync(dirFd);
      dirFd = undefined;
    };
    sock.once('error', (e) => {
      closeDir();
      reject(e);
    });
    sock.once('connect', () => {
      closeDir();
      sock.removeAllListeners('error');
      resolve(adopt(sock, dir, pid, helperPid));
    });
  });
}

function adopt(sock: Socket, dir: string, pid: number, helperPid: number): LaunchedContainer {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const decoder = new FrameDecoder();
  let final: ExitStatus | undefined;
  let resolveExited!: (s: ExitStatus) => void;
  const exited = new Promise<ExitStatus>((r) => (resolveExited = r));
  const send = (type: string, payload?: Buffer | string): boolean => (sock.destroyed || final ? true : sock.write(frame(type, payload)));

  sock.on('data', (chunk: Buffer) => {
    let frames: MonitorFrame[];
    try {
      frames = decoder.push(chunk);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      stderr.write(`[berth: the container's monitor sent a bad frame: ${(e as Error).message}]\n`);
      sock.destroy();
      return;
    }
    for (const f of frames) {
      if (f.type === 'stdout') stdout.write(f.data);
      else if (f.type === 'stderr') stderr.write(f.data);
      else if (f.type === 'lost') stderr.write(lostNote(f.bytes));
      else if (f.type === 'exit') final ??= f.status;
    }
  });
  sock.on('error', () => {
    /* 'close' follows and tells */
  });
  sock.on('close', () => {
    stdout.end();
    stderr.end();
    if (!final) {
      // No X frame: the monitor was killed, or exited while the frame could not be sent.
      final = readExitFile(dir) ?? { code: 255, lost: true };
    }
    resolveExited(final);
  });

  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      let ok = true;
      for (let at = 0; at < chunk.length; at += FRAME_MAX) ok = send('i', chunk.subarray(at, at + FRAME_MAX)) && ok;
      if (ok) cb();
      else sock.once('drain', () => cb());
    },
    final(cb) {
      send('c');
      cb();
    },
  });
  stdin.on('error', () => {
    /* the container is gone; its exit tells */
  });

  return {
    pid,
    helperPid,
    exited,
    kill: (signal: NodeJS.Signals | number = 'SIGTERM') => {
      const n = typeof signal === 'number' ? signal : osConstants.signals[signal];
      if (typeof n !== 'number' || n <= 0) throw new Error(`kill: unknown signal ${String(signal)}`);
      send('s', String(n));
    },
    resize: (rows: number, cols: number) => {
      if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || rows > 65535 || cols > 65535) return;
      send('r', `${rows} ${cols}`);
    },
    stdin,
    stdout,
    stderr,
  };
}

/**
 * A container whose monitor is already gone but left its exit (and output) behind, as a
 * {@link LaunchedContainer} that has exited; undefined when there is no exit file.
 */
export function leftoverContainer(dir: string, pid: number, helperPid = 0): LaunchedContainer | undefined {
  if (!readExitFile(dir)) return undefined;
  const left = readLeftovers(dir);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  for (const o of left.output) (o.stream === 'stdout' ? stdout : stderr).write(o.data);
  stdout.end();
  stderr.end();
  return {
    pid,
    helperPid,
    exited: Promise.resolve(left.exit ?? { code: 255, lost: true }),
    kill: () => undefined,
    resize: () => undefined,
    stdin: null,
    stdout,
    stderr,
  };
}

/** The `exit` file a monitor left, parsed; undefined when there is none (or it is not valid). */
export function readExitFile(dir: string): ExitStatus | undefined {
  const text = unlessErrno(['ENOENT', 'ENOTDIR'], () => readFileSync(join(dir, EXIT_FILE), 'latin1'));
  return text === undefined ? undefined : exitStatusOf(text.slice(0, 64));
}

/**
 * What a monitor left behind after it exited with no agent listening: its output frames (from
 * `spill`, at most 64 MiB, bounded again here) and the exit. The files are removed once read.
 * `exit` is undefined when the monitor left none (it was killed: the container is lost).
 */
export function readLeftovers(dir: string): { output: { stream: 'stdout' | 'stderr'; data: Buffer }[]; exit?: ExitStatus } {
  const output: { stream: 'stdout' | 'stderr'; data: Buffer }[] = [];
  const spill = join(dir, SPILL_FILE);
  // ENOENT: no output was kept (or another agent read it first).
  const kept = unlessErrno(['ENOENT'], () => readFileSync(spill));
  if (kept) {
    const take = (frames: MonitorFrame[]) => {
      for (const f of frames) {
        if (f.type === 'stdout' || f.type === 'stderr') output.push({ stream: f.type, data: f.data });
        else if (f.type === 'lost') output.push({ stream: 'stderr', data: lostNote(f.bytes) });
      }
    };
    try {
      take(new FrameDecoder().push(kept.subarray(0, 65 << 20)));
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      take(e.frames);
      output.push({
        stream: 'stderr',
        data: Buffer.from(`[berth: the output kept while the agent was away is damaged: ${(e as Error).message}]\n`),
      });
    }
  }
  const exit = readExitFile(dir);
  clearMonitorFiles(dir);
  return { output, exit };
}

/** Removes what a monitor leaves in the container's directory. */
export function clearMonitorFiles(dir: string): void {
  for (const f of [MONITOR_SOCKET, EXIT_FILE, `${EXIT_FILE}.tmp`, SPILL_FILE]) rmSync(join(dir, f), { force: true });
}
