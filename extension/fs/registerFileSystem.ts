/**
 * Registers the Browse Files provider for both schemes (read-only, case-sensitive, as Linux is),
 * fed with the containers' change feed, and watches every open berth-container: document itself,
 * so an open editor refreshes when the container changes its file whether or not VS Code asked
 * the provider to watch it.
 */
import * as vscode from 'vscode';
import type { Context } from '../context';
import { changeFeedOf } from '../inspector/changeFeed';
import { BerthFileSystemProvider } from './BerthFileSystemProvider';
import { CONTAINER_SCHEME, IMAGE_SCHEME } from './uris';

export function registerFileSystem(ctx: Context): BerthFileSystemProvider {
  const provider = ctx.push(new BerthFileSystemProvider(ctx.agent, changeFeedOf(ctx.agent)));
  for (const scheme of [CONTAINER_SCHEME, IMAGE_SCHEME]) {
    ctx.push(vscode.workspace.registerFileSystemProvider(scheme, provider, { isReadonly: true, isCaseSensitive: true }));
  }
  ctx.push(watchOpenDocuments(provider, vscode.workspace));
  return provider;
}

/** What {@link watchOpenDocuments} needs of vscode.workspace. */
export type DocumentEvents = Pick<typeof vscode.workspace, 'textDocuments' | 'onDidOpenTextDocument' | 'onDidCloseTextDocument'>;

/** Watches (non-recursively) each open berth-container: document until it closes. */
export function watchOpenDocuments(provider: Pick<BerthFileSystemProvider, 'watch'>, workspace: DocumentEvents): vscode.Disposable {
  const watches = new Map<string, vscode.Disposable>();
  const open = (doc: vscode.TextDocument) => {
    const key = doc.uri.toString();
    if (doc.uri.scheme !== CONTAINER_SCHEME || watches.has(key)) return;
    watches.set(key, provider.watch(doc.uri, { recursive: false }));
  };
  const close = (doc: vscode.TextDocument) => {
    const key = doc.uri.toString();
    watches.get(key)?.dispose();
    watches.delete(key);
  };
  workspace.textDocuments.forEach(open);
  const subs = [workspace.onDidOpenTextDocument(open), workspace.onDidCloseTextDocument(close)];
  return {
    dispose() {
      for (const s of subs) s.dispose();
      for (const w of watches.values()) w.dispose();
      watches.clear();
    },
  };
}
