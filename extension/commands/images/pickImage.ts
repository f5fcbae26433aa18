/**
 * Which images a command acts on: the clicked node, the tree's selection when several are
 * selected, or (from the Command Palette) the user's pick among the images the tree shows.
 */
import * as vscode from 'vscode';
import { familiarRef, humanSize, shortId } from '../../../client/format';
import type { Context } from '../../context';
import { isImageLeaf, type ImageLeaf } from '../../tree/images/model';

export async function targetImages(
  ctx: Context,
  node: unknown,
  selection: unknown,
  placeHolder: string,
  many = false,
): Promise<ImageLeaf[] | undefined> {
  if (many && Array.isArray(selection) && selection.some(isImageLeaf)) return selection.filter(isImageLeaf);
  if (isImageLeaf(node)) return [node];
  const images = ctx.trees.images;
  if (!images.isLoaded) await images.refresh();
  const leaves = images.images();
  if (leaves.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('There are no images in the store.'));
    return undefined;
  }
  const items = leaves.map((leaf) => ({
    label: leaf.kind === 'tag' ? familiarRef(leaf.reference) : shortId(leaf.image.Id),
    description: `${shortId(leaf.image.Id)} · ${humanSize(leaf.image.Size)}`,
    leaf,
  }));
  if (many) {
    const picked = await vscode.window.showQuickPick(items, { placeHolder, canPickMany: true });
    return picked?.length ? picked.map((p) => p.leaf) : undefined;
  }
  const picked = await vscode.window.showQuickPick(items, { placeHolder });
  return picked ? [picked.leaf] : undefined;
}

/** How a message names the image: "busybox:latest", or the short ID of an untagged one. */
export function imageName(leaf: ImageLeaf): string {
  return leaf.kind === 'tag' ? familiarRef(leaf.reference) : shortId(leaf.image.Id);
}
