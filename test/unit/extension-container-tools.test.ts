/**
 * Show Changes, Commit, Prune Containers and Prune Images against the fake agent, with dialogs and
 * input boxes answered from queues: the changes document's text, the commit's tag and message
 * reaching the agent (and the new image reaching the Images tree by its events), prunes asking
 * first and saying what they removed in human units.
 */
import { window } from './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AgentConnection } from '../../client/connection';
import { commitContainer } from '../../extension/commands/containers/commitContainer';
import { pruneContainers } from '../../extension/commands/containers/pruneContainers';
import { pruneImages } from '../../extension/commands/images/pruneImages';
import type { Context } from '../../extension/context';
import { changesList, ReadonlyDocumentProvider } from '../../extension/documents/ReadonlyDocumentProvider';
import { ContainersTreeProvider } from '../../extension/tree/containers/ContainersTreeProvider';
import { ImagesTreeProvider } from '../../extension/tree/images/ImagesTreeProvider';
import { FakeAgent, fakeContainer, until } from '../support/fakeAgent';
import type * as vscode from 'vscode';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  window.answers = [];
  window.inputs = [];
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
  agent.images = [
    {
      Id: `sha256:${'e'.repeat(64)}`,
      RepoTags: ['docker.io/library/busybox:latest'],
      RepoDigests: [],
      Created: 0,
      Size: 4_000_000,
      Layers: 1,
      Labels: {},
    },
    { Id: `sha256:${'f'.repeat(64)}`, RepoTags: [], RepoDigests: [], Created: 0, Size: 2_000_000, Layers: 1, Labels: {} },
  ];
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  const containers = new ContainersTreeProvider(conn);
  const images = new ImagesTreeProvider(conn);
  cleanups.push(
    () => containers.dispose(),
    () => images.dispose(),
  );
  conn.start();
  await until('the lists', () => containers.isLoaded && images.isLoaded);
  const errors: unknown[] = [];
  const ctx = { agent: conn, trees: { containers, images }, reportError: (e: unknown) => errors.push(e) } as unknown as Context;
  return { agent, conn, containers, images, ctx, errors };
}

describe('container tools', () => {
  it('Show Changes lists A, C and D lines under a heading; no changes says so', async () => {
    const { agent, conn } = await setup();
    agent.changes.set('a'.repeat(64), [
      { Path: '/tmp', Kind: 0 },
      { Path: '/tmp/hello.txt', Kind: 1 },
      { Path: '/etc/motd', Kind: 2 },
    ]);
    const docs = new ReadonlyDocumentProvider(conn);
    cleanups.push(() => docs.dispose());
    const uri = { scheme: 'berth-inspect', authority: 'changes', path: '/web.txt' } as vscode.Uri;
    const text = await docs.provideTextDocumentContent(uri, undefined as unknown as vscode.CancellationToken);
    assert.equal(text, '3 changes in the writable layer of web (A added, C changed, D deleted)\n\nC /tmp\nA /tmp/hello.txt\nD /etc/motd\n');
    assert.equal(changesList([], 'done'), "No changes: done's files are as in its image.\n");
  });

  it('Commit asks a tag and a message, commits, and the image appears in the Images tree', async () => {
    const { agent, ctx, containers, images, errors } = await setup();
    window.inputs = ['snap:v1', 'after the fix'];
    const id = await commitContainer(ctx)(containers.find('web'));
    assert.deepEqual(errors, []);
    assert.match(id ?? '', /^sha256:/);
    assert.deepEqual(agent.calls, ['commit web snap:v1 after the fix']);
    assert.deepEqual(window.shown.slice(0, 2), ['input: Commit web (1/2)', 'input: Commit web (2/2)']);
    assert.match(window.shown[2]!, /^Committed web as snap:v1 \([0-9a-f]{12}\)\.$/);
    await until('the new image in the tree', () => images.images().some((l) => l.image.Id === id));
  });

  it('Commit cancelled at either step commits nothing', async () => {
    const { agent, ctx, containers } = await setup();
    window.inputs = [undefined];
    await commitContainer(ctx)(containers.find('web'));
    window.inputs = ['x:y', undefined];
    await commitContainer(ctx)(containers.find('web'));
    assert.deepEqual(agent.calls, []);
  });

  it('Prune Containers confirms, removes the stopped ones and says how much space came back', async () => {
    const { agent, ctx, containers } = await setup();
    agent.reclaimed = 12_345_678;
    await pruneContainers(ctx)();
    assert.deepEqual(agent.calls, [], 'cancelled: nothing pruned');
    window.answers = ['Prune'];
    await pruneContainers(ctx)();
    assert.deepEqual(agent.calls, ['prune containers']);
    assert.equal(window.shown.at(-1), 'Removed 1 container, reclaimed 12.3MB.');
    await until('done is gone', () => !containers.find('done') && !!containers.find('web'));
  });

  it('Prune Images confirms, counts images (not layers) and reports nothing to do as such', async () => {
    const { agent, ctx, images } = await setup();
    agent.reclaimed = 2_000_000;
    window.answers = ['Prune'];
    await pruneImages(ctx)();
    assert.deepEqual(window.shown, ['Remove all dangling images?', 'Removed 1 image, reclaimed 2MB.']);
    await until('the dangling image is gone', () => images.images().length === 1);
    window.answers = ['Prune'];
    await pruneImages(ctx)();
    assert.equal(window.shown.at(-1), 'No unused images to remove.');
  });
});
