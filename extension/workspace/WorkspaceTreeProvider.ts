/**
 * The Workspace view (in the Berth view container): for each folder of the VS Code workspace, its
 * workspace container's state from `workspace/status`, and its forwarded ports with their local
 * addresses (click: Open in Browser), the detected ones among them (those on the container's
 * loopback marked so). Refreshed when a container is created, started, stops
 * or is removed, when a workspace container's listeners change (`listen`/`unlisten` events), when
 * the folders change and when the connection comes back; never on a timer.
 */
import { realpathSync } from 'node:fs';
import * as vscode from 'vscode';
import { WorkspaceStatusRequest, type ContainerEventAction } from '../../protocol';
import { QUICK_REQUEST_TIMEOUT_MS, type AgentConnection } from '../../client/connection';
import { classify } from '../../client/errors';
import { ListRefresher } from '../tree/listRefresher';
import { buildWorkspaceNodes, contextValue, portAddress, portNodes, type FolderRef, type WorkspaceNode } from './model';

export const WORKSPACE_VIEW = 'berth.workspace';
const REFRESHING: ReadonlySet<ContainerEventAction> = new Set(['create', 'destroy', 'start', 'die', 'listen', 'unlisten']);

export type WorkspaceAgent = Pick<AgentConnection, 'state' | 'onDidChangeState' | 'onEvent' | 'request'>;

/** The folders of the VS Code workspace that are on this machine, with their real paths. */
export function localFolders(): FolderRef[] {
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((f) => f.uri.scheme === 'file')
    .map((f) => {
      let path = f.uri.fsPath;
      try {
        path = realpathSync(path);
      } catch {
        /* gone: the agent says so */
      }
      return { name: f.name, path };
    });
}

export class WorkspaceTreeProvider implements vscode.TreeDataProvider<WorkspaceNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<WorkspaceNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private roots: WorkspaceNode[] = [];
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly lists = new ListRefresher<WorkspaceNode[]>(
    {
      connected: () => this.agent.state.kind === 'connected',
      fetch: async () => {
        const folders = localFolders();
        const infos = await Promise.all(
          folders.map((f) =>
            this.agent
              .request(WorkspaceStatusRequest.type, { folder: f.path }, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS })
              .catch((e: unknown) => ({ error: classify(e).message })),
          ),
        );
        return buildWorkspaceNodes(folders, infos);
      },
      apply: (nodes) => (this.roots = nodes),
      changed: () => this.changed.fire(undefined),
      failed: () => undefined,
    },
    100,
  );

  constructor(private readonly agent: WorkspaceAgent) {
    this.subscriptions.push(
      agent.onDidChangeState((s) => (s.kind === 'connected' ? void this.refresh() : this.changed.fire(undefined))),
      agent.onEvent((e) => {
        if (e.Type === 'container' && REFRESHING.has(e.Action)) this.lists.schedule();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.lists.schedule()),
    );
    if (agent.state.kind === 'connected') void this.refresh();
  }

  refresh(): Promise<void> {
    return this.lists.refresh();
  }

  /** The folder rows last listed. */
  folders(): WorkspaceNode[] {
    return this.roots;
  }

  getTreeItem(node: WorkspaceNode): vscode.TreeItem {
    if (node.kind === 'port') {
      const item = new vscode.TreeItem(portAddress(node.port), vscode.TreeItemCollapsibleState.None);
      item.description = node.loopback
        ? vscode.l10n.t('→ {0}/tcp (detected, container loopback)', node.port.containerPort)
        : node.port.detected
          ? vscode.l10n.t('→ {0}/tcp (detected)', node.port.containerPort)
          : vscode.l10n.t('→ {0}/tcp', node.port.containerPort);
      item.tooltip = vscode.l10n.t(
        'Port {0} of the workspace container, forwarded to {1} on this machine',
        node.port.containerPort,
        portAddress(node.port),
      );
      item.iconPath = new vscode.ThemeIcon('plug');
      item.contextValue = contextValue(node);
      item.command = { command: 'berth.workspace.openPort', title: vscode.l10n.t('Open in Browser'), arguments: [node] };
      return item;
    }
    const hasPorts = (node.info?.ports.length ?? 0) > 0;
    const item = new vscode.TreeItem(
      node.folder.name,
      hasPorts ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
    );
    const info = node.info;
    if (node.error) {
      item.description = node.error;
      item.iconPath = new vscode.ThemeIcon('warning');
    } else if (!info) {
      item.description = vscode.l10n.t('no container');
      item.iconPath = new vscode.ThemeIcon('circle-outline');
    } else {
      item.description = `${info.container.Name} · ${info.container.State}`;
      item.iconPath = new vscode.ThemeIcon(info.container.State === 'running' ? 'vm-running' : 'vm-outline');
    }
    item.tooltip = info
      ? vscode.l10n.t(
          '{0} in container {1} ({2}) at {3}, image {4}',
          node.folder.path,
          info.container.Name,
          info.container.State,
          info.workspaceFolder,
          info.image,
        )
      : node.folder.path;
    item.contextValue = contextValue(node);
    item.id = `workspace:${node.folder.path}`;
    return item;
  }

  getChildren(node?: WorkspaceNode): WorkspaceNode[] {
    return node ? portNodes(node) : this.roots;
  }

  dispose(): void {
    this.lists.dispose();
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}
