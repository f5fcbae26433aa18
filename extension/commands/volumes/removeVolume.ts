/**
 * Remove Volume: deletes volumes and their data after a modal confirmation. A volume a container
 * uses cannot be removed (the agent answers Conflict, reported as its sentence); the confirmation
 * already says who uses it.
 */
import * as vscode from 'vscode';
import { RemoveVolumeRequest } from '../../../protocol';
import type { Context } from '../../context';
import { usersText } from '../../tree/volumes/VolumeTreeItem';
import { targetVolumes } from './pickVolume';

export function removeVolume(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const nodes = await targetVolumes(ctx, node, selection, vscode.l10n.t('Volumes to remove'), true);
    if (!nodes) return;
    const remove = vscode.l10n.t('Remove');
    const message =
      nodes.length === 1
        ? vscode.l10n.t('Remove volume {0} and its data?', nodes[0]!.name)
        : vscode.l10n.t('Remove {0} volumes and their data?', nodes.length);
    const detail = nodes.map((n) => `${n.name}: ${usersText(n)}`).join('\n');
    if ((await vscode.window.showWarningMessage(message, { modal: true, detail }, remove)) !== remove) return;
    for (const n of nodes) {
      try {
        await ctx.agent.request(RemoveVolumeRequest.type, { name: n.name });
      } catch (err) {
        ctx.reportError(err);
      }
    }
  };
}
