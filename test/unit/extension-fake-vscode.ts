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
  /**
   * Quick picks answered by a function of the items offered (undefined: dismissed); each records
   * its title and the labels it offered.
   */
  picks: [] as ((items: { label: string }[]) => { label: string } | undefined)[],
  offered: [] as { title?: string; labels: string[] }[],
  async showQuickPick<T extends { label: string }>(items: T[] | Promise<T[]>, options: { title?: string } = {}): Promise<T | undefined> {
    const list = await items;
    window.offered.push({ title: options.title, labels: list.map((i) => i.label) });
    const answer = window.picks.shift();
    return answer ? (answer(list) as T | undefined) : undefined;
  },
  withProgress<T>(_options: unknown, work: (progress: { report(): void }) => Promise<T>): Promise<T> {
    return work({ report() {} });
  },
};

/** A small vscode.Uri: scheme://authority/path, what Browse Files needs. */
export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
  ) {}
  static from(c: { scheme: string; authority?: string; path?: string }): Uri {
    return new Uri(c.scheme, c.authority ?? '', c.path ?? '/');
  }
  static parse(s: string): Uri {
    const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/i.exec(s);
    if (!m) throw new Error(`not a URI: ${s}`);
    return new Uri(m[1]!, m[2]!, m[3] ?? '/');
  }
  with(c: { scheme?: string; authority?: string; path?: string }): Uri {
    return new Uri(c.scheme ?? this.scheme, c.authority ?? this.authority, c.path ?? this.path);
  }
  toString(): string {
    return `${this.scheme}://${this.authority}${this.path}`;
  }
}

export enum FileType {
  Unknown = 0,
  File = 1,
  Directory = 2,
  SymbolicLink = 64,
}

export enum FileChangeType {
  Changed = 1,
  Created = 2,
  Deleted = 3,
}

export enum FilePermission {
  Readonly = 1,
}

/** vscode.FileSystemError: the factories set `code` as VS Code does ("FileNotFound" ...). */
export class FileSystemError extends Error {
  code = 'Unknown';
  constructor(messageOrUri?: string | Uri) {
    super(typeof messageOrUri === 'string' ? messageOrUri : messageOrUri ? messageOrUri.toString() : '');
  }
  private static make(code: string, m?: string | Uri): FileSystemError {
    const e = new FileSystemError(m);
    e.code = code;
    return e;
  }
  static FileNotFound = (m?: string | Uri) => FileSystemError.make('FileNotFound', m);
  static FileExists = (m?: string | Uri) => FileSystemError.make('FileExists', m);
  static FileNotADirectory = (m?: string | Uri) => FileSystemError.make('FileNotADirectory', m);
  static FileIsADirectory = (m?: string | Uri) => FileSystemError.make('FileIsADirectory', m);
  static NoPermissions = (m?: string | Uri) => FileSystemError.make('NoPermissions', m);
  static Unavailable = (m?: string | Uri) => FileSystemError.make('Unavailable', m);
}

/** Commands executed (by id, with their arguments), answered by `commands.handlers` when set. */
export const commands = {
  executed: [] as { id: string; args: unknown[] }[],
  handlers: new Map<string, (...args: unknown[]) => unknown>(),
  async executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    commands.executed.push({ id, args });
    return commands.handlers.get(id)?.(...args);
  },
};

const opened = new EventEmitter<{ uri: Uri }>();
const closed = new EventEmitter<{ uri: Uri }>();

/** Workspace folders added by updateWorkspaceFolders, registered providers, and open text documents. */
export const workspace = {
  /** Open documents; `openDocument`/`closeDocument` change the list and fire the events. */
  textDocuments: [] as { uri: Uri }[],
  onDidOpenTextDocument: opened.event,
  onDidCloseTextDocument: closed.event,
  openDocument(uri: Uri): void {
    const doc = { uri };
    workspace.textDocuments.push(doc);
    opened.fire(doc);
  },
  closeDocument(uri: Uri): void {
    const doc = workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (!doc) return;
    workspace.textDocuments = workspace.textDocuments.filter((d) => d !== doc);
    closed.fire(doc);
  },
  workspaceFolders: undefined as { uri: Uri; name: string }[] | undefined,
  added: [] as { uri: Uri; name?: string }[],
  updateWorkspaceFolders(_start: number, _deleteCount: number, ...folders: { uri: Uri; name?: string }[]): boolean {
    workspace.added.push(...folders);
    return true;
  },
};

/** Tasks: the classes a TaskProvider builds, and the providers registered by type. */
export enum TaskScope {
  Global = 1,
  Workspace = 2,
}

export class CustomExecution {
  constructor(readonly callback: (resolvedDefinition: { type: string; [k: string]: unknown }) => Promise<unknown>) {}
}

export class Task {
  constructor(
    readonly definition: { type: string; [k: string]: unknown },
    readonly scope: unknown,
    readonly name: string,
    readonly source: string,
    readonly execution?: CustomExecution,
    readonly problemMatchers?: string[],
  ) {}
}

export const tasks = {
  providers: new Map<string, unknown>(),
  registerTaskProvider(type: string, provider: unknown) {
    tasks.providers.set(type, provider);
    return { dispose: () => tasks.providers.delete(type) };
  },
};

const self = __filename;
const M = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
const original = M._resolveFilename;
M._resolveFilename = function (request: string, ...rest: unknown[]) {
  if (request === 'vscode') return self;
  return original.call(this, request, ...rest);
};
