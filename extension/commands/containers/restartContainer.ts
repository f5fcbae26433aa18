/** Restart: `container/restart` (stop when running, then start) in the agent. */
import * as vscode from 'vscode';
import { RestartContainerRequest } from '../../../protocol';
import type { Context } from '../../context';
import { forEach, targetContainers, withProgress } from './pickContainer';

export function restartContainer(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const nodes = await targetContainers(ctx, node, selection, { placeHolder: vscode.l10n.t('Containers to restart'), many: true });
    if (!nodes) return;
    const title =
      nodes.length === 1 ? vscode.l10n.t('Restarting {0}...', nodes[0]!.name) : vscode.l10n.t('Restarting {0} containers...', nodes.length);
    await withProgress(title, () =>
      forEach(ctx, nodes, (n) => ctx.agent.request(RestartContainerRequest.type, { container: n.reference })),
    );
  };
}
