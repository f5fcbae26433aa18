/** Save Image to File...: writes a docker-save archive (`docker load` and `podman load` read it). */
import { homedir } from 'node:os';
import * as vscode from 'vscode';
import { SaveImagesRequest } from '../../../protocol';
import { humanSize } from '../../../client/format';
import type { Context } from '../../context';
import { imageName, targetImages } from './pickImage';

export function saveImage(ctx: Context) {
  return async (node?: unknown, selection?: unknown): Promise<void> => {
    const leaves = await targetImages(ctx, node, selection, vscode.l10n.t('Images to save'), true);
    if (!leaves?.length) return;
    const base = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(homedir());
    const file = imageName(leaves[0]!).replace(/[^A-Za-z0-9._-]+/g, '_') + '.tar';
    const target = await vscode.window.showSaveDialog({
      title: vscode.l10n.t('Save {0}', leaves.map(imageName).join(', ')),
      defaultUri: vscode.Uri.joinPath(base, file),
      filters: { [vscode.l10n.t('Image archives')]: ['tar'] },
    });
    if (!target) return;
    if (target.scheme !== 'file') {
      void vscode.window.showErrorMessage(vscode.l10n.t('Images can only be saved to a file on the machine the Berth agent runs on.'));
      return;
    }
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Saving {0}', target.fsPath) },
        () => ctx.agent.request(SaveImagesRequest.type, { references: leaves.map((l) => l.reference), path: target.fsPath }),
      );
      void vscode.window.showInformationMessage(vscode.l10n.t('Saved {0} ({1}).', result.path, humanSize(result.size)));
    } catch (err) {
      ctx.reportError(err);
    }
  };
}
