/**
 * Bringing a folder's workspace container up from VS Code: `workspace/up` in a cancellable
 * notification that shows each step; the lifecycle commands' output, and the pull or build lines,
 * go to the "Berth Workspace" output channel as they come. A failure says what failed and offers
 * the output (and, for a failed lifecycle command, a terminal in the kept container).
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { ErrorCode, WorkspaceUpRequest, type WorkspaceEvent, type WorkspaceUpResult } from '../../protocol';
import { classify } from '../../client/errors';
import type { Context } from '../context';
import type { FolderRef } from './model';

let channel: vscode.OutputChannel | undefined;

/** The "Berth Workspace" output channel (made once, disposed with the Context). */
export function workspaceOutput(ctx: Context): vscode.OutputChannel {
  if (!channel) {
    const made = vscode.window.createOutputChannel('Berth Workspace');
    channel = made;
    ctx.push({ dispose: () => (made.dispose(), (channel = undefined)) });
  }
  return channel;
}

/** One line for the notification (undefined: nothing to say), and what goes to the output channel. */
export function describeEvent(e: WorkspaceEvent): { message?: string; output?: string } {
  switch (e.type) {
    case 'message':
      return { message: e.message, output: `${e.message}\n` };
    case 'pull':
      return { message: vscode.l10n.t('Pulling {0}: {1}', e.reference, e.layer.phase) };
    case 'build':
      if (e.event.type === 'step')
        return {
          message: `Step ${e.event.step}/${e.event.total}`,
          output: `Step ${e.event.step}/${e.event.total} : ${e.event.instruction}\n`,
        };
      if (e.event.type === 'output') return { output: Buffer.from(e.event.data, 'base64').toString('utf8') };
      if (e.event.type === 'cached') return { output: ' ---> Using cache\n' };
      if (e.event.type === 'warning') return { output: `[Warning] ${e.event.message}\n` };
      return {};
    case 'command': {
      const what = e.part ? `${e.command} "${e.part}"` : e.command;
      return { message: vscode.l10n.t('Running {0}', what), output: `Running ${what}: ${e.argv.join(' ')}\n` };
    }
    case 'output':
      return { output: Buffer.from(e.data, 'base64').toString('utf8') };
    case 'exit':
      return e.exitCode === 0 ? {} : { output: `${e.command}${e.part ? ` "${e.part}"` : ''} exited with code ${e.exitCode}\n` };
  }
}

/**
 * Runs `workspace/up` for `folder` with progress. Resolves with the answer, or undefined when it
 * failed (already shown) or was cancelled.
 */
export async function runWorkspaceUp(
  ctx: Context,
  folder: FolderRef,
  opts: { rebuild?: boolean } = {},
): Promise<WorkspaceUpResult | undefined> {
  const out = workspaceOutput(ctx);
  const token = randomUUID();
  out.appendLine(`--- ${opts.rebuild ? 'Rebuilding' : 'Opening'} ${folder.path} in a container`);
  try {
    const result = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: opts.rebuild
          ? vscode.l10n.t('Rebuilding the workspace container of {0}', folder.name)
          : vscode.l10n.t('Opening {0} in a container', folder.name),
        cancellable: true,
      },
      async (progress, cancel) => {
        const sub = ctx.agent.onWorkspaceProgress((n) => {
          if (n.token !== token) return;
          const d = describeEvent(n.event);
          if (d.output) out.append(d.output);
          if (d.message) progress.report({ message: d.message });
        });
        try {
          const localEnv: Record<string, string> = {};
          for (const [k, v] of Object.entries(process.env)) if (typeof v === 'string') localEnv[k] = v;
          return await ctx.agent.request(
            WorkspaceUpRequest.type,
            { folder: folder.path, rebuild: opts.rebuild === true, localEnv, progressToken: token },
            cancel,
          );
        } finally {
          sub.dispose();
        }
      },
    );
    if (result.ignored.length) out.appendLine(`Ignored devcontainer.json keys (not supported by Berth): ${result.ignored.join(', ')}`);
    for (const p of result.ports) out.appendLine(`Forwarding ${p.hostIp}:${p.hostPort} -> ${p.containerPort}/tcp`);
    out.appendLine(`Workspace container ${result.container.Name} (${result.action}); ${folder.path} is at ${result.workspaceFolder}`);
    return result;
  } catch (err) {
    const f = classify(err);
    if (f.kind === 'cancelled') {
      out.appendLine('Cancelled.');
      return undefined;
    }
    out.appendLine(`Error: ${f.message}`);
    const show = vscode.l10n.t('Show Output');
    const choice = await vscode.window.showErrorMessage(f.message, show);
    if (choice === show) out.show(true);
    if (f.kind === 'agent' && f.code === ErrorCode.LifecycleCommandFailed) void vscode.commands.executeCommand('berth.workspace.refresh');
    return undefined;
  }
}
