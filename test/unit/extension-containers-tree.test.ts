/**
 * The Containers tree provider and the logs terminal against a fake agent on a real Unix socket,
 * with the few `vscode` APIs they touch faked: lists on connect, refreshes once per burst of
 * container events, regroups without asking the agent, greys while the agent is away; the logs
 * terminal follows lines (stderr red) until the container exits or the user stops it.
 */
import './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AgentConnection } from '../../client/connection';
import { LogsPseudoterminal } from '../../extension/commands/containers/logsTerminal';
import { ContainersTreeProvider, EVENT_DEBOUNCE_MS } from '../../extension/tree/containers/ContainersTreeProvider';
import type { ContainersNode } from '../../extension/tree/containers/model';
import { FakeAgent, fakeContainer, until } from '../support/fakeAgent';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const d = FakeAgent.dir();
  cleanups.push(d.remove);
  const agent = await new FakeAgent(d.socket).listen();
  cleanups.push(() => agent.stop());
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  const tree = new ContainersTreeProvider(conn);
  cleanups.push(() => tree.dispose());
  return { agent, conn, tree, socket: d.socket };
}

const rows = (tree: ContainersTreeProvider, nodes?: ContainersNode[]): unknown[] =>
  (nodes ?? tree.getChildren()).map((n) => {
    const item = tree.getTreeItem(n);
    const kids = tree.getChildren(n);
    return kids.length
      ? [`${item.label} | ${item.description}`, rows(tree, kids)]
      : `${item.label} | ${item.description} | ${item.contextValue}`;
  });
const icon = (tree: ContainersTreeProvider, n: ContainersNode) => {
  const i = tree.getTreeItem(n).iconPath as { id: string; color?: { id: string } };
  return { id: i.id, color: i.color && { id: i.color.id } };
};
const settle = () => new Promise((r) => setTimeout(r, EVENT_DEBOUNCE_MS * 3));

describe('ContainersTreeProvider', () => {
  it('lists every container once connected, grouped by state, with state icons, image and status', async () => {
    const { agent, conn, tree } = await setup();
    agent.containers = [
      fakeContainer('a'.repeat(64), 'done', '127.0.0.1:5000/e2e/box:v1', 'exited', { ExitCode: 3, Created: 100 }),
      fakeContainer('b'.repeat(64), 'web', 'docker.io/library/busybox:latest', 'running', { Created: 50 }),
    ];
    conn.start();
    await until('the list', () => tree.isLoaded);
    assert.deepEqual(rows(tree), [
      ['Running | 1 container', ['web | Up Less than a second · busybox:latest | container.running']],
      ['Exited | 1 container', ['done | Exited (3) Less than a second ago · 127.0.0.1:5000/e2e/box:v1 | container.exited']],
    ]);
    const [running, exited] = tree.getChildren();
    assert.deepEqual(icon(tree, tree.getChildren(running)[0]!), { id: 'vm-running', color: { id: 'charts.green' } });
    assert.deepEqual(icon(tree, tree.getChildren(exited)[0]!), { id: 'vm-outline', color: { id: 'charts.red' } });
    const web = tree.find('web')!;
    assert.equal(tree.getParent(web), running);
    assert.equal(tree.find('b'.repeat(64)), web);
  });

  it('follows container events (one list per burst), not kill alone nor image events', async () => {
    const { agent, conn, tree } = await setup();
    conn.start();
    await until('the first list', () => tree.isLoaded);
    assert.equal(agent.containerListCalls, 1);
    agent.containers = [fakeContainer('c'.repeat(64), 'job', 'busybox', 'running')];
    for (const Action of ['create', 'start'] as const) agent.emit({ Type: 'container', Action });
    await until('the container in the tree', () => tree.containers().length === 1);
    await settle();
    assert.equal(agent.containerListCalls, 2, 'create + start make one list');
    agent.emit({ Type: 'container', Action: 'kill' });
    agent.emit({ Type: 'image', Action: 'pull' });
    await settle();
    assert.equal(agent.containerListCalls, 2, 'kill and image events do not list containers');
    agent.exitContainer('job', 1);
    await until('exited', () => tree.find('job')?.container.State === 'exited');
  });

  it('regroups by image without asking the agent', async () => {
    const { agent, conn, tree } = await setup();
    agent.containers = [
      fakeContainer('a'.repeat(64), 'one', 'busybox', 'exited'),
      fakeContainer('b'.repeat(64), 'two', 'busybox', 'running'),
      fakeContainer('c'.repeat(64), 'three', 'alpine', 'exited'),
    ];
    conn.start();
    await until('the list', () => tree.isLoaded);
    let changes = 0;
    tree.onDidChangeTreeData(() => changes++);
    tree.groupBy = 'image';
    assert.equal(changes, 1);
    assert.deepEqual(
      tree.getChildren().map((g) => tree.getTreeItem(g).label),
      ['busybox', 'alpine'],
    );
    assert.deepEqual(
      tree.getChildren(tree.getChildren()[0]).map((n) => `${tree.getTreeItem(n).label} | ${tree.getTreeItem(n).description}`),
      ['two | Up Less than a second', 'one | Exited (0) Less than a second ago'],
    );
    assert.equal(agent.containerListCalls, 1);
  });

  it('keeps the last containers, greyed and marked, while the agent is away', async () => {
    const { agent, conn, tree, socket } = await setup();
    agent.containers = [fakeContainer('a'.repeat(64), 'web', 'busybox', 'running')];
    conn.start();
    await until('the list', () => tree.containers().length === 1);
    await agent.stop();
    await until('disconnected', () => conn.state.kind === 'disconnected');
    const item = tree.getTreeItem(tree.find('web')!);
    assert.match(String(item.description), /\(disconnected\)$/);
    assert.equal((item.iconPath as { color?: { id: string } }).color?.id, 'disabledForeground');
    const again = await new FakeAgent(socket).listen();
    cleanups.push(() => again.stop());
    await until('the refreshed (empty) list', () => tree.containers().length === 0, 5000);
    assert.equal(tree.stale, false);
  });
});

