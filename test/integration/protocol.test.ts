/**
 * The protocol as any client sees it, over the agent's real socket (and its stdio mode): the
 * version answer, JSON-RPC errors for unknown methods, InvalidArgument for malformed params, the
 * SO_PEERCRED check against a real process of another uid, socket modes, events fanned out to
 * several subscribers, and clients that vanish in the middle of a pull.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMessageConnection, ErrorCodes, type MessageConnection } from 'vscode-jsonrpc';
import { SocketMessageReader, SocketMessageWriter, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import {
  API_VERSION,
  CreateContainerRequest,
  ErrorCode,
  EventNotification,
  ExecRequest,
  ImageHistoryRequest,
  InspectImageRequest,
  LayerFilesRequest,
  ListImagesRequest,
  LoadImagesRequest,
  PullProgressNotification,
  PullRequest,
  RemoveImageRequest,
  SaveImagesRequest,
  SubscribeRequest,
  TagImageRequest,
  VersionRequest,
  type BerthEvent,
} from '../../protocol';
import { BUNDLE, REPO, startAgent, type TestAgent } from '../support/agent';
import { startFaultProxy } from '../support/faultProxy';
import { busyboxImage, type BuiltImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { makeTempDir, registerCleanup, requireTools, runCleanups, stopChild, trackChild } from '../support/tmp';
import { expectAgentError } from '../support/expect';

const NOBODY = 65534;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) for `cond`, polling every 50 ms. */
async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  for (let waited = 0; !cond(); waited += 50) {
    if (waited >= ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * A client in a separate process running as `uid`: connects to `socket`, sends berth/version and
 * prints what happened as JSON. Needs nothing but node and vscode-jsonrpc from the repo.
 */
const PEER_SCRIPT = `
const net = require('node:net');
const rpc = require(${JSON.stringify(join(REPO, 'node_modules', 'vscode-jsonrpc', 'node'))});
const done = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
const s = net.createConnection(process.argv[1]);
s.once('error', (e) => done({ connectError: e.code }));
s.once('connect', () => {
  const c = rpc.createMessageConnection(new rpc.SocketMessageReader(s), new rpc.SocketMessageWriter(s));
  c.listen();
  c.sendRequest('berth/version').then((r) => done({ result: r }), (e) => done({ code: e.code, message: e.message }));
});
setTimeout(() => done({ timeout: true }), 10000);
`;

function runPeer(
  uid: number,
  socket: string,
): Promise<{ connectError?: string; code?: number; message?: string; result?: unknown; timeout?: boolean; uid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', PEER_SCRIPT, socket], {
      uid,
      gid: uid,
      cwd: '/',
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    trackChild(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`peer script (uid ${uid}) exited ${code}: ${err}`));
      resolve({ ...JSON.parse(out), uid });
    });
  });
}

