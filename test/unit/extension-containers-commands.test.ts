/**
 * Container commands against the fake agent, with dialogs answered from a queue: Remove confirms,
 * and asks a second time before killing a running container; Restart is `container/restart`; Stop
 * and Start act on the whole selection, only on the containers they apply to.
 */
import { window } from './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AgentConnection } from '../../client/connection';
import { removeContainer } from '../../extension/commands/containers/removeContainer';
import { restartContainer } from '../../extension/commands/containers/restartContainer';
import { startContainer } from '../../extension/commands/containers/startContainer';
import { stopContainer } from '../../extension/commands/containers/stopContainer';
import type { Context } from '../../extension/context';
import { ContainersTreeProvider } from '../../extension/tree/containers/ContainersTreeProvider';
import { FakeAgent, fakeContainer, until } from '../support/fakeAgent';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  window.answers = [];
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
  const tree = new ContainersTreeProvider(conn);
  cleanups.push(() => tree.dispose());
  conn.start();
  await until('the list', () => tree.isLoaded);
  const errors: unknown[] = [];
  const ctx = { agent: conn, trees: { containers: tree }, reportError: (e: unknown) => errors.push(e) } as unknown as Context;
  const node = (name: string) => tree.find(name)!;
  return { agent, tree, ctx, node, errors };
}

describe('container commands', () => {
  it('Remove of an exited container: one confirmation, no force', async () => {
    const { agent, ctx, node } = await setup();
    window.answers = ['Remove'];
    await removeContainer(ctx)(node('done'));
    assert.deepEqual(window.shown, ['Remove container done?']);
    assert.deepEqual(agent.calls, ['remove done']);
  });

  it('Remove of a running container: a second confirmation, then force; cancelling it removes nothing', async () => {
    const { agent, ctx, node } = await setup();
    window.answers = ['Remove', undefined];
    await removeContainer(ctx)(node('web'));
    assert.deepEqual(window.shown, ['Remove container web?', 'web is running. Kill it and remove it?']);
    assert.deepEqual(agent.calls, []);
    window.answers = ['Remove', 'Kill and Remove'];
    await removeContainer(ctx)(node('web'));
    assert.deepEqual(agent.calls, ['remove web force']);
  });

  it('Remove of a selection forces only the running ones', async () => {
    const { agent, ctx, node } = await setup();
    window.answers = ['Remove', 'Kill and Remove'];
    await removeContainer(ctx)(node('web'), [node('web'), node('done')]);
    assert.equal(window.shown[0], 'Remove 2 containers?');
    assert.deepEqual(agent.calls, ['remove web force', 'remove done']);
  });

  it('Restart is one container/restart request', async () => {
    const { agent, ctx, node, tree } = await setup();
    await restartContainer(ctx)(node('web'));
    assert.deepEqual(agent.calls, ['restart web']);
    await until('running again', () => tree.find('web')?.container.State === 'running');
  });

  it('Stop and Start act on the selected containers they apply to', async () => {
    const { agent, ctx, node, errors } = await setup();
    const both = [node('web'), node('done')];
    await stopContainer(ctx)(both[0], both);
    await startContainer(ctx)(both[1], both);
    assert.deepEqual(agent.calls, ['stop web', 'start done']);
    assert.deepEqual(errors, []);
  });
});
