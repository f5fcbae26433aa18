/** Kill: SIGKILL to the container's init, at once (Stop is the gentle way). */
import * as vscode from 'vscode';
import { KillContainerRequest } from '../../../protocol';
import type { Context } from '../../context';
import { forEach, targetContainers } from './pickContainer';

export function killContainer(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const nodes = await targetContainers(ctx, node, selection, {
      placeHolder: vscode.l10n.t('Containers to kill'),
      many: true,
      states: ['running'],
    });
    if (!nodes) return;
    await forEach(ctx, nodes, (n) => ctx.agent.request(KillContainerRequest.type, { container: n.reference, signal: 'SIGKILL' }));
  };
}
