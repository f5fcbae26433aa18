/** Tag Image...: points a new tag at the image. */
import * as vscode from 'vscode';
import { familiarRepo } from '../../../client/format';
import { TagImageRequest } from '../../../protocol';
import type { Context } from '../../context';
import { imageName, targetImages } from './pickImage';

export function tagImage(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image to tag'))) ?? [];
    if (!leaf) return;
    const suggestion = leaf.kind === 'tag' ? `${familiarRepo(leaf.repository)}:` : '';
    const target = await vscode.window.showInputBox({
      title: vscode.l10n.t('Tag {0}', imageName(leaf)),
      prompt: vscode.l10n.t('The new tag, as name:tag'),
      value: suggestion,
      valueSelection: [suggestion.length, suggestion.length],
      ignoreFocusOut: true,
      validateInput: (v) =>
        /^\S+$/.test(v.trim()) && !v.includes('@') ? undefined : vscode.l10n.t('Enter a tag without spaces or digest'),
    });
    if (!target?.trim()) return;
    try {
      await ctx.agent.request(TagImageRequest.type, { source: leaf.image.Id, target: target.trim() });
    } catch (err) {
      ctx.reportError(err);
    }
  };
}
