/**
 * Remove: deletes containers (record, writable layer, logs) after a modal confirmation; running
 * ones are killed first (`force`), only after a second confirmation that says so.
 */
import * as vscode from 'vscode';
import { RemoveContainerRequest } from '../../../protocol';
import type { Context } from '../../context';
import { forEach, targetContainers } from './pickContainer';

export function removeContainer(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const nodes = await targetContainers(ctx, node, selection, { placeHolder: vscode.l10n.t('Containers to remove'), many: true });
    if (!nodes) return;
    const remove = vscode.l10n.t('Remove');
    const message =
      nodes.length === 1 ? vscode.l10n.t('Remove container {0}?', nodes[0]!.name) : vscode.l10n.t('Remove {0} containers?', nodes.length);
    const detail = nodes.length === 1 ? vscode.l10n.t('Its writable layer and its logs are deleted.') : nodes.map((n) => n.name).join('\n');
    if ((await vscode.window.showWarningMessage(message, { modal: true, detail }, remove)) !== remove) return;
    const running = nodes.filter((n) => n.container.State === 'running');
    let force = false;
    if (running.length) {
      const kill = vscode.l10n.t('Kill and Remove');
      const msg =
        running.length === 1
          ? vscode.l10n.t('{0} is running. Kill it and remove it?', running[0]!.name)
          : vscode.l10n.t('{0} containers are running. Kill them and remove them?', running.length);
      const choice = await vscode.window.showWarningMessage(
        msg,
        { modal: true, detail: vscode.l10n.t('Its processes get SIGKILL, without the chance to stop cleanly.') },
        kill,
      );
      if (choice !== kill) return;
      force = true;
    }
    await forEach(ctx, nodes, (n) =>
      ctx.agent.request(RemoveContainerRequest.type, { container: n.reference, force: force && n.container.State === 'running' }),
    );
  };
}
