/**
 * The clients' connection state machine (client/connection.ts) against fake agents on real Unix
 * sockets: connect, subscribe, events, a lost agent, reconnecting as soon as the socket is back, an
 * agent that never answers, one that speaks another protocol, autostart, and requests without a
 * connection; then the CLI's one-shot use of it (connectOnce).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import {
  EventNotification,
  ListImagesRequest,
  PullRequest,
  SubscribeRequest,
  type BerthEvent,
  type PullProgressParams,
} from '../../protocol';
import { classify } from '../../client/errors';
import {
  AgentConnection,
  ConnectionLostError,
  NotConnectedError,
  type AgentConnectionOptions,
  type AgentState,
} from '../../client/connection';
import { ConnectFailedError, connectOnce } from '../../client/connectOnce';
import { FakeAgent, until } from '../support/fakeAgent';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(opts: Partial<AgentConnectionOptions> = {}) {
  const d = FakeAgent.dir();
  cleanups.push(d.remove);
  const log: string[] = [];
  const states: AgentState['kind'][] = [];
  const conn = new AgentConnection({
    socket: () => d.socket,
    log: (l) => log.push(l),
    backoff: { initialMs: 50, maxMs: 200 },
    connectTimeoutMs: 500,
    ...opts,
  });
  cleanups.push(() => conn.dispose());
  conn.onDidChangeState((s) => states.push(s.kind));
  return { socket: d.socket, dir: d.dir, conn, log, states };
}

async function agentOn(socket: string, opts = {}) {
  const a = await new FakeAgent(socket, opts).listen();
  cleanups.push(() => a.stop());
  return a;
}

describe('AgentConnection', () => {
  it('connects, checks the version, subscribes, and forwards events', async () => {
    const { socket, conn, states } = setup();
    const agent = await agentOn(socket);
    const events: BerthEvent[] = [];
    conn.onEvent((e) => events.push(e));
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    assert.deepEqual(states, ['connecting', 'connected']);
    assert.equal(agent.subscribers.size, 1, 'subscribed once');
    agent.emit({ Action: 'pull' });
    await until('the event', () => events.length === 1);
    assert.equal(events[0]!.Action, 'pull');
    agent.images = [];
    assert.deepEqual(await conn.request(ListImagesRequest.type, {}), []);
  });

  it('says no agent is there (ENOENT), then connects as soon as the socket appears', async () => {
    const { socket, conn } = setup({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    conn.start();
    await until('disconnected', () => conn.state.kind === 'disconnected');
    const s = conn.state as Extract<AgentState, { kind: 'disconnected' }>;
    assert.equal(s.noAgent, true);
    assert.match(s.reason, /ENOENT/);
    await assert.rejects(conn.request(ListImagesRequest.type, {}), NotConnectedError);
    // The retry timer is a minute away: only the directory watch can bring it back this fast.
    const started = Date.now();
    await agentOn(socket);
    await until('connected again', () => conn.state.kind === 'connected', 3000);
    assert.ok(Date.now() - started < 3000);
  });

  it('keeps reconnecting with backoff after losing the agent, and gets its events again', async () => {
    const { socket, conn, states } = setup();
    let agent = await agentOn(socket);
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    await agent.stop();
    await until('disconnected', () => conn.state.kind === 'disconnected');
    assert.equal((conn.state as { noAgent: boolean }).noAgent, false, 'the first failure is the lost connection');
    agent = await agentOn(socket);
    await until('reconnected', () => conn.state.kind === 'connected');
    const events: BerthEvent[] = [];
    conn.onEvent((e) => events.push(e));
    await until('subscribed again', () => agent.subscribers.size === 1);
    agent.emit();
    await until('an event after reconnecting', () => events.length === 1);
    assert.ok(states.filter((s) => s === 'connected').length >= 2);
  });

  it('routes pull progress by token and cancels a pull with $/cancelRequest', async () => {
    const { socket, conn } = setup();
    const agent = await agentOn(socket);
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    const progress: PullProgressParams[] = [];
    conn.onPullProgress((p) => progress.push(p));
    const cancel = new CancellationTokenSource();
    const pull = conn.request(PullRequest.type, { reference: 'busybox', progressToken: 't1' }, cancel.token).catch((e) => e);
    await until('progress', () => progress.length === 1);
    assert.equal(progress[0]!.token, 't1');
    cancel.cancel();
    const err = await pull;
    assert.equal(classify(err).kind, 'cancelled', String(err));
    // The request settles here at once; the agent learns of it from $/cancelRequest just after.
    await until('the agent saw the cancellation', () => agent.cancelledPulls.length > 0);
    assert.deepEqual(agent.cancelledPulls, ['busybox']);
    assert.equal(conn.state.kind, 'connected', 'cancelling leaves the connection alone');
  });

  it('fails a request in flight when the agent goes away', async () => {
    const { socket, conn } = setup();
    const agent = await agentOn(socket);
    conn.start();
    await until('connected', () => conn.state.kind === 'connected');
    // A list that never answers, then the agent dies.
    agent.hangList = true;
    const pending = conn.request(ListImagesRequest.type, {}).catch((e) => e);
    await new Promise((r) => setTimeout(r, 20));
    await agent.stop();
    const err = await pending;
    assert.ok(err instanceof ConnectionLostError, String(err));
  });

  it('gives up on an agent that accepts but never answers, within the connect timeout', async () => {
    const { socket, conn } = setup({ connectTimeoutMs: 300, backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await agentOn(socket, { silent: true });
    const started = Date.now();
    conn.start();
    await until('disconnected', () => conn.state.kind === 'disconnected', 3000);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    assert.match((conn.state as { reason: string }).reason, /did not answer/);
  });

  it('refuses an agent that speaks another protocol revision', async () => {
    const { socket, conn } = setup({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await agentOn(socket, { apiVersion: 999 });
    conn.start();
    await until('disconnected', () => conn.state.kind === 'disconnected');
    assert.match((conn.state as { reason: string }).reason, /protocol 999/);
  });

  it('starts an agent once when none answers, and connects to it', async () => {
    let started = 0;
    const { socket, conn, log } = setup({
      autostart: (s) => {
        started++;
        void agentOn(s);
        return { log: '/fake/agent.log', exited: () => undefined };
      },
    });
    conn.start();
    await until('connected to the started agent', () => conn.state.kind === 'connected');
    assert.equal(started, 1);
    assert.ok(log.some((l) => l.includes('started one in the background')));
    assert.equal(socket, (conn.state as { socket: string }).socket);
  });

  it('reports an autostarted agent that dies at once', async () => {
    const { conn } = setup({
      autostart: () => ({ log: '/fake/agent.log', exited: () => 'exit code 1' }),
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    conn.start();
    await until('disconnected', () => conn.state.kind === 'disconnected');
    assert.match((conn.state as { reason: string }).reason, /stopped \(exit code 1\); see \/fake\/agent.log/);
  });

  it('treats a stale socket file with nobody listening as no agent (ECONNREFUSED)', async () => {
    const { socket, conn } = setup({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    // A Unix socket whose server is gone leaves a file that refuses connections.
    const a = await agentOn(socket);
    const server = (a as unknown as { server: import('node:net').Server }).server;
    server.close();
    await new Promise((r) => setTimeout(r, 20));
    try {
      writeFileSync(socket, ''); // a plain file where the socket was: connect() is refused
    } catch {
      /* the socket file itself is still there */
    }
    conn.start();
    await until('disconnected', () => conn.state.kind === 'disconnected');
    assert.equal((conn.state as { noAgent: boolean }).noAgent, true, (conn.state as { reason: string }).reason);
  });

  it('stops trying once disposed', async () => {
    const { conn } = setup();
    conn.start();
    await until('disconnected', () => conn.state.kind === 'disconnected');
    conn.dispose();
    assert.equal(conn.state.kind, 'disposed');
  });
});

