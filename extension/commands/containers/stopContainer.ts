/** Stop: the stop signal, then SIGKILL after the agent's timeout; shows progress while it waits. */
import * as vscode from 'vscode';
import { StopContainerRequest } from '../../../protocol';
import type { Context } from '../../context';
import { forEach, targetContainers, withProgress } from './pickContainer';

export function stopContainer(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const nodes = await targetContainers(ctx, node, selection, {
      placeHolder: vscode.l10n.t('Containers to stop'),
      many: true,
      states: ['running'],
    });
    if (!nodes) return;
    const title =
      nodes.length === 1 ? vscode.l10n.t('Stopping {0}...', nodes[0]!.name) : vscode.l10n.t('Stopping {0} containers...', nodes.length);
    await withProgress(title, () => forEach(ctx, nodes, (n) => ctx.agent.request(StopContainerRequest.type, { container: n.reference })));
  };
}
