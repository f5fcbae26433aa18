/**
 * Remove Image: removes a tag (the image goes when no other tag points at it) or an untagged image,
 * for the clicked node or every selected one, after a modal confirmation.
 */
import * as vscode from 'vscode';
import { RemoveImageRequest } from '../../../protocol';
import type { Context } from '../../context';
import { imageName, targetImages } from './pickImage';

export function removeImage(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const leaves = await targetImages(ctx, node, selection, vscode.l10n.t('Images to remove'), true);
    if (!leaves?.length) return;
    const remove = vscode.l10n.t('Remove');
    const message =
      leaves.length === 1 ? vscode.l10n.t('Remove {0}?', imageName(leaves[0]!)) : vscode.l10n.t('Remove {0} images?', leaves.length);
    const detail =
      leaves.length === 1
        ? vscode.l10n.t('Removing a tag deletes the image only when no other tag points at it. Layers no other image uses are deleted.')
        : leaves.map(imageName).join('\n');
    const choice = await vscode.window.showWarningMessage(message, { modal: true, detail }, remove);
    if (choice !== remove) return;
    for (const leaf of leaves) {
      try {
        await ctx.agent.request(RemoveImageRequest.type, { reference: leaf.reference });
      } catch (err) {
        ctx.reportError(err);
      }
    }
  };
}
