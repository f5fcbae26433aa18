/**
 * Open Layer Inspector: the webview of an image's layers, files and efficiency; for a container,
 * of its writable layer.
 */
import * as vscode from 'vscode';
import type { Context } from '../context';
import { targetContainers } from '../commands/containers/pickContainer';
import { imageName, targetImages } from '../commands/images/pickImage';
import { LayerInspectorPanel } from './LayerInspectorPanel';

export function openLayerInspector(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image whose layers to inspect'))) ?? [];
    if (!leaf) return;
    LayerInspectorPanel.show(ctx, leaf.reference, leaf.image.Id, imageName(leaf));
  };
}

export function openContainerLayerInspector(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [n] =
      (await targetContainers(ctx, node, undefined, { placeHolder: vscode.l10n.t('Container whose writable layer to inspect') })) ?? [];
    if (!n) return;
    LayerInspectorPanel.showContainer(ctx, n.reference, n.name);
  };
}
