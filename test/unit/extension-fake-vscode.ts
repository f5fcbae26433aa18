/**
 * The few `vscode` APIs the extension's tree code touches, faked for unit tests that run outside
 * VS Code. Importing this module makes `require('vscode')` resolve to it, so import it before any
 * extension module.
 */
import Module from 'node:module';

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  readonly event = (l: Listener<T>) => {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: unknown;
  iconPath?: unknown;
  contextValue?: string;
  constructor(
    public label: string,
    public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

export class MarkdownString {
  value = '';
  constructor(value?: string) {
    this.value = value ?? '';
  }
  appendMarkdown(s: string): this {
    this.value += s;
    return this;
  }
}

export const l10n = {
  t(message: string, ...args: unknown[]): string {
    return message.replace(/\{(\d+)\}/g, (_, i: string) => String(args[Number(i)]));
  },
};

export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };

/**
 * Dialogs answered from a queue: each `showWarningMessage` takes the next answer (undefined when
 * the queue is empty, as if the user cancelled) and records the message it showed.
 */
export const window = {
  answers: [] as (string | undefined)[],
  shown: [] as string[],
  async showWarningMessage(message: string): Promise<string | undefined> {
    window.shown.push(message);
    return window.answers.shift();
  },
  async showInformationMessage(message: string): Promise<undefined> {
    window.shown.push(message);
    return undefined;
  },
  /** Input boxes answered from their own queue; each records its title. */
  inputs: [] as (string | undefined)[],
  async showInputBox(options: { title?: string } = {}): Promise<string | undefined> {
    window.shown.push(`input: ${options.title ?? ''}`);
    return window.inputs.shift();
  },
  /** Terminals created, with their options (a `pty` among them). */
  terminals: [] as { name: string; pty?: unknown; shown: boolean }[],
  createTerminal(options: { name: string; pty?: unknown }) {
    const t = { name: options.name, pty: options.pty, shown: false };
    window.terminals.push(t);
    return { ...t, show: () => void (t.shown = true), dispose() {} };
  },
  withProgress<T>(_options: unknown, work: (progress: { report(): void }) => Promise<T>): Promise<T> {
    return work({ report() {} });
  },
};

const self = __filename;
const M = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
const original = M._resolveFilename;
M._resolveFilename = function (request: string, ...rest: unknown[]) {
  if (request === 'vscode') return self;
  return original.call(this, request, ...rest);
};
