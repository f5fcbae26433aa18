/**
 * Prune Volumes: removes the volumes no container uses, after a modal confirmation that offers
 * the two scopes `berth volume prune` has: anonymous volumes only (Docker 23+'s default), or every
 * unused volume (`-a`).
 */
import * as vscode from 'vscode';
import { humanSize } from '../../../client/format';
import { PruneVolumesRequest } from '../../../protocol';
import type { Context } from '../../context';

export function pruneVolumes(ctx: Context) {
  return async (): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number } | undefined> => {
    const anonymous = vscode.l10n.t('Prune Anonymous');
    const all = vscode.l10n.t('Prune All Unused');
    const choice = await vscode.window.showWarningMessage(
      vscode.l10n.t('Remove unused volumes and their data?'),
      {
        modal: true,
        detail: vscode.l10n.t(
          '"Prune Anonymous" removes the unnamed volumes no container uses; "Prune All Unused" removes named ones too.',
        ),
      },
      anonymous,
      all,
    );
    if (choice !== anonymous && choice !== all) return undefined;
    try {
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Pruning volumes...') },
        () => ctx.agent.request(PruneVolumesRequest.type, { all: choice === all }),
      );
      const n = r.VolumesDeleted.length;
      const size = humanSize(r.SpaceReclaimed);
      void vscode.window.showInformationMessage(
        n === 0
          ? vscode.l10n.t('No unused volumes to remove.')
          : n === 1
            ? vscode.l10n.t('Removed 1 volume, reclaimed {0}.', size)
            : vscode.l10n.t('Removed {0} volumes, reclaimed {1}.', n, size),
      );
      return r;
    } catch (err) {
      ctx.reportError(err);
      return undefined;
    }
  };
}
