/**
 * Run Interactive: runs an image with a terminal (`berth run -it [--rm]`) and goes straight to a
 * VS Code terminal attached to it. Asks only the command (Enter: the image's) and whether to
 * remove the container when it exits (--rm, the default here), remembering both per image.
 *
 * The terminal is ../streamTerminal.ts's Pseudoterminal over the protocol's attached byte stream
 * (as Attach Shell's is over an exec's): `container/wait` (next-exit) is sent first so a fast exit
 * is not missed, then `container/start` with `stream` and a token; `container/output` carrying
 * the token is written as it comes, keystrokes go out as `container/input`, size changes as
 * `container/resize`. The wait's answer is the exit: the terminal closes with its code. Closing the terminal first stops
 * the container (`container/stop`, 3 s), so nothing runs on unseen; with --rm the agent then
 * removes it.
 */
import * as vscode from 'vscode';
import {
  CreateContainerRequest,
  StartContainerRequest,
  StopContainerRequest,
  WaitContainerRequest,
  type CreateContainerParams,
} from '../../../protocol';
import type { AgentConnection } from '../../../client/connection';
import type { Context } from '../../context';
import { StreamPseudoterminal } from '../streamTerminal';
import { imageName, targetImages } from './pickImage';
import { splitCommand } from './runOptions';

/** globalState key: the last answers, by image reference. */
export const RUN_INTERACTIVE_ANSWERS_KEY = 'berth.runInteractive.answers';

export interface InteractiveAnswers {
  /** Shell-like words, "" for the image's command. */
  command: string;
  autoRemove: boolean;
}

/** Seconds a container gets to stop when its terminal is closed. */
const STOP_ON_CLOSE_S = 3;

/** `container/create` params of an interactive run: a tty, stdin kept open, closed with the client. */
export function interactiveParams(image: string, a: InteractiveAnswers): CreateContainerParams {
  const cmd = splitCommand(a.command);
  if (typeof cmd === 'string') throw new Error(cmd);
  return { image, ...(cmd.length ? { cmd } : {}), tty: true, openStdin: true, stdinOnce: true, autoRemove: a.autoRemove };
}

export type RunAgent = Pick<AgentConnection, 'request' | 'onOutput' | 'notify'>;

/** The terminal of a created interactive container: starts it attached, and ends with its exit. */
export class RunPseudoterminal extends StreamPseudoterminal {
  private exited = false;

  constructor(
    agent: RunAgent,
    /** The container's ID. */
    private readonly container: string,
  ) {
    super(agent, 'run');
  }

  protected async attach(): Promise<void> {
    // Sent before the start, so even an instant exit is seen.
    const exit = this.agent.request(WaitContainerRequest.type, { container: this.container, condition: 'next-exit' }, this.cancel.token);
    exit.catch(() => undefined);
    const size = this.size ?? { rows: 24, cols: 80 };
    await this.agent.request(StartContainerRequest.type, {
      container: this.container,
      attachToken: this.token,
      stream: true,
      rows: size.rows,
      cols: size.cols,
    });
    this.attached();
    if (this.size && (this.size.rows !== size.rows || this.size.cols !== size.cols)) this.resize();
    const r = await exit;
    this.exited = true;
    this.finish(r.StatusCode);
  }

  /** Closed while the container ran: stop it (with --rm, the agent removes it). */
  protected override onUserClose(): void {
    if (this.started && !this.exited) {
      void this.agent.request(StopContainerRequest.type, { container: this.container, timeout: STOP_ON_CLOSE_S }).catch(() => undefined);
    }
  }
}

export function runInteractive(ctx: Context) {
  return async (node?: unknown): Promise<vscode.Terminal | undefined> => {
    const [leaf] = (await targetImages(ctx, node, undefined, vscode.l10n.t('Image to run interactively'))) ?? [];
    if (!leaf) return undefined;
    const image = leaf.reference;
    const label = imageName(leaf);
    const remembered = ctx.extension.globalState.get<Record<string, InteractiveAnswers>>(RUN_INTERACTIVE_ANSWERS_KEY, {});
    const last: InteractiveAnswers = { command: remembered[image]?.command ?? '', autoRemove: remembered[image]?.autoRemove ?? true };
    const command = await vscode.window.showInputBox({
      title: vscode.l10n.t('Run {0} Interactively (1/2)', label),
      prompt: vscode.l10n.t("Command (optional: Enter for the image's)"),
      value: last.command,
      placeHolder: 'sh',
      ignoreFocusOut: true,
      validateInput: (v) => (typeof splitCommand(v) === 'string' ? vscode.l10n.t('A quote is not closed') : undefined),
    });
    if (command === undefined) return undefined;
    const remove = { label: vscode.l10n.t('Remove the container when it exits (--rm)'), autoRemove: true };
    const keep = { label: vscode.l10n.t('Keep the container when it exits'), autoRemove: false };
    const choice = await vscode.window.showQuickPick(last.autoRemove ? [remove, keep] : [keep, remove], {
      title: vscode.l10n.t('Run {0} Interactively (2/2)', label),
      ignoreFocusOut: true,
    });
    if (!choice) return undefined;
    const answers: InteractiveAnswers = { command, autoRemove: choice.autoRemove };
    await ctx.extension.globalState.update(RUN_INTERACTIVE_ANSWERS_KEY, { ...remembered, [image]: answers });
    let created: { Id: string; Name: string };
    try {
      created = await ctx.agent.request(CreateContainerRequest.type, interactiveParams(image, answers));
    } catch (err) {
      ctx.reportError(err);
      return undefined;
    }
    const pty = new RunPseudoterminal(ctx.agent, created.Id);
    const terminal = vscode.window.createTerminal({
      name: vscode.l10n.t('Run: {0}', created.Name),
      pty,
      iconPath: new vscode.ThemeIcon('play'),
    });
    terminal.show();
    return terminal;
  };
}
