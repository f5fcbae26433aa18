/**
 * The extension's agent connection against deliberately broken agents: real processes on real
 * Unix sockets that speak the framing by hand, so each fault is exact. One crashes (exits) in the
 * middle of a request; one never answers a request; others send malformed JSON-RPC (bad JSON, a
 * bad header, a JSON value that is not JSON-RPC 2.0, an error without a code). Each time the
 * caller gets an Error whose message is a sentence, the connection recovers by itself (reconnects
 * once an agent answers again), and nothing is left behind: no socket handles, one connection at
 * the agent. Every process is stopped by PID in cleanup.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import { ListImagesRequest, VersionRequest } from '../../protocol';
import { AgentConnection, ConnectionLostError, RequestTimeoutError } from '../../client/connection';
import { classify, sentence } from '../../client/errors';
import { until } from '../support/fakeAgent';
import { makeTempDir, registerCleanup, runCleanups, stopChild, trackChild } from '../support/tmp';

/**
 * A broken agent: `node broken.js SOCKET MODE...`, one MODE per connection in turn (the last one
 * stays). It answers berth/version and berth/subscribe properly, then image/list per MODE:
 * good ([]), crash (exit 3), silent (no answer), bad-json, bad-header, not-jsonrpc, bad-error.
 * It prints one JSON line per thing it sees: {open}, {close}, {method}, {cancel}.
 */
const BROKEN_AGENT = String.raw`
const net = require('node:net');
const [socket, ...modes] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let n = 0, open = 0;
const frame = (s) => 'Content-Length: ' + Buffer.byteLength(s) + '\r\n\r\n' + s;
const server = net.createServer((c) => {
  const mode = modes[Math.min(n++, modes.length - 1)];
  open++;
  say({ open });
  c.on('close', () => { open--; say({ close: open }); });
  c.on('error', () => {});
  let buf = Buffer.alloc(0);
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/Content-Length: (\d+)/i.exec(buf.subarray(0, end).toString())[1]);
      if (buf.length < end + 4 + len) return;
      const msg = JSON.parse(buf.subarray(end + 4, end + 4 + len).toString());
      buf = buf.subarray(end + 4 + len);
      handle(msg);
    }
  });
  const answer = (id, result) => c.write(frame(JSON.stringify({ jsonrpc: '2.0', id, result })));
  function handle(m) {
    if (m.method === '$/cancelRequest') return say({ cancel: m.params.id });
    say({ method: m.method });
    if (m.method === 'berth/version') return answer(m.id, { Version: 'broken', ApiVersion: 1, Os: 'linux', Arch: 'amd64', Pid: process.pid, Root: '/broken', Socket: socket });
    if (m.method === 'berth/subscribe') return answer(m.id, null);
    switch (mode) {
      case 'good': return answer(m.id, []);
      case 'crash': return process.exit(3);
      case 'silent': return;
      case 'bad-json': return c.write(frame('{"jsonrpc": "2.0", "id": ' + m.id + ', "result": [}'));
      case 'bad-header': return c.write('Content-Length: lots\r\n\r\n{}');
      case 'not-jsonrpc': return c.write(frame(JSON.stringify({ hello: 'world', id: m.id })));
      case 'bad-error': return c.write(frame(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { message: 'no code' } })));
    }
  }
});
try { require('node:fs').unlinkSync(socket); } catch {}
server.listen(socket, () => say({ listening: true }));
`;

interface Broken {
  child: ChildProcess;
  seen: Record<string, unknown>[];
  stop(): Promise<void>;
}

let dir: string;
let script: string;

async function brokenAgent(socket: string, modes: string[]): Promise<Broken> {
  if (!dir) {
    dir = await makeTempDir('berth-broken-agent-');
    script = join(dir, 'broken.js');
    writeFileSync(script, BROKEN_AGENT);
  }
  const child = spawn(process.execPath, [script, socket, ...modes], { stdio: ['ignore', 'pipe', 'inherit'] });
  trackChild(child);
  const seen: Record<string, unknown>[] = [];
  let rest = '';
  child.stdout!.on('data', (d: Buffer) => {
    rest += d.toString();
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const l of lines) seen.push(JSON.parse(l));
  });
  const stop = () => stopChild(child);
  registerCleanup(stop);
  await until('the broken agent listens', () => seen.some((s) => s.listening), 5000);
  return { child, seen, stop };
}

const pipes = () => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length;

function connection(socket: string) {
  const log: string[] = [];
  const conn = new AgentConnection({
    socket: () => socket,
    log: (l) => log.push(l),
    backoff: { initialMs: 50, maxMs: 200 },
    connectTimeoutMs: 2000,
  });
  return { conn, log };
}

