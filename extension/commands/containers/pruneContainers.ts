/** Prune Containers: removes every container that is not running, after a modal confirmation. */
import * as vscode from 'vscode';
import { humanSize } from '../../../client/format';
import { PruneContainersRequest, type PruneResult } from '../../../protocol';
import type { Context } from '../../context';
import { withProgress } from './pickContainer';

export function pruneContainers(ctx: Context) {
  return async (): Promise<PruneResult | undefined> => {
    const prune = vscode.l10n.t('Prune');
    const choice = await vscode.window.showWarningMessage(
      vscode.l10n.t('Remove all stopped containers?'),
      { modal: true, detail: vscode.l10n.t('Every container that is not running is removed, with its writable layer and its logs.') },
      prune,
    );
    if (choice !== prune) return undefined;
    try {
      const r = await withProgress(vscode.l10n.t('Pruning containers...'), () => ctx.agent.request(PruneContainersRequest.type, {}));
      void vscode.window.showInformationMessage(pruneSummary('containers', r));
      return r;
    } catch (err) {
      ctx.reportError(err);
      return undefined;
    }
  };
}

/**
 * "Removed 3 containers, reclaimed 12.3MB." / "No stopped containers to remove." For images,
 * `imageIds` are the IDs the store had: the answer's Deleted also lists layers, which are not counted.
 */
export function pruneSummary(what: 'containers' | 'images', r: PruneResult, imageIds?: ReadonlySet<string>): string {
  const size = humanSize(r.SpaceReclaimed);
  if (what === 'containers') {
    const n = r.Deleted.length;
    if (n === 0) return vscode.l10n.t('No stopped containers to remove.');
    return n === 1
      ? vscode.l10n.t('Removed 1 container, reclaimed {0}.', size)
      : vscode.l10n.t('Removed {0} containers, reclaimed {1}.', n, size);
  }
  if (r.Deleted.length === 0 && r.Untagged.length === 0) return vscode.l10n.t('No unused images to remove.');
  const n = imageIds ? r.Deleted.filter((id) => imageIds.has(id)).length : r.Deleted.length;
  return n === 1 ? vscode.l10n.t('Removed 1 image, reclaimed {0}.', size) : vscode.l10n.t('Removed {0} images, reclaimed {1}.', n, size);
}
