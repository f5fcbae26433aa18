/** Creates every tree view of the Berth container (Images today; containers and volumes join here). */
import * as vscode from 'vscode';
import type { Context } from '../context';
import { ImagesTreeProvider } from './images/ImagesTreeProvider';
import type { ImageNode } from './images/model';

export const IMAGES_VIEW = 'berth.images';

export interface Trees {
  images: ImagesTreeProvider;
  imagesView: vscode.TreeView<ImageNode>;
}

export function registerTrees(ctx: Context): Trees {
  const images = ctx.push(new ImagesTreeProvider(ctx.agent));
  const imagesView = ctx.push(
    vscode.window.createTreeView(IMAGES_VIEW, { treeDataProvider: images, canSelectMany: true, showCollapseAll: true }),
  );
  const showStaleness = () => {
    imagesView.message =
      images.stale && images.images().length > 0
        ? vscode.l10n.t('Not connected to the Berth agent: showing the images it had when the connection was lost.')
        : undefined;
  };
  ctx.push(images.onDidChangeTreeData(showStaleness));
  ctx.push(images.onDidFail((err) => ctx.reportError(err)));
  showStaleness();
  return { images, imagesView };
}
