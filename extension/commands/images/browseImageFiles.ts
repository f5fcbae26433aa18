/** Browse Files of an image: its layers merged, in the file browser. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { browseFiles } from '../../fs/fileBrowser';
import { imageUri } from '../../fs/uris';
import { imageName, targetImages } from './pickImage';

export function browseImageFiles(ctx: Context) {
  return async (node?: unknown): Promise<vscode.Uri | undefined> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image whose files to browse'))) ?? [];
    if (!leaf) return undefined;
    return browseFiles(ctx, imageUri(leaf.image.Id), vscode.l10n.t('Files of {0}', imageName(leaf)));
  };
}