describe('connectOnce (the CLI)', () => {
  it('connects without the handshake, sends requests, takes notifications, and ends with the connection', async () => {
    const d = FakeAgent.dir();
    cleanups.push(d.remove);
    const agent = await agentOn(d.socket);
    agent.images = [];
    const client = await connectOnce({ socket: d.socket });
    cleanups.push(() => client.close());
    assert.equal(client.socket, d.socket);
    assert.deepEqual(await client.request(ListImagesRequest.type, {}), []);
    // Neither berth/version nor berth/subscribe was asked: only the request made.
    assert.deepEqual(
      agent.requests.map((r) => r.method),
      [ListImagesRequest.method],
    );
    assert.equal(agent.subscribers.size, 0);
    const seen: BerthEvent[] = [];
    const sub = client.onNotification(EventNotification.type, (e) => seen.push(e));
    // The fake pushes events to subscribers only: subscribe this connection by hand.
    await client.request(SubscribeRequest.type, {});
    agent.emit({ Action: 'pull' });
    await until('the event', () => seen.length === 1);
    sub.dispose();
    agent.emit({ Action: 'tag' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, 1, 'a disposed handler hears nothing more');
    await agent.stop();
    await client.closed;
    await assert.rejects(client.request(ListImagesRequest.type, {}), ConnectionLostError);
  });

  it('fails once, with the errno and without retrying, when nothing listens', async () => {
    const d = FakeAgent.dir();
    cleanups.push(d.remove);
    const err = await connectOnce({ socket: `${d.dir}/none.sock` }).then(
      () => assert.fail('connected to nothing'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectFailedError);
    assert.equal((err.state.cause as NodeJS.ErrnoException).code, 'ENOENT');
    assert.equal(err.state.noAgent, true);
    assert.equal(err.state.retryAt, undefined, 'no next attempt is planned');
    assert.equal(err.state.background, undefined);
  });

  it('says what became of an agent it started in the background', async () => {
    const d = FakeAgent.dir();
    cleanups.push(d.remove);
    let started = 0;
    const err = await connectOnce({
      socket: d.socket,
      autostart: () => (started++, { log: '/fake/agent.log', exited: () => 'exit code 1' }),
    }).then(
      () => assert.fail('connected to nothing'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectFailedError);
    assert.equal(started, 1);
    assert.deepEqual(err.state.background, { log: '/fake/agent.log', exited: 'exit code 1' });
  });

  it('starts an agent when none answers and connects to it', async () => {
    const d = FakeAgent.dir();
    cleanups.push(d.remove);
    const client = await connectOnce({
      socket: d.socket,
      autostart: (s) => {
        void agentOn(s);
        return { log: '/fake/agent.log', exited: () => undefined };
      },
    });
    cleanups.push(() => client.close());
    assert.deepEqual(await client.request(ListImagesRequest.type, {}), []);
  });
});
