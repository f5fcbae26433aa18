/**
 * Workspaces end to end: a real agent (the built bundle), a busybox image pushed to a real
 * registry, fixture folders with devcontainer.json files made here, `berth up` / `berth down`
 * through the real CLI and `workspace/*` over the protocol. Proves: lifecycle commands run once at
 * creation and postStartCommand at each start (counter files the commands write into the mounted
 * folder), a second up reuses the container (same ID), down stops it, a changed configuration
 * recreates it, a failing postCreateCommand shows its output, keeps the container and fails
 * clearly, a server in the container answers on the forwarded port from the host (and a port taken
 * on the host is forwarded from another one), parse errors carry line and column, and a `build`
 * configuration builds its Dockerfile. Every container is removed in cleanup.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  ErrorCode,
  ExecRequest,
  InspectContainerRequest,
  ListContainersRequest,
  WorkspaceStatusRequest,
  WorkspaceUpRequest,
  type ContainerInspect,
  type ContainerSummary,
  type WorkspaceUpResult,
} from '../../protocol';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { expectAgentError, ok } from '../support/expect';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { makeTempDir, requireTools, runCleanups } from '../support/tmp';
import { cgroupLeft, removeAllContainers } from '../support/containers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An HTTP/1.0 GET from this process over loopback; the whole answer, bounded. */
function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let out = '';
    const t = setTimeout(() => (s.destroy(), reject(new Error(`no answer from 127.0.0.1:${port} within 5 s`))), 5000);
    s.on('connect', () => s.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
    s.on('data', (d) => (out += d.toString()));
    s.on('error', (e) => (clearTimeout(t), reject(e)));
    s.on('close', () => (clearTimeout(t), resolve(out)));
  });
}

