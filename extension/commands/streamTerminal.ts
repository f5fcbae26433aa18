/**
 * A VS Code Pseudoterminal over one of the protocol's attached byte streams, the part shared by
 * Attach Shell (an exec's stream, shellTerminal.ts) and Run Interactive (a started container's,
 * runInteractive.ts). The stream is named by {@link StreamPseudoterminal.token}:
 *   - `container/output` notifications carrying it are written to the terminal as they come (a
 *     multi-byte character split across chunks is decoded whole; the container's pty already
 *     turns LF into CRLF);
 *   - keystrokes go out as `container/input` (in MAX_INPUT_CHUNK pieces), typed before the stream
 *     was attached they are kept and sent once it is; size changes go out as `container/resize`.
 * A subclass's `attach` sends the requests that start and await the process, calls `attached()`
 * once the agent accepts input, and `finish(exitCode)` at its end: the terminal closes with that
 * code. An error is shown in the terminal in red and the next key closes it; a cancellation (the
 * user closed the terminal) ends it quietly. `done` resolves with the exit code, or undefined
 * when the process did not run to its end. Uses only `vscode.EventEmitter` and `l10n`, so it is
 * unit-tested against the fake agent.
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import { InputNotification, MAX_INPUT_CHUNK, ResizeNotification } from '../../protocol';
import type { AgentConnection } from '../../client/connection';
import { classify } from '../../client/errors';

export type StreamAgent = Pick<AgentConnection, 'request' | 'onOutput' | 'notify'>;

const RED = '\x1b[31m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

export abstract class StreamPseudoterminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  // biome-ignore lint/suspicious/noConfusingVoidType: vscode.Pseudoterminal's onDidClose is an Event<void | number>
  private readonly closeEmitter = new vscode.EventEmitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  /** Cancelled when the user closes the terminal; pass it to the requests `attach` sends. */
  protected readonly cancel = new CancellationTokenSource();
  /** Names this terminal's stream in the agent's notifications. */
  readonly token: string;
  private subscription: { dispose(): unknown } | undefined;
  /** Typed before the stream was attached; flushed once it is. */
  private pending: string[] = [];
  protected started = false;
  protected closed = false;
  /** Ended with an error shown in the terminal: the next key closes it. */
  private failed = false;
  /** The terminal's size, once VS Code told it. */
  protected size: { rows: number; cols: number } | undefined;
  /**
   * Undefined: an error stays in the terminal until a key is pressed (a shell). A number: the
   * terminal ends right after showing it, with this code (a task, whose failure VS Code reports).
   */
  protected readonly errorExitCode: number | undefined = undefined;
  /** The process's exit code, or undefined when it did not run to its end. */
  readonly done: Promise<number | undefined>;
  private resolveDone!: (code: number | undefined) => void;

  constructor(
    protected readonly agent: StreamAgent,
    /** The token's middle part: "berth-ext-KIND-UUID". */
    kind: string,
  ) {
    this.token = `berth-ext-${kind}-${randomUUID()}`;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Starts the process attached to the stream and awaits its end (see the file comment). */
  protected abstract attach(): Promise<void>;

  /** The user closed the terminal while the process ran: what to do besides cancelling `attach`'s requests. */
  protected onUserClose(): void {}

  open(initialDimensions: vscode.TerminalDimensions | undefined): void {
    if (initialDimensions) this.size = { rows: initialDimensions.rows, cols: initialDimensions.columns };
    const decoder = new TextDecoder('utf-8');
    this.subscription = this.agent.onOutput((n) => {
      if (n.token !== this.token || this.closed) return;
      const text = decoder.decode(Buffer.from(n.data, 'base64'), { stream: true });
      if (text) this.writeEmitter.fire(text);
    });
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      await this.attach();
    } catch (err) {
      const f = classify(err);
      if (f.kind === 'cancelled' || this.closed) return this.finish(undefined);
      if (this.errorExitCode !== undefined) {
        this.writeEmitter.fire(`${RED}${f.message}${RESET}\r\n`);
        return this.finish(this.errorExitCode);
      }
      this.failed = true;
      this.writeEmitter.fire(`${RED}${f.message}${RESET}\r\n${DIM}${vscode.l10n.t('Press any key to close this terminal.')}${RESET}\r\n`);
      this.resolveDone(undefined);
    }
  }

  /** Writes `text` to the terminal (a note of the subclass's own). */
  protected write(text: string): void {
    this.writeEmitter.fire(text);
  }

  /** The agent takes input now: what was typed meanwhile is sent. */
  protected attached(): void {
    this.started = true;
    for (const d of this.pending.splice(0)) this.send(d);
  }

  /** The process ended (`code`) or the terminal did (undefined): closes it. */
  protected finish(code: number | undefined): void {
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

  /** Sends the terminal's size. */
  protected resize(): void {
    if (this.size) this.agent.notify(ResizeNotification.type, { token: this.token, rows: this.size.rows, cols: this.size.cols });
  }

  handleInput(data: string): void {
    if (this.failed) {
      this.failed = false;
      this.finish(undefined);
      return;
    }
    if (this.closed) return;
    if (this.started) this.send(data);
    else this.pending.push(data);
  }

  setDimensions(d: vscode.TerminalDimensions): void {
    this.size = { rows: d.rows, cols: d.columns };
    if (this.started && !this.closed) this.resize();
  }

  /** The user closed the terminal: {@link onUserClose}, then `attach`'s requests are cancelled. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription?.dispose();
    this.onUserClose();
    this.cancel.cancel();
  }

  dispose(): void {
    this.close();
    this.writeEmitter.dispose();
    this.closeEmitter.dispose();
    this.cancel.dispose();
  }
}
