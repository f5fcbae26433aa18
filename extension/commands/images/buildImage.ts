/**
 * Build Image...: a Dockerfile (from the Explorer, or picked) is built by the agent with its
 * folder as the context. Asks only for the tag (remembered per Dockerfile); the steps and their
 * output stream into the "Berth Build" output channel, the notification shows the current step
 * and can cancel the build. Done: the image appears in the Images view (events), and "Run" starts
 * the usual Run Image questions for it.
 */
import { randomUUID } from 'node:crypto';
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import { BuildImageRequest, type BuildEvent } from '../../../protocol';
import { classify } from '../../../client/errors';
import type { Context } from '../../context';
import { runReference } from './runArchive';

/** globalState key: the last tag given, by Dockerfile path. */
export const BUILD_TAGS_KEY = 'berth.build.tags';

/** A tag for a folder: its name, lowercased, with what a reference may not hold replaced. */
export function defaultTag(contextDir: string): string {
  const name =
    basename(contextDir)
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '') || 'image';
  return `${name}:latest`;
}

/** One line of the build log for an event (output is written as it comes, not here). */
export function describeEvent(e: BuildEvent): string | undefined {
  switch (e.type) {
    case 'step':
      return `Step ${e.step}/${e.total} : ${e.instruction}\n`;
    case 'cached':
      return ' ---> Using cache\n';
    case 'result':
      return ` ---> ${e.id.replace(/^sha256:/, '').slice(0, 12)}\n`;
    default:
      return undefined;
  }
}

let channel: vscode.OutputChannel | undefined;

export function buildImage(ctx: Context) {
  return async (resource?: unknown): Promise<void> => {
    let uri = resource instanceof vscode.Uri ? resource : undefined;
    if (!uri) {
      const picked = await vscode.window.showOpenDialog({
        title: vscode.l10n.t('Build Image from a Dockerfile'),
        canSelectMany: false,
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
        openLabel: vscode.l10n.t('Build'),
      });
      uri = picked?.[0];
    }
    if (!uri) return;
    if (uri.scheme !== 'file') {
      void vscode.window.showErrorMessage(vscode.l10n.t('Images can only be built from files on the machine the Berth agent runs on.'));
      return;
    }
    const dockerfile = uri.fsPath;
    const contextDir = dirname(dockerfile);
    const remembered = ctx.extension.globalState.get<Record<string, string>>(BUILD_TAGS_KEY, {});
    const tag = await vscode.window.showInputBox({
      title: vscode.l10n.t('Build {0}', basename(dockerfile)),
      prompt: vscode.l10n.t('Tag for the image (name or name:tag)'),
      value: remembered[dockerfile] ?? defaultTag(contextDir),
      ignoreFocusOut: true,
      validateInput: (v) =>
        /^[a-z0-9][a-z0-9._/:@-]*$/.test(v.trim()) ? undefined : vscode.l10n.t('Lowercase letters, digits and . _ - / : only'),
    });
    if (!tag?.trim()) return;
    await ctx.extension.globalState.update(BUILD_TAGS_KEY, { ...remembered, [dockerfile]: tag.trim() });

    if (!channel) channel = ctx.push(vscode.window.createOutputChannel('Berth Build'));
    const out = channel;
    out.clear();
    out.show(true);
    out.append(`Building ${tag.trim()} from ${dockerfile}\n`);
    const token = randomUUID();
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Building {0}', tag.trim()), cancellable: true },
        async (progress, cancel) => {
          const sub = ctx.agent.onBuildProgress((p) => {
            if (p.token !== token) return;
            const e = p.event;
            if (e.type === 'output') out.append(Buffer.from(e.data, 'base64').toString('utf8'));
            const line = describeEvent(e);
            if (line) out.append(line);
            if (e.type === 'step')
              progress.report({ message: vscode.l10n.t('step {0}/{1}: {2}', e.step, e.total, e.instruction.slice(0, 60)) });
          });
          try {
            return await ctx.agent.request(
              BuildImageRequest.type,
              { contextDir, dockerfile, tags: [tag.trim()], progressToken: token },
              cancel,
            );
          } finally {
            sub.dispose();
          }
        },
      );
      for (const w of result.warnings) out.append(`warning: ${w}\n`);
      out.append(`Successfully built ${result.Id.replace(/^sha256:/, '').slice(0, 12)}\nSuccessfully tagged ${result.tags.join(', ')}\n`);
      const run = vscode.l10n.t('Run');
      const choice = await vscode.window.showInformationMessage(vscode.l10n.t('Built {0}.', result.tags[0] ?? result.Id), run);
      if (choice === run) await runReference(ctx, result.tags[0] ?? result.Id);
    } catch (err) {
      if (classify(err).kind === 'cancelled') {
        out.append('Cancelled.\n');
        void vscode.window.showInformationMessage(vscode.l10n.t('Build of {0} cancelled.', tag.trim()));
        return;
      }
      out.append(`${(err as Error).message}\n`);
      ctx.reportError(err);
    }
  };
}
