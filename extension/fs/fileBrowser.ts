/**
 * Browse Files opens a quick-pick file browser rather than changing the workspace: pick a folder
 * to go into it, ".." to go up, a file to open it in an editor (a read-only berth-container: or
 * berth-image: document). Why a quick pick: adding a workspace folder changes the user's
 * workspace (a single-folder window becomes an untitled multi-root workspace, and adding the
 * first folder restarts every extension), while a quick pick leaves nothing behind, works in a
 * window without a folder and is driven by the keyboard. For Explorer-style browsing, the first
 * entry still offers "Add to Workspace as a Folder" as an explicit choice.
 */
import * as vscode from 'vscode';
import { classify } from '../../client/errors';
import type { Context } from '../context';
import { BerthFileSystemProvider } from './BerthFileSystemProvider';
import { childPath, parentPath } from './uris';

/** How many folder steps one browse may take (every step waits for the user). */
const MAX_STEPS = 10_000;

export type BrowseAction =
  | { kind: 'up' }
  | { kind: 'enter'; path: string }
  | { kind: 'open'; path: string }
  | { kind: 'unreadable'; path: string }
  | { kind: 'workspace' };

export interface BrowseItem extends vscode.QuickPickItem {
  action: BrowseAction;
}

/** The quick pick's rows for directory `dir`: workspace choice, "..", then folders, then files (each by name). */
export function browseItems(dir: string, entries: [string, vscode.FileType][]): BrowseItem[] {
  const items: BrowseItem[] = [];
  if (dir === '/') {
    items.push({
      label: `$(root-folder) ${vscode.l10n.t('Add to Workspace as a Folder')}`,
      description: vscode.l10n.t('browse in the Explorer'),
      action: { kind: 'workspace' },
    });
  } else {
    items.push({ label: '$(arrow-up) ..', description: parentPath(dir), action: { kind: 'up' } });
  }
  const isDir = (t: vscode.FileType) => (t & vscode.FileType.Directory) !== 0;
  const sorted = [...entries].sort(([a, ta], [b, tb]) => Number(isDir(tb)) - Number(isDir(ta)) || (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, type] of sorted) {
    const path = childPath(dir, name);
    const link = (type & vscode.FileType.SymbolicLink) !== 0;
    if (isDir(type)) {
      items.push({
        label: `$(${link ? 'file-symlink-directory' : 'folder'}) ${name}`,
        description: link ? vscode.l10n.t('link to a folder') : undefined,
        action: { kind: 'enter', path },
      });
    } else if ((type & vscode.FileType.File) !== 0) {
      items.push({
        label: `$(${link ? 'file-symlink-file' : 'file'}) ${name}`,
        description: link ? vscode.l10n.t('link to a file') : undefined,
        action: { kind: 'open', path },
      });
    } else {
      items.push({
        label: `$(circle-slash) ${name}`,
        description: link ? vscode.l10n.t('link that leads nowhere') : vscode.l10n.t('device, fifo or socket'),
        action: { kind: 'unreadable', path },
      });
    }
  }
  return items;
}

/**
 * Browses from `root` (a berth-container: or berth-image: URI of "/"); `title` names what is
 * browsed ("Files of web"). Returns the URI opened, if any.
 */
export async function browseFiles(
  ctx: Pick<Context, 'agent' | 'reportError'>,
  root: vscode.Uri,
  title: string,
): Promise<vscode.Uri | undefined> {
  const provider = new BerthFileSystemProvider(ctx.agent);
  const at = (path: string) => root.with({ path });
  let dir = '/';
  for (let step = 0; step < MAX_STEPS; step++) {
    let entries: [string, vscode.FileType][];
    try {
      entries = await provider.readDirectory(at(dir));
    } catch (err) {
      if (dir === '/') {
        ctx.reportError(err);
        return undefined;
      }
      void vscode.window.showWarningMessage(vscode.l10n.t('Cannot open {0}: {1}', dir, classify(err).message));
      dir = parentPath(dir);
      continue;
    }
    const picked = await vscode.window.showQuickPick(browseItems(dir, entries), {
      title: `${title}: ${dir}`,
      placeHolder: vscode.l10n.t('Pick a folder to go into it, a file to open it (read-only)'),
      matchOnDescription: true,
    });
    if (!picked) return undefined;
    const a = picked.action;
    switch (a.kind) {
      case 'up':
        dir = parentPath(dir);
        break;
      case 'enter':
        dir = a.path;
        break;
      case 'open':
        await vscode.commands.executeCommand('vscode.open', at(a.path), { preview: true });
        return at(a.path);
      case 'unreadable':
        void vscode.window.showInformationMessage(
          vscode.l10n.t('{0} cannot be opened: it is a link that leads nowhere, or a device, fifo or socket.', a.path),
        );
        break;
      case 'workspace': {
        const count = vscode.workspace.workspaceFolders?.length ?? 0;
        vscode.workspace.updateWorkspaceFolders(count, 0, { uri: root, name: title });
        await vscode.commands.executeCommand('workbench.view.explorer');
        return root;
      }
    }
  }
  return undefined;
}
