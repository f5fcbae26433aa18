/** Show Image History: the image's build steps as a table in a read-only editor. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { documentUri } from '../../documents/ReadonlyDocumentProvider';
import { openReadonly } from './inspectImage';
import { targetImages } from './pickImage';

export function showImageHistory(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image whose history to show'))) ?? [];
    if (!leaf) return;
    await openReadonly(ctx, documentUri('history', leaf.reference));
  };
}
