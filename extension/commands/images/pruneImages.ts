/** Prune Images: removes the dangling images no container uses, after a modal confirmation. */
import * as vscode from 'vscode';
import { PruneImagesRequest, type PruneResult } from '../../../protocol';
import type { Context } from '../../context';
import { pruneSummary } from '../containers/pruneContainers';
import { withProgress } from '../containers/pickContainer';

export function pruneImages(ctx: Context) {
  return async (): Promise<PruneResult | undefined> => {
    const prune = vscode.l10n.t('Prune');
    const choice = await vscode.window.showWarningMessage(
      vscode.l10n.t('Remove all dangling images?'),
      {
        modal: true,
        detail: vscode.l10n.t('Images no tag points at and no container uses are removed, with the layers nothing else needs.'),
      },
      prune,
    );
    if (choice !== prune) return undefined;
    const known = new Set(ctx.trees.images.images().map((l) => l.image.Id));
    try {
      const r = await withProgress(vscode.l10n.t('Pruning images...'), () => ctx.agent.request(PruneImagesRequest.type, {}));
      void vscode.window.showInformationMessage(pruneSummary('images', r, known));
      return r;
    } catch (err) {
      ctx.reportError(err);
      return undefined;
    }
  };
}