describe('the protocol over the socket', () => {
  let agent: TestAgent;
  let conn: MessageConnection;

  before(async () => {
    requireTools(['tar']);
    // No SUDO_UID: this agent serves root only.
    const env: NodeJS.ProcessEnv = { SUDO_UID: '' };
    agent = await startAgent({ env });
    conn = await agent.connect();
  });
  after(runCleanups);

  it('berth/version says who answers', async () => {
    const v = await conn.sendRequest(VersionRequest.type);
    assert.deepEqual(Object.keys(v).sort(), ['ApiVersion', 'Arch', 'Os', 'Pid', 'Root', 'Socket', 'Version']);
    assert.equal(v.ApiVersion, API_VERSION);
    assert.equal(v.Pid, agent.child.pid);
    assert.equal(v.Root, agent.root);
    assert.equal(v.Socket, agent.socket);
    assert.equal(v.Os, process.platform);
    // Docker's (Go's) architecture names, as in image configs.
    const goArch: Record<string, string> = {
      x64: 'amd64',
      arm64: 'arm64',
      arm: 'arm',
      ia32: '386',
      ppc64: 'ppc64le',
      s390x: 's390x',
      riscv64: 'riscv64',
    };
    assert.equal(v.Arch, goArch[process.arch] ?? process.arch);
    assert.match(v.Version, /^\d+\.\d+\.\d+/);
  });

  it('the socket is 0600 in a 0700 directory, as the agent creates them', () => {
    assert.equal(statSync(agent.socket).mode & 0o777, 0o600);
    assert.ok(statSync(agent.socket).isSocket());
    const dir = statSync(dirname(agent.socket));
    assert.equal(dir.mode & 0o777, 0o700);
    assert.equal(dir.uid, 0);
  });

  it('another uid cannot even reach the socket through its 0700 directory', async () => {
    const r = await runPeer(NOBODY, agent.socket);
    assert.equal(r.connectError, 'EACCES', JSON.stringify(r));
  });

  it('an unknown method gets MethodNotFound and the agent keeps serving', async () => {
    await expectAgentError(conn.sendRequest('image/frobnicate', { x: 1 }), ErrorCodes.MethodNotFound, /image\/frobnicate/);
    await expectAgentError(conn.sendRequest('nothing'), ErrorCodes.MethodNotFound);
    assert.equal((await conn.sendRequest(VersionRequest.type)).Pid, agent.child.pid);
    assert.deepEqual(await conn.sendRequest(ListImagesRequest.type, {}), []);
  });

  it('malformed params get InvalidArgument (1000) naming the field', async () => {
    const bad: [string, unknown, RegExp][] = [
      [PullRequest.method, { reference: 42 }, /^image\/pull: params\.reference: "reference" must be a non-empty string$/],
      [PullRequest.method, {}, /^image\/pull: params\.reference: "reference" must be a non-empty string$/],
      [
        PullRequest.method,
        { reference: 'busybox', platform: 'linux/amd64' },
        /^image\/pull: params\.platform: "platform" must be \{os, architecture/,
      ],
      [
        PullRequest.method,
        { reference: 'busybox', platform: { os: 'linux', architecture: 3 } },
        /^image\/pull: params\.platform\.architecture: "architecture" must be/,
      ],
      [
        PullRequest.method,
        { reference: 'busybox', progressToken: 7 },
        /^image\/pull: params\.progressToken: "progressToken" must be a string$/,
      ],
      [
        PullRequest.method,
        { reference: 'x'.repeat(5000) },
        /^image\/pull: params\.reference: "reference" must be a non-empty string of at most 4096 characters$/,
      ],
      [InspectImageRequest.method, { reference: null }, /^image\/inspect: params\.reference: "reference"/],
      [InspectImageRequest.method, { reference: '' }, /^image\/inspect: params\.reference: "reference"/],
      [ImageHistoryRequest.method, { reference: ['a'] }, /^image\/history: params\.reference: "reference"/],
      [TagImageRequest.method, { source: 'a', target: 5 }, /^image\/tag: params\.target: "target"/],
      [TagImageRequest.method, { source: {}, target: 'b' }, /^image\/tag: params\.source: "source"/],
      [RemoveImageRequest.method, { reference: 1 }, /^image\/remove: params\.reference: "reference"/],
      [RemoveImageRequest.method, { reference: 'busybox', force: 'yes' }, /^image\/remove: params\.force: "force" must be a boolean$/],
      [
        SaveImagesRequest.method,
        { references: 'busybox', path: '/tmp/x.tar' },
        /^image\/save: params\.references: "references" must be a non-empty array of strings$/,
      ],
      [SaveImagesRequest.method, { references: [], path: '/tmp/x.tar' }, /^image\/save: params\.references: "references"/],
      [SaveImagesRequest.method, { references: [1], path: '/tmp/x.tar' }, /^image\/save: params\.references\[0\]: "references"/],
      [SaveImagesRequest.method, { references: ['busybox'], path: 3 }, /^image\/save: params\.path: "path"/],
      [SaveImagesRequest.method, { references: ['busybox'], path: 'x.tar' }, /^image\/save: params\.path: "path" must be absolute$/],
      [LoadImagesRequest.method, { path: 7 }, /^image\/load: params\.path: "path"/],
      [LoadImagesRequest.method, { path: 'relative/x.tar' }, /^image\/load: params\.path: "path" must be absolute$/],
      [SubscribeRequest.method, { types: 'image' }, /^berth\/subscribe: params\.types: "types" must be an array of strings$/],
      [
        CreateContainerRequest.method,
        { image: 'busybox', memory: 'lots' },
        /^container\/create: params\.memory: "memory" must be a number of at least 0$/,
      ],
      [
        CreateContainerRequest.method,
        { image: 'busybox', labels: ['a'] },
        /^container\/create: params\.labels: "labels" must be an object of strings$/,
      ],
      [
        CreateContainerRequest.method,
        { image: 'busybox', userns: 'private' },
        /^container\/create: params\.userns: "userns" must be "host" or "auto"$/,
      ],
      [
        ExecRequest.method,
        { container: 'c', cmd: ['sh'], tty: true },
        /^container\/exec: params\.attachToken: "attachToken" must be given with "tty" or "stdin"$/,
      ],
      [
        LayerFilesRequest.method,
        { reference: 'busybox' },
        /^image\/layerFiles: params\.layer: "layer" must be a layer index or digest unless "merged" is true$/,
      ],
      [VersionRequest.method, 'str', /^berth\/version: params must be an object of named fields$/],
    ];
    for (const [method, params, re] of bad) {
      const e = await expectAgentError(conn.sendRequest(method, params), ErrorCode.InvalidArgument, re);
      assert.equal(e.data?.operation, method, `${method}: data.operation names the method`);
    }
    // Positional (array) params and no params at all are malformed too, answered by the agent's
    // own checks with its own code.
    for (const method of [
      PullRequest.method,
      InspectImageRequest.method,
      TagImageRequest.method,
      SaveImagesRequest.method,
      LoadImagesRequest.method,
    ]) {
      await expectAgentError(conn.sendRequest(method, ['/tmp/x.tar']), ErrorCode.InvalidArgument);
      await expectAgentError(conn.sendRequest(method, ['/tmp/x.tar', 'two']), ErrorCode.InvalidArgument);
      await expectAgentError(conn.sendRequest(method), ErrorCode.InvalidArgument);
    }
    assert.equal((await conn.sendRequest(VersionRequest.type)).Pid, agent.child.pid);
    assert.deepEqual(readdirSync(join(agent.root, 'tmp')), []);
  });

  it('a peer of another uid is refused with PermissionDenied (SO_PEERCRED), root still served', async () => {
    // Open the way to the socket so the refusal can only come from the peer check.
    chmodSync(dirname(agent.socket), 0o711);
    chmodSync(agent.socket, 0o666);
    try {
      const r = await runPeer(NOBODY, agent.socket);
      assert.equal(r.connectError, undefined, JSON.stringify(r));
      assert.equal(r.code, ErrorCode.PermissionDenied, JSON.stringify(r));
      assert.match(r.message!, /permission denied/);
      assert.match(r.message!, /you are uid 65534/);
      assert.ok(r.message!.includes(agent.socket), r.message);
      assert.match(agent.log(), /refusing uid 65534/);
      // A second refused peer, and root meanwhile: still served.
      const again = await runPeer(NOBODY, agent.socket);
      assert.equal(again.code, ErrorCode.PermissionDenied);
      assert.equal((await conn.sendRequest(VersionRequest.type)).Pid, agent.child.pid);
      const fresh = await agent.connect();
      assert.equal((await fresh.sendRequest(VersionRequest.type)).Pid, agent.child.pid);
    } finally {
      chmodSync(dirname(agent.socket), 0o700);
      chmodSync(agent.socket, 0o600);
    }
  });

  it('the user the agent was started for (SUDO_UID) can reach the socket and is served; others cannot reach it', async () => {
    const forUser = await startAgent({ env: { SUDO_UID: String(NOBODY) } });
    // As created, without any help from the test: the socket is the user's, the store root only
    // traversable by others.
    const sock = statSync(forUser.socket);
    assert.equal(sock.uid, NOBODY);
    assert.equal(sock.mode & 0o777, 0o600);
    assert.equal(statSync(dirname(forUser.socket)).mode & 0o777, 0o711);
    const r = await runPeer(NOBODY, forUser.socket);
    assert.equal((r.result as { Pid: number } | undefined)?.Pid, forUser.child.pid, JSON.stringify(r));
    const other = await runPeer(NOBODY - 1, forUser.socket);
    assert.equal(other.connectError, 'EACCES', JSON.stringify(other));
    await forUser.stop();
  });
});

describe('stdio mode', () => {
  before(() => requireTools(['tar']));
  after(runCleanups);

  it('`berth agent --stdio` speaks the protocol on stdin/stdout and exits when stdin closes', async () => {
    const root = await makeTempDir('berth-stdio-');
    const env: NodeJS.ProcessEnv = { ...process.env, BERTH_ROOT: root };
    delete env.BERTH_SOCKET;
    const child = spawn(process.execPath, [BUNDLE, 'agent', '--stdio'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    trackChild(child);
    const unregister = registerCleanup(() => stopChild(child));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    const c = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    c.listen();
    try {
      const v = await c.sendRequest(VersionRequest.type);
      assert.equal(v.Pid, child.pid);
      assert.equal(v.Root, root);
      assert.equal(v.Socket, '', 'stdio only: no socket');
      assert.deepEqual(await c.sendRequest(ListImagesRequest.type, {}), []);
      await expectAgentError(c.sendRequest(InspectImageRequest.type, { reference: 'nosuch' }), ErrorCode.NotFound, /no such image: nosuch/);
      assert.ok(!existsSync(join(root, 'agent.sock')), 'without --socket, stdio mode listens on no socket');
    } finally {
      c.dispose();
    }
    child.stdin.end();
    const how = await Promise.race([exited, sleep(5000).then(() => 'timeout' as const)]);
    assert.notEqual(how, 'timeout', `the agent did not exit within 5 s of stdin closing; stderr: ${stderr}`);
    unregister();
    assert.deepEqual(how, { code: 0, signal: null }, stderr);
    assert.match(stderr, /stopping \(stdio closed\)/);
  });
});

describe('events and vanishing clients', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let box: BuiltImage;
  let boxRef: string;

  before(async () => {
    requireTools();
    registry = await startRegistry();
    box = await busyboxImage();
    await pushImage(registry, 'proto/box', 'v1', box);
    boxRef = `${registry.host}/proto/box:v1`;
    agent = await startAgent();
  });
  after(runCleanups);

  it('two subscribers both receive a tag event; an unsubscribed connection gets none', async () => {
    const a = await agent.connect();
    const b = await agent.connect();
    const quiet = await agent.connect();
    const got: Record<'a' | 'b' | 'quiet', BerthEvent[]> = { a: [], b: [], quiet: [] };
    a.onNotification(EventNotification.type, (e) => got.a.push(e));
    b.onNotification(EventNotification.type, (e) => got.b.push(e));
    quiet.onNotification(EventNotification.type, (e) => got.quiet.push(e));
    await a.sendRequest(SubscribeRequest.type, {});
    await b.sendRequest(SubscribeRequest.type, { types: ['image'] });
    await b.sendRequest(SubscribeRequest.type, { types: ['image'] }); // twice: still one copy of each event
    await quiet.sendRequest(PullRequest.type, { reference: boxRef });
    await quiet.sendRequest(TagImageRequest.type, { source: boxRef, target: 'evt:1' });
    await waitFor('both subscribers to see the tag', () =>
      [got.a, got.b].every((l) => l.some((e) => e.Action === 'tag' && e.Actor.Attributes.name === 'evt:1')),
    );
    for (const list of [got.a, got.b]) {
      // The pull sets its own tag (pull, tag), then the explicit tag.
      assert.deepEqual(
        list.map((e) => `${e.Action} ${e.Actor.Attributes.name}`),
        [`pull ${boxRef}`, `tag ${boxRef}`, 'tag evt:1'],
      );
      assert.ok(list.every((e) => e.Type === 'image' && e.Actor.ID === box.configDigest));
    }
    assert.deepEqual(got.quiet, []);
    // A subscriber that goes away is dropped; the other keeps receiving.
    a.dispose();
    await sleep(100);
    await quiet.sendRequest(TagImageRequest.type, { source: boxRef, target: 'evt:2' });
    await waitFor('b to see the second tag', () => got.b.some((e) => e.Actor.Attributes.name === 'evt:2'));
    assert.equal(got.a.length, 3);
    await quiet.sendRequest(RemoveImageRequest.type, { reference: box.configDigest, force: true });
    assert.deepEqual(readdirSync(join(agent.root, 'layers')), [], 'the next test pulls into an empty store');
  });

  it('a client that drops its socket in the middle of a pull does not hurt the agent', async () => {
    const proxy = await startFaultProxy(registry.host);
    proxy.fault = (req) =>
      req.path.includes(box.layers[0].digest) ? { kind: 'throttle', bytesPerSecond: Math.ceil(box.layers[0].size / 2) } : undefined;
    const ref = `${proxy.host}/proto/box:v1`;
    const watcher = await agent.connect();
    const events: BerthEvent[] = [];
    watcher.onNotification(EventNotification.type, (e) => events.push(e));
    await watcher.sendRequest(SubscribeRequest.type, {});

    const socket = createConnection(agent.socket);
    await new Promise<void>((res, rej) => socket.once('connect', () => res()).once('error', rej));
    const doomed = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    let downloading = false;
    doomed.onNotification(PullProgressNotification.type, (p) => (downloading ||= p.layer.phase === 'downloading' && p.layer.current > 0));
    doomed.listen();
    let settledEarly: unknown;
    const pending = doomed.sendRequest(PullRequest.type, { reference: ref, progressToken: 'doomed' }).then(
      (r) => (settledEarly = r),
      (e: Error) => (settledEarly = e),
    );
    await waitFor('the layer download to start', () => {
      assert.equal(settledEarly, undefined, 'the pull ended before the socket was dropped');
      return downloading;
    });
    assert.ok(readdirSync(join(agent.root, 'tmp')).length > 0, 'the pull is under way in tmp/');
    socket.destroy();
    doomed.dispose();
    await pending;

    // The agent is fine: it answers at once, on a new connection and on the old watcher.
    assert.equal((await watcher.sendRequest(VersionRequest.type)).Pid, agent.child.pid);
    const after = await agent.connect();
    assert.equal((await after.sendRequest(VersionRequest.type)).Pid, agent.child.pid);
    // The pull settles one way or the other (finished, or cancelled with its connection) and
    // leaves no work behind.
    const tmp = join(agent.root, 'tmp');
    await waitFor(
      'the abandoned pull to settle (image stored or tmp/ emptied)',
      () => events.some((e) => e.Action === 'pull') || readdirSync(tmp).length === 0,
      15_000,
    );
    await waitFor('tmp/ to be empty', () => readdirSync(tmp).length === 0, 15_000);
    const list = await after.sendRequest(ListImagesRequest.type, {});
    if (events.some((e) => e.Action === 'pull')) {
      assert.deepEqual(
        list.map((i) => i.Id),
        [box.configDigest],
        'a finished pull stored the whole image',
      );
    } else {
      assert.deepEqual(list, [], 'a cancelled pull stored no image');
      assert.deepEqual(readdirSync(join(agent.root, 'layers')), []);
    }
    assert.equal(agent.child.exitCode, null, 'the agent is still running');
    assert.doesNotMatch(agent.log(), /internal error|uncaught|unhandled/i);
    await proxy.stop();
  });
});