describe('LogsPseudoterminal', () => {
  async function follow(conn: AgentConnection, container: string) {
    const pty = new LogsPseudoterminal(conn, container);
    cleanups.push(() => pty.dispose());
    let out = '';
    pty.onDidWrite((s) => (out += s));
    let closed = false;
    pty.onDidClose(() => (closed = true));
    pty.open();
    return { pty, out: () => out, closed: () => closed };
  }

  it('writes old and new lines (stderr red, CRLF), and ends when the container exits', async () => {
    const { agent, conn } = await setup();
    agent.containers = [fakeContainer('a'.repeat(64), 'web', 'busybox', 'running')];
    agent.write('web', 'hello');
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    const t = await follow(conn, 'web');
    await until('the old line', () => t.out().includes('hello\r\n'));
    agent.write('web', 'oops', 'stderr');
    await until('the new line', () => t.out().includes('\x1b[31moops\x1b[0m\r\n'));
    assert.equal(t.pty.ended, false);
    agent.exitContainer('web', 0);
    await t.pty.done;
    assert.match(t.out(), /The container is not running: end of its logs\. Press any key to close this terminal\./);
    t.pty.handleInput('x');
    assert.equal(t.closed(), true);
  });

  it('stops following on Ctrl-C and when the terminal closes (the request is cancelled)', async () => {
    const { agent, conn } = await setup();
    agent.containers = [fakeContainer('a'.repeat(64), 'web', 'busybox', 'running')];
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    const a = await follow(conn, 'web');
    await new Promise((r) => setTimeout(r, 50));
    a.pty.handleInput('\x03');
    await a.pty.done;
    assert.match(a.out(), /Stopped following the logs\./);
    const b = await follow(conn, 'web');
    await new Promise((r) => setTimeout(r, 50));
    b.pty.close();
    await until('both cancelled at the agent', () => agent.cancelledLogs === 2);
    agent.write('web', 'late');
    await new Promise((r) => setTimeout(r, 50));
    assert.doesNotMatch(b.out(), /late/);
  });

  it("says the agent's sentence when the container does not exist", async () => {
    const { conn } = await setup();
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    const t = await follow(conn, 'ghost');
    await t.pty.done;
    assert.match(t.out(), /No such container: ghost\./);
  });
});
