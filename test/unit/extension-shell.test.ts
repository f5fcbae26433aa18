/**
 * Attach Shell's pseudoterminal against the fake agent's exec streams: the shell choice (a quick
 * `test -x /bin/bash`), the exec's pty size, keystrokes out as `container/input`, output in as
 * writes, resizes, the exit code closing the terminal, closing the terminal cancelling the exec,
 * and an exec refused (not running) shown as a sentence.
 */
import { window } from './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AgentConnection } from '../../client/connection';
import { attachShell } from '../../extension/commands/containers/attachShell';
import { ShellPseudoterminal } from '../../extension/commands/containers/shellTerminal';
import type { Context } from '../../extension/context';
import { ContainersTreeProvider } from '../../extension/tree/containers/ContainersTreeProvider';
import { FakeAgent, fakeContainer, until } from '../support/fakeAgent';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  window.terminals = [];
  window.shown = [];
});

async function setup() {
  const d = FakeAgent.dir();
  cleanups.push(d.remove);
  const agent = await new FakeAgent(d.socket).listen();
  cleanups.push(() => agent.stop());
  agent.containers = [
    fakeContainer('a'.repeat(64), 'web', 'busybox', 'running'),
    fakeContainer('b'.repeat(64), 'done', 'busybox', 'exited'),
  ];
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  conn.start();
  await until('connected', () => conn.state.kind === 'connected');
  return { agent, conn };
}

function open(conn: AgentConnection, container: string, dims = { rows: 30, columns: 100 }) {
  const pty = new ShellPseudoterminal(conn, container);
  cleanups.push(() => pty.dispose());
  let written = '';
  const closed: (number | undefined)[] = [];
  pty.onDidWrite((s) => (written += s));
  pty.onDidClose((c) => void closed.push(typeof c === 'number' ? c : undefined));
  pty.open(dims);
  return { pty, out: () => written, closed };
}

describe('Attach Shell pseudoterminal', () => {
  it('runs /bin/bash with a pty of the terminal size; typing goes in, output comes out, exit closes with its code', async () => {
    const { agent, conn } = await setup();
    const { pty, out, closed } = open(conn, 'web');
    // Typed before the exec is under way: kept and sent once it is.
    pty.handleInput('ec');
    await until('the prompt', () => out().includes('$ '));
    assert.deepEqual(agent.execs[0]!.cmd, ['test', '-x', '/bin/bash']);
    const exec = agent.execs[1]!;
    assert.deepEqual(
      { cmd: exec.cmd, tty: exec.tty, stdin: exec.stdin, rows: exec.rows, cols: exec.cols, token: exec.attachToken },
      { cmd: ['/bin/bash'], tty: true, stdin: true, rows: 30, cols: 100, token: pty.token },
    );
    pty.handleInput('ho hi\r');
    await until('the echo', () => out().includes('echo hi\r\n'));
    pty.handleInput('\x03');
    await until('Ctrl-C as a byte', () => agent.inputs.get(pty.token)!.endsWith('\x03'));
    pty.setDimensions({ rows: 40, columns: 120 });
    await until('the resize', () => agent.resizes.length === 1);
    assert.deepEqual(agent.resizes[0], { token: pty.token, rows: 40, cols: 120 });
    pty.handleInput('\rexit 3\r');
    assert.equal(await pty.done, 3);
    assert.deepEqual(closed, [3]);
    assert.equal(agent.inputs.get(pty.token), 'echo hi\r\x03\rexit 3\r');
    assert.deepEqual(agent.cancelledExecs, []);
  });

  it('falls back to /bin/sh when the container has no bash; UTF-8 passes both ways', async () => {
    const { agent, conn } = await setup();
    agent.hasBash = false;
    const { pty, out } = open(conn, 'web');
    await until('the prompt', () => out().includes('$ '));
    assert.deepEqual(agent.execs[1]!.cmd, ['/bin/sh']);
    pty.handleInput('grüß\r');
    await until('the echo', () => out().includes('grüß'));
  });

  it('closing the terminal cancels the exec (the agent kills the shell)', async () => {
    const { agent, conn } = await setup();
    const { pty, out, closed } = open(conn, 'web');
    await until('the prompt', () => out().includes('$ '));
    pty.close();
    await until('the cancel', () => agent.cancelledExecs.includes(pty.token));
    assert.equal(await pty.done, undefined);
    assert.deepEqual(closed, [], 'VS Code closed it already: no second close');
    // Input after the close goes nowhere.
    pty.handleInput('x');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(agent.inputs.get(pty.token), undefined);
  });

  it('an exec the agent refuses becomes a sentence; any key then closes the terminal', async () => {
    const { conn } = await setup();
    const { pty, out, closed } = open(conn, 'done');
    await until('the message', () => out().includes('not running'));
    assert.match(out(), /Exec in container done: the container is not running\./);
    assert.match(out(), /Press any key to close this terminal\./);
    assert.deepEqual(closed, []);
    pty.handleInput('q');
    assert.deepEqual(closed, [undefined]);
  });

  it('the command opens a terminal named after the running container', async () => {
    const { conn } = await setup();
    const tree = new ContainersTreeProvider(conn);
    cleanups.push(() => tree.dispose());
    await until('the list', () => tree.isLoaded);
    const ctx = { agent: conn, trees: { containers: tree }, reportError: () => {} } as unknown as Context;
    await attachShell(ctx)(tree.find('web'));
    assert.equal(window.terminals.length, 1);
    assert.equal(window.terminals[0]!.name, 'Shell: web');
    assert.ok(window.terminals[0]!.shown);
    assert.ok(window.terminals[0]!.pty instanceof ShellPseudoterminal);
  });
});
