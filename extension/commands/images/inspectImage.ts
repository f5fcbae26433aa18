/** Inspect Image: the `image/inspect` JSON in a read-only editor. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { documentUri } from '../../documents/ReadonlyDocumentProvider';
import { targetImages } from './pickImage';

export function inspectImage(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image to inspect'))) ?? [];
    if (!leaf) return;
    await openReadonly(ctx, documentUri('image', leaf.reference));
  };
}

/** Opens a berth-inspect document; a failure (the image is gone) is reported as a sentence. */
export async function openReadonly(ctx: Context, uri: vscode.Uri): Promise<void> {
  try {
    // Ask first, so an error reaches the user as the agent's sentence rather than an empty editor.
    await ctx.documents.provideTextDocumentContent(uri, new vscode.CancellationTokenSource().token);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: true });
  } catch (err) {
    ctx.reportError(err);
  }
}
