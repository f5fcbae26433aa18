/**
 * `container/changes` and its watch against a real agent (the built bundle), a two-layer image from
 * a real registry and real running containers: the detailed list (types, sizes, the image layer a
 * change shadows, with its digest and history), then a running container writing, rewriting and
 * deleting files while a watch is open: each change arrives as a `container/changed` notification
 * (in order, seq by seq) without asking again; new directories are watched as they appear; the
 * watch follows stop and start; removal ends it (`gone`); unwatch and a closed connection end it
 * too; hostile parameters are refused. Every container is removed and the agent stopped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  ContainerChangedNotification,
  ContainerChangesRequest,
  ContainerDiffRequest,
  ErrorCode,
  PullRequest,
  UnwatchContainerChangesRequest,
  type ContainerChangedParams,
  type ContainerFileChange,
} from '../../protocol';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { removeAllContainers } from '../support/containers';
import { expectAgentError, ok } from '../support/expect';
import { buildImage, buildLayer, busyboxLayer, PASSWD, sha256Digest } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';

const MOTD = 'welcome\n';
const APP_CONF = 'mode=prod\n';

/** Collects one watch token's notifications; `next` waits (bounded) for one matching a predicate. */
class Notes {
  readonly all: ContainerChangedParams[] = [];
  private waiters: (() => void)[] = [];
  constructor(
    conn: MessageConnection,
    readonly token: string,
  ) {
    conn.onNotification(ContainerChangedNotification.type, (n) => {
      if (n.token !== token) return;
      this.all.push(n);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  /** Resolves with the first notification from index `from` on that satisfies `pred`. */
  async next(what: string, pred: (n: ContainerChangedParams) => boolean, from = 0, ms = 10_000): Promise<ContainerChangedParams> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.all.slice(from).find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(this.all.slice(from))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

const byPath = (list: ContainerFileChange[], path: string) => list.find((c) => c.Path === path);

describe('container/changes: the writable layer in detail, live while it runs', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  let conn: MessageConnection;
  let appLayerDigest: string;
  const cli = async (args: string[]) => ok(await berth(args, env, 60_000), `berth ${args.join(' ')}`);
  const sh = (container: string, script: string) => cli(['exec', container, 'sh', '-c', script]);

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    // Layer 0: busybox (with /etc/passwd); layer 1: /etc/motd and /opt/app/app.conf.
    const app = await buildLayer(
      [
        { type: 'file', path: '/etc/motd', content: MOTD },
        { type: 'file', path: '/opt/app/app.conf', content: APP_CONF },
      ],
      { createdBy: 'COPY app / # changes test' },
    );
    appLayerDigest = app.digest;
    await pushImage(
      registry,
      'changes/box',
      'v1',
      buildImage({ layers: [await busyboxLayer(), app], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } }),
    );
    ref = `${registry.host}/changes/box:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
  });

  after(async () => {
    if (agent) await removeAllContainers(conn);
    await runCleanups();
  });

  it('lists what a container changed with sizes and the image layer each change shadows', async () => {
    await cli([
      'run',
      '--name',
      'ch-exited',
      ref,
      'sh',
      '-c',
      'echo extra:x:5:5::/:/bin/sh >> /etc/passwd; rm /etc/motd; echo 12345 > /new.txt',
    ]);
    const r = await conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-exited' });
    assert.equal(r.Running, false);
    assert.equal(r.Seq, 0);
    assert.equal(r.Watch, undefined, 'no watch without a token');
    assert.deepEqual(
      r.ImageLayers.map((l) => [l.index, l.createdBy]),
      [
        [0, 'COPY busybox-rootfs / # berth test image'],
        [1, 'COPY app / # changes test'],
      ],
    );
    assert.equal(r.ImageLayers[1].digest, appLayerDigest);
    // The same rows as container/diff, in the same order.
    const diff = await conn.sendRequest(ContainerDiffRequest.type, { container: 'ch-exited' });
    assert.deepEqual(
      r.Changes.map((c) => [c.Path, c.Kind]),
      diff.map((c) => [c.Path, c.Kind]),
    );
    const passwd = byPath(r.Changes, '/etc/passwd')!;
    const extra = 'extra:x:5:5::/:/bin/sh\n';
    assert.deepEqual(
      { Kind: passwd.Kind, Type: passwd.Type, Size: passwd.Size, Shadows: passwd.Shadows },
      {
        Kind: 0,
        Type: 'file',
        Size: PASSWD.length + extra.length,
        Shadows: { Layer: 0, Type: 'file', Size: PASSWD.length, Digest: sha256Digest(PASSWD) },
      },
    );
    assert.ok(passwd.Mtime > Date.now() - 600_000 && passwd.Mode === 0o644, JSON.stringify(passwd));
    const motd = byPath(r.Changes, '/etc/motd')!;
    assert.deepEqual(
      { Kind: motd.Kind, Type: motd.Type, Size: motd.Size, Shadows: motd.Shadows },
      { Kind: 2, Type: 'deleted', Size: 0, Shadows: { Layer: 1, Type: 'file', Size: MOTD.length, Digest: sha256Digest(MOTD) } },
    );
    const added = byPath(r.Changes, '/new.txt')!;
    assert.deepEqual(
      { Kind: added.Kind, Type: added.Type, Size: added.Size, Shadows: added.Shadows },
      { Kind: 1, Type: 'file', Size: 6, Shadows: undefined },
    );
    assert.equal(byPath(r.Changes, '/etc')?.Shadows?.Layer, 1, '/etc: the top layer that has it');
  });

  it('pushes the changes of a running container as it writes, in order, and follows stop, start and removal', async () => {
    await cli(['run', '-d', '--name', 'ch-live', ref, 'sleep', '600']);
    const notes = new Notes(conn, 'live-1');
    const first = await conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-live', watchToken: 'live-1' });
    assert.equal(first.Running, true);
    assert.equal(first.Watch, 'inotify');
    assert.equal(byPath(first.Changes, '/opt/app/app.conf'), undefined);

    // A changed file of layer 1, in a directory that was not in the writable layer before.
    await sh('ch-live', 'echo mode=dev > /opt/app/app.conf');
    const n1 = await notes.next('app.conf changed', (n) => !!byPath(n.changed, '/opt/app/app.conf'));
    const conf = byPath(n1.changed, '/opt/app/app.conf')!;
    assert.deepEqual(
      { Kind: conf.Kind, Size: conf.Size, Layer: conf.Shadows?.Layer, Digest: conf.Shadows?.Digest },
      { Kind: 0, Size: 9, Layer: 1, Digest: sha256Digest(APP_CONF) },
    );

    // Written again: the same path comes again with its new size (an open editor must refresh).
    const from = notes.all.length;
    await sh('ch-live', 'echo mode=development > /opt/app/app.conf');
    const n2 = await notes.next('app.conf rewritten', (n) => byPath(n.changed, '/opt/app/app.conf')?.Size === 17, from);
    assert.deepEqual(n2.removed, []);

    // Deep new directories are watched as they appear: a write three levels down is seen.
    await sh('ch-live', 'mkdir -p /data/a/b && echo 1 > /data/a/b/one');
    await notes.next('/data/a/b/one added', (n) => byPath(n.changed, '/data/a/b/one')?.Kind === 1);
    const before3 = notes.all.length;
    await sh('ch-live', 'echo 22 > /data/a/b/two');
    await notes.next('/data/a/b/two added', (n) => byPath(n.changed, '/data/a/b/two')?.Size === 3, before3);

    // Added then deleted: the path leaves the list. A deletion of an image file is Kind 2.
    await sh('ch-live', 'rm /data/a/b/one /etc/motd');
    const n4 = await notes.next('one removed', (n) => n.removed.includes('/data/a/b/one'));
    const all4 = notes.all.slice(0, notes.all.indexOf(n4) + 1);
    assert.ok(
      all4.some((n) => byPath(n.changed, '/etc/motd')?.Kind === 2),
      'motd deleted',
    );

    // Notifications come seq by seq, and their sum is the agent's list now.
    assert.deepEqual(
      notes.all.map((n) => n.seq),
      notes.all.map((_, i) => i + 1),
    );
    const mirror = new Map(first.Changes.map((c) => [c.Path, c]));
    for (const n of notes.all) {
      for (const p of n.removed) mirror.delete(p);
      for (const c of n.changed) mirror.set(c.Path, c);
    }
    const now = await conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-live' });
    assert.deepEqual([...mirror.keys()].sort(), now.Changes.map((c) => c.Path).sort());

    // Stopped and started again: the watch goes on (its directories are watched again).
    await cli(['stop', '-t', '1', 'ch-live']);
    await cli(['start', 'ch-live']);
    const before5 = notes.all.length;
    await sh('ch-live', 'echo after-restart > /restarted');
    await notes.next('/restarted added', (n) => byPath(n.changed, '/restarted')?.Kind === 1, before5);

    // A second watch on the same container, on the same connection, with the same token: refused.
    await expectAgentError(
      conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-live', watchToken: 'live-1' }),
      ErrorCode.Conflict,
      /watch token "live-1" is in use/,
    );

    // Removal ends the watch with a last notification.
    await cli(['rm', '-f', 'ch-live']);
    const gone = await notes.next('gone', (n) => n.gone === true);
    assert.equal(gone.container, first.Id);
  });

  it('stops sending after unwatch, and after the connection closes', async () => {
    await cli(['run', '-d', '--name', 'ch-quiet', ref, 'sleep', '600']);
    const notes = new Notes(conn, 'quiet');
    await conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-quiet', watchToken: 'quiet' });
    await sh('ch-quiet', 'echo 1 > /one');
    await notes.next('/one', (n) => !!byPath(n.changed, '/one'));
    await conn.sendRequest(UnwatchContainerChangesRequest.type, { watchToken: 'quiet' });
    await conn.sendRequest(UnwatchContainerChangesRequest.type, { watchToken: 'quiet' }); // again: not an error
    const count = notes.all.length;
    // A second watcher on another connection still gets the next write; the first does not.
    const other = await agent.connect();
    const otherNotes = new Notes(other, 'other');
    await other.sendRequest(ContainerChangesRequest.type, { container: 'ch-quiet', watchToken: 'other' });
    await sh('ch-quiet', 'echo 2 > /two');
    await otherNotes.next('/two on the other connection', (n) => !!byPath(n.changed, '/two'));
    assert.equal(notes.all.length, count, 'nothing after unwatch');
    other.dispose();
    // The agent keeps serving (the closed connection's watch is dropped without errors).
    await sh('ch-quiet', 'echo 3 > /three');
    const r = await conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-quiet' });
    assert.ok(byPath(r.Changes, '/three'));
  });

  it('refuses hostile parameters with clear errors', async () => {
    await expectAgentError(
      conn.sendRequest(ContainerChangesRequest.type, { container: 'no-such' }),
      ErrorCode.NotFound,
      /container changes: no such container: no-such/,
    );
    await expectAgentError(
      conn.sendRequest(ContainerChangesRequest.type, { container: 'no-such', watchToken: 'x' }),
      ErrorCode.NotFound,
      /no such container/,
    );
    await expectAgentError(
      conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-exited', watchToken: 'x'.repeat(257) }),
      ErrorCode.InvalidArgument,
      /"watchToken" must be/,
    );
    await expectAgentError(
      conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-exited', watchToken: 5 as unknown as string }),
      ErrorCode.InvalidArgument,
      /"watchToken" must be a string/,
    );
    await expectAgentError(
      conn.sendRequest(UnwatchContainerChangesRequest.type, {} as { watchToken: string }),
      ErrorCode.InvalidArgument,
      /"watchToken" must be a non-empty string/,
    );
  });

  it('never follows a symlink the container plants in its writable layer', async () => {
    await cli(['run', '-d', '--name', 'ch-links', ref, 'sleep', '600']);
    const notes = new Notes(conn, 'links');
    await conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-links', watchToken: 'links' });
    // A directory swapped for a link to the host's /etc: listed as a symlink, nothing below it.
    await sh('ch-links', 'mkdir /d && echo x > /d/f && rm -rf /d && ln -s /etc /d');
    const n = await notes.next('/d as a symlink', (x) => byPath(x.changed, '/d')?.Type === 'symlink');
    assert.ok(n);
    const r = await conn.sendRequest(ContainerChangesRequest.type, { container: 'ch-links' });
    assert.deepEqual(
      r.Changes.filter((c) => c.Path.startsWith('/d/')),
      [],
    );
  });
});
