/**
 * Volumes end to end: a real agent (the built bundle), images pushed to a real registry, real
 * containers. Named volumes (-v name:/path[:ro]) persist across containers and are seeded from the
 * image (the merged view: whiteouts and opaque dirs honoured, owners kept); anonymous volumes for
 * the image's Volumes (removed by rm -v, else kept); `berth volume` verbs; events; name checks.
 * Every container and volume is removed in cleanup.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  CreateVolumeRequest,
  ErrorCode,
  EventNotification,
  InspectContainerRequest,
  ListContainersRequest,
  ListVolumesRequest,
  PullRequest,
  RemoveContainerRequest,
  RemoveVolumeRequest,
  SubscribeRequest,
  type BerthEvent,
  type ContainerSummary,
  type Volume,
} from '../../protocol';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { expectAgentError, ok } from '../support/expect';
import { busyboxImage, featureImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';

describe('volumes', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;
  let box: string;
  let feat: string;
  let conn: MessageConnection;
  const events: BerthEvent[] = [];
  const cli = (args: string[]) => berth(args, env, 60_000);

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    await pushImage(registry, 'x/box', 'v1', await busyboxImage());
    await pushImage(registry, 'x/feat', 'v1', await featureImage());
    box = `${registry.host}/x/box:v1`;
    feat = `${registry.host}/x/feat:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: box });
    await conn.sendRequest(PullRequest.type, { reference: feat });
    conn.onNotification(EventNotification.type, (e) => void events.push(e));
    await conn.sendRequest(SubscribeRequest.type, { types: ['volume'] });
  });

  after(async () => {
    if (agent && conn) {
      for (const c of (await conn.sendRequest(ListContainersRequest.type, { all: true }).catch(() => [])) as ContainerSummary[]) {
        await conn.sendRequest(RemoveContainerRequest.type, { container: c.Id, force: true, volumes: true }).catch(() => undefined);
      }
      for (const v of (await conn.sendRequest(ListVolumesRequest.type, {}).catch(() => [])) as Volume[]) {
        await conn.sendRequest(RemoveVolumeRequest.type, { name: v.Name }).catch(() => undefined);
      }
    }
    await runCleanups();
  });

  it('data written by one container is read by the next; volume events; inspect shapes', async () => {
    ok(await cli(['run', '--rm', '-v', 'shared:/data', box, 'sh', '-c', 'echo persisted > /data/f']), 'writer');
    const r = ok(await cli(['run', '--name', 'reader', '-v', 'shared:/data', box, 'cat', '/data/f']), 'reader');
    assert.equal(r.stdout, 'persisted\n');
    const v = JSON.parse(ok(await cli(['volume', 'inspect', 'shared']), 'inspect').stdout) as Volume[];
    assert.equal(v[0].Name, 'shared');
    assert.equal(v[0].Driver, 'local');
    assert.equal(v[0].Scope, 'local');
    assert.match(v[0].Mountpoint, /\/volumes\/shared\/_data$/);
    assert.ok(existsSync(v[0].Mountpoint));
    const c = await conn.sendRequest(InspectContainerRequest.type, { container: 'reader' });
    assert.deepEqual(c.Mounts, [
      { Type: 'volume', Name: 'shared', Source: v[0].Mountpoint, Destination: '/data', Driver: 'local', RW: true },
    ]);
    const mine = events.filter((e) => e.Actor.ID === 'shared').map((e) => e.Action);
    assert.deepEqual(mine.slice(0, 3), ['create', 'mount', 'unmount']);
    assert.ok(mine.filter((a) => a === 'mount').length >= 2);
  });

  it('a new volume is seeded from the merged image view: whiteouts, opaque dirs, owners', async () => {
    const script =
      'ls /srv/opaque; test -e /srv/gone || echo gone-absent; test -e /srv/gonedir || echo gonedir-absent; cat /srv/changed; ls -ln /srv/links/ | grep -c -- "->"; cat /srv/typechange/file';
    const r = ok(await cli(['run', '--rm', '-v', 'seeded:/srv', feat, 'sh', '-c', script]), 'seeded');
    assert.equal(r.stdout, 'new\ngone-absent\ngonedir-absent\nv2 changed\n4\nnow a dir\n');
    const own = ok(
      await cli(['run', '--rm', '-v', 'homes:/home/app', feat, 'sh', '-c', 'stat -c "%u:%g %a" /home/app/private /home/app/owned']),
      'owners',
    );
    assert.equal(own.stdout, '1000:1000 700\n1000:1000 640\n');
    // An existing volume is not seeded again: the container's change stays.
    ok(await cli(['run', '--rm', '-v', 'seeded:/srv', feat, 'rm', '/srv/changed']), 'change');
    const again = await cli([
      'run',
      '--rm',
      '-v',
      'seeded:/srv',
      feat,
      'sh',
      '-c',
      'test -e /srv/changed && echo there || echo still-gone',
    ]);
    assert.equal(again.stdout, 'still-gone\n');
  });

  it(':ro mounts read-only', async () => {
    const r = await cli(['run', '--rm', '-v', 'shared:/data:ro', box, 'sh', '-c', 'cat /data/f; echo x > /data/g']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /persisted/);
    assert.match(r.stderr, /Read-only file system/i);
  });

  it('a volume in use cannot be removed; prune removes only unused ones', async () => {
    const rm = await cli(['volume', 'rm', 'shared']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /in use by container reader/);
    await expectAgentError(conn.sendRequest(RemoveVolumeRequest.type, { name: 'shared' }), ErrorCode.Conflict, /in use/);
    ok(await cli(['volume', 'create', '--label', 'k=v', 'spare']), 'create');
    const ls = JSON.parse(ok(await cli(['volume', 'ls', '--format', 'json']), 'ls').stdout) as Volume[];
    assert.ok(ls.some((v) => v.Name === 'spare' && v.Labels.k === 'v'));
    // As in Docker 23+: named volumes stay unless -a.
    const anon = JSON.parse(ok(await cli(['volume', 'prune', '-f', '--format', 'json']), 'prune').stdout) as { VolumesDeleted: string[] };
    assert.ok(!anon.VolumesDeleted.includes('spare') && !anon.VolumesDeleted.includes('seeded'), JSON.stringify(anon));
    const pr = JSON.parse(ok(await cli(['volume', 'prune', '-a', '-f', '--format', 'json']), 'prune -a').stdout) as {
      VolumesDeleted: string[];
    };
    assert.ok(pr.VolumesDeleted.includes('spare'));
    assert.ok(pr.VolumesDeleted.includes('seeded'));
    assert.ok(!pr.VolumesDeleted.includes('shared'));
    ok(await cli(['rm', 'reader']), 'rm reader');
    ok(await cli(['volume', 'rm', 'shared']), 'volume rm');
    assert.ok(events.some((e) => e.Actor.ID === 'shared' && e.Action === 'destroy'));
  });

  it("anonymous volumes for the image's Volumes: kept dangling by rm, removed by rm -v", async () => {
    ok(await cli(['create', '--name', 'anon1', feat, 'true']), 'create anon1');
    const c1 = await conn.sendRequest(InspectContainerRequest.type, { container: 'anon1' });
    assert.equal(c1.Mounts.length, 1);
    const m1 = c1.Mounts[0] as { Type: string; Name: string; Destination: string };
    assert.equal(m1.Type, 'volume');
    assert.equal(m1.Destination, '/data');
    assert.match(m1.Name, /^[0-9a-f]{64}$/);
    ok(await cli(['rm', 'anon1']), 'rm');
    const names = (await conn.sendRequest(ListVolumesRequest.type, {})).map((v) => v.Name);
    assert.ok(names.includes(m1.Name), 'kept dangling');
    ok(await cli(['create', '--name', 'anon2', feat, 'true']), 'create anon2');
    const m2 = (await conn.sendRequest(InspectContainerRequest.type, { container: 'anon2' })).Mounts[0] as { Name: string; Source: string };
    ok(await cli(['rm', '-v', 'anon2']), 'rm -v');
    assert.ok(!(await conn.sendRequest(ListVolumesRequest.type, {})).some((v) => v.Name === m2.Name));
    assert.ok(!existsSync(m2.Source));
    // -v over the image's volume path: no anonymous one.
    ok(await cli(['create', '--name', 'anon3', '-v', 'over:/data', feat, 'true']), 'create anon3');
    const m3 = (await conn.sendRequest(InspectContainerRequest.type, { container: 'anon3' })).Mounts;
    assert.deepEqual(
      m3.map((m) => (m as { Name: string }).Name),
      ['over'],
    );
  });

  it('names are validated: no path traversal', async () => {
    for (const name of ['../etc', 'a/b', '.hidden', 'x', '-x']) {
      await expectAgentError(conn.sendRequest(CreateVolumeRequest.type, { name }), ErrorCode.InvalidArgument, /invalid volume name/);
    }
    const r = await cli(['run', '--rm', '-v', 'a/../b:/data', box, 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid/);
    assert.ok(statSync(agent.root).isDirectory());
  });
});
