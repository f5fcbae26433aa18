/**
 * The Workspace view's model: one row per folder of the VS Code workspace, showing its workspace
 * container's state (from `workspace/status`), with the forwarded ports as children. Plain
 * TypeScript (no vscode import), unit-tested.
 */
import type { WorkspaceInfo, WorkspacePort } from '../../protocol';

export interface FolderRef {
  /** The folder's name in VS Code. */
  name: string;
  /** Its real path on the agent's machine (what `workspace/*` takes). */
  path: string;
}

export type WorkspaceNode =
  | { kind: 'folder'; folder: FolderRef; info: WorkspaceInfo | null; error?: string }
  /** A forwarded port; `loopback` when the container listens on its loopback only (relayed by the helper). */
  | { kind: 'port'; folder: FolderRef; container: string; port: WorkspacePort; loopback?: boolean };

/** The tree's roots: a node per folder, in VS Code's order. */
export function buildWorkspaceNodes(
  folders: readonly FolderRef[],
  infos: readonly (WorkspaceInfo | null | { error: string })[],
): WorkspaceNode[] {
  return folders.map((folder, i) => {
    const r = infos[i];
    if (r && 'error' in r) return { kind: 'folder', folder, info: null, error: r.error };
    return { kind: 'folder', folder, info: (r as WorkspaceInfo | null) ?? null };
  });
}

/** The children of a folder row: its forwarded ports by container port. */
export function portNodes(node: WorkspaceNode): WorkspaceNode[] {
  if (node.kind !== 'folder' || !node.info) return [];
  const info = node.info;
  const loopback = new Set(info.loopbackPorts ?? []);
  return [...info.ports]
    .sort((a, b) => a.containerPort - b.containerPort)
    .map((port) => ({
      kind: 'port',
      folder: node.folder,
      container: info.container.Id,
      port,
      ...(loopback.has(port.containerPort) ? { loopback: true } : {}),
    }));
}

/** The `viewItem` context value: workspace.running / .exited / .created / .none, or workspacePort. */
export function contextValue(node: WorkspaceNode): string {
  if (node.kind === 'port') return 'workspacePort';
  return `workspace.${node.info ? node.info.container.State : 'none'}`;
}

/** The local address a browser opens for a forwarded port ("http://127.0.0.1:8080/"). */
export function portUrl(p: WorkspacePort): string {
  const host = p.hostIp === '' || p.hostIp === '0.0.0.0' ? '127.0.0.1' : p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp;
  return `http://${host}:${p.hostPort}/`;
}

/** "127.0.0.1:8080" of a port row. */
export function portAddress(p: WorkspacePort): string {
  return portUrl(p).slice('http://'.length, -1);
}
