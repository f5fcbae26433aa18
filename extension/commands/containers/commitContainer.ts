/**
 * Commit Container...: makes an image of the container's writable layer (`container/commit`),
 * tagged as the user says, with an optional comment. The new image reaches the Images tree through
 * the agent's events.
 */
import * as vscode from 'vscode';
import { familiarRef, shortId } from '../../../client/format';
import { CommitContainerRequest } from '../../../protocol';
import type { Context } from '../../context';
import { targetContainers, withProgress } from './pickContainer';

export function commitContainer(ctx: Context) {
  return async (node?: unknown): Promise<string | undefined> => {
    const [n] = (await targetContainers(ctx, node, undefined, { placeHolder: vscode.l10n.t('Container to commit') })) ?? [];
    if (!n) return undefined;
    const reference = await vscode.window.showInputBox({
      title: vscode.l10n.t('Commit {0} (1/2)', n.name),
      prompt: vscode.l10n.t("The new image's tag, as name:tag (empty: an untagged image)"),
      value: `${n.name}:latest`,
      valueSelection: [0, n.name.length],
      ignoreFocusOut: true,
      validateInput: (v) =>
        v.trim() === '' || (/^\S+$/.test(v.trim()) && !v.includes('@')) ? undefined : vscode.l10n.t('Enter a tag without spaces or digest'),
    });
    if (reference === undefined) return undefined;
    const comment = await vscode.window.showInputBox({
      title: vscode.l10n.t('Commit {0} (2/2)', n.name),
      prompt: vscode.l10n.t("A message for the image's history (optional)"),
      ignoreFocusOut: true,
    });
    if (comment === undefined) return undefined;
    const tag = reference.trim();
    try {
      const r = await withProgress(vscode.l10n.t('Committing {0}...', n.name), () =>
        ctx.agent.request(CommitContainerRequest.type, {
          container: n.reference,
          ...(tag ? { reference: tag } : {}),
          ...(comment.trim() ? { comment: comment.trim() } : {}),
        }),
      );
      void vscode.window.showInformationMessage(
        tag
          ? vscode.l10n.t('Committed {0} as {1} ({2}).', n.name, familiarRef(tag), shortId(r.Id))
          : vscode.l10n.t('Committed {0} as image {1}.', n.name, shortId(r.Id)),
      );
      return r.Id;
    } catch (err) {
      ctx.reportError(err);
      return undefined;
    }
  };
}
