/**
 * The extension's entry point: activation only. Everything it builds belongs to one Context.
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands/registerCommands';
import { Context } from './context';
import { registerFileSystem } from './fs/registerFileSystem';
import { registerWorkspace } from './workspace/registerWorkspace';

export function activate(extension: vscode.ExtensionContext): void {
  try {
    const ctx = new Context(extension);
    extension.subscriptions.push(ctx);
    registerCommands(ctx);
    registerFileSystem(ctx);
    registerWorkspace(ctx);
    ctx.start();
  } catch (err) {
    // Shown, then rethrown so VS Code records the failed activation too.
    void vscode.window.showErrorMessage(vscode.l10n.t('Berth could not start: {0}', err instanceof Error ? err.message : String(err)));
    throw err;
  }
}

export function deactivate(): void {
  // The Context is in extension.subscriptions: VS Code disposes it.
}
