/**
 * `exec` and terminals end to end: a real agent (the built bundle) on a real socket, a busybox
 * image pushed to a real registry, a running container, then `berth exec` (plain, -i with piped
 * stdin, -it under a real terminal from util-linux `script`) and the protocol's container/exec
 * with output, input and resize notifications. Containers are removed (rm -f) and every child is
 * stopped by PID in cleanup; no cgroup is left behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import { ErrorCode, ExecRequest, InputNotification, OutputNotification, PullRequest, ResizeNotification } from '../../protocol';
import { BUNDLE, REPO, berth, runWithInput, startAgent, type TestAgent } from '../support/agent';
import { expectAgentError } from '../support/expect';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';
import { cgroupLeft, removeAllContainers } from '../support/containers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('exec and terminals', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  let conn: MessageConnection;
  const cli = (args: string[]) => berth(args, env, 60_000);
  const berthCmd = `${process.execPath} ${join(REPO, 'bin', 'berth')}`;

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip', 'script']);
    assert.ok(existsSync(BUNDLE));
    registry = await startRegistry();
    await pushImage(registry, 'x/box', 'v1', await busyboxImage());
    ref = `${registry.host}/x/box:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
    const r = await cli([
      'run',
      '-d',
      '--name',
      'target',
      '--hostname',
      'inside',
      '-e',
      'FROM_RUN=1',
      ref,
      'sh',
      '-c',
      'echo init > /marker; exec sleep 1000',
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    const ids = await removeAllContainers(agent ? conn : undefined);
    await runCleanups();
    for (const id of ids) assert.deepEqual(cgroupLeft(id), [], `no cgroup left for ${id}`);
  });

  it('berth exec sees the container: hostname, its init as pid 1, its files, cgroup, env + -e; exit code propagates', async () => {
    const script =
      'hostname; tr "\\0" " " < /proc/1/cmdline; echo; cat /marker; cat /proc/self/cgroup | grep -c /berth/ || true; echo $FROM_RUN $EXTRA; exit 4';
    const r = await cli(['exec', '-e', 'EXTRA=yes', 'target', 'sh', '-c', script]);
    assert.equal(r.code, 4, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'inside');
    assert.equal(lines[1].trim(), 'sleep 1000');
    assert.equal(lines[2], 'init');
    // In its own cgroup namespace the container's cgroup is "/": no host path shows.
    assert.equal(lines[3], '0');
    assert.equal(lines[4], '1 yes');
    const cg = await cli(['exec', 'target', 'cat', '/proc/self/cgroup']);
    assert.match(cg.stdout, /memory:\/$/m);
  });

  it('-u and -w; a missing command and a stopped container are errors', async () => {
    const r = await cli(['exec', '-u', '1000:1001', '-w', '/tmp', 'target', 'sh', '-c', 'id -u; id -g; pwd']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1000\n1001\n/tmp\n');
    const missing = await cli(['exec', 'target', 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /exec "nosuch": ENOENT/);
    const c = await cli(['create', '--name', 'stopped', ref, 'true']);
    assert.equal(c.code, 0, c.stderr);
    await expectAgentError(conn.sendRequest(ExecRequest.type, { container: 'stopped', cmd: ['true'] }), ErrorCode.Conflict, /not running/);
  });

  it('-i passes piped stdin: echo hi | berth exec -i target cat', async () => {
    const r = await runWithInput(process.execPath, [join(REPO, 'bin', 'berth'), 'exec', '-i', 'target', 'cat'], env, 'hi\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
  });

  it('-it without a terminal is refused', async () => {
    const r = await runWithInput(process.execPath, [join(REPO, 'bin', 'berth'), 'exec', '-it', 'target', 'sh'], env, '');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the input device is not a TTY/);
  });

  it('berth exec -it under a real terminal: a pty of its own, Ctrl-C interrupts, the shell survives, exit 5', async () => {
    const r = await runWithInput('script', ['-qfec', `${berthCmd} exec -it target sh`, '/dev/null'], env, async (write, out) => {
      const wait = async (re: RegExp) => {
        for (let i = 0; i < 300 && !re.test(out()); i++) await sleep(20);
      };
      write('stty size; tty; echo pid=$$\n');
      await wait(/pid=\d+/);
      write('sleep 100\n');
      await sleep(300);
      write('\x03');
      write('echo after=$?\n');
      await wait(/after=130/);
      write('exit 5\n');
      await sleep(2000);
    });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /pid=\d+/);
    assert.match(r.stdout, /after=130/);
  });

  it('protocol: container/exec with output, input and resize notifications; the answer is the exit code', async () => {
    const token = 'proto-1';
    let out = '';
    const sub = conn.onNotification(OutputNotification.type, (n) => {
      if (n.token === token) out += Buffer.from(n.data, 'base64').toString();
    });
    try {
      const done = conn.sendRequest(ExecRequest.type, {
        container: 'target',
        cmd: ['sh'],
        tty: true,
        stdin: true,
        rows: 10,
        cols: 40,
        attachToken: token,
        env: ['PS1=$ '],
      });
      const send = (s: string) => conn.sendNotification(InputNotification.type, { token, data: Buffer.from(s).toString('base64') });
      await send('stty size\n');
      for (let i = 0; i < 200 && !/10 40/.test(out); i++) await sleep(20);
      assert.match(out, /10 40/);
      await conn.sendNotification(ResizeNotification.type, { token, rows: 50, cols: 120 });
      await sleep(100);
      await send('stty size\n');
      for (let i = 0; i < 200 && !/50 120/.test(out); i++) await sleep(20);
      assert.match(out, /50 120/);
      // A token of another connection cannot feed this process.
      const other = await agent.connect();
      await other.sendNotification(InputNotification.type, { token, data: Buffer.from('exit 9\n').toString('base64') });
      await sleep(200);
      await send('exit 6\n');
      assert.deepEqual(await done, { ExitCode: 6 });
    } finally {
      sub.dispose();
    }
    // Without a tty: stdout and stderr apart; eof closes stdin.
    let o = '';
    let e = '';
    const sub2 = conn.onNotification(OutputNotification.type, (n) => {
      if (n.token !== 'proto-2') return;
      if (n.stream === 'stdout') o += Buffer.from(n.data, 'base64').toString();
      else if (n.stream === 'stderr') e += Buffer.from(n.data, 'base64').toString();
    });
    const done2 = conn.sendRequest(ExecRequest.type, {
      container: 'target',
      cmd: ['sh', '-c', 'cat; echo err >&2'],
      stdin: true,
      attachToken: 'proto-2',
    });
    await conn.sendNotification(InputNotification.type, { token: 'proto-2', data: Buffer.from('piped').toString('base64'), eof: true });
    assert.deepEqual(await done2, { ExitCode: 0 });
    sub2.dispose();
    assert.equal(o, 'piped');
    assert.equal(e, 'err\n');
  });
});
