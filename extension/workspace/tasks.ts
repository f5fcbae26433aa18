/**
 * Tasks that run inside the workspace container: a TaskProvider for the task type "berth"
 * (package.json `taskDefinitions`). A tasks.json entry such as
 *
 *   { "label": "test", "type": "berth", "command": "make test" }
 *   { "label": "unit", "type": "berth", "command": "make", "args": ["unit"], "cwd": "src", "env": { "V": "1" } }
 *
 * runs in the workspace container of the task's folder (its scope; the first folder for
 * workspace-wide tasks), brought up first when it is not running, the way the "Berth workspace"
 * terminal profile does. The execution is a CustomExecution whose Pseudoterminal is a
 * `container/exec` with a pty over the protocol's attached streams (the same streams as terminals):
 * output written as it comes, keystrokes sent as `container/input`, size changes as
 * `container/resize`; the task ends with the process's exit code (non-zero: VS Code marks it
 * failed); terminating the task cancels the request, which kills the process.
 *
 * Definition → process:
 *   - `command` alone runs as ["/bin/sh", "-c", command] (a devcontainer.json string command);
 *     with `args` it runs as [command, ...args], without a shell;
 *   - as the workspace's remoteUser, with remoteEnv then the task's `env` (later wins);
 *   - in `cwd`: relative to workspaceFolder, or absolute; workspaceFolder when absent.
 * A definition that is not of that shape, or a workspace that cannot be brought up, ends the task
 * with exit code 1 and a red sentence in its terminal. tasks.json is the user's, but still checked.
 */
import { realpathSync } from 'node:fs';
import { posix } from 'node:path';
import * as vscode from 'vscode';
import { ExecRequest, type ExecParams, type WorkspaceInfo } from '../../protocol';
import { StreamPseudoterminal, type StreamAgent } from '../commands/streamTerminal';
import type { FolderRef } from './model';

export const TASK_TYPE = 'berth';
/** The `source` VS Code shows next to provided tasks. */
export const TASK_SOURCE = 'Berth';

/** What tasks.json may say for type "berth" (mirrors package.json's taskDefinitions schema). */
export interface BerthTaskDefinition extends vscode.TaskDefinition {
  type: 'berth';
  command: string;
  args?: string[];
  cwd?: string;
  env?: Record<string, string>;
}

/** How a definition runs, relative to the workspace (see the module comment). */
export interface TaskCommand {
  cmd: string[];
  /** Absolute, or relative to workspaceFolder; absent: workspaceFolder. */
  cwd?: string;
  /** "NAME=value" entries appended to remoteEnv. */
  env: string[];
}

const MAX_COMMAND = 64 * 1024;
const MAX_ARGS = 4096;

/** Checks a task definition; a sentence naming the wrong field otherwise. */
export function taskCommand(def: unknown): TaskCommand | { error: string } {
  const d = def as Record<string, unknown> | null;
  const bad = (why: string) => ({ error: vscode.l10n.t('Berth task: {0}', why) });
  if (!d || typeof d !== 'object') return bad(vscode.l10n.t('the task definition is not an object'));
  if (typeof d.command !== 'string' || d.command.trim() === '') return bad(vscode.l10n.t('"command" must be a non-empty string'));
  if (d.command.length > MAX_COMMAND) return bad(vscode.l10n.t('"command" is longer than {0} characters', MAX_COMMAND));
  let cmd: string[];
  if (d.args === undefined) {
    cmd = ['/bin/sh', '-c', d.command];
  } else {
    if (!Array.isArray(d.args) || d.args.length > MAX_ARGS || !d.args.every((a) => typeof a === 'string'))
      return bad(vscode.l10n.t('"args" must be an array of strings'));
    cmd = [d.command, ...(d.args as string[])];
  }
  if (cmd.some((a) => a.includes('\0'))) return bad(vscode.l10n.t('the command must not contain NUL characters'));
  let cwd: string | undefined;
  if (d.cwd !== undefined) {
    if (typeof d.cwd !== 'string' || d.cwd === '' || d.cwd.includes('\0')) return bad(vscode.l10n.t('"cwd" must be a non-empty string'));
    cwd = d.cwd;
  }
  const env: string[] = [];
  if (d.env !== undefined) {
    if (!d.env || typeof d.env !== 'object' || Array.isArray(d.env)) return bad(vscode.l10n.t('"env" must be an object of strings'));
    for (const [k, v] of Object.entries(d.env as Record<string, unknown>)) {
      if (typeof v !== 'string') return bad(vscode.l10n.t('"env": the value of {0} must be a string', k));
      if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0'))
        return bad(vscode.l10n.t('"env": {0} is not a valid variable name', JSON.stringify(k)));
      env.push(`${k}=${v}`);
    }
  }
  return { cmd, ...(cwd !== undefined ? { cwd } : {}), env };
}

