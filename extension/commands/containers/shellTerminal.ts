/**
 * A terminal inside a running container, through the protocol's exec streams: `open` sends
 * `container/exec` with a pty of the terminal's size (a shell: /bin/bash when the container has it,
 * else /bin/sh), keystrokes go out as `container/input`, size changes as `container/resize`, the
 * process's bytes come back as `container/output` and are written as they are (the container's pty
 * already turns LF into CRLF). The exec's answer is the shell's exit: the terminal closes with its
 * code. Closing the terminal cancels the request, which kills the shell. Uses only
 * `vscode.EventEmitter` and `l10n`, so it is unit-tested against the fake agent.
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { CancellationTokenSource, type CancellationToken } from 'vscode-jsonrpc';
import { ExecRequest, InputNotification, MAX_INPUT_CHUNK, ResizeNotification } from '../../../protocol';
import type { AgentConnection } from '../../agent/connection';
import { classify } from '../../agent/errors';

export type ShellAgent = Pick<AgentConnection, 'request' | 'onOutput' | 'notify'>;

const RED = '\x1b[31m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** The shells tried, in order; the last one is used without asking. */
export const SHELLS = ['/bin/bash', '/bin/sh'] as const;

/** /bin/bash when `test -x /bin/bash` succeeds in the container (a quick exec without a pty), else /bin/sh. */
export async function chooseShell(agent: Pick<AgentConnection, 'request'>, container: string, token?: CancellationToken): Promise<string> {
  try {
    const r = await agent.request(ExecRequest.type, { container, cmd: ['test', '-x', SHELLS[0]] }, token);
    return r.ExitCode === 0 ? SHELLS[0] : SHELLS[1];
  } catch (err) {
    // `test` itself missing (InvalidArgument) means no bash either; anything else (not running,
    // cancelled) is the real exec's to report.
    const f = classify(err);
    if (f.kind === 'agent' && f.codeName === 'InvalidArgument') return SHELLS[1];
    throw err;
  }
}

export class ShellPseudoterminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly cancel = new CancellationTokenSource();
  readonly token = `berth-ext-shell-${randomUUID()}`;
  private subscription: { dispose(): unknown } | undefined;
  /** Typed before the exec was sent; flushed once it is. */
  private pending: string[] = [];
  private started = false;
  private closed = false;
  /** The shell ended with an error shown in the terminal: the next key closes it. */
  private failed = false;
  private size: { rows: number; cols: number } | undefined;
  /** The shell's exit code, or undefined when it did not run to its end. */
  readonly done: Promise<number | undefined>;
  private resolveDone!: (code: number | undefined) => void;
  /** The shell that runs (known once it started). */
  shell: string | undefined;

  constructor(
    private readonly agent: ShellAgent,
    /** ID or name, as the agent accepts it. */
    private readonly container: string,
    /** `exec`: user, environment and working directory of the shell (the Berth workspace terminal's remoteUser, remoteEnv, workspaceFolder). */
    private readonly opts: { shell?: string; exec?: { user?: string; env?: string[]; workingDir?: string } } = {},
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  open(initialDimensions: vscode.TerminalDimensions | undefined): void {
    if (initialDimensions) this.size = { rows: initialDimensions.rows, cols: initialDimensions.columns };
    const decoder = new TextDecoder('utf-8');
    this.subscription = this.agent.onOutput((n) => {
      if (n.token !== this.token || this.closed) return;
      // A multi-byte character may be split across chunks: stream decoding keeps its halves.
      const text = decoder.decode(Buffer.from(n.data, 'base64'), { stream: true });
      if (text) this.writeEmitter.fire(text);
    });
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      const shell = this.opts.shell ?? (await chooseShell(this.agent, this.container, this.cancel.token));
      if (this.closed) return;
      this.shell = shell;
      const size = this.size ?? { rows: 24, cols: 80 };
      const answer = this.agent.request(
        ExecRequest.type,
        { container: this.container, cmd: [shell], ...this.opts.exec, tty: true, stdin: true, rows: size.rows, cols: size.cols, attachToken: this.token },
        this.cancel.token,
      );
      // The agent queues input that arrives while the process starts.
      this.started = true;
      for (const d of this.pending.splice(0)) this.send(d);
      const { ExitCode } = await answer;
      this.finish(ExitCode);
    } catch (err) {
      const f = classify(err);
      if (f.kind === 'cancelled' || this.closed) return this.finish(undefined);
      this.failed = true;
      this.writeEmitter.fire(`${RED}${f.message}${RESET}\r\n${DIM}${vscode.l10n.t('Press any key to close this terminal.')}${RESET}\r\n`);
      this.resolveDone(undefined);
    }
  }

  private finish(code: number | undefined): void {
    this.subscription?.dispose();
    this.resolveDone(code);
    if (this.closed) return;
    this.closed = true;
    this.closeEmitter.fire(code);
  }

  private send(data: string): void {
    const bytes = Buffer.from(data, 'utf8');
    for (let i = 0; i < bytes.length; i += MAX_INPUT_CHUNK) {
      this.agent.notify(InputNotification.type, { token: this.token, data: bytes.subarray(i, i + MAX_INPUT_CHUNK).toString('base64') });
    }
  }

  handleInput(data: string): void {
    if (this.failed) {
      this.failed = false;
      return this.finish(undefined);
    }
    if (this.closed) return;
    if (this.started) this.send(data);
    else this.pending.push(data);
  }

  setDimensions(d: vscode.TerminalDimensions): void {
    this.size = { rows: d.rows, cols: d.columns };
    if (this.started && !this.closed) this.agent.notify(ResizeNotification.type, { token: this.token, rows: d.rows, cols: d.columns });
  }

  /** The user closed the terminal: cancelling the exec kills the shell. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancel.cancel();
    this.subscription?.dispose();
  }

  dispose(): void {
    this.close();
    this.writeEmitter.dispose();
    this.closeEmitter.dispose();
    this.cancel.dispose();
  }
}
