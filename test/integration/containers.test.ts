/**
 * The container lifecycle end to end: a real agent (the built bundle) on a real socket, a busybox
 * image pushed to a real registry and pulled, real containers on the real kernel. Driven over the
 * protocol and through the `berth` CLI. Every container is removed (rm -f) and the agents stopped
 * in cleanup; the checks at the end prove no container directory, cgroup or process was left.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CreateContainerRequest,
  ErrorCode,
  EventNotification,
  InspectContainerRequest,
  PullRequest,
  RemoveContainerRequest,
  StartContainerRequest,
  SubscribeRequest,
  WaitContainerRequest,
  type BerthEvent,
  type ContainerInspect,
  type ContainerSummary,
} from '../../protocol';
import { berth, startAgent } from '../support/agent';
import { expectAgentError, ok } from '../support/expect';
import { containerSuite } from '../support/suite';
import { makeTempDir, alive } from '../support/tmp';
import { cgroupLeft } from '../support/containers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('containers', () => {
  const s = containerSuite({ repo: 'c/box', cliTimeoutMs: 60_000 });
  const { cli, track } = s;
  const pids = new Set<number>();

  const inspect = (id: string) => s.conn.sendRequest(InspectContainerRequest.type, { container: id }) as Promise<ContainerInspect>;
  const runD = async (args: string[]): Promise<string> => {
    const r = ok(await cli(['run', '-d', ...args]), `run -d ${args.join(' ')}`);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    track(id);
    pids.add((await inspect(id)).State.Pid);
    return id;
  };

  // After the suite's own teardown (agent stopped, cgroups checked).
  after(() => {
    for (const pid of pids)
      assert.ok(!alive(pid) || !readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes('/berth/'), `container process ${pid} is gone`);
  });

  it('run propagates the exit code, prints stdout and stderr apart, --rm removes it', async () => {
    const r = await cli(['run', '--rm', s.ref, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    const all = ok(await cli(['ps', '-a', '-q']), 'ps -a -q');
    assert.equal(all.stdout, '', 'the --rm container is gone');
    const hello = await cli(['run', '--rm', s.ref, 'echo', 'hello', 'world']);
    assert.equal(hello.code, 0);
    assert.equal(hello.stdout, 'hello world\n');
  });

  it('-d, ps, logs, stop with the stop signal first, start with the upper layer kept, rm', async () => {
    const script =
      'test -f /keep && echo found-keep; echo kept > /keep; trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 1; done';
    const id = await runD(['--name', 'lifecycle', s.ref, 'sh', '-c', script]);
    const ps = ok(await cli(['ps']), 'ps');
    const rows = ps.stdout.trim().split('\n');
    assert.match(rows[0], /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    const row = rows.find((l) => l.startsWith(id.slice(0, 12)));
    assert.ok(row, ps.stdout);
    assert.match(row, /\s+Up (Less than a second|\d+ seconds?)\s+lifecycle$/);
    await until('ready in the logs', async () => (await cli(['logs', 'lifecycle'])).stdout.includes('ready'));

    const stop = ok(await cli(['stop', '-t', '5', 'lifecycle']), 'stop');
    assert.equal(stop.stdout, 'lifecycle\n');
    const st = await inspect(id);
    assert.equal(st.State.Status, 'exited');
    assert.equal(st.State.ExitCode, 0, 'the trap ran: SIGTERM arrived before any SIGKILL');
    assert.equal(ok(await cli(['logs', id]), 'logs').stdout, 'ready\ngot-term\n');
    assert.match(ok(await cli(['ps', '-a']), 'ps -a').stdout, /Exited \(0\) (Less than a second|\d+ seconds?) ago\s+lifecycle/);
    assert.deepEqual(cgroupLeft(id), [], 'a stopped container has no cgroup');

    ok(await cli(['start', 'lifecycle']), 'start again');
    pids.add((await inspect(id)).State.Pid);
    await until('the second run is ready', async () => (await cli(['logs', 'lifecycle'])).stdout.split('ready').length === 3);
    assert.match((await cli(['logs', 'lifecycle'])).stdout, /got-term\nfound-keep\nready\n/);
    const tail = ok(await cli(['logs', '--tail', '1', 'lifecycle']), 'logs --tail 1');
    assert.equal(tail.stdout, 'ready\n');

    const running = await cli(['rm', 'lifecycle']);
    assert.equal(running.code, 1);
    assert.match(running.stderr, /^Error: remove container: container lifecycle is running; stop it first or use --force\n$/);
    await expectAgentError(s.conn.sendRequest(RemoveContainerRequest.type, { container: id }), ErrorCode.Conflict);

    const pid = (await inspect(id)).State.Pid;
    ok(await cli(['rm', '-f', 'lifecycle']), 'rm -f');
    assert.ok(!existsSync(join(s.agent.root, 'containers', id)), 'the container directory is gone');
    assert.deepEqual(cgroupLeft(id), []);
    await until('the process is gone', () => !alive(pid));
    await expectAgentError(inspect(id), ErrorCode.NotFound, /no such container/);
  });

  it('env, workdir, user by name and number, hostname, entrypoint', async () => {
    const r = await cli([
      'run',
      '--rm',
      '-e',
      'FOO=bar',
      '-e',
      'PATH=/bin',
      '-w',
      '/tmp',
      '-u',
      'app',
      '--hostname',
      'box1',
      s.ref,
      'sh',
      '-c',
      'echo $FOO $PATH $HOME; pwd; id -u; id -g; hostname; cat /etc/hostname',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'bar /bin /home/app\n/tmp\n1000\n1000\nbox1\nbox1\n');
    const n = await cli(['run', '--rm', '-u', '1234:55', s.ref, 'id']);
    assert.equal(n.stdout, 'uid=1234 gid=55\n', n.stderr);
    const e = await cli(['run', '--rm', '--entrypoint', 'echo', s.ref, 'via', 'entrypoint']);
    assert.equal(e.stdout, 'via entrypoint\n');
    const nouser = await cli(['run', '--rm', '-u', 'nosuch', s.ref, 'true']);
    assert.equal(nouser.code, 1);
    assert.match(nouser.stderr, /unable to find user nosuch/);
    const nodir = await cli(['run', '--rm', '-w', '/nope', s.ref, 'true']);
    assert.match(nodir.stderr, /the working directory "\/nope" does not exist/);
    assert.equal(ok(await cli(['ps', '-a', '-q']), 'ps').stdout, '', 'refused creates leave nothing');
  });

  it('bind mounts, read-only and read-write', async () => {
    const host = await makeTempDir('berth-bind-');
    mkdirSync(join(host, 'rw'));
    mkdirSync(join(host, 'ro'));
    writeFileSync(join(host, 'ro', 'f'), 'from-host\n');
    const r = await cli([
      'run',
      '--rm',
      '-v',
      `${join(host, 'rw')}:/rw`,
      '-v',
      `${join(host, 'ro')}:/ro:ro`,
      s.ref,
      'sh',
      '-c',
      'cat /ro/f; echo written > /rw/out; touch /ro/x 2>/dev/null && echo ro-writable; exit 0',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from-host\n');
    assert.equal(readFileSync(join(host, 'rw', 'out'), 'utf8'), 'written\n');
    const missing = await cli(['run', '--rm', '-v', '/nonexistent-berth:/x', s.ref, 'true']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /bind source path does not exist: \/nonexistent-berth/);
  });

  it('a memory limit: the OOM kill is reported (137, OOMKilled, oom then die)', async () => {
    const events: BerthEvent[] = [];
    const c2 = await s.agent.connect();
    c2.onNotification(EventNotification.type, (e) => events.push(e));
    await c2.sendRequest(SubscribeRequest.type, { types: ['container'] });
    const { Id } = await s.conn.sendRequest(CreateContainerRequest.type, {
      image: s.ref,
      memory: 16 * 1024 * 1024,
      cmd: ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'],
    });
    track(Id);
    const waited = s.conn.sendRequest(WaitContainerRequest.type, { container: Id, condition: 'next-exit' });
    await s.conn.sendRequest(StartContainerRequest.type, { container: Id });
    const w = await waited;
    assert.equal(w.OOMKilled, true);
    const st = await inspect(Id);
    assert.equal(st.State.OOMKilled, true);
    assert.equal(st.HostConfig.Memory, 16 * 1024 * 1024);
    // The hog is a child of sh (pid 1): sh reports its death; the kernel may kill sh as well.
    assert.ok([137, 1, 2, 0].includes(st.State.ExitCode) || st.State.ExitCode > 128, `exit ${st.State.ExitCode}`);
    await until('oom and die events', () => events.some((e) => e.Actor.ID === Id && e.Action === 'die'));
    const mine = events.filter((e) => e.Actor.ID === Id).map((e) => e.Action);
    assert.deepEqual(mine, ['create', 'start', 'oom', 'die']);
    await s.conn.sendRequest(RemoveContainerRequest.type, { container: Id });
  });

  it('a memory hog as pid 1 exits 137 with OOMKilled', async () => {
    const r = await cli(['run', '--name', 'oom1', '--memory', '16m', s.ref, 'tail', '/dev/zero']);
    assert.equal(r.code, 137, r.stderr);
    const st = JSON.parse(ok(await cli(['inspect', 'oom1']), 'inspect').stdout) as ContainerInspect[];
    assert.equal(st[0].State.OOMKilled, true);
    assert.equal(st[0].State.ExitCode, 137);
    ok(await cli(['rm', 'oom1']), 'rm');
  });

  it('a pids limit stops a fork bomb', async () => {
    const r = await cli([
      'run',
      '--rm',
      '--pids-limit',
      '8',
      s.ref,
      'sh',
      '-c',
      'i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; echo started',
    ]);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable|fork/i, r.stderr);
  });

  it('name conflicts, bad names, unknown containers', async () => {
    const id = await runD(['--name', 'dup', s.ref, 'sleep', '60']);
    const again = await cli(['run', '-d', '--name', 'dup', s.ref, 'true']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /the container name "\/dup" is already in use by container [0-9a-f]{12}/);
    await expectAgentError(s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, name: 'dup' }), ErrorCode.Conflict);
    await expectAgentError(
      s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, name: 'a b' }),
      ErrorCode.InvalidArgument,
      /invalid container name/,
    );
    await expectAgentError(s.conn.sendRequest(CreateContainerRequest.type, { image: 'nosuch:v1' }), ErrorCode.NotFound, /no such image/);
    await expectAgentError(inspect('nosuch'), ErrorCode.NotFound);
    // sleep as pid 1 has no SIGTERM handler, so the kernel drops TERM: KILL (the default) it is.
    const k = ok(await cli(['kill', 'dup']), 'kill');
    assert.equal(k.stdout, 'dup\n');
    const w = ok(await cli(['wait', 'dup']), 'wait');
    assert.equal(w.stdout, '137\n');
    const notRunning = await cli(['kill', 'dup']);
    assert.equal(notRunning.code, 1);
    assert.match(notRunning.stderr, /container dup is not running/);
    ok(await cli(['rm', id]), 'rm');
  });

  it('events of a container: create, start, die (exitCode), destroy', async () => {
    const events: BerthEvent[] = [];
    const c2 = await s.agent.connect();
    c2.onNotification(EventNotification.type, (e) => events.push(e));
    await c2.sendRequest(SubscribeRequest.type, {});
    const r = await cli(['run', '--name', 'evented', s.ref, 'sh', '-c', 'exit 7']);
    assert.equal(r.code, 7);
    const [row] = JSON.parse(ok(await cli(['ps', '-a', '--format', 'json']), 'ps json').stdout) as ContainerSummary[];
    assert.equal(row.Names[0], '/evented');
    assert.equal(row.State, 'exited');
    assert.equal(row.ExitCode, 7);
    ok(await cli(['rm', 'evented']), 'rm');
    await until('destroy', () => events.some((e) => e.Action === 'destroy'));
    const mine = events.filter((e) => e.Type === 'container');
    assert.deepEqual(
      mine.map((e) => e.Action),
      ['create', 'start', 'die', 'destroy'],
    );
    assert.equal(mine[2].Actor.Attributes.exitCode, '7');
    assert.equal(mine[0].Actor.Attributes.name, 'evented');
    assert.equal(mine[0].Actor.Attributes.image, s.ref);
  });

  it('-it without a terminal on stdin is refused as Docker does (run -it itself: run-attach.test.ts)', async () => {
    const r = await cli(['run', '-it', s.ref, 'sh']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the input device is not a TTY/);
  });

  it('containers outlive an agent restart: taken over running, or their exit and output recorded', async () => {
    const a2 = await startAgent();
    const env2 = { ...a2.env, BERTH_NO_AUTOSTART: '1' };
    const c = await a2.connect();
    await c.sendRequest(PullRequest.type, { reference: s.ref });
    const m = await makeTempDir('berth-restart-');
    const wait = (f: string) => `while [ ! -e /m/${f} ]; do sleep 0.05; done`;
    const start = async (script: string): Promise<{ id: string; pid: number }> => {
      const id = ok(await berth(['run', '-d', '-v', `${m}:/m`, s.ref, 'sh', '-c', script], env2), 'run -d').stdout.trim();
      track(id);
      const pid = (await c.sendRequest(InspectContainerRequest.type, { container: id })).State.Pid;
      pids.add(pid);
      return { id, pid };
    };
    // Keeps running; writes while no agent listens.
    const keeps = await start(`echo before; ${wait('go')}; echo while-away; echo err-away >&2; touch /m/done; exec sleep 600`);
    // Exits while no agent listens.
    const exits = await start(`${wait('go')}; echo bye; exit 7`);
    // Loses its monitor (killed): nothing can tell its exit.
    const orphan = await start('exec sleep 600');
    await until('the first line', async () => (await berth(['logs', keeps.id], env2)).stdout === 'before\n');
    const monitorOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    const orphanMonitor = monitorOf(orphan.pid);
    assert.notEqual(orphanMonitor, a2.child.pid, 'the monitor is the helper, not the agent');

    await a2.stop();
    assert.ok(alive(keeps.pid) && alive(exits.pid), 'containers outlive the agent');
    process.kill(orphanMonitor, 'SIGKILL');
    writeFileSync(join(m, 'go'), '');
    await until('the container wrote while the agent was away', () => existsSync(join(m, 'done')));
    await until('the second container exited', () => !alive(exits.pid));

    const a3 = await startAgent({ root: a2.root });
    const env3 = { ...a3.env, BERTH_NO_AUTOSTART: '1' };
    const c3 = await a3.connect();
    // Taken over: same process, its output while away in the log, exec and stop work.
    const k = await c3.sendRequest(InspectContainerRequest.type, { container: keeps.id });
    assert.equal(k.State.Status, 'running');
    assert.equal(k.State.Pid, keeps.pid);
    assert.ok(alive(keeps.pid));
    await until('the kept output in the log', async () => (await berth(['logs', keeps.id], env3)).stdout === 'before\nwhile-away\n');
    assert.equal((await berth(['logs', keeps.id], env3)).stderr, 'err-away\n');
    assert.equal(ok(await berth(['exec', keeps.id, 'cat', '/etc/hostname'], env3), 'exec').stdout.trim(), keeps.id.slice(0, 12));
    ok(await berth(['stop', '-t', '1', keeps.id], env3), 'stop');
    const stopped = await c3.sendRequest(InspectContainerRequest.type, { container: keeps.id });
    assert.equal(stopped.State.Status, 'exited');
    assert.equal(stopped.State.ExitCode, 137, 'sleep is pid 1 and ignores SIGTERM: stop ends it with SIGKILL after 1 s');
    assert.ok(!alive(keeps.pid));
    // Exited while away: its code and output, as if the agent had watched.
    const x = await c3.sendRequest(InspectContainerRequest.type, { container: exits.id });
    assert.equal(x.State.Status, 'exited');
    assert.equal(x.State.ExitCode, 7);
    assert.equal(x.State.Error, '');
    assert.equal((await berth(['logs', exits.id], env3)).stdout, 'bye\n');
    // Its monitor gone: marked lost, what was left killed.
    const o = await c3.sendRequest(InspectContainerRequest.type, { container: orphan.id });
    assert.equal(o.State.Status, 'exited');
    assert.equal(o.State.ExitCode, 255);
    assert.match(o.State.Error, /monitor went away/);
    await until('the orphaned container process is gone', () => !alive(orphan.pid));
    for (const x of [keeps, exits, orphan]) {
      assert.deepEqual(cgroupLeft(x.id), []);
      await c3.sendRequest(RemoveContainerRequest.type, { container: x.id });
    }
    await a3.stop();
  });
});
