/**
 * The container verbs that read or turn the writable layer (diff, commit), plus top, stats,
 * restart and prune: a real agent (the built bundle), a busybox image from a real registry, real
 * containers, driven through the `berth` CLI and the protocol. Committed images are run again and
 * handed to podman. Every container is removed and the agent stopped in cleanup.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  CommitContainerRequest,
  ContainerDiffRequest,
  ContainerStatsRequest,
  ContainerTopRequest,
  ErrorCode,
  EventNotification,
  InspectContainerRequest,
  InspectImageRequest,
  ListContainersRequest,
  PruneImagesRequest,
  PullRequest,
  RemoveContainerRequest,
  SubscribeRequest,
  type BerthEvent,
  type ContainerInspect,
  type ContainerSummary,
  type ImageInspect,
} from '../../protocol';
import { native } from '../../native';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { expectAgentError, ok } from '../support/expect';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { makeTempDir, requireTools, runCleanups, podman } from '../support/tmp';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a container sees under /srv: every path with type+mode, size, owner; then file contents. */
const VIEW =
  'cd /srv && find . | sort | while read f; do stat -c "%n %A %s %u:%g" "$f"; done; for f in $(find . -type f | sort); do echo "== $f"; cat "$f"; done';

describe('containers: diff, commit, top, stats, restart, prune', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  let conn: MessageConnection;
  const events: BerthEvent[] = [];

  const cli = async (args: string[], timeoutMs = 60_000) => berth(args, env, timeoutMs);
  const inspect = (id: string) => conn.sendRequest(InspectContainerRequest.type, { container: id }) as Promise<ContainerInspect>;
  const inspectImage = (r: string) => conn.sendRequest(InspectImageRequest.type, { reference: r }) as Promise<ImageInspect>;

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip', 'podman']);
    registry = await startRegistry();
    await pushImage(registry, 'more/box', 'v1', await busyboxImage());
    ref = `${registry.host}/more/box:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
    conn.onNotification(EventNotification.type, (e) => events.push(e));
    await conn.sendRequest(SubscribeRequest.type, {});
  });

  after(async () => {
    if (agent && conn) {
      for (const c of (await conn.sendRequest(ListContainersRequest.type, { all: true }).catch(() => [])) as ContainerSummary[]) {
        await conn.sendRequest(RemoveContainerRequest.type, { container: c.Id, force: true }).catch(() => undefined);
      }
    }
    await runCleanups();
  });

  it("diff and commit: added, changed, deleted, opaque dirs, hardlinks, xattrs; the new image sees the container's view", async () => {
    // Step 1: a container adds files; its commit is the base of step 2.
    const setup =
      'mkdir -p /srv/x/sub && echo a > /srv/x/a && echo c > /srv/x/sub/c && echo orig > /srv/keep && echo gone > /srv/gone && ln /srv/keep /srv/hard';
    ok(await cli(['run', '--name', 'c1', ref, 'sh', '-c', setup]), 'run c1');
    const d1 = ok(await cli(['diff', 'c1']), 'diff c1')
      .stdout.split('\n')
      .filter((l) => l.includes(' /srv'));
    assert.deepEqual(d1, [
      'A /srv',
      'A /srv/gone',
      'A /srv/hard',
      'A /srv/keep',
      'A /srv/x',
      'A /srv/x/a',
      'A /srv/x/sub',
      'A /srv/x/sub/c',
    ]);
    const base = ok(await cli(['commit', 'c1', 'more/base:1']), 'commit c1').stdout.trim();
    assert.match(base, /^sha256:[0-9a-f]{64}$/);

    // Step 2: change, delete, replace a dir wholesale (opaque), add with setuid.
    const work = `rm -rf /srv/x && mkdir /srv/x && touch /srv/x/new && echo changed > /srv/keep && rm /srv/gone && echo added > /srv/added && chown 12:34 /srv/added && chmod 4750 /srv/added; ${VIEW}`;
    const c2 = ok(await cli(['run', '--name', 'c2', 'more/base:1', 'sh', '-c', work]), 'run c2');
    const containerView = c2.stdout;
    assert.match(containerView, /\.\/added -rwsr-x--- 6 12:34/);
    const changes = await conn.sendRequest(ContainerDiffRequest.type, { container: 'c2' });
    assert.deepEqual(
      changes.filter((c) => c.Path.startsWith('/srv')),
      [
        { Path: '/srv', Kind: 0 },
        { Path: '/srv/added', Kind: 1 },
        { Path: '/srv/gone', Kind: 2 },
        { Path: '/srv/keep', Kind: 0 },
        { Path: '/srv/x', Kind: 0 },
        { Path: '/srv/x/a', Kind: 2 },
        { Path: '/srv/x/new', Kind: 1 },
        { Path: '/srv/x/sub', Kind: 2 },
      ],
    );
    const cliDiff = ok(await cli(['diff', 'c2']), 'diff c2').stdout;
    assert.match(
      cliDiff,
      /^C \/srv\nA \/srv\/added\nD \/srv\/gone\nC \/srv\/keep\nC \/srv\/x\nD \/srv\/x\/a\nA \/srv\/x\/new\nD \/srv\/x\/sub\n/m,
    );
    assert.deepEqual(JSON.parse(ok(await cli(['diff', '--format', 'json', 'c2']), 'diff json').stdout), changes);
    // An xattr set on the upper dir from the host must survive the commit.
    const c2info = await inspect('c2');
    native().lsetxattr(join(c2info.GraphDriver.Data.UpperDir, 'srv/added'), 'user.berth', Buffer.from('hello'));

    events.length = 0;
    const id = ok(
      await cli([
        'commit',
        '-m',
        'the second step',
        '-a',
        'Tester <t@example.org>',
        '-c',
        'ENV FOO=bar',
        '-c',
        'CMD ["sh", "-c", "echo from-cmd $FOO"]',
        'c2',
        'more/committed:2',
      ]),
      'commit c2',
    ).stdout.trim();
    const img = await inspectImage('more/committed:2');
    assert.equal(img.Id, id);
    assert.equal(img.Author, 'Tester <t@example.org>');
    assert.ok(img.Config.Env.includes('FOO=bar'));
    assert.equal(img.RootFS.Layers.length, (await inspectImage('more/base:1')).RootFS.Layers.length + 1);
    const hist = JSON.parse(ok(await cli(['history', '--format', 'json', 'more/committed:2']), 'history').stdout) as {
      CreatedBy: string;
      Comment: string;
    }[];
    assert.equal(hist[0].CreatedBy, 'berth commit c2');
    assert.equal(hist[0].Comment, 'the second step');
    await sleep(100);
    assert.ok(
      events.some((e) => e.Type === 'container' && e.Action === 'commit' && e.Actor.Attributes.imageID === id),
      JSON.stringify(events),
    );
    assert.ok(events.some((e) => e.Type === 'image' && e.Action === 'tag' && e.Actor.ID === id));

    // The stored top layer: a whiteout, an opaque dir, the xattr, no overlay xattrs leaked.
    const top = img.Berth.Layers[img.Berth.Layers.length - 1].Path;
    assert.ok(lstatSync(join(top, 'srv/gone')).isCharacterDevice());
    assert.equal(native().lgetxattr(join(top, 'srv/x'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(native().lgetxattr(join(top, 'srv/added'), 'user.berth')?.toString(), 'hello');
    assert.equal(lstatSync(join(top, 'srv/added')).mode & 0o7777, 0o4750);

    // Run the new image: exactly the container's view, and the changed config.
    const again = ok(await cli(['run', '--rm', 'more/committed:2', 'sh', '-c', VIEW]), 'run committed');
    assert.equal(again.stdout, containerView);
    assert.equal(ok(await cli(['run', '--rm', 'more/committed:2']), 'run with CMD').stdout, 'from-cmd bar\n');

    // `berth save` + podman load: same image ID and layers.
    const dir = await makeTempDir('berth-commit-');
    ok(await cli(['save', '-o', join(dir, 'c.tar'), 'more/committed:2']), 'save');
    await podman(dir, ['load', '-i', join(dir, 'c.tar')]);
    const pinfo = JSON.parse((await podman(dir, ['image', 'inspect', 'more/committed:2'])).toString()) as {
      Id: string;
      RootFS: { Layers: string[] };
    }[];
    assert.equal(`sha256:${pinfo[0].Id}`, id);
    assert.deepEqual(pinfo[0].RootFS.Layers, img.RootFS.Layers);

    // Bad input.
    await expectAgentError(
      conn.sendRequest(ContainerDiffRequest.type, { container: 'nosuch' }),
      ErrorCode.NotFound,
      /no such container: nosuch/,
    );
    const badChange = await cli(['commit', '-c', 'FROM x', 'c2']);
    assert.equal(badChange.code, 1);
    assert.match(badChange.stderr, /FROM is not one of/);
    await expectAgentError(
      conn.sendRequest(CommitContainerRequest.type, { container: 'c2', reference: 'a@sha256:' + '0'.repeat(64) }),
      ErrorCode.InvalidReference,
    );
  });

  it('commit of a running container pauses it and it keeps running', async () => {
    const r = ok(await cli(['run', '-d', '--name', 'live', ref, 'sh', '-c', 'echo hi > /hi; while :; do sleep 1; done']), 'run -d live');
    const id = r.stdout.trim();
    const out = await conn.sendRequest(CommitContainerRequest.type, { container: 'live', reference: 'more/live:1' });
    assert.match(out.Id, /^sha256:/);
    assert.equal((await inspect(id)).State.Status, 'running');
    assert.equal(readFileSync(`/sys/fs/cgroup/freezer/berth/${id}/freezer.state`, 'utf8').trim(), 'THAWED');
    ok(await cli(['rm', '-f', 'live']), 'rm -f live');
  });

  it('top, stats, restart', async () => {
    const id = ok(
      await cli(['run', '-d', '--name', 'busy', '--cpus', '0.5', '--memory', '64m', ref, 'sh', '-c', 'sleep 600 & while :; do :; done']),
      'run -d busy',
    ).stdout.trim();
    const t = ok(await cli(['top', 'busy']), 'top').stdout.split('\n');
    assert.match(t[0], /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    const sleepRow = t.find((l) => l.endsWith('sleep 600'));
    assert.ok(sleepRow, t.join('\n'));
    const pid = Number(sleepRow.split(/\s+/)[1]);
    assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`berth/${id}`), 'host pids of the container');
    const topJson = await conn.sendRequest(ContainerTopRequest.type, { container: id });
    assert.deepEqual(topJson.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.ok(topJson.Processes.length >= 2);
    assert.ok(topJson.Processes.every((p) => p[0] === 'root' && p[5] === '?'));

    const stats = await conn.sendRequest(ContainerStatsRequest.type, { containers: ['busy'] });
    assert.equal(stats.length, 1);
    assert.equal(stats[0].MemLimit, 64 * 1024 * 1024);
    assert.ok(stats[0].MemUsage > 0 && stats[0].Pids >= 2, JSON.stringify(stats));
    assert.ok(stats[0].CPUPercent > 20 && stats[0].CPUPercent < 70, `a spinning shell limited to 0.5 CPU: ${stats[0].CPUPercent}%`);
    const st = ok(await cli(['stats', '--no-stream']), 'stats').stdout.split('\n');
    assert.match(st[0], /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+PIDS$/);
    assert.match(st.find((l) => l.startsWith(id.slice(0, 12)))!, /busy\s+[0-9.]+%\s+[0-9.]+[KMG]?i?B \/ 64(\.00)?MiB\s+[0-9.]+%\s+\d+$/);
    const sj = JSON.parse(ok(await cli(['stats', '--no-stream', '--format', 'json', 'busy']), 'stats json').stdout) as { Id: string }[];
    assert.equal(sj[0].Id, id);

    const before = await inspect(id);
    events.length = 0;
    assert.equal(ok(await cli(['restart', '-t', '1', 'busy']), 'restart').stdout, 'busy\n');
    const afterRestart = await inspect(id);
    assert.equal(afterRestart.State.Status, 'running');
    assert.notEqual(afterRestart.State.Pid, before.State.Pid);
    assert.notEqual(afterRestart.State.StartedAt, before.State.StartedAt);
    await sleep(100);
    assert.deepEqual(
      events
        .filter((e) => e.Type === 'container')
        .map((e) => e.Action)
        .filter((a) => a !== 'kill'),
      ['die', 'stop', 'start', 'restart'],
    );

    ok(await cli(['stop', '-t', '0', 'busy']), 'stop');
    const notRunning = await cli(['top', 'busy']);
    assert.equal(notRunning.code, 1);
    assert.match(notRunning.stderr, /^Error: top container: container busy is not running\n$/);
    await expectAgentError(conn.sendRequest(ContainerStatsRequest.type, { containers: ['busy'] }), ErrorCode.Conflict);
    await expectAgentError(conn.sendRequest(ContainerStatsRequest.type, { intervalMs: 60_000 }), ErrorCode.InvalidArgument);
  });

  it('container prune and image prune', async () => {
    ok(await cli(['create', '--name', 'p1', ref, 'true']), 'create p1');
    ok(await cli(['run', '--name', 'p2', ref, 'sh', '-c', 'dd if=/dev/zero of=/big bs=1024 count=100 2>/dev/null']), 'run p2');
    const running = ok(await cli(['run', '-d', '--name', 'p3', ref, 'sleep', '600']), 'run p3').stdout.trim();
    const p2 = (await inspect('p2')).Id;
    // A dangling image: committed without a tag.
    const dangling = ok(await cli(['commit', 'p2']), 'commit p2').stdout.trim();

    const refused = await cli(['container', 'prune']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /stdin is not a terminal.*--force/);
    assert.ok(existsSync(join(agent.root, 'containers', p2)), 'nothing removed without --force');

    events.length = 0;
    const res = JSON.parse(ok(await cli(['container', 'prune', '-f', '--format', 'json']), 'container prune').stdout) as {
      Deleted: string[];
      SpaceReclaimed: number;
    };
    assert.ok(res.Deleted.includes(p2));
    assert.ok(!res.Deleted.includes(running), 'the running container stays');
    assert.ok(res.SpaceReclaimed >= 100 * 1024, `reclaimed ${res.SpaceReclaimed}`);
    const left = ((await conn.sendRequest(ListContainersRequest.type, { all: true })) as ContainerSummary[]).map((c) => c.Id);
    assert.deepEqual(left, [running], JSON.stringify(res));
    await sleep(100);
    assert.ok(events.some((e) => e.Type === 'container' && e.Action === 'destroy' && e.Actor.ID === p2));
    const text = ok(await cli(['container', 'prune', '-f']), 'container prune again').stdout;
    assert.equal(text, 'Total reclaimed space: 0B\n');

    const imgs = await conn.sendRequest(PruneImagesRequest.type, {});
    assert.ok(imgs.Deleted.includes(dangling), JSON.stringify(imgs));
    assert.ok(imgs.SpaceReclaimed >= 100 * 1024, `reclaimed ${imgs.SpaceReclaimed}`);
    await expectAgentError(inspectImage(dangling), ErrorCode.NotFound);
    await inspectImage(ref); // tagged and in use: kept
    const again = ok(await cli(['image', 'prune', '-f']), 'image prune').stdout;
    assert.equal(again, 'Total reclaimed space: 0B\n');
    ok(await cli(['rm', '-f', 'p3']), 'rm p3');
  });
});
