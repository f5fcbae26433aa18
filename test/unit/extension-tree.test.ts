/**
 * The Images tree provider against a fake agent on a real Unix socket, with the few `vscode` APIs it
 * touches faked: lists on connect, refreshes once per burst of events, keeps the last images greyed
 * while the agent is away, and words sizes, layers and ages.
 */
import './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ImageSummary } from '../../protocol';
import { AgentConnection } from '../../client/connection';
import { EVENT_DEBOUNCE_MS, ImagesTreeProvider } from '../../extension/tree/images/ImagesTreeProvider';
import type { ImageNode } from '../../extension/tree/images/model';
import { FakeAgent, until } from '../support/fakeAgent';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const box: ImageSummary = {
  Id: `sha256:${'ab'.repeat(32)}`,
  RepoTags: ['127.0.0.1:5000/e2e/box:v1'],
  RepoDigests: [],
  Created: Math.floor(Date.now() / 1000) - 3 * 86400,
  Size: 1_980_000,
  Layers: 1,
  Labels: {},
};

async function setup() {
  const d = FakeAgent.dir();
  cleanups.push(d.remove);
  const agent = await new FakeAgent(d.socket).listen();
  cleanups.push(() => agent.stop());
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  const tree = new ImagesTreeProvider(conn);
  cleanups.push(() => tree.dispose());
  let changes = 0;
  tree.onDidChangeTreeData(() => changes++);
  return { agent, conn, tree, changes: () => changes, socket: d.socket };
}

const labels = (tree: ImagesTreeProvider, nodes?: ImageNode[]): unknown[] =>
  (nodes ?? tree.getChildren()).map((n) => {
    const item = tree.getTreeItem(n);
    const kids = tree.getChildren(n);
    return kids.length ? [item.label, labels(tree, kids)] : `${item.label} | ${item.description ?? ''}`;
  });

describe('ImagesTreeProvider', () => {
  it('lists the images once connected: repository > tag with size, layers and age', async () => {
    const { agent, conn, tree } = await setup();
    agent.images = [box, { ...box, Id: `sha256:${'cd'.repeat(32)}`, RepoTags: [], Layers: 3, Created: 0 }];
    conn.start();
    await until('the list', () => tree.isLoaded);
    assert.deepEqual(labels(tree), [
      ['127.0.0.1:5000/e2e/box', ['v1 | 1.98MB · 1 layer · 3 days ago']],
      ['<none>', ['cdcdcdcdcdcd | 1.98MB · 3 layers · created at an unknown time']],
    ]);
    const tag = tree.getChildren(tree.getChildren()[0])[0]!;
    assert.equal(tree.getTreeItem(tag).contextValue, 'image.tagged');
    assert.equal(tree.getParent(tag), tree.getChildren()[0]);
  });

  it('refreshes on image events, once per burst, and ignores other event types', async () => {
    const { agent, conn, tree } = await setup();
    conn.start();
    await until('the first list', () => tree.isLoaded);
    assert.equal(agent.listCalls, 1);
    agent.images = [box];
    for (const Action of ['pull', 'tag', 'tag'] as const) agent.emit({ Action });
    await until('the tag in the tree', () => tree.images().length === 1);
    await new Promise((r) => setTimeout(r, EVENT_DEBOUNCE_MS * 3));
    assert.equal(agent.listCalls, 2, 'a burst of three events makes one list');
    agent.emit({ Type: 'container' as never, Action: 'start' as never });
    await new Promise((r) => setTimeout(r, EVENT_DEBOUNCE_MS * 3));
    assert.equal(agent.listCalls, 2, 'container events do not touch the images tree');
  });

  it('keeps the last images, greyed and marked, while the agent is away, then refreshes', async () => {
    const { agent, conn, tree, socket } = await setup();
    agent.images = [box];
    conn.start();
    await until('the list', () => tree.images().length === 1);
    await agent.stop();
    await until('disconnected', () => conn.state.kind === 'disconnected');
    assert.equal(tree.stale, true);
    const [repo] = tree.getChildren();
    const item = tree.getTreeItem(tree.getChildren(repo)[0]!);
    assert.match(String(item.description), /\(disconnected\)$/);
    assert.equal((item.iconPath as { color?: { id: string } }).color?.id, 'disabledForeground');
    // Back, with one image more: the tree follows without being asked.
    const again = await new FakeAgent(socket).listen();
    cleanups.push(() => again.stop());
    again.images = [box, { ...box, RepoTags: ['127.0.0.1:5000/e2e/box:v2'] }];
    await until('the refreshed list', () => tree.images().length === 2, 5000);
    assert.equal(tree.stale, false);
    assert.doesNotMatch(String(tree.getTreeItem(tree.getChildren(repo)[0]!).description), /disconnected/);
  });
});
