/** Attach Shell: a VS Code terminal running a shell inside a running container (see ShellPseudoterminal). */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { targetContainers } from './pickContainer';
import { ShellPseudoterminal } from './shellTerminal';

export function attachShell(ctx: Context) {
  return async (node?: unknown): Promise<vscode.Terminal | undefined> => {
    const [n] =
      (await targetContainers(ctx, node, undefined, { placeHolder: vscode.l10n.t('Container to open a shell in'), states: ['running'] })) ??
      [];
    if (!n) return undefined;
    const pty = new ShellPseudoterminal(ctx.agent, n.reference);
    const terminal = vscode.window.createTerminal({
      name: vscode.l10n.t('Shell: {0}', n.name),
      pty,
      iconPath: new vscode.ThemeIcon('terminal'),
    });
    terminal.show();
    return terminal;
  };
}
