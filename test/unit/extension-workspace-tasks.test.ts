/**
 * Tasks of type "berth" (extension/workspace/tasks.ts) against the fake vscode and the fake agent's
 * exec streams: a tasks.json definition becomes the exec of its command in the workspace container
 * (sh -c for a command line, exec form with args; remoteUser, remoteEnv plus the task's env, cwd
 * relative to workspaceFolder) with a pty of the terminal's size; output is written, input and
 * resizes go out, the process's exit code ends the task; terminating the task cancels the exec; a
 * bad definition, a workspace that cannot be brought up, and an exec the agent refuses end the task
 * with exit code 1 and a sentence; the provider resolves only "berth" tasks, scoped to their folder.
 */
import { CustomExecution, Task, TaskScope } from './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { WorkspaceInfo } from '../../protocol';
import { AgentConnection } from '../../client/connection';
import type { FolderRef } from '../../extension/workspace/model';
import { BerthTaskProvider, execParams, folderOfScope, taskCommand, TaskPseudoterminal, TASK_TYPE } from '../../extension/workspace/tasks';
import { FakeAgent, fakeContainer, until } from '../support/fakeAgent';

const ID = 'c'.repeat(64);
const INFO: WorkspaceInfo = {
  folder: '/home/u/proj',
  configFile: '/home/u/proj/.devcontainer/devcontainer.json',
  configHash: '0'.repeat(64),
  container: { Id: ID, Name: 'berth-ws-proj-1234abcd', State: 'running' },
  image: 'box:1',
  workspaceFolder: '/workspaces/proj',
  remoteUser: 'app',
  remoteEnv: ['FROM_REMOTE=1', 'V=remote'],
  ports: [],
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const d = FakeAgent.dir();
  cleanups.push(d.remove);
  const agent = await new FakeAgent(d.socket).listen();
  cleanups.push(() => agent.stop());
  agent.containers = [
    fakeContainer(ID, INFO.container.Name, 'box:1', 'running'),
    fakeContainer('d'.repeat(64), 'stopped', 'box:1', 'exited'),
  ];
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  conn.start();
  await until('connected', () => conn.state.kind === 'connected');
  return { agent, conn };
}

function open(conn: AgentConnection, definition: unknown, workspace: () => Promise<WorkspaceInfo | undefined> = async () => INFO) {
  const pty = new TaskPseudoterminal(conn, workspace, definition);
  cleanups.push(() => pty.dispose());
  let written = '';
  const closed: (number | undefined)[] = [];
  pty.onDidWrite((s) => (written += s));
  pty.onDidClose((c) => void closed.push(typeof c === 'number' ? c : undefined));
  pty.open({ rows: 33, columns: 111 });
  return { pty, out: () => written, closed };
}

describe('Berth tasks: definitions', () => {
  it('a command line runs with sh -c; with args, without a shell; env and cwd are checked', () => {
    assert.deepEqual(taskCommand({ type: 'berth', command: 'make test' }), { cmd: ['/bin/sh', '-c', 'make test'], env: [] });
    assert.deepEqual(taskCommand({ type: 'berth', command: 'make', args: ['unit', 'V=1'], cwd: 'src', env: { A: 'x=y' } }), {
      cmd: ['make', 'unit', 'V=1'],
      cwd: 'src',
      env: ['A=x=y'],
    });
    const bad: [unknown, RegExp][] = [
      [null, /not an object/],
      [{ type: 'berth' }, /"command" must be a non-empty string/],
      [{ type: 'berth', command: '  ' }, /"command" must be a non-empty string/],
      [{ type: 'berth', command: 42 }, /"command"/],
      [{ type: 'berth', command: 'x'.repeat(70_000) }, /longer than 65536/],
      [{ type: 'berth', command: 'make', args: 'test' }, /"args" must be an array of strings/],
      [{ type: 'berth', command: 'make', args: [1] }, /"args" must be an array of strings/],
      [{ type: 'berth', command: 'a\0b' }, /NUL/],
      [{ type: 'berth', command: 'ls', cwd: 3 }, /"cwd"/],
      [{ type: 'berth', command: 'ls', env: ['A=1'] }, /"env" must be an object/],
      [{ type: 'berth', command: 'ls', env: { A: 1 } }, /value of A must be a string/],
      [{ type: 'berth', command: 'ls', env: { 'A=B': 'x' } }, /"A=B" is not a valid variable name/],
    ];
    for (const [def, re] of bad) {
      const r = taskCommand(def);
      assert.ok('error' in r, JSON.stringify(def)?.slice(0, 80));
      assert.match(r.error, re);
      assert.match(r.error, /^Berth task: /);
    }
  });

  it('runs as remoteUser with remoteEnv then the task env, in workspaceFolder or cwd resolved against it', () => {
    const c = taskCommand({ type: 'berth', command: 'ls', env: { V: 'task' } });
    assert.ok(!('error' in c));
    assert.deepEqual(execParams(INFO, c), {
      container: ID,
      cmd: ['/bin/sh', '-c', 'ls'],
      user: 'app',
      env: ['FROM_REMOTE=1', 'V=remote', 'V=task'],
      workingDir: '/workspaces/proj',
    });
    assert.equal(execParams(INFO, { ...c, cwd: 'src/../lib' }).workingDir, '/workspaces/proj/lib');
    assert.equal(execParams(INFO, { ...c, cwd: '/tmp' }).workingDir, '/tmp');
    assert.equal(execParams({ ...INFO, remoteUser: '' }, c).user, undefined, "the container's user when there is no remoteUser");
  });
});

