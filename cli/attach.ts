/**
 * Attaching the CLI's own terminal to a process's byte stream (exec, run -it): output
 * notifications to stdout/stderr, stdin to input notifications, SIGWINCH to resize; with a pty,
 * the local terminal in raw mode (restored on every way out), so Ctrl-C and Ctrl-D reach the
 * container's pty as bytes.
 */
import { InputNotification, MAX_INPUT_CHUNK, OutputNotification, ResizeNotification } from '../protocol';
import type { AgentClient } from './client';
import { CliError } from './context';

export interface AttachOptions {
  tty: boolean;
  /** Forward stdin. */
  stdin: boolean;
}

/** The token a CLI process uses for its one attached stream. */
export function newAttachToken(): string {
  return `berth-cli-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

/** Docker's refusal of -t without a terminal on stdin. */
export function requireTTY(): void {
  if (!process.stdin.isTTY) throw new CliError('the input device is not a TTY', 1);
}

/** The local terminal's size, or Docker's default when stdout is not one. */
export function terminalSize(): { rows: number; cols: number } {
  const out = process.stdout;
  return out.isTTY && out.rows > 0 && out.columns > 0 ? { rows: out.rows, cols: out.columns } : { rows: 24, cols: 80 };
}

/**
 * Wires `token`'s stream to this process's stdio while `run` runs (it sends the request that
 * starts the process and resolves with its exit code), and restores everything afterwards.
 */
export async function attached(client: AgentClient, token: string, o: AttachOptions, run: () => Promise<number>): Promise<number> {
  const cleanups: (() => void)[] = [];
  const sub = client.onNotification(OutputNotification.type, (n) => {
    if (n.token !== token) return;
    const data = Buffer.from(n.data, 'base64');
    if (n.stream === 'stderr') process.stderr.write(data);
    else process.stdout.write(data);
  });
  cleanups.push(() => sub.dispose());
  const send = (p: { data?: string; eof?: boolean }) => client.notify(InputNotification.type, { token, ...p });
  const stdin = process.stdin;
  if (o.tty && o.stdin && stdin.isTTY) {
    stdin.setRawMode(true);
    const restore = () => {
      try {
        stdin.setRawMode(false);
      } catch {
        /* the terminal went away */
      }
    };
    process.once('exit', restore);
    cleanups.push(() => {
      restore();
      process.off('exit', restore);
    });
    const onWinch = () => client.notify(ResizeNotification.type, { token, ...terminalSize() });
    process.on('SIGWINCH', onWinch);
    cleanups.push(() => void process.off('SIGWINCH', onWinch));
    // In raw mode Ctrl-C is a byte, not SIGINT; these still end the CLI with the terminal restored.
    for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
      const h = () => {
        for (const c of cleanups.splice(0).reverse()) c();
        process.exit(128 + (sig === 'SIGTERM' ? 15 : 1));
      };
      process.once(sig, h);
      cleanups.push(() => void process.off(sig, h));
    }
  }
  if (o.stdin) {
    const onData = (d: Buffer) => {
      for (let i = 0; i < d.length; i += MAX_INPUT_CHUNK) send({ data: d.subarray(i, i + MAX_INPUT_CHUNK).toString('base64') });
    };
    const onEnd = () => send({ eof: true });
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    cleanups.push(() => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
    });
  }
  try {
    return await run();
  } finally {
    for (const c of cleanups.splice(0).reverse()) c();
  }
}
