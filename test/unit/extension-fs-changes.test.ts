/**
 * Browse Files' change events against the fake agent on a real socket: the provider's `watch` of a
 * berth-container: file subscribes to the container change feed (one agent watch per container,
 * shared, ended with the last subscriber), `onDidChangeFile` fires Changed / Created / Deleted for
 * what the container does to the watched file, a directory's entries, or (recursive) everything
 * below, and nothing for other paths or for images; open berth-container: documents are watched by
 * themselves until closed; a reconnect watches again; the feed holds notifications that arrive
 * before the watch's answer and re-watches after a missed one.
 */
import { FileChangeType, workspace } from './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ContainerFileChange } from '../../protocol';
import { AgentConnection } from '../../client/connection';
import { BerthFileSystemProvider } from '../../extension/fs/BerthFileSystemProvider';
import { watchOpenDocuments } from '../../extension/fs/registerFileSystem';
import { containerUri, imageUri } from '../../extension/fs/uris';
import { ContainerChangeFeed, type ChangeUpdate } from '../../extension/inspector/changeFeed';
import { FakeAgent, fakeContainer, until } from '../support/fakeAgent';

const ID = 'a'.repeat(64);

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  workspace.textDocuments = [];
});

const change = (Path: string, Kind: 0 | 1 | 2, Size = 1): ContainerFileChange => ({
  Path,
  Kind,
  Type: Kind === 2 ? 'deleted' : 'file',
  Size,
  Mode: 0o644,
  Mtime: 1_700_000_000_000 + Size,
});

