/** Registers the Browse Files provider for both schemes (read-only, case-sensitive, as Linux is). */
import * as vscode from 'vscode';
import type { Context } from '../context';
import { BerthFileSystemProvider } from './BerthFileSystemProvider';
import { CONTAINER_SCHEME, IMAGE_SCHEME } from './uris';

export function registerFileSystem(ctx: Context): BerthFileSystemProvider {
  const provider = ctx.push(new BerthFileSystemProvider(ctx.agent));
  for (const scheme of [CONTAINER_SCHEME, IMAGE_SCHEME]) {
    ctx.push(vscode.workspace.registerFileSystemProvider(scheme, provider, { isReadonly: true, isCaseSensitive: true }));
  }
  return provider;
}
