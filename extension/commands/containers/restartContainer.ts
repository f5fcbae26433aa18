/** Restart: stop (when running), then start, through the protocol. */
import * as vscode from 'vscode';
import { StartContainerRequest, StopContainerRequest } from '../../../protocol';
import type { Context } from '../../context';
import { forEach, targetContainers, withProgress } from './pickContainer';

export function restartContainer(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const nodes = await targetContainers(ctx, node, selection, { placeHolder: vscode.l10n.t('Containers to restart'), many: true });
    if (!nodes) return;
    const title = nodes.length === 1 ? vscode.l10n.t('Restarting {0}...', nodes[0]!.name) : vscode.l10n.t('Restarting {0} containers...', nodes.length);
    await withProgress(title, () =>
      forEach(ctx, nodes, async (n) => {
        await ctx.agent.request(StopContainerRequest.type, { container: n.reference });
        await ctx.agent.request(StartContainerRequest.type, { container: n.reference });
      }),
    );
  };
}
