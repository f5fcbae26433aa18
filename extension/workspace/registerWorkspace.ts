/**
 * Workspaces in VS Code: the Workspace view, the "Berth workspace" terminal profile, and the
 * commands berth.workspace.open ("Berth: Open Workspace in Container"), .rebuild, .stop,
 * .openTerminal, .openPort ("Open in Browser") and .refresh, and tasks of type "berth" (tasks.ts). The agent does the work
 * (`workspace/up`, `workspace/down`, `workspace/status`); terminals are execs with a pty
 * (ShellPseudoterminal) as remoteUser, with remoteEnv, in workspaceFolder.
 */
import * as vscode from 'vscode';
import { WorkspaceDownRequest, WorkspaceStatusRequest, type WorkspaceInfo } from '../../protocol';
import { ShellPseudoterminal } from '../commands/containers/shellTerminal';
import type { Context } from '../context';
import { portUrl, type FolderRef, type WorkspaceNode } from './model';
import { runWorkspaceUp, workspaceOutput } from './up';
import { localFolders, WORKSPACE_VIEW, WorkspaceTreeProvider } from './WorkspaceTreeProvider';
import { BerthTaskProvider, TASK_TYPE } from './tasks';

export const TERMINAL_PROFILE_ID = 'berth.workspaceShell';

/** The folder a command is for: the row it was invoked on, the only folder, or the one picked. */
async function pickFolder(node: unknown): Promise<FolderRef | undefined> {
  const n = node as WorkspaceNode | undefined;
  if (n && typeof n === 'object' && 'folder' in n && n.folder?.path) return n.folder;
  const folders = localFolders();
  if (folders.length === 0) {
    void vscode.window.showWarningMessage(vscode.l10n.t('Open a folder with a devcontainer.json first.'));
    return undefined;
  }
  if (folders.length === 1) return folders[0];
  const picked = await vscode.window.showQuickPick(
    folders.map((f) => ({ label: f.name, description: f.path, folder: f })),
    { placeHolder: vscode.l10n.t('Folder whose dev container to use') },
  );
  return picked?.folder;
}

/** A terminal inside the workspace container, as the configuration's remote user. */
export function workspacePty(ctx: Context, info: WorkspaceInfo): ShellPseudoterminal {
  return new ShellPseudoterminal(ctx.agent, info.container.Id, {
    exec: { ...(info.remoteUser ? { user: info.remoteUser } : {}), env: info.remoteEnv, workingDir: info.workspaceFolder },
  });
}

/** The folder's workspace container, brought up first when it is not running. */
async function runningWorkspace(ctx: Context, folder: FolderRef): Promise<WorkspaceInfo | undefined> {
  const info = await ctx.agent.request(WorkspaceStatusRequest.type, { folder: folder.path });
  if (info?.container.State === 'running') return info;
  return runWorkspaceUp(ctx, folder);
}

export function registerWorkspace(ctx: Context): WorkspaceTreeProvider {
  const tree = ctx.push(new WorkspaceTreeProvider(ctx.agent));
  ctx.push(vscode.window.createTreeView(WORKSPACE_VIEW, { treeDataProvider: tree, showCollapseAll: false }));

  const openTerminal = async (folder: FolderRef, info?: WorkspaceInfo): Promise<vscode.Terminal | undefined> => {
    const ws = info ?? (await runningWorkspace(ctx, folder));
    if (!ws) return undefined;
    const terminal = vscode.window.createTerminal({
      name: vscode.l10n.t('Berth: {0}', folder.name),
      pty: workspacePty(ctx, ws),
      iconPath: new vscode.ThemeIcon('vm'),
    });
    terminal.show();
    return terminal;
  };

  // biome-ignore lint/suspicious/noExplicitAny: each command types the arguments VS Code passes it
  const commands: Record<string, (...args: any[]) => unknown> = {
    'berth.workspace.open': async (node?: unknown) => {
      const folder = await pickFolder(node);
      if (!folder) return undefined;
      const r = await runWorkspaceUp(ctx, folder);
      await tree.refresh();
      if (!r) return undefined;
      const terminal = vscode.l10n.t('Open Terminal');
      const choices = [terminal, ...(r.ports.length ? [vscode.l10n.t('Open in Browser')] : [])];
      void vscode.window
        .showInformationMessage(
          vscode.l10n.t('{0} runs in container {1}; the folder is at {2}.', folder.name, r.container.Name, r.workspaceFolder),
          ...choices,
        )
        .then((c) => {
          if (c === terminal) void openTerminal(folder, r);
          else if (c) void vscode.env.openExternal(vscode.Uri.parse(portUrl(r.ports[0])));
        });
      return r;
    },
    'berth.workspace.rebuild': async (node?: unknown) => {
      const folder = await pickFolder(node);
      if (!folder) return undefined;
      const rebuild = vscode.l10n.t('Rebuild');
      const ok = await vscode.window.showWarningMessage(
        vscode.l10n.t(
          'Rebuild the workspace container of {0}? It is removed and made again; files outside the workspace folder are lost.',
          folder.name,
        ),
        { modal: true },
        rebuild,
      );
      if (ok !== rebuild) return undefined;
      const r = await runWorkspaceUp(ctx, folder, { rebuild: true });
      await tree.refresh();
      return r;
    },
    'berth.workspace.stop': async (node?: unknown) => {
      const folder = await pickFolder(node);
      if (!folder) return undefined;
      try {
        const r = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Stopping the workspace container of {0}', folder.name) },
          () => ctx.agent.request(WorkspaceDownRequest.type, { folder: folder.path }),
        );
        workspaceOutput(ctx).appendLine(`Stopped ${r.container.Name}`);
        await tree.refresh();
        return r;
      } catch (err) {
        ctx.reportError(err);
        return undefined;
      }
    },
    'berth.workspace.openTerminal': async (node?: unknown) => {
      const folder = await pickFolder(node);
      if (!folder) return undefined;
      try {
        return await openTerminal(folder);
      } catch (err) {
        ctx.reportError(err);
        return undefined;
      }
    },
    'berth.workspace.openPort': async (node?: WorkspaceNode) => {
      if (node?.kind !== 'port') return;
      await vscode.env.openExternal(vscode.Uri.parse(portUrl(node.port)));
    },
    'berth.workspace.refresh': () => tree.refresh(),
  };
  for (const [id, fn] of Object.entries(commands)) ctx.push(vscode.commands.registerCommand(id, fn));

  // tasks.json entries of type "berth" run inside their folder's container (tasks.ts).
  ctx.push(
    vscode.tasks.registerTaskProvider(TASK_TYPE, new BerthTaskProvider(ctx.agent, (folder) => runningWorkspace(ctx, folder), localFolders)),
  );

  // New terminals of the "Berth workspace" profile open inside the first folder's container.
  ctx.push(
    vscode.window.registerTerminalProfileProvider(TERMINAL_PROFILE_ID, {
      provideTerminalProfile: async () => {
        const [folder] = localFolders();
        if (!folder) throw new Error(vscode.l10n.t('Open a folder with a devcontainer.json first.'));
        const info = await runningWorkspace(ctx, folder);
        if (!info) throw new Error(vscode.l10n.t('The workspace container of {0} is not running.', folder.name));
        return new vscode.TerminalProfile({
          name: vscode.l10n.t('Berth: {0}', folder.name),
          pty: workspacePty(ctx, info),
          iconPath: new vscode.ThemeIcon('vm'),
        });
      },
    }),
  );
  return tree;
}