describe('Berth tasks: the task terminal', () => {
  it('execs the command with a pty of the terminal size; output, input and resize flow; the exit code ends the task', async () => {
    const { agent, conn } = await setup();
    const { pty, out, closed } = open(conn, { type: 'berth', command: 'make test', env: { CI: '1' } });
    pty.handleInput('ec'); // typed before the exec is under way: kept, then sent
    await until('the prompt', () => out().includes('$ '));
    const exec = agent.execs[0]!;
    assert.deepEqual(
      {
        container: exec.container,
        cmd: exec.cmd,
        user: exec.user,
        env: exec.env,
        workingDir: exec.workingDir,
        tty: exec.tty,
        stdin: exec.stdin,
        rows: exec.rows,
        cols: exec.cols,
        token: exec.attachToken,
      },
      {
        container: ID,
        cmd: ['/bin/sh', '-c', 'make test'],
        user: 'app',
        env: ['FROM_REMOTE=1', 'V=remote', 'CI=1'],
        workingDir: '/workspaces/proj',
        tty: true,
        stdin: true,
        rows: 33,
        cols: 111,
        token: pty.token,
      },
    );
    assert.match(out(), /> \/bin\/sh -c make test \(in berth-ws-proj-1234abcd, \/workspaces\/proj\)/);
    pty.handleInput('ho hi\r');
    await until('the echo', () => out().includes('echo hi\r\n'));
    pty.setDimensions({ rows: 40, columns: 120 });
    await until('the resize', () => agent.resizes.length === 1);
    assert.deepEqual(agent.resizes[0], { token: pty.token, rows: 40, cols: 120 });
    pty.handleInput('exit 2\r');
    assert.equal(await pty.done, 2);
    assert.deepEqual(closed, [2], 'the task ends with the exit code');
    assert.deepEqual(agent.cancelledExecs, []);
  });

  it('terminating the task cancels the exec', async () => {
    const { agent, conn } = await setup();
    const { pty, out, closed } = open(conn, { type: 'berth', command: 'sleep 100' });
    await until('the prompt', () => out().includes('$ '));
    pty.close();
    assert.equal(await pty.done, undefined);
    await until('the cancel', () => agent.cancelledExecs.length === 1);
    assert.deepEqual(agent.cancelledExecs, [pty.token]);
    assert.deepEqual(closed, [], 'VS Code closed it: no second close');
  });

  it('a bad definition, a workspace that cannot come up, and a refused exec end the task with 1 and a sentence', async () => {
    const { agent, conn } = await setup();
    const bad = open(conn, { type: 'berth', command: 'make', args: 'x' });
    assert.equal(await bad.pty.done, 1);
    assert.match(bad.out(), /Berth task: "args" must be an array of strings/);
    assert.deepEqual(bad.closed, [1]);

    const none = open(conn, { type: 'berth', command: 'ls' }, async () => undefined);
    assert.equal(await none.pty.done, 1);
    assert.match(none.out(), /the workspace container is not running, and it could not be brought up/);

    const stopped = open(conn, { type: 'berth', command: 'ls' }, async () => ({
      ...INFO,
      container: { ...INFO.container, Id: 'd'.repeat(64) },
    }));
    assert.equal(await stopped.pty.done, 1);
    assert.match(stopped.out(), /the container is not running/);
    assert.equal(agent.execs.length, 1, 'only the refused exec reached the agent');
  });
});

describe('Berth tasks: the provider', () => {
  const folders: FolderRef[] = [{ name: 'first', path: '/srv/first' }];

  it('resolves "berth" tasks into a custom execution in their folder; others are not its own', async () => {
    const { agent, conn } = await setup();
    const asked: FolderRef[] = [];
    const provider = new BerthTaskProvider(
      conn,
      async (f) => (asked.push(f), INFO),
      () => folders,
    );
    assert.deepEqual(provider.provideTasks(), []);
    assert.equal(
      provider.resolveTask(new Task({ type: 'shell', command: 'ls' }, TaskScope.Workspace, 'other', 'Workspace') as never),
      undefined,
    );

    const scope = { uri: { scheme: 'file', fsPath: '/nonexistent/berth-unit/proj' }, name: 'proj', index: 0 };
    const resolved = provider.resolveTask(
      new Task({ type: TASK_TYPE, command: 'make test' }, scope, 'test', 'Workspace') as never,
    ) as unknown as Task;
    assert.ok(resolved instanceof Task);
    assert.deepEqual(
      [resolved.definition, resolved.scope, resolved.name, resolved.source],
      [{ type: 'berth', command: 'make test' }, scope, 'test', 'Berth'],
    );
    assert.ok(resolved.execution instanceof CustomExecution);
    // VS Code calls the execution with the definition after variable substitution.
    const pty = (await resolved.execution.callback({ type: 'berth', command: 'echo resolved' })) as TaskPseudoterminal;
    cleanups.push(() => pty.dispose());
    let written = '';
    pty.onDidWrite((s) => (written += s));
    pty.open(undefined);
    await until('the prompt', () => written.includes('$ '));
    assert.deepEqual(asked, [{ name: 'proj', path: '/nonexistent/berth-unit/proj' }], "the task's own folder");
    assert.deepEqual(agent.execs[0]!.cmd, ['/bin/sh', '-c', 'echo resolved']);
    assert.deepEqual([agent.execs[0]!.rows, agent.execs[0]!.cols], [24, 80], 'the default size before VS Code tells one');
    pty.handleInput('exit 0\r');
    assert.equal(await pty.done, 0);
  });

  it('a workspace-wide task uses the first folder; a non-file folder, none', () => {
    assert.deepEqual(folderOfScope(TaskScope.Workspace as never, folders), folders[0]);
    assert.equal(folderOfScope(TaskScope.Global as never, []), undefined);
    assert.equal(folderOfScope({ uri: { scheme: 'vscode-remote', fsPath: '/x' }, name: 'x', index: 0 } as never, folders), undefined);
  });
});
