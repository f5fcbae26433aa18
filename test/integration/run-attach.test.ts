/**
 * `run -i`/`-t`, `create -it` + `start -ai`, and the protocol's streamed start, end to end: a real
 * agent (the built bundle), a busybox image pushed to a real registry, real containers with a pty
 * from their own devpts, driven under a real terminal from util-linux `script`. Every container is
 * removed and every child stopped by PID in cleanup; no cgroup is left behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  ContainerLogsRequest,
  CreateContainerRequest,
  ErrorCode,
  InputNotification,
  InspectContainerRequest,
  ListContainersRequest,
  OutputNotification,
  PullRequest,
  ResizeNotification,
  StartContainerRequest,
  WaitContainerRequest,
  type ContainerSummary,
} from '../../protocol';
import { BUNDLE, REPO, berth, runWithInput, startAgent, type TestAgent } from '../support/agent';
import { expectAgentError } from '../support/expect';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';
import { cgroupLeft, removeAllContainers } from '../support/containers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('run -i/-t and start -a -i', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  let conn: MessageConnection;
  const cli = (args: string[]) => berth(args, env, 60_000);
  const berthArgv = [process.execPath, join(REPO, 'bin', 'berth')];
  const berthCmd = berthArgv.join(' ');

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
  });

  after(async () => {
    const ids = await removeAllContainers(agent ? conn : undefined);
    await runCleanups();
    for (const id of ids) assert.deepEqual(cgroupLeft(id), [], `no cgroup left for ${id}`);
  });

  it('echo hi | berth run -i --rm IMG cat prints hi; stdin closes at EOF; the container is gone', async () => {
    const r = await runWithInput(berthArgv[0], [berthArgv[1], 'run', '-i', '--rm', '--name', 'cat1', ref, 'cat'], env, 'hi\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    await sleep(200);
    const left = (await conn.sendRequest(ListContainersRequest.type, { all: true })) as ContainerSummary[];
    assert.ok(!left.some((c) => c.Names.includes('/cat1')), 'the --rm container is gone');
  });

  it('run -i keeps stdout and stderr apart and propagates the exit code', async () => {
    const r = await runWithInput(
      berthArgv[0],
      [berthArgv[1], 'run', '-i', '--rm', ref, 'sh', '-c', 'read x; echo "out $x"; echo err >&2; exit 7'],
      env,
      'abc\n',
    );
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'out abc\n');
    assert.equal(r.stderr, 'err\n');
  });

  it('run -it without a terminal is refused', async () => {
    const r = await runWithInput(berthArgv[0], [berthArgv[1], 'run', '-it', '--rm', ref, 'sh'], env, '');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the input device is not a TTY/);
  });

  it('berth run -it --rm under a real terminal: a pty, stty size, SIGWINCH resize, Ctrl-C, exit code', async () => {
    const cmd = `stty rows 33 cols 99; echo clipts=$(tty); exec ${berthCmd} run -it --rm --name tty1 ${ref} sh`;
    const r = await runWithInput('script', ['-qfec', cmd, '/dev/null'], env, async (write, out) => {
      const wait = async (re: RegExp) => {
        for (let i = 0; i < 300 && !re.test(out()); i++) await sleep(20);
      };
      write('stty size; tty; echo pid=$$\n');
      await wait(/pid=\d+/);
      // Resize the CLI's own terminal: the kernel sends it SIGWINCH, it sends container/resize.
      const pts = /clipts=(\/dev\/pts\/\d+)/.exec(out())![1];
      const st = spawn('stty', ['-F', pts, 'rows', '41', 'cols', '101']);
      await new Promise((res) => st.on('close', res));
      await sleep(300);
      write('stty size\n');
      await wait(/41 101/);
      write('sleep 100\n');
      await sleep(300);
      write('\x03');
      write('echo after=$?\n');
      await wait(/after=130/);
      write('exit 5\n');
      await sleep(2000);
    });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.match(r.stdout, /33 99/);
    assert.match(r.stdout, /41 101/);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /pid=1\b/);
    assert.match(r.stdout, /after=130/);
    const left = (await conn.sendRequest(ListContainersRequest.type, { all: true })) as ContainerSummary[];
    assert.ok(!left.some((c) => c.Names.includes('/tty1')), 'the --rm container is gone');
  });

  it('run -t without -i: a pty without input; recorded in Config; its output logged as stdout', async () => {
    const r = await runWithInput(
      'script',
      ['-qfec', `${berthCmd} run -t --name tty2 ${ref} sh -c 'tty; echo hello; exit 2'`, '/dev/null'],
      env,
      async () => void (await sleep(3000)),
    );
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    const c = await conn.sendRequest(InspectContainerRequest.type, { container: 'tty2' });
    assert.equal(c.Config.Tty, true);
    assert.equal(c.Config.OpenStdin, false);
    assert.equal(c.Config.AttachStdin, false);
    assert.equal(c.State.ExitCode, 2);
    const logs = await conn.sendRequest(ContainerLogsRequest.type, { container: 'tty2' });
    assert.ok(logs.lines.length > 0 && logs.lines.every((l) => l.stream === 'stdout'));
    assert.ok(
      logs.lines.some((l) => /^hello\r?$/.test(l.line)),
      JSON.stringify(logs.lines),
    );
  });

  it('berth create -it, then berth start -ai under a terminal', async () => {
    const c = await cli(['create', '-it', '--name', 'later', ref, 'sh']);
    assert.equal(c.code, 0, c.stderr);
    const r = await runWithInput('script', ['-qfec', `${berthCmd} start -ai later`, '/dev/null'], env, async (write, out) => {
      for (let i = 0; i < 300 && !/ready=yes/.test(out()); i++) {
        if (i % 50 === 0) write('echo ready=yes\n');
        await sleep(20);
      }
      write('tty; exit 3\n');
      await sleep(2000);
    });
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /ready=yes/);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  });

  it('protocol: a streamed start with output, input and resize; the exit is the wait answer', async () => {
    const { Id } = await conn.sendRequest(CreateContainerRequest.type, {
      image: ref,
      cmd: ['sh'],
      tty: true,
      openStdin: true,
      env: ['PS1=$ '],
    });
    const token = 'start-1';
    let out = '';
    const sub = conn.onNotification(OutputNotification.type, (n) => {
      if (n.token === token) {
        assert.equal(n.stream, 'tty');
        out += Buffer.from(n.data, 'base64').toString();
      }
    });
    try {
      await expectAgentError(
        conn.sendRequest(StartContainerRequest.type, { container: Id, stream: true }),
        ErrorCode.InvalidArgument,
        /attachToken/,
      );
      const waited = conn.sendRequest(WaitContainerRequest.type, { container: Id, condition: 'next-exit' });
      await conn.sendRequest(StartContainerRequest.type, { container: Id, attachToken: token, stream: true, rows: 10, cols: 40 });
      const send = (s: string) => conn.sendNotification(InputNotification.type, { token, data: Buffer.from(s).toString('base64') });
      await send('stty size\n');
      for (let i = 0; i < 200 && !/10 40/.test(out); i++) await sleep(20);
      assert.match(out, /10 40/);
      await conn.sendNotification(ResizeNotification.type, { token, rows: 50, cols: 120 });
      await sleep(100);
      await send('stty size\n');
      for (let i = 0; i < 200 && !/50 120/.test(out); i++) await sleep(20);
      assert.match(out, /50 120/);
      await send('exit 6\n');
      assert.equal((await waited).StatusCode, 6);
    } finally {
      sub.dispose();
    }
  });
});
