/**
 * Detected ports of workspace containers (agent/workspace/ports.ts) end to end: a real agent (the
 * built bundle), a busybox image from a real registry, a fixture folder whose devcontainer.json has
 * no forwardPorts. Proves: a server that postStartCommand starts a second after the container
 * (so after it was created and its ports published) is reachable from the host on 127.0.0.1 with
 * the same port number, and `workspace/status` lists it as detected; a server on a port another
 * program holds on the host is forwarded from another host port, which status and the `listen`
 * event report; a server on port 80 is forwarded from an unprivileged host port; a server bound to the container's 127.0.0.1 is not forwarded and is reported as
 * loopback only; when a server stops, its forward closes (connection refused) and `unlisten` is
 * sent; `workspace/down` closes the rest; an agent restarted under a running workspace container
 * forwards its listeners again. Waits are bounded polls, nothing is timed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  EventNotification,
  ExecRequest,
  SubscribeRequest,
  WorkspaceDownRequest,
  WorkspaceStatusRequest,
  WorkspaceUpRequest,
  type BerthEvent,
  type WorkspaceInfo,
  type WorkspacePort,
} from '../../protocol';
import { startAgent } from '../support/agent';
import { containerSuite } from '../support/suite';
import { makeTempDir } from '../support/tmp';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An HTTP/1.0 GET over loopback; the whole answer (bounded: 5 s). */
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

/** Resolves with the error code of connecting to 127.0.0.1:port ("connected" when it connects). */
function connectResult(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => (s.destroy(), resolve('connected')));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Polls `f` (bounded: 100 x 100 ms) until it returns a value that is not undefined. */
async function eventually<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
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