/** Awaits `p`, which must reject; returns the error. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected the request to fail');
}

describe('the extension against broken agents', () => {
  const conns: AgentConnection[] = [];
  afterEach(() => {
    for (const c of conns.splice(0)) c.dispose();
  });
  after(runCleanups);

  it('an agent that crashes mid-request: the request fails with a sentence, and the connection comes back with the agent', async () => {
    const socket = join(await makeTempDir('berth-broken-'), 'agent.sock');
    const crashing = await brokenAgent(socket, ['crash']);
    const { conn, log } = connection(socket);
    conns.push(conn);
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    const err = await rejection(conn.request(ListImagesRequest.type, {}));
    assert.ok(err instanceof ConnectionLostError, String(err));
    assert.equal(sentence(err.message), `Lost the connection to the agent at ${socket}.`);
    assert.equal(classify(err).kind, 'connectionLost');
    await until('the crash is seen', () => crashing.child.exitCode === 3);
    await until('disconnected', () => conn.state.kind === 'disconnected');
    assert.match(log.join('\n'), /lost the connection to the agent at .*: the agent closed the connection/);
    // The agent comes back (a restart): the connection finds it by itself.
    const good = await brokenAgent(socket, ['good']);
    await until('reconnected', () => conn.state.kind === 'connected');
    assert.deepEqual(await conn.request(ListImagesRequest.type, {}), []);
    assert.equal(good.seen.filter((s) => 'open' in s).length, 1, 'one connection');
  });

  it('an agent that never answers: the timeout and the cancel settle at once with a sentence, and the agent is told', async () => {
    const socket = join(await makeTempDir('berth-broken-'), 'agent.sock');
    const silent = await brokenAgent(socket, ['silent']);
    const { conn, log } = connection(socket);
    conns.push(conn);
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    const err = await rejection(conn.request(ListImagesRequest.type, {}, undefined, { timeoutMs: 300 }));
    assert.ok(err instanceof RequestTimeoutError, String(err));
    assert.equal(
      sentence(err.message),
      `The agent at ${socket} did not answer image/list within 0.3 s; it may be stuck (its log says more).`,
    );
    assert.ok(
      log.some((l) => l.includes('did not answer image/list')),
      'logged',
    );
    await until('the agent was told', () => silent.seen.filter((s) => 'cancel' in s).length === 1);
    // A user's cancel: settles at once, as "cancelled" (not an error to show).
    const cancel = new CancellationTokenSource();
    const pending = conn.request(ListImagesRequest.type, {}, cancel.token);
    await until('the request arrived', () => silent.seen.filter((s) => s.method === 'image/list').length === 2);
    cancel.cancel();
    assert.equal(classify(await rejection(pending)).kind, 'cancelled');
    await until('the agent was told again', () => silent.seen.filter((s) => 'cancel' in s).length === 2);
    // The connection itself is fine: another request is answered.
    assert.equal(conn.state.kind, 'connected');
    assert.equal((await conn.request0(VersionRequest.type)).Version, 'broken');
  });

  it('an agent that sends malformed JSON-RPC: each is reported as a sentence, the connection is made again, nothing leaks', async () => {
    const socket = join(await makeTempDir('berth-broken-'), 'agent.sock');
    const modes = ['bad-json', 'bad-header', 'not-jsonrpc', 'bad-error'];
    const agent = await brokenAgent(socket, [...modes, 'good']);
    const before = pipes();
    const { conn, log } = connection(socket);
    conns.push(conn);
    const reasons: string[] = [];
    conn.onDidChangeState((s) => s.kind === 'disconnected' && reasons.push(s.reason));
    conn.start();
    for (const [i, mode] of modes.entries()) {
      await until(`connected (${mode})`, () => conn.state.kind === 'connected');
      const err = await rejection(conn.request(ListImagesRequest.type, {}, undefined, { timeoutMs: 5000 }));
      assert.ok(err instanceof ConnectionLostError, `${mode}: ${String(err)}`);
      await until(`dropped (${mode})`, () => reasons.length === i + 1);
    }
    assert.match(reasons[0]!, /^the agent sent a malformed message \(.*JSON/);
    assert.match(reasons[1]!, /^the agent sent a malformed message \(Content-Length value must be a number/);
    assert.equal(reasons[2], 'the agent sent a malformed message (not JSON-RPC 2.0 (no "jsonrpc": "2.0"))');
    assert.equal(reasons[3], 'the agent sent a malformed message (an error response without a numeric "code" and a "message")');
    assert.equal(log.filter((l) => l.startsWith('lost the connection')).length, 4);
    // The fifth connection is served properly.
    await until('connected again', () => conn.state.kind === 'connected');
    assert.deepEqual(await conn.request(ListImagesRequest.type, {}), []);
    // One connection open at the agent, no socket handle left over on this side.
    await until('old connections closed at the agent', () => agent.seen.filter((s) => 'close' in s).length === 4);
    assert.equal(agent.seen.filter((s) => 'open' in s).length, 5);
    assert.equal(pipes(), before + 1, 'one socket handle here: the live connection');
    conn.dispose();
    conns.splice(0);
    await until('no socket left', () => pipes() <= before, 2000);
    await agent.stop();
  });
});
