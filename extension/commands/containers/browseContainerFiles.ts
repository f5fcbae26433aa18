/** Browse Files of a container (running or not): its writable layer over its image, in the file browser. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { browseFiles } from '../../fs/fileBrowser';
import { containerUri } from '../../fs/uris';
import { targetContainers } from './pickContainer';

export function browseContainerFiles(ctx: Context) {
  return async (node?: unknown): Promise<vscode.Uri | undefined> => {
    const [n] = (await targetContainers(ctx, node, undefined, { placeHolder: vscode.l10n.t('Container whose files to browse') })) ?? [];
    if (!n) return undefined;
    return browseFiles(ctx, containerUri(n.reference), vscode.l10n.t('Files of {0}', n.name));
  };
}
