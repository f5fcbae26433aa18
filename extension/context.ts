/**
 * The one object that owns what the extension holds while it runs: the agent connection, the
 * status bar item, the "Berth" output channel, the trees, and every disposable. Commands and trees
 * receive it; nothing else keeps global state.
 */
import { join } from 'node:path';
import * as vscode from 'vscode';
import { agentPaths } from '../client/paths';
import { isRoot, startBundledAgent } from '../client/autostart';
import { AgentConnection, type AgentState } from '../client/connection';
import { classify, detailLine } from '../client/errors';
import { AgentStatusBar } from './connection/statusBar';
import { INSPECT_SCHEME, ReadonlyDocumentProvider } from './documents/ReadonlyDocumentProvider';
import { registerTrees, type Trees } from './tree/registerTrees';

/** The context key views and menus read: idle, connecting, connected, disconnected. */
export const STATE_CONTEXT_KEY = 'berth.agent.state';

export class Context implements vscode.Disposable {
  readonly output: vscode.LogOutputChannel;
  readonly agent: AgentConnection;
  readonly trees: Trees;
  readonly documents: ReadonlyDocumentProvider;
  private readonly disposables: vscode.Disposable[] = [];
  /** Explain how to start the agent once, and only if it was never reached in this window. */
  private explainedNoAgent = false;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('Berth', { log: true });
    this.push(this.output);
    this.agent = new AgentConnection({
      socket: () => this.socketPath(),
      autostart: isRoot() && !process.env.BERTH_NO_AUTOSTART ? (socket) => startBundledAgent(this.berthScript, socket) : undefined,
      log: (line) => this.output.info(line),
    });
    this.push(this.agent);
    this.push(new AgentStatusBar(this.agent));
    this.push(this.agent.onDidChangeState((s) => this.stateChanged(s)));
    this.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('berth.agentSocket')) this.agent.reconnect();
      }),
    );
    void vscode.commands.executeCommand('setContext', STATE_CONTEXT_KEY, this.agent.state.kind);
    this.trees = registerTrees(this);
    this.documents = this.push(new ReadonlyDocumentProvider(this.agent));
    this.push(vscode.workspace.registerTextDocumentContentProvider(INSPECT_SCHEME, this.documents));
  }

  /** The `berth` CLI bundle shipped in the extension: runs `berth agent`. */
  get berthScript(): string {
    return join(this.extension.extensionPath, 'dist', 'berth.js');
  }

  /** The systemd unit shipped in the extension. */
  get unitFile(): vscode.Uri {
    return vscode.Uri.joinPath(this.extension.extensionUri, 'extension', 'resources', 'berth-agent.service');
  }

  /** `berth.agentSocket`, else the CLI's default (BERTH_SOCKET, BERTH_ROOT, /run/berth/agent.sock). */
  socketPath(): string {
    const configured = vscode.workspace.getConfiguration('berth').get<string>('agentSocket')?.trim();
    return configured || agentPaths(process.env).socket;
  }

  push<T extends vscode.Disposable>(d: T): T {
    this.disposables.push(d);
    return d;
  }

  start(): void {
    this.agent.start();
  }

  /**
   * Tells the user what failed, in the agent's sentence (or ours for connection trouble); the
   * details (error code, structured data) go to the output channel. Cancellation is not a failure.
   */
  reportError(err: unknown): void {
    const f = classify(err);
    if (f.kind === 'cancelled') {
      this.output.info(f.message);
      return;
    }
    this.output.error(`${f.message} ${detailLine(f)}`);
    let message: string;
    switch (f.kind) {
      case 'notConnected':
        message = vscode.l10n.t('Berth is not connected to its agent. Start the agent, or check the "berth.agentSocket" setting.');
        break;
      case 'connectionLost':
        message = vscode.l10n.t('The connection to the Berth agent was lost before it answered.');
        break;
      default:
        message = f.message;
    }
    const details = vscode.l10n.t('Show Details');
    void vscode.window.showErrorMessage(message, details).then((choice) => {
      if (choice === details) this.output.show(true);
    });
  }

  /** Explains how to start the agent: the command, and the systemd unit shipped with Berth. */
  async explainHowToStart(): Promise<void> {
    const socket = this.socketPath();
    const command = `sudo node ${this.berthScript} agent`;
    const copy = vscode.l10n.t('Copy Command');
    const unit = vscode.l10n.t('Open systemd Unit');
    const retry = vscode.l10n.t('Retry');
    const choice = await vscode.window.showWarningMessage(
      vscode.l10n.t(
        'No Berth agent answers on {0}. The agent needs root: start it with "{1}" (or "sudo berth agent" where the CLI is installed), or install the systemd unit shipped with Berth.',
        socket,
        command,
      ),
      copy,
      unit,
      retry,
    );
    if (choice === copy) await vscode.env.clipboard.writeText(command);
    else if (choice === unit) await vscode.window.showTextDocument(this.unitFile, { preview: true });
    else if (choice === retry) this.agent.reconnect();
  }

  private stateChanged(s: AgentState): void {
    void vscode.commands.executeCommand('setContext', STATE_CONTEXT_KEY, s.kind);
    if (s.kind === 'disconnected' && s.noAgent && !this.explainedNoAgent) {
      this.explainedNoAgent = true;
      void this.explainHowToStart();
    }
    // An agent that was there and went away is shown in the status bar, not in a notification.
    if (s.kind === 'connected') this.explainedNoAgent = true;
  }

  dispose(): void {
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}
