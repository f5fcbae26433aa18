/** Start: starts created or exited containers (an exited one keeps its writable layer). */
import * as vscode from 'vscode';
import { StartContainerRequest } from '../../../protocol';
import type { Context } from '../../context';
import { forEach, targetContainers } from './pickContainer';

export function startContainer(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const nodes = await targetContainers(ctx, node, selection, {
      placeHolder: vscode.l10n.t('Containers to start'),
      many: true,
      states: ['created', 'exited'],
    });
    if (!nodes) return;
    await forEach(ctx, nodes, (n) => ctx.agent.request(StartContainerRequest.type, { container: n.reference }));
  };
}
