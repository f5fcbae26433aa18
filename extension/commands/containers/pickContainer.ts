/**
 * Which containers a command acts on: the clicked node, the tree's selection when several are
 * selected, or (from the Command Palette) the user's pick among the containers the tree shows,
 * limited to the states the command applies to.
 */
import * as vscode from 'vscode';
import { shortId } from '../../../client/format';
import type { ContainerStatus } from '../../../protocol';
import type { Context } from '../../context';
import { statusText } from '../../tree/containers/ContainerTreeItem';
import { imageLabel, isContainerNode, type ContainerNode } from '../../tree/containers/model';

export interface Target {
  placeHolder: string;
  /** Several at once (the selection, or a multi-pick). */
  many?: boolean;
  /** The states the command applies to; all when absent. */
  states?: readonly ContainerStatus[];
}

export async function targetContainers(ctx: Context, node: unknown, selection: unknown, t: Target): Promise<ContainerNode[] | undefined> {
  const applies = (n: ContainerNode) => !t.states || t.states.includes(n.container.State);
  if (t.many && Array.isArray(selection) && selection.some(isContainerNode)) {
    const chosen = selection.filter(isContainerNode).filter(applies);
    return chosen.length ? chosen : undefined;
  }
  if (isContainerNode(node)) return [node];
  const tree = ctx.trees.containers;
  if (!tree.isLoaded) await tree.refresh();
  const candidates = tree.containers().filter(applies);
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(
      t.states ? vscode.l10n.t('No container is in a state this applies to.') : vscode.l10n.t('There are no containers.'),
    );
    return undefined;
  }
  const now = Date.now();
  const items = candidates.map((n) => ({
    label: n.name,
    description: `${shortId(n.reference)} · ${imageLabel(n.container)} · ${statusText(n.container, now)}`,
    node: n,
  }));
  if (t.many) {
    const picked = await vscode.window.showQuickPick(items, { placeHolder: t.placeHolder, canPickMany: true });
    return picked?.length ? picked.map((p) => p.node) : undefined;
  }
  const picked = await vscode.window.showQuickPick(items, { placeHolder: t.placeHolder });
  return picked ? [picked.node] : undefined;
}

/** Runs `each` for every target in turn, reporting failures one by one (the others still run). */
export async function forEach(ctx: Context, nodes: readonly ContainerNode[], each: (n: ContainerNode) => Promise<unknown>): Promise<void> {
  for (const n of nodes) {
    try {
      await each(n);
    } catch (err) {
      ctx.reportError(err);
    }
  }
}

/** Long verbs (stop waits up to its timeout) run inside a progress notification. */
export function withProgress<T>(title: string, work: () => Promise<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, work);
}
