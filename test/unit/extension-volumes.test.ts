/**
 * The Volumes view against the fake agent on a real socket: volumes with the containers that use
 * them (from container/list Mounts), live from volume and container events, greyed while the agent
 * is away; Remove (confirmed, a used volume refused with the agent's sentence), Prune (the two
 * scopes of `volume prune`), Inspect.
 */
import { window } from './extension-fake-vscode';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc';
import { AgentConnection } from '../../client/connection';
import { pruneVolumes } from '../../extension/commands/volumes/pruneVolumes';
import { removeVolume } from '../../extension/commands/volumes/removeVolume';
import type { Context } from '../../extension/context';
import { VolumesTreeProvider } from '../../extension/tree/volumes/VolumesTreeProvider';
import type { VolumeTreeItem } from '../../extension/tree/volumes/VolumeTreeItem';
import { FakeAgent, fakeContainer, fakeVolume, until } from '../support/fakeAgent';

const ANON = 'f'.repeat(64);
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
  agent.volumes = [fakeVolume(ANON), fakeVolume('data', { team: 'web' }), fakeVolume('cache')];
  agent.containers = [
    fakeContainer('a'.repeat(64), 'web', 'busybox', 'running', {
      Mounts: [
        { Type: 'volume', Name: 'data', Source: '/var/lib/berth/volumes/data/_data', Destination: '/srv', Driver: 'local', RW: true },
        { Type: 'bind', Source: '/tmp', Destination: '/host-tmp', RW: false },
      ],
    }),
    fakeContainer('b'.repeat(64), 'backup', 'busybox', 'exited', {
      Mounts: [
        { Type: 'volume', Name: 'data', Source: '/var/lib/berth/volumes/data/_data', Destination: '/backup', Driver: 'local', RW: false },
      ],
    }),
  ];
  const conn = new AgentConnection({ socket: () => d.socket, log: () => {}, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => conn.dispose());
  const tree = new VolumesTreeProvider(conn);
  cleanups.push(() => tree.dispose());
  conn.start();
  await until('the list', () => tree.isLoaded);
  const errors: unknown[] = [];
  const ctx = { agent: conn, trees: { volumes: tree }, reportError: (e: unknown) => errors.push(e) } as unknown as Context;
  const item = (name: string) => tree.getTreeItem(tree.find(name)!) as VolumeTreeItem;
  return { agent, tree, ctx, item, errors };
}

describe('the Volumes view', () => {
  it('lists volumes named first, with who uses them, where, and their mount point', async () => {
    const { tree, item } = await setup();
    assert.deepEqual(
      tree.getChildren().map((n) => n.name),
      ['cache', 'data', ANON],
    );
    const data = item('data');
    assert.equal(data.label, 'data');
    assert.equal(data.description, 'used by web, backup');
    assert.equal(data.contextValue, 'volume.used');
    const tip = (data.tooltip as { value: string }).value;
    assert.match(tip, /\/var\/lib\/berth\/volumes\/data\/_data/);
    assert.match(tip, /web \(running\) at `\/srv`/);
    assert.match(tip, /backup \(not running\) at `\/backup` \(read-only\)/);
    assert.match(tip, /team=web/);
    assert.equal(item('cache').description, 'unused');
    assert.equal(item('cache').contextValue, 'volume.unused');
    assert.equal(item(ANON).label, 'ffffffffffff');
    assert.equal(item(ANON).description, 'unused · anonymous');
  });

  it('follows volume and container events, and keeps its last state greyed while the agent is away', async () => {
    const { agent, tree, item } = await setup();
    agent.volumes.push(fakeVolume('logs'));
    agent.emit({ Type: 'volume', Action: 'create', Actor: { ID: 'logs', Attributes: { driver: 'local' } } });
    await until('the new volume', () => tree.find('logs') !== undefined);
    agent.containers = agent.containers.filter((c) => c.Names[0] !== '/backup');
    agent.emit({ Type: 'container', Action: 'destroy', Actor: { ID: 'b'.repeat(64), Attributes: { name: 'backup', image: 'busybox' } } });
    await until('backup gone from the users', () => item('data').description === 'used by web');
    await agent.stop();
    await until('stale', () => tree.stale);
    assert.equal(item('data').description, 'used by web (disconnected)');
  });

  it("Remove confirms, removes what is unused, and reports a used volume in the agent's words", async () => {
    const { agent, ctx, tree, errors } = await setup();
    window.answers = [undefined];
    await removeVolume(ctx)(tree.find('cache'));
    assert.deepEqual(agent.calls, [], 'cancelled: nothing removed');
    window.answers = ['Remove'];
    await removeVolume(ctx)(tree.find('cache'), [tree.find('cache'), tree.find('data')]);
    assert.equal(window.shown.at(-1), 'Remove 2 volumes and their data?');
    assert.deepEqual(agent.calls, ['remove volume cache', 'remove volume data']);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof ResponseError);
    assert.match((errors[0] as Error).message, /volume data is in use by web, backup/);
    await until('cache gone', () => tree.find('cache') === undefined);
    assert.ok(tree.find('data'));
  });

  it('Prune offers anonymous-only or every unused volume, and says what it removed', async () => {
    const { agent, ctx, tree } = await setup();
    window.answers = [undefined];
    assert.equal(await pruneVolumes(ctx)(), undefined);
    window.answers = ['Prune Anonymous'];
    const r = await pruneVolumes(ctx)();
    assert.deepEqual(r?.VolumesDeleted, [ANON]);
    window.answers = ['Prune All Unused'];
    const all = await pruneVolumes(ctx)();
    assert.deepEqual(all?.VolumesDeleted, ['cache']);
    assert.deepEqual(agent.calls, ['prune volumes', 'prune volumes all']);
    assert.ok(window.shown.includes('Removed 1 volume, reclaimed 0B.'), window.shown.join(' | '));
    await until(
      'only the used volume left',
      () =>
        tree
          .getChildren()
          .map((n) => n.name)
          .join() === 'data',
    );
  });
});