/** Polls `f` (bounded: 50 x 100 ms) until it resolves; the last error otherwise. */
async function eventually<T>(what: string, f: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      return await f();
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}: ${(last as Error)?.message}`);
}

/** A TCP port nothing listens on now (the kernel's choice, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

describe('workspaces', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  let conn: MessageConnection;
  let taken: Server;
  const ids = new Set<string>();

  const cli = (args: string[]) => berth(args, env, 120_000);
  const inspect = (id: string) => conn.sendRequest(InspectContainerRequest.type, { container: id }) as Promise<ContainerInspect>;
  const workspaceContainers = async (folder: string) =>
    ((await conn.sendRequest(ListContainersRequest.type, { all: true })) as ContainerSummary[]).filter(
      (c) => c.Labels['berth.workspace'] === folder,
    );
  /** A fixture folder holding `.devcontainer/devcontainer.json` with `text`. */
  const fixture = async (name: string, text: string): Promise<string> => {
    const dir = join(await makeTempDir('berth-ws-'), name);
    mkdirSync(join(dir, '.devcontainer'), { recursive: true });
    writeFileSync(join(dir, '.devcontainer', 'devcontainer.json'), text);
    return dir;
  };

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    await pushImage(registry, 'ws/box', 'v1', await busyboxImage());
    ref = `${registry.host}/ws/box:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    // A port some other program holds on the host: forwarding it must choose another host port.
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  });

  after(async () => {
    const removed = await removeAllContainers(agent ? conn : undefined);
    await new Promise<void>((r) => (taken ? taken.close(() => r()) : r()));
    await runCleanups();
    for (const id of [...ids, ...removed]) assert.deepEqual(cgroupLeft(id), [], `no cgroup left for ${id}`);
  });

  it('up creates the container, runs the lifecycle commands once, reuses it, forwards ports; down stops it', async () => {
    const web = await freePort();
    const takenPort = (taken.address() as { port: number }).port;
    const config = (greeting: string) => `{
  // A dev container for the test (comments and trailing commas, as the spec allows)
  "image": "${ref}",
  "containerEnv": { "GREETING": "${greeting}" },
  "remoteEnv": { "FROM_REMOTE": "\${containerEnv:GREETING}-remote" },
  "forwardPorts": [${web}, ${takenPort}],
  "onCreateCommand": "echo on-create >> \${containerWorkspaceFolder}/oncreate.log",
  "postCreateCommand": ["sh", "-c", "echo created >> created.log; echo $FROM_REMOTE > remote-env.txt; pwd > pwd.txt"],
  "postStartCommand": {
    "count": "echo started >> started.log",
    "web": "mkdir -p /www && echo ws-hello > /www/index.html && busybox httpd -p ${web} -h /www",
  },
  "features": { "ghcr.io/devcontainers/features/node:1": {} },
  "customizations": {},
}`;
    const dir = await fixture('proj', config('hello'));

    const first = ok(await cli(['up', dir]), 'first up');
    assert.match(first.stderr, /Creating container berth-ws-proj-[0-9a-f]{8}\n/);
    assert.match(first.stderr, /Running postCreateCommand: sh -c /);
    assert.match(first.stdout, /^Ignored devcontainer\.json keys \(not supported by Berth\): features, customizations$/m);
    assert.match(first.stdout, new RegExp(`^Forwarding 127\\.0\\.0\\.1:${web} -> ${web}/tcp$`, 'm'));
    assert.match(
      first.stdout,
      new RegExp(`^Forwarding 127\\.0\\.0\\.1:(\\d+) -> ${takenPort}/tcp \\(port ${takenPort} was in use on the host\\)$`, 'm'),
    );
    assert.match(
      first.stdout,
      /Workspace container berth-ws-proj-[0-9a-f]{8} \([0-9a-f]{12}\) created: .*proj is at \/workspaces\/proj\n$/,
    );
    const [c1] = await workspaceContainers(dir);
    assert.ok(c1, 'the container carries the berth.workspace label with the folder');
    ids.add(c1.Id);
    assert.match(c1.Labels['berth.config.hash'], /^[0-9a-f]{64}$/);
    assert.equal(c1.State, 'running');
    assert.deepEqual(lines(join(dir, 'oncreate.log')), ['on-create']);
    assert.deepEqual(lines(join(dir, 'created.log')), ['created']);
    assert.deepEqual(lines(join(dir, 'started.log')), ['started']);
    assert.equal(readFileSync(join(dir, 'remote-env.txt'), 'utf8'), 'hello-remote\n', 'remoteEnv resolved ${containerEnv:GREETING}');
    assert.equal(readFileSync(join(dir, 'pwd.txt'), 'utf8'), '/workspaces/proj\n', 'commands run in workspaceFolder');
    const ins = await inspect(c1.Id);
    assert.ok(ins.Config.Env.includes('GREETING=hello'));
    assert.deepEqual(
      ins.Mounts.map((m) => [m.Source, m.Destination]),
      [[dir, '/workspaces/proj']],
    );

    // The server started by postStartCommand answers from the host on the forwarded port.
    assert.match(await eventually('httpd on the forwarded port', () => httpGet(web)), /ws-hello/);

    // A second up of the unchanged folder: the same container, nothing runs again.
    const t0 = process.hrtime.bigint();
    const second = ok(await cli(['up', '--format', 'json', dir]), 'second up');
    const secondMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const r2 = JSON.parse(second.stdout) as WorkspaceUpResult;
    assert.equal(r2.action, 'running');
    assert.equal(r2.container.Id, c1.Id);
    assert.deepEqual(r2.ran, []);
    assert.equal(r2.workspaceFolder, '/workspaces/proj');
    assert.deepEqual(r2.remoteEnv, ['FROM_REMOTE=hello-remote']);
    assert.deepEqual(r2.ignored, ['features', 'customizations']);
    const fwd = r2.ports.find((p) => p.containerPort === takenPort)!;
    assert.ok(fwd && fwd.hostPort !== takenPort && fwd.hostIp === '127.0.0.1', JSON.stringify(r2.ports));
    assert.deepEqual(
      r2.ports.find((p) => p.containerPort === web),
      { containerPort: web, hostIp: '127.0.0.1', hostPort: web },
    );
    assert.deepEqual(lines(join(dir, 'created.log')), ['created']);
    assert.deepEqual(lines(join(dir, 'started.log')), ['started']);
    process.stderr.write(`# second berth up of an unchanged workspace (CLI process, connect, reuse): ${secondMs.toFixed(0)} ms\n`);

    // status over the protocol says the same, and how to work in the container.
    const status = await conn.sendRequest(WorkspaceStatusRequest.type, { folder: dir });
    assert.equal(status?.container.Id, c1.Id);
    assert.equal(status?.container.State, 'running');
    assert.equal(status?.remoteUser, '');

    // down stops it; up starts the same container again: postStartCommand runs, the create ones do not.
    const down = ok(await cli(['down', dir]), 'down');
    assert.equal(down.stdout, `${c1.Names[0].slice(1)}\n`);
    assert.equal((await inspect(c1.Id)).State.Status, 'exited');
    assert.equal((await inspect(c1.Id)).State.ExitCode, 0, 'the keep-running command exits on SIGTERM');
    const third = JSON.parse(ok(await cli(['up', '--format', 'json', dir]), 'third up').stdout) as WorkspaceUpResult;
    assert.equal(third.action, 'started');
    assert.equal(third.container.Id, c1.Id);
    assert.deepEqual(third.ran, ['postStartCommand']);
    assert.deepEqual(lines(join(dir, 'created.log')), ['created']);
    assert.deepEqual(lines(join(dir, 'started.log')), ['started', 'started']);
    assert.match(await eventually('httpd after the restart', () => httpGet(web)), /ws-hello/);

    // A changed configuration: a new container, the create commands run in it.
    writeFileSync(join(dir, '.devcontainer', 'devcontainer.json'), config('changed'));
    const fourth = JSON.parse(ok(await cli(['up', '--format', 'json', dir]), 'up after a change').stdout) as WorkspaceUpResult;
    assert.equal(fourth.action, 'recreated');
    assert.notEqual(fourth.container.Id, c1.Id);
    ids.add(fourth.container.Id);
    assert.deepEqual(fourth.ran, ['onCreateCommand', 'postCreateCommand', 'postStartCommand']);
    assert.deepEqual(lines(join(dir, 'created.log')), ['created', 'created']);
    assert.equal(readFileSync(join(dir, 'remote-env.txt'), 'utf8'), 'changed-remote\n');
    assert.deepEqual(
      (await workspaceContainers(dir)).map((c) => c.Id),
      [fourth.container.Id],
      'the old container is gone',
    );
    // --rebuild recreates even when nothing changed.
    const fifth = JSON.parse(ok(await cli(['up', '--rebuild', '--format', 'json', dir]), 'up --rebuild').stdout) as WorkspaceUpResult;
    assert.equal(fifth.action, 'recreated');
    assert.notEqual(fifth.container.Id, fourth.container.Id);
    ids.add(fifth.container.Id);
    ok(await cli(['down', '--rm', dir]), 'down --rm');
    assert.deepEqual(await workspaceContainers(dir), []);
    const none = await cli(['down', dir]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^Error: workspace down: no workspace container for .*proj\n$/);
  });

  it('a failing postCreateCommand shows its output, keeps the container, fails up clearly, and runs again next time', async () => {
    const dir = await fixture(
      'failing',
      `{"image": "${ref}", "postCreateCommand": "echo about-to-fail; echo oops >&2; exit 7", "postStartCommand": "echo started >> started.log"}`,
    );
    const r = await cli(['up', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /about-to-fail\n/);
    assert.match(r.stderr, /oops\n/);
    assert.match(r.stderr, /postCreateCommand exited with code 7\n/);
    assert.match(
      r.stderr,
      /Error: workspace up: postCreateCommand failed with exit code 7; the container berth-ws-failing-[0-9a-f]{8} \([0-9a-f]{12}\) is kept for inspection/,
    );
    const [c] = await workspaceContainers(dir);
    assert.ok(c, 'the container is kept');
    ids.add(c.Id);
    assert.equal(c.State, 'running', 'and still runs, to be looked into');
    const probe = await conn.sendRequest(ExecRequest.type, { container: c.Id, cmd: ['true'] });
    assert.equal(probe.ExitCode, 0);
    const again = await expectAgentError(
      conn.sendRequest(WorkspaceUpRequest.type, { folder: dir }),
      ErrorCode.LifecycleCommandFailed,
      /postCreateCommand failed with exit code 7/,
    );
    assert.equal(again.data.operation, 'workspace up');
    assert.deepEqual(
      (await workspaceContainers(dir)).map((x) => x.Id),
      [c.Id],
      'the same container, its postCreateCommand tried again',
    );
  });

  it('parse errors name the file, line and column; bad values name the key; a missing image fails clearly', async () => {
    const broken = await fixture('broken', '{\n  "image": "busybox"\n  "forwardPorts": [8080]\n}\n');
    const r = await cli(['up', broken]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `Error: workspace up: ${broken}/.devcontainer/devcontainer.json: expected ',' or '}' but found character '"' at line 3, column 3\n`,
    );
    const e = await expectAgentError(conn.sendRequest(WorkspaceUpRequest.type, { folder: broken }), ErrorCode.InvalidArgument);
    assert.equal(e.data.line, 3);
    assert.equal(e.data.column, 3);
    assert.equal(e.data.path, `${broken}/.devcontainer/devcontainer.json`);

    const wrong = await fixture('wrong', `{"image": "${ref}", "forwardPorts": ["eighty"]}`);
    assert.match(
      (await cli(['up', wrong])).stderr,
      /"forwardPorts\[0\]" is "eighty": Berth forwards ports of the workspace container only/,
    );
    const runArgs = await fixture('runargs', `{"image": "${ref}", "runArgs": ["--gpus=all"]}`);
    assert.match((await cli(['up', runArgs])).stderr, /"runArgs\[0\]": "--gpus=all" is not supported by Berth/);
    const missing = await fixture('missing', `{"image": "${registry.host}/ws/none:1"}`);
    const m = await cli(['up', missing]);
    assert.equal(m.code, 1);
    assert.match(m.stderr, /Error: pull .*ws\/none:1: .*(not found|unknown)/i);
    assert.deepEqual(await workspaceContainers(missing), [], 'nothing was created');
    const empty = await makeTempDir('berth-ws-empty-');
    assert.match(
      (await cli(['up', empty])).stderr,
      /no dev container configuration in .* \(looked for \.devcontainer\/devcontainer\.json and \.devcontainer\.json\)/,
    );
  });

  it('files written in the folder from inside belong to the folder owner on the host; nothing is chowned', async () => {
    const OWNER = 4321;
    // remoteUser "app" (uid 1000 in the image) works in the folder; the container itself runs as root.
    const dir = await fixture(
      'owned',
      `{"image": "${ref}", "remoteUser": "app", "postCreateCommand": "id -u > whoami.txt; touch made-inside; mkdir made-dir; stat -c %u host-file > host-file-owner.txt"}`,
    );
    writeFileSync(join(dir, 'host-file'), 'from the host\n');
    const { chownSync, statSync } = await import('node:fs');
    for (const p of [dir, join(dir, 'host-file')]) chownSync(p, OWNER, OWNER);
    const otherOwner = statSync(join(dir, '.devcontainer')).uid; // root's: left as it is
    const r = JSON.parse(ok(await cli(['up', '--format', 'json', dir]), 'up of an owned folder').stdout) as WorkspaceUpResult;
    ids.add(r.container.Id);
    assert.equal(r.remoteUser, 'app');
    assert.equal(readFileSync(join(dir, 'whoami.txt'), 'utf8'), '1000\n', 'the command ran as remoteUser');
    assert.equal(readFileSync(join(dir, 'host-file-owner.txt'), 'utf8'), '1000\n', "the owner's file shows as the remote user's inside");
    for (const made of ['made-inside', 'made-dir', 'whoami.txt']) {
      const st = statSync(join(dir, made));
      assert.deepEqual([st.uid, st.gid], [OWNER, OWNER], `${made} belongs to the folder owner on the host`);
    }
    assert.equal(statSync(join(dir, 'host-file')).uid, OWNER, 'the host file kept its owner');
    assert.equal(statSync(join(dir, '.devcontainer')).uid, otherOwner, 'nothing was chowned');
  });

  it('a build configuration builds its Dockerfile and runs the result', async () => {
    const dir = await fixture(
      'built',
      `{"build": {"dockerfile": "Dockerfile", "args": {"WORD": "built-here"}}, "postCreateCommand": "cat /made.txt > made.txt"}`,
    );
    writeFileSync(join(dir, '.devcontainer', 'Dockerfile'), `FROM ${ref}\nARG WORD\nRUN echo $WORD > /made.txt\n`);
    const r = ok(await cli(['up', dir]), 'up of a build configuration');
    assert.match(r.stderr, /Building berth-ws-built-[0-9a-f]{8}:latest from /);
    assert.match(r.stderr, /Step 3\/3 : RUN echo \$WORD > \/made.txt/);
    assert.equal(readFileSync(join(dir, 'made.txt'), 'utf8'), 'built-here\n');
    const [c] = await workspaceContainers(dir);
    ids.add(c.Id);
    assert.match(c.Image, /^berth-ws-built-[0-9a-f]{8}:latest$/);
    // One changed line in the Dockerfile: a new container.
    writeFileSync(join(dir, '.devcontainer', 'Dockerfile'), `FROM ${ref}\nARG WORD\nRUN echo $WORD-2 > /made.txt\n`);
    const again = JSON.parse(ok(await cli(['up', '--format', 'json', dir]), 'up after a Dockerfile change').stdout) as WorkspaceUpResult;
    assert.equal(again.action, 'recreated');
    ids.add(again.container.Id);
    assert.equal(readFileSync(join(dir, 'made.txt'), 'utf8'), 'built-here-2\n');
  });
});
