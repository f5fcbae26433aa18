/** Open Layer Inspector: the webview of an image's layers, files and efficiency. */
import * as vscode from 'vscode';
import type { Context } from '../context';
import { imageName, targetImages } from '../commands/images/pickImage';
import { LayerInspectorPanel } from './LayerInspectorPanel';

export function openLayerInspector(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image whose layers to inspect'))) ?? [];
    if (!leaf) return;
    LayerInspectorPanel.show(ctx, leaf.reference, leaf.image.Id, imageName(leaf));
  };
}
