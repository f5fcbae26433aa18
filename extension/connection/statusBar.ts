/** The status bar item: the connection's state at a glance; a click reconnects or shows the log. */
import * as vscode from 'vscode';
import type { AgentConnection, AgentState } from '../../client/connection';

export class AgentStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('berth.agent', vscode.StatusBarAlignment.Left, 10);
  private readonly subscription: vscode.Disposable;

  constructor(agent: AgentConnection) {
    this.item.name = vscode.l10n.t('Berth Agent');
    this.render(agent.state);
    this.subscription = agent.onDidChangeState((s) => this.render(s));
    this.item.show();
  }

  private render(s: AgentState): void {
    const item = this.item;
    item.backgroundColor = undefined;
    switch (s.kind) {
      case 'idle':
      case 'connecting':
        item.text = `$(sync~spin) ${vscode.l10n.t('Berth')}`;
        item.tooltip = vscode.l10n.t('Connecting to the Berth agent...');
        item.command = 'berth.agent.showOutput';
        break;
      case 'connected':
        item.text = `$(vm-active) ${vscode.l10n.t('Berth')}`;
        item.tooltip = vscode.l10n.t(
          'Connected to the Berth agent {0} (pid {1}) on {2}',
          s.version?.Version ?? '?',
          s.version?.Pid ?? '?',
          s.socket,
        );
        item.command = 'berth.agent.showOutput';
        break;
      case 'disconnected':
        item.text = `$(debug-disconnect) ${vscode.l10n.t('Berth: disconnected')}`;
        item.tooltip = vscode.l10n.t(
          'Not connected to the Berth agent on {0}: {1}. Retrying by itself; click to retry now.',
          s.socket,
          s.reason,
        );
        item.command = 'berth.agent.reconnect';
        item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
        break;
      case 'disposed':
        item.hide();
        break;
    }
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
