/**
 * Compare with Image: a container's file (a berth-container: URI: the editor's, or the one the
 * command was given) beside the same path in the container's image, in VS Code's diff editor.
 * A file the container added has nothing to compare with: that is said, and the file opened.
 */
import { posix } from 'node:path';
import * as vscode from 'vscode';
import { InspectContainerRequest } from '../../../protocol';
import { classify } from '../../../client/errors';
import type { Context } from '../../context';
import { BerthFileSystemProvider } from '../../fs/BerthFileSystemProvider';
import { CONTAINER_SCHEME, imageUri, targetOf } from '../../fs/uris';

export function compareWithImage(ctx: Context) {
  return async (arg?: unknown): Promise<void> => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    const t = uri && uri.scheme === CONTAINER_SCHEME ? targetOf(uri) : undefined;
    if (!uri || !t || !t.target.container) {
      void vscode.window.showInformationMessage(vscode.l10n.t('Open a file of a container first (Browse Files on a container).'));
      return;
    }
    try {
      const c = await ctx.agent.request(InspectContainerRequest.type, { container: t.target.container });
      const name = c.Name.replace(/^\//, '');
      const left = imageUri(c.Image, t.path);
      try {
        await new BerthFileSystemProvider(ctx.agent).rawStat(left);
      } catch (err) {
        const f = classify(err);
        if (f.kind === 'agent' && f.data?.errno === 'ENOENT') {
          void vscode.window.showInformationMessage(vscode.l10n.t('{0} is not in the image of {1}: the container added it.', t.path, name));
          await vscode.commands.executeCommand('vscode.open', uri);
          return;
        }
        throw err;
      }
      const title = vscode.l10n.t('{0} (image ↔ {1})', posix.basename(t.path) || '/', name);
      await vscode.commands.executeCommand('vscode.diff', left, uri, title, { preview: true });
    } catch (err) {
      ctx.reportError(err);
    }
  };
}