async function setup() {
  const d = FakeAgent.dir();
  cleanups.push(d.remove);
  const agent = await new FakeAgent(d.socket).listen();
  cleanups.push(() => agent.stop());
  agent.containers = [fakeContainer(ID, 'web', 'busybox', 'running')];
  agent.fileChanges.set(ID, [change('/etc', 0, 0), change('/etc/passwd', 0, 10)]);
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  conn.start();
  await until('connected', () => conn.state.kind === 'connected');
  const feed = new ContainerChangeFeed(conn);
  cleanups.push(() => feed.dispose());
  const provider = new BerthFileSystemProvider(conn, feed);
  cleanups.push(() => provider.dispose());
  const events: string[] = [];
  const name = { [FileChangeType.Changed]: 'changed', [FileChangeType.Created]: 'created', [FileChangeType.Deleted]: 'deleted' } as Record<
    number,
    string
  >;
  provider.onDidChangeFile((list) => {
    for (const e of list) events.push(`${name[e.type]} ${e.uri.toString().replace(`berth-container://${ID}`, '')}`);
  });
  return { agent, conn, feed, provider, events };
}

describe('Browse Files: change events from the container change feed', () => {
  it('fires for the watched file when the container rewrites, deletes or re-adds it, and for nothing else', async () => {
    const { agent, provider, events } = await setup();
    const w = provider.watch(containerUri(ID, '/etc/passwd'), { recursive: false });
    await until('watched', () => agent.changeWatches.size === 1);
    agent.pushChanges(ID, [change('/etc/passwd', 0, 20), change('/etc/other', 1)]);
    await until('passwd changed', () => events.length === 1);
    assert.deepEqual(events, ['changed /etc/passwd']);
    agent.pushChanges(ID, [change('/etc/passwd', 2)]);
    await until('passwd deleted', () => events.length === 2);
    assert.equal(events[1], 'deleted /etc/passwd');
    // A whole directory deleted above the watched file takes the file with it.
    agent.pushChanges(ID, [change('/etc/passwd', 1, 5)]);
    agent.pushChanges(ID, [change('/etc', 2)]);
    await until('two more', () => events.length === 4);
    assert.deepEqual(events.slice(2), ['changed /etc/passwd', 'deleted /etc/passwd']);
    w.dispose();
    await until('unwatched', () => agent.changeWatches.size === 0 && agent.unwatched.length === 1);
  });

  it("fires for a directory's direct entries, or for everything below it when recursive", async () => {
    const { agent, provider, events } = await setup();
    const dir = provider.watch(containerUri(ID, '/etc'), { recursive: false });
    const all = provider.watch(containerUri(ID, '/'), { recursive: true });
    await until('watched once for both', () => agent.changeWatches.size === 1);
    agent.pushChanges(ID, [change('/etc/new', 1), change('/etc/ssl/certs/x', 1)], ['/etc/passwd']);
    // The directory watch: /etc/new created, /etc/passwd changed (it left the list: the image's shows again).
    // The recursive one: all three.
    await until('five events', () => events.length === 5);
    assert.deepEqual(events.sort(), [
      'changed /etc/passwd',
      'changed /etc/passwd',
      'created /etc/new',
      'created /etc/new',
      'created /etc/ssl/certs/x',
    ]);
    events.length = 0;
    // A file the container added, then removed from its layer: Deleted.
    agent.pushChanges(ID, [], ['/etc/new']);
    await until('deleted twice', () => events.length === 2);
    assert.deepEqual(events, ['deleted /etc/new', 'deleted /etc/new']);
    dir.dispose();
    assert.equal(agent.unwatched.length, 0, 'the agent watch stays while one subscriber is left');
    all.dispose();
    await until('unwatched', () => agent.unwatched.length === 1);
  });

  it('does nothing for images, or without a feed', async () => {
    const { agent, conn, provider } = await setup();
    provider.watch(imageUri('sha256:' + 'ab'.repeat(32), '/etc/passwd')).dispose();
    new BerthFileSystemProvider(conn).watch(containerUri(ID, '/etc/passwd')).dispose();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(agent.changeWatches.size + agent.unwatched.length, 0);
  });

  it('watches open berth-container: documents until they close', async () => {
    const { agent, provider, events } = await setup();
    workspace.openDocument(containerUri(ID, '/etc/hosts'));
    const tracker = watchOpenDocuments(provider, workspace as never);
    cleanups.push(() => tracker.dispose());
    workspace.openDocument(containerUri(ID, '/etc/passwd'));
    workspace.openDocument(imageUri('sha256:' + 'ab'.repeat(32), '/etc/passwd'));
    await until('watched', () => agent.changeWatches.size === 1);
    agent.pushChanges(ID, [change('/etc/passwd', 0, 30), change('/etc/hosts', 0, 7), change('/etc/motd', 1)]);
    await until('two events', () => events.length === 2);
    assert.deepEqual(events.sort(), ['changed /etc/hosts', 'changed /etc/passwd']);
    workspace.closeDocument(containerUri(ID, '/etc/passwd'));
    workspace.closeDocument(containerUri(ID, '/etc/hosts'));
    await until('unwatched', () => agent.unwatched.length === 1 && agent.changeWatches.size === 0);
  });

  it('watches again after a reconnect, and re-watches after a missed notification', async () => {
    const { agent, conn, feed, events, provider } = await setup();
    const updates: ChangeUpdate['kind'][] = [];
    const sub = feed.subscribe(ID, (u) => updates.push(u.kind));
    provider.watch(containerUri(ID, '/etc/passwd'));
    await until('first list', () => updates[0] === 'reset');
    assert.equal(sub.snapshot()?.changes.get('/etc/passwd')?.Size, 10);
    // The agent restarts: the new connection's watch is a new one.
    await agent.stop();
    await until('disconnected', () => conn.state.kind !== 'connected');
    await agent.listen();
    await until('reconnected and watched', () => conn.state.kind === 'connected' && agent.changeWatches.size === 1);
    await until('second list', () => updates.filter((k) => k === 'reset').length === 2);
    agent.pushChanges(ID, [change('/etc/passwd', 0, 40)]);
    await until('event after the reconnect', () => events.includes('changed /etc/passwd'));
    // A notification with a gap in seq: the feed asks for the whole list again.
    const [[token, w]] = [...agent.changeWatches];
    w.seq += 5;
    agent.pushChanges(ID, [change('/etc/passwd', 0, 50)]);
    await until('third list', () => updates.filter((k) => k === 'reset').length === 3);
    await until('the old watch ended', () => agent.unwatched.includes(token));
    assert.equal(sub.snapshot()?.changes.get('/etc/passwd')?.Size, 50);
    // Removal: gone, and the feed stops watching.
    agent.pushChanges(ID, [], [], true);
    await until('gone', () => updates.includes('gone'));
    sub.dispose();
  });
});
