/**
 * Run Image...: asks only what it must (name, environment, one bind mount, a command override; all
 * optional, Enter skips), remembering the last answers per image, then creates and starts the
 * container detached and reveals it in the Containers view.
 */
import * as vscode from 'vscode';
import { CreateContainerRequest, StartContainerRequest } from '../../../protocol';
import type { Context } from '../../context';
import { CONTAINERS_VIEW } from '../../tree/registerTrees';
import { imageName, targetImages } from './pickImage';
import { checkBind, checkName, createParams, NO_ANSWERS, parseEnv, splitCommand, type Problem, type RunAnswers } from './runOptions';

/** globalState key: the last answers, by image reference. */
export const RUN_ANSWERS_KEY = 'berth.run.answers';

export function runImage(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image to run'))) ?? [];
    if (!leaf) return;
    const image = leaf.reference;
    const label = imageName(leaf);
    const remembered = ctx.extension.globalState.get<Record<string, RunAnswers>>(RUN_ANSWERS_KEY, {});
    const last = { ...NO_ANSWERS, ...remembered[image] };
    const steps = 4;
    const ask = (step: number, prompt: string, value: string, placeHolder: string, check: (v: string) => Problem | undefined) =>
      vscode.window.showInputBox({
        title: vscode.l10n.t('Run {0} ({1}/{2})', label, step, steps),
        prompt,
        value,
        placeHolder,
        ignoreFocusOut: true,
        validateInput: (v) => problemText(check(v)),
      });

    const name = await ask(
      1,
      vscode.l10n.t('Container name (optional: Enter for a generated one)'),
      last.name,
      vscode.l10n.t('web'),
      checkName,
    );
    if (name === undefined) return;
    const env = await ask(
      2,
      vscode.l10n.t('Environment variables (optional): NAME=value, separated by commas'),
      last.env,
      'MODE=dev, PORT=8080',
      (v) => {
        const r = parseEnv(v);
        return typeof r === 'string' ? r : undefined;
      },
    );
    if (env === undefined) return;
    const bind = await ask(
      3,
      vscode.l10n.t('Bind mount (optional): /host/path:/container/path, with :ro for read-only'),
      last.bind,
      '/srv/data:/data:ro',
      checkBind,
    );
    if (bind === undefined) return;
    const command = await ask(4, vscode.l10n.t("Command (optional: Enter for the image's)"), last.command, "sh -c 'echo hello'", (v) => {
      const r = splitCommand(v);
      return typeof r === 'string' ? r : undefined;
    });
    if (command === undefined) return;

    const answers: RunAnswers = { name, env, bind, command };
    await ctx.extension.globalState.update(RUN_ANSWERS_KEY, { ...remembered, [image]: answers });
    let created: { Id: string; Name: string } | undefined;
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Running {0}...', label) },
        async () => {
          created = await ctx.agent.request(CreateContainerRequest.type, createParams(image, answers));
          await ctx.agent.request(StartContainerRequest.type, { container: created.Id });
        },
      );
    } catch (err) {
      ctx.reportError(err);
    }
    if (created) await reveal(ctx, created.Id);
  };
}

/** Shows the container in the Containers view once the list has it. */
async function reveal(ctx: Context, id: string): Promise<void> {
  const tree = ctx.trees.containers;
  await tree.refresh();
  const node = tree.find(id);
  if (!node) return;
  await vscode.commands.executeCommand(`${CONTAINERS_VIEW}.focus`);
  await ctx.trees.containersView.reveal(node, { select: true, focus: false, expand: true });
}

function problemText(p: Problem | undefined): string | undefined {
  switch (p) {
    case undefined:
      return undefined;
    case 'badName':
      return vscode.l10n.t('A name starts with a letter or digit, then letters, digits, "_", "." or "-" (at least 2 characters)');
    case 'badEnv':
      return vscode.l10n.t('Write NAME=value pairs separated by commas');
    case 'badBind':
      return vscode.l10n.t('Write /host/path:/container/path, both absolute, optionally followed by :ro or :rw');
    case 'unbalancedQuote':
      return vscode.l10n.t('A quote is not closed');
  }
}