/** The exec of `c` in the workspace `info` (user, environment, working directory). */
export function execParams(info: WorkspaceInfo, c: TaskCommand): Pick<ExecParams, 'container' | 'cmd' | 'user' | 'env' | 'workingDir'> {
  return {
    container: info.container.Id,
    cmd: c.cmd,
    ...(info.remoteUser ? { user: info.remoteUser } : {}),
    env: [...info.remoteEnv, ...c.env],
    workingDir: c.cwd === undefined ? info.workspaceFolder : posix.resolve(info.workspaceFolder || '/', c.cwd),
  };
}

export type TaskAgent = StreamAgent;

const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/**
 * One task's terminal: the exec of its command with a pty (see the module comment), on the
 * protocol's stream like Attach Shell. A task that cannot run ends at once with code 1.
 */
export class TaskPseudoterminal extends StreamPseudoterminal {
  protected override readonly errorExitCode = 1;

  constructor(
    agent: TaskAgent,
    /** The running workspace container to run in (brought up when needed); throws or is undefined when there is none. */
    private readonly workspace: () => Promise<WorkspaceInfo | undefined>,
    private readonly definition: unknown,
  ) {
    super(agent, 'task');
  }

  protected async attach(): Promise<void> {
    const c = taskCommand(this.definition);
    if ('error' in c) throw new Error(c.error);
    const info = await this.workspace();
    if (this.closed) return this.finish(undefined);
    if (!info)
      throw new Error(
        vscode.l10n.t(
          'Berth task: the workspace container is not running, and it could not be brought up (see the Berth Workspace output).',
        ),
      );
    const params = execParams(info, c);
    this.write(`${DIM}${vscode.l10n.t('> {0} (in {1}, {2})', c.cmd.join(' '), info.container.Name, params.workingDir ?? '/')}${RESET}\r\n`);
    const size = this.size ?? { rows: 24, cols: 80 };
    const answer = this.agent.request(
      ExecRequest.type,
      { ...params, tty: true, stdin: true, rows: size.rows, cols: size.cols, attachToken: this.token },
      this.cancel.token,
    );
    // The agent queues input that arrives while the process starts.
    this.attached();
    const { ExitCode } = await answer;
    this.finish(ExitCode);
  }
}

/** The folder a task's scope names (a workspace folder), else the first of `folders`. */
export function folderOfScope(scope: vscode.Task['scope'], folders: readonly FolderRef[]): FolderRef | undefined {
  const f = scope as vscode.WorkspaceFolder | undefined;
  if (f && typeof f === 'object' && f.uri && typeof f.uri.fsPath === 'string') {
    if (f.uri.scheme !== 'file') return undefined;
    let path = f.uri.fsPath;
    try {
      path = realpathSync(path);
    } catch {
      /* gone: the agent says so */
    }
    return { name: f.name, path };
  }
  return folders[0];
}

/** Provides nothing by itself; resolves tasks.json entries of type "berth" into container executions. */
export class BerthTaskProvider implements vscode.TaskProvider {
  constructor(
    private readonly agent: TaskAgent,
    /** The folder's running workspace container, brought up when needed (undefined: it could not be). */
    private readonly workspaceOf: (folder: FolderRef) => Promise<WorkspaceInfo | undefined>,
    private readonly folders: () => FolderRef[],
  ) {}

  provideTasks(): vscode.Task[] {
    return [];
  }

  resolveTask(task: vscode.Task): vscode.Task | undefined {
    if (task.definition?.type !== TASK_TYPE) return undefined;
    const scope = task.scope ?? vscode.TaskScope.Workspace;
    return new vscode.Task(task.definition, scope, task.name, TASK_SOURCE, this.execution(scope), []);
  }

  /** The execution of a task in `scope`: a TaskPseudoterminal for the definition VS Code resolved (variables substituted). */
  execution(scope: vscode.Task['scope']): vscode.CustomExecution {
    return new vscode.CustomExecution(
      async (definition) =>
        new TaskPseudoterminal(
          this.agent,
          async () => {
            const folder = folderOfScope(scope, this.folders());
            if (!folder) throw new Error(vscode.l10n.t('Berth task: open a folder with a devcontainer.json first.'));
            return this.workspaceOf(folder);
          },
          definition,
        ),
    );
  }
}
