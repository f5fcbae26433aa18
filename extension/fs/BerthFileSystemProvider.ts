/**
 * A read-only FileSystemProvider for berth-container: and berth-image: URIs (see uris.ts): every
 * call is one `fs/*` request to the agent, which reads the layers (no shell in the container, and
 * stopped containers work too). Writes answer NoPermissions. The agent's errors become
 * vscode.FileSystemErrors by their errno (ENOENT FileNotFound, EISDIR FileIsADirectory, ENOTDIR
 * FileNotADirectory); a lost or absent agent is Unavailable; other failures keep the agent's
 * sentence. Nothing is cached: VS Code asks again when it re-reads.
 *
 * Change events: `watch` on a berth-container: URI subscribes to the container's change feed
 * (inspector/changeFeed.ts, the agent's `container/changed` pushes, shared with the layer
 * inspector), and `onDidChangeFile` fires for the watched path (a file, a directory's direct
 * entries, or everything below with `recursive`) when the container writes, adds or deletes there,
 * so an open editor shows the new content. Images never change: their watches do nothing.
 * Mapping: a path the container deletes (Kind 2, or below a deleted directory) is Deleted; a path
 * new to its writable layer (Kind 1) Created; any other new or different entry Changed; a path
 * that leaves the list is Deleted when the container had added it, else Changed (the image's
 * version shows again).
 */
import * as vscode from 'vscode';
import { FsReadDirectoryRequest, FsReadFileRequest, FsStatRequest, type FsFileType, type FsStat } from '../../protocol';
import { QUICK_REQUEST_TIMEOUT_MS, type AgentConnection } from '../../client/connection';
import { classify } from '../../client/errors';
import type { ChangeUpdate, ContainerChangeFeed } from '../inspector/changeFeed';
import { parentPath, targetOf } from './uris';

export type FilesAgent = Pick<AgentConnection, 'request'>;

/** Every fs/* request reads the agent's disk only: a stuck agent must not hang an editor. */
const QUICK = { timeoutMs: QUICK_REQUEST_TIMEOUT_MS };

export class BerthFileSystemProvider implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  /** Fires for watched berth-container: paths the container changes (see the module comment). */
  readonly onDidChangeFile = this.changed.event;

  /** `feed`: where container changes come from; without it, watches do nothing. */
  constructor(
    private readonly agent: FilesAgent,
    private readonly feed?: Pick<ContainerChangeFeed, 'subscribe'>,
  ) {}

  watch(uri: vscode.Uri, options?: { readonly recursive?: boolean }): vscode.Disposable {
    const t = targetOf(uri);
    const id = t?.target.container;
    if (!this.feed || !t || id === undefined) return { dispose() {} };
    const sub = this.feed.subscribe(id, (u) => {
      if (u.kind !== 'delta') return;
      const events = changeEvents(uri, t.path, options?.recursive === true, u);
      if (events.length > 0) this.changed.fire(events);
    });
    return { dispose: () => sub.dispose() };
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const s = await this.ask(uri, (p) => this.agent.request(FsStatRequest.type, p, undefined, QUICK));
    return { type: fileType(s.type, s.symlink), ctime: s.mtime, mtime: s.mtime, size: s.size, permissions: vscode.FilePermission.Readonly };
  }

  async readDirectory(uri: vscode.Uri): Promise<[string, vscode.FileType][]> {
    const r = await this.ask(uri, (p) => this.agent.request(FsReadDirectoryRequest.type, p, undefined, QUICK));
    return r.entries.map((e) => [e.name, fileType(e.type, e.symlink)]);
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const r = await this.ask(uri, (p) => this.agent.request(FsReadFileRequest.type, p, undefined, QUICK));
    return new Uint8Array(Buffer.from(r.data, 'base64'));
  }

  /** Stat without the FileSystemError translation, for commands that want the agent's details. */
  rawStat(uri: vscode.Uri): Promise<FsStat> {
    const t = targetOf(uri);
    if (!t) throw vscode.FileSystemError.FileNotFound(uri);
    return this.agent.request(FsStatRequest.type, t, undefined, QUICK);
  }

  createDirectory(uri: vscode.Uri): never {
    throw readonly(uri);
  }

  writeFile(uri: vscode.Uri): never {
    throw readonly(uri);
  }

  delete(uri: vscode.Uri): never {
    throw readonly(uri);
  }

  rename(uri: vscode.Uri): never {
    throw readonly(uri);
  }

  dispose(): void {
    this.changed.dispose();
  }

  private async ask<R>(uri: vscode.Uri, send: (p: NonNullable<ReturnType<typeof targetOf>>) => Promise<R>): Promise<R> {
    const t = targetOf(uri);
    if (!t) throw vscode.FileSystemError.FileNotFound(uri);
    try {
      return await send(t);
    } catch (err) {
      throw toFileSystemError(err, uri);
    }
  }
}

