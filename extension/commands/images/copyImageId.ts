/** Copy Image ID: the full ID ("sha256:...") to the clipboard. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { targetImages } from './pickImage';

export function copyImageId(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image whose ID to copy'))) ?? [];
    if (!leaf) return;
    await vscode.env.clipboard.writeText(leaf.image.Id);
    vscode.window.setStatusBarMessage(vscode.l10n.t('Copied {0}', leaf.image.Id), 3000);
  };
}
