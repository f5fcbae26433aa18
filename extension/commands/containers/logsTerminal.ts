/**
 * A read-only terminal that follows a container's logs, the way `docker logs -f` does: every line
 * so far, then new ones as the container writes them (`container/logs` with `follow` and a token;
 * the lines arrive as `container/logLine` notifications). stderr lines are red. Following ends
 * when the container stops running, when the user presses Ctrl-C, or when the terminal closes
 * (the request is cancelled). Uses only `vscode.EventEmitter` and `l10n`, so it is unit-tested.
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import { ContainerLogsRequest, type LogLine } from '../../../protocol';
import type { AgentConnection } from '../../../client/connection';
import { classify } from '../../../client/errors';

export type LogsAgent = Pick<AgentConnection, 'request' | 'onLogLine'>;

const RED = '\x1b[31m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';
const HIDE_CURSOR = '\x1b[?25l';

export class LogsPseudoterminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly cancel = new CancellationTokenSource();
  private readonly token = `berth-ext-logs-${randomUUID()}`;
  private subscription: { dispose(): unknown } | undefined;
  private _ended = false;
  /** Resolves when following has ended (for tests and callers that wait). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly agent: LogsAgent,
    /** ID or name, as the agent accepts it. */
    private readonly container: string,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get ended(): boolean {
    return this._ended;
  }

  open(): void {
    // Read-only: no cursor.
    this.writeEmitter.fire(HIDE_CURSOR);
    this.subscription = this.agent.onLogLine((n) => {
      if (n.token === this.token && !this._ended) this.writeEmitter.fire(format(n.line));
    });
    void this.follow();
  }

  private async follow(): Promise<void> {
    try {
      await this.agent.request(
        ContainerLogsRequest.type,
        { container: this.container, follow: true, token: this.token },
        this.cancel.token,
      );
      this.end(vscode.l10n.t('The container is not running: end of its logs.'));
    } catch (err) {
      const f = classify(err);
      this.end(f.kind === 'cancelled' ? vscode.l10n.t('Stopped following the logs.') : `${RED}${f.message}${RESET}`);
    }
  }

  private end(message: string): void {
    if (this._ended) return;
    this._ended = true;
    this.subscription?.dispose();
    this.writeEmitter.fire(`\r\n${DIM}${message} ${vscode.l10n.t('Press any key to close this terminal.')}${RESET}\r\n`);
    this.resolveDone();
  }

  handleInput(data: string): void {
    if (this._ended) this.closeEmitter.fire();
    else if (data === '\x03') this.cancel.cancel();
  }

  close(): void {
    this.cancel.cancel();
    this.subscription?.dispose();
    this._ended = true;
    this.resolveDone();
  }

  dispose(): void {
    this.close();
    this.writeEmitter.dispose();
    this.closeEmitter.dispose();
    this.cancel.dispose();
  }
}

/** One line for the terminal: CRLF, stderr in red. */
export function format(l: LogLine): string {
  const text = l.line.replace(/\r?\n/g, '\r\n');
  return l.stream === 'stderr' ? `${RED}${text}${RESET}\r\n` : `${text}\r\n`;
}
