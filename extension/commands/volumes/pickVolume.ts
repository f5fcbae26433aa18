/**
 * Which volumes a command acts on: the clicked node, the tree's selection when several are
 * selected, or (from the Command Palette) the user's pick among the volumes the tree shows.
 */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { usersText } from '../../tree/volumes/VolumeTreeItem';
import { isVolumeNode, type VolumeNode } from '../../tree/volumes/model';

export async function targetVolumes(
  ctx: Context,
  node: unknown,
  selection: unknown,
  placeHolder: string,
  many = false,
): Promise<VolumeNode[] | undefined> {
  if (many && Array.isArray(selection) && selection.some(isVolumeNode)) return selection.filter(isVolumeNode);
  if (isVolumeNode(node)) return [node];
  const tree = ctx.trees.volumes;
  if (!tree.isLoaded) await tree.refresh();
  const nodes = tree.volumes();
  if (nodes.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('There are no volumes.'));
    return undefined;
  }
  const items = nodes.map((n) => ({ label: n.name, description: usersText(n), node: n }));
  if (many) {
    const picked = await vscode.window.showQuickPick(items, { placeHolder, canPickMany: true });
    return picked?.length ? picked.map((p) => p.node) : undefined;
  }
  const picked = await vscode.window.showQuickPick(items, { placeHolder });
  return picked ? [picked.node] : undefined;
}