/** The events one feed delta means for a watch of `path` (of `uri`'s container). */
export function changeEvents(
  uri: vscode.Uri,
  path: string,
  recursive: boolean,
  u: Extract<ChangeUpdate, { kind: 'delta' }>,
): vscode.FileChangeEvent[] {
  const below = (p: string) => (path === '/' ? p !== '/' : p.startsWith(`${path}/`));
  const concerns = (p: string) => p === path || (recursive ? below(p) : parentPath(p) === path && p !== '/');
  const out = new Map<string, vscode.FileChangeType>();
  for (const c of u.changed) {
    const was = u.before.get(c.Path);
    const type =
      c.Kind === 2 ? vscode.FileChangeType.Deleted : c.Kind === 1 && !was ? vscode.FileChangeType.Created : vscode.FileChangeType.Changed;
    if (concerns(c.Path)) out.set(c.Path, type);
    // A deleted directory above the watched path takes the path with it.
    else if (c.Kind === 2 && path.startsWith(`${c.Path}/`)) out.set(path, vscode.FileChangeType.Deleted);
  }
  for (const p of u.removed) {
    if (!concerns(p)) continue;
    out.set(p, u.before.get(p)?.Kind === 1 ? vscode.FileChangeType.Deleted : vscode.FileChangeType.Changed);
  }
  return [...out].map(([p, type]) => ({ type, uri: uri.with({ path: p }) }));
}

function readonly(uri: vscode.Uri): vscode.FileSystemError {
  return vscode.FileSystemError.NoPermissions(
    vscode.l10n.t('{0} is read-only: Browse Files shows the files of containers and images as they are.', uri.path),
  );
}

/** VS Code's type bits: a symlink is its target's type with SymbolicLink set (Unknown when it leads nowhere). */
export function fileType(type: FsFileType, symlink: boolean): vscode.FileType {
  let t: vscode.FileType;
  switch (type) {
    case 'file':
      t = vscode.FileType.File;
      break;
    case 'dir':
      t = vscode.FileType.Directory;
      break;
    default:
      t = vscode.FileType.Unknown;
  }
  return symlink || type === 'symlink' ? t | vscode.FileType.SymbolicLink : t;
}

/** The agent's error (or a connection failure) as the FileSystemError VS Code understands. */
export function toFileSystemError(err: unknown, uri: vscode.Uri): vscode.FileSystemError {
  const f = classify(err);
  if (f.kind === 'notConnected' || f.kind === 'connectionLost') {
    return vscode.FileSystemError.Unavailable(vscode.l10n.t('The Berth agent is not connected: {0}', f.message));
  }
  if (f.kind !== 'agent') return vscode.FileSystemError.Unavailable(f.message);
  switch (f.data?.errno) {
    case 'ENOENT':
      return vscode.FileSystemError.FileNotFound(uri);
    case 'EISDIR':
      return vscode.FileSystemError.FileIsADirectory(uri);
    case 'ENOTDIR':
      return vscode.FileSystemError.FileNotADirectory(uri);
    case 'EACCES':
    case 'EPERM':
      return vscode.FileSystemError.NoPermissions(f.message);
  }
  // The container or image itself is gone: FileNotFound, with the agent's sentence.
  if (f.codeName === 'NotFound') return vscode.FileSystemError.FileNotFound(f.message);
  return vscode.FileSystemError.Unavailable(f.message);
}
