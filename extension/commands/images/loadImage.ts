/** Load Image from File...: imports a docker-save or OCI-layout tar (from the Explorer or a dialog). */
import * as vscode from 'vscode';
import { familiarRef } from '../../../client/format';
import { LoadImagesRequest } from '../../../protocol';
import type { Context } from '../../context';

/**
 * Asks for an archive when `resource` is not one (the Explorer passes its Uri), and loads it with
 * a progress notification. Undefined when the user gave none or the archive is not a local file.
 */
export async function loadArchive(
  ctx: Context,
  resource: unknown,
  title: string,
): Promise<{ path: string; result: { images: { Id: string }[]; tags: string[] } } | undefined> {
  let uri = resource instanceof vscode.Uri ? resource : undefined;
  if (!uri) {
    const picked = await vscode.window.showOpenDialog({
      title,
      canSelectMany: false,
      filters: { [vscode.l10n.t('Image archives')]: ['tar'] },
    });
    uri = picked?.[0];
  }
  if (!uri) return undefined;
  if (uri.scheme !== 'file') {
    void vscode.window.showErrorMessage(vscode.l10n.t('Images can only be loaded from a file on the machine the Berth agent runs on.'));
    return undefined;
  }
  const path = uri.fsPath;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Loading {0}', path) },
    () => ctx.agent.request(LoadImagesRequest.type, { path }),
  );
  return { path, result };
}

export function loadImage(ctx: Context) {
  return async (resource?: unknown): Promise<void> => {
    try {
      const loaded = await loadArchive(ctx, resource, vscode.l10n.t('Load Image from File'));
      if (!loaded) return;
      const { result } = loaded;
      const names = result.tags.length
        ? result.tags.map(familiarRef).join(', ')
        : vscode.l10n.t('{0} untagged image(s)', result.images.length);
      void vscode.window.showInformationMessage(vscode.l10n.t('Loaded {0}.', names));
    } catch (err) {
      ctx.reportError(err);
    }
  };
}