describe('workspace ports detected in the container', () => {
  const s = containerSuite({ repo: 'wsports/box' });
  let taken: Server | undefined;
  after(() => new Promise<void>((r) => (taken ? taken.close(() => r()) : r())));

  it('forwards a server started later, on another host port when its own is taken, reports loopback-only ones, and closes forwards when servers stop', async () => {
    const { conn } = s;
    const late = await freePort();
    const loop = await freePort();
    // A port some other program holds on the host: the container's server on it must be forwarded from another one.
    taken = createServer();
    await new Promise<void>((r) => taken!.listen(0, '127.0.0.1', () => r()));
    const takenPort = (taken.address() as { port: number }).port;

    const events: BerthEvent[] = [];
    conn.onNotification(EventNotification.type, (e) => {
      if (e.Type === 'container' && (e.Action === 'listen' || e.Action === 'unlisten')) events.push(e);
    });
    await conn.sendRequest(SubscribeRequest.type, { types: ['container'] });

    const dir = join(await makeTempDir('berth-wsports-'), 'proj');
    mkdirSync(join(dir, '.devcontainer'), { recursive: true });
    writeFileSync(
      join(dir, '.devcontainer', 'devcontainer.json'),
      JSON.stringify({
        image: s.ref,
        // Not in forwardPorts, and started a second after the container (in the background, so up does not wait).
        postStartCommand: `mkdir -p /www && echo late-server > /www/index.html && (sleep 1; exec busybox httpd -f -p ${late} -h /www) > /dev/null 2>&1 &`,
      }),
    );
    const up = (await conn.sendRequest(WorkspaceUpRequest.type, { folder: dir })) as WorkspaceInfo;
    const id = s.track(up.container.Id);
    assert.equal(up.container.State, 'running');
    const status = () => conn.sendRequest(WorkspaceStatusRequest.type, { folder: dir }) as Promise<WorkspaceInfo | null>;
    const portOf = async (p: number): Promise<WorkspacePort | undefined> => (await status())?.ports.find((x) => x.containerPort === p);
    const exec = async (script: string) => {
      const r = await conn.sendRequest(ExecRequest.type, { container: id, cmd: ['sh', '-c', script] });
      assert.equal(r.ExitCode, 0, `exec ${script}`);
    };

    // The late server: the same port number on the host, listed as detected, and it answers.
    const fwdLate = await eventually(`port ${late} detected`, () => portOf(late));
    assert.deepEqual(fwdLate, { containerPort: late, hostIp: '127.0.0.1', hostPort: late, detected: true });
    assert.match(await httpGet(late), /late-server/);

    // A server on the port taken on the host: forwarded from another port, reported as such.
    await exec(`busybox httpd -f -p ${takenPort} -h /www > /dev/null 2>&1 & echo $! > /tmp/taken.pid`);
    const fwdTaken = await eventually(`port ${takenPort} detected`, () => portOf(takenPort));
    assert.equal(fwdTaken.detected, true);
    assert.equal(fwdTaken.hostIp, '127.0.0.1');
    assert.notEqual(fwdTaken.hostPort, takenPort, 'the taken host port is not reused');
    assert.match(await httpGet(fwdTaken.hostPort), /late-server/);

    // A privileged port: forwarded from a port the kernel chooses, never the host's own 80.
    await exec('busybox httpd -f -p 80 -h /www > /dev/null 2>&1 &');
    const fwd80 = await eventually('port 80 detected', () => portOf(80));
    assert.ok(fwd80.hostPort >= 1024, `port 80 forwarded from ${fwd80.hostPort}`);
    assert.match(await httpGet(fwd80.hostPort), /late-server/);

    // A server on the container's loopback only (as dev servers often bind): relayed into the
    // container's network namespace by the runtime helper, and reported as such.
    await exec(`busybox httpd -f -p 127.0.0.1:${loop} -h /www > /dev/null 2>&1 & echo $! > /tmp/loop.pid`);
    const fwdLoop = await eventually(`port ${loop} forwarded`, () => portOf(loop));
    assert.deepEqual(fwdLoop, { containerPort: loop, hostIp: '127.0.0.1', hostPort: loop, detected: true });
    assert.deepEqual((await status())?.loopbackPorts, [loop]);
    assert.match(await httpGet(loop), /late-server/, 'the loopback-only server answers the host');

    // The events tell the same, with the folder and the host address.
    const listen = (p: number) => events.find((e) => e.Action === 'listen' && e.Actor.Attributes.port === String(p));
    assert.equal(listen(late)?.Actor.ID, id);
    assert.deepEqual(
      [late, takenPort].map((p) => [
        listen(p)?.Actor.Attributes.workspace,
        listen(p)?.Actor.Attributes.hostIp,
        listen(p)?.Actor.Attributes.hostPort,
      ]),
      [
        [dir, '127.0.0.1', String(late)],
        [dir, '127.0.0.1', String(fwdTaken.hostPort)],
      ],
    );
    assert.equal(listen(loop)?.Actor.Attributes.loopbackOnly, 'true');
    assert.equal(listen(loop)?.Actor.Attributes.hostPort, String(loop));
    // The loopback server stops: its forward closes too.
    await exec('kill $(cat /tmp/loop.pid)');
    await eventually(`port ${loop} gone from status`, async () => ((await portOf(loop)) ? undefined : true));
    assert.equal(await connectResult(loop), 'ECONNREFUSED', 'the relay of a stopped loopback server is closed');

    // The server on the taken port stops: its forward closes, the others stay.
    await exec('kill $(cat /tmp/taken.pid)');
    await eventually(`port ${takenPort} gone from status`, async () => ((await portOf(takenPort)) ? undefined : true));
    assert.equal(await connectResult(fwdTaken.hostPort), 'ECONNREFUSED', 'the forward of a stopped server is closed');
    assert.ok(
      events.some((e) => e.Action === 'unlisten' && e.Actor.Attributes.port === String(takenPort)),
      'unlisten sent',
    );
    assert.match(await httpGet(late), /late-server/, 'the other forward still works');

    // Down: every forward closes with the container.
    await conn.sendRequest(WorkspaceDownRequest.type, { folder: dir });
    assert.deepEqual((await status())?.ports, []);
    assert.deepEqual((await status())?.loopbackPorts, []);
    await eventually(`the forward of ${late} closed`, async () => ((await connectResult(late)) === 'ECONNREFUSED' ? true : undefined));
  });

  it('an agent restarted under a running workspace container forwards its listeners again', async () => {
    const port = await freePort();
    const dir = join(await makeTempDir('berth-wsports-'), 'again');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, '.devcontainer.json'),
      JSON.stringify({
        image: s.ref,
        postStartCommand: `mkdir -p /www && echo again > /www/index.html && busybox httpd -p ${port} -h /www`,
      }),
    );
    const up = (await s.conn.sendRequest(WorkspaceUpRequest.type, { folder: dir })) as WorkspaceInfo;
    s.track(up.container.Id);
    const portOf = async (p: number) =>
      ((await s.conn.sendRequest(WorkspaceStatusRequest.type, { folder: dir })) as WorkspaceInfo | null)?.ports.find(
        (x) => x.containerPort === p,
      );
    await eventually(`port ${port} detected`, () => portOf(port));

    // The agent goes away (its proxies with it); the container keeps running; a new agent takes over.
    const first = s.agent;
    await first.stop({ keepNetwork: true });
    assert.equal(await connectResult(port), 'ECONNREFUSED', 'no forward while no agent runs');
    s.agent = await startAgent({ root: first.root });
    s.conn = await s.agent.connect();
    assert.deepEqual(await eventually(`port ${port} detected by the new agent`, () => portOf(port)), {
      containerPort: port,
      hostIp: '127.0.0.1',
      hostPort: port,
      detected: true,
    });
    assert.match(await httpGet(port), /again/);
  });
});
