/** Show Logs: a terminal that follows the container's logs (see LogsPseudoterminal). */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { LogsPseudoterminal } from './logsTerminal';
import { targetContainers } from './pickContainer';

export function showContainerLogs(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [n] = (await targetContainers(ctx, node, undefined, { placeHolder: vscode.l10n.t('Container whose logs to show') })) ?? [];
    if (!n) return;
    const pty = new LogsPseudoterminal(ctx.agent, n.reference);
    const terminal = vscode.window.createTerminal({
      name: vscode.l10n.t('Logs: {0}', n.name),
      pty,
      iconPath: new vscode.ThemeIcon('output'),
      isTransient: true,
    });
    terminal.show();
  };
}
