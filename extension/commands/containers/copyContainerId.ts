/** Copy ID: the container's full 64-hex ID to the clipboard. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { targetContainers } from './pickContainer';

export function copyContainerId(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [n] = (await targetContainers(ctx, node, undefined, { placeHolder: vscode.l10n.t('Container whose ID to copy') })) ?? [];
    if (!n) return;
    await vscode.env.clipboard.writeText(n.container.Id);
    vscode.window.setStatusBarMessage(vscode.l10n.t('Copied {0}', n.container.Id), 3000);
  };
}
