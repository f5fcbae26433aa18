/**
 * agent/server/serve.ts and connection.ts over an in-memory JSON-RPC pair, without an agent:
 * params checked before the handler (InvalidArgument naming method and field, the handler never
 * called), BerthErrors passed through with their code and data, other exceptions answered as
 * Internal and logged with the method, cancellation reaching the handler's signal, client
 * notifications with bad params dropped; and AgentConnection.dispose ending what it owns.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { CancellationTokenSource, createMessageConnection, type MessageConnection, ResponseError } from 'vscode-jsonrpc';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { ErrorCode, InputNotification, InspectImageRequest, PullRequest, VersionRequest } from '../../protocol';
import { BerthError } from '../../agent/errors';
import { AgentConnection, type Services } from '../../agent/server/connection';
import { serve, serveNotification } from '../../agent/server/serve';

function pair(): { client: MessageConnection; agent: AgentConnection; logs: string[] } {
  const up = new PassThrough();
  const down = new PassThrough();
  const client = createMessageConnection(new StreamMessageReader(down), new StreamMessageWriter(up));
  const rpc = createMessageConnection(new StreamMessageReader(up), new StreamMessageWriter(down));
  const logs: string[] = [];
  const agent = new AgentConnection(rpc, {} as Services, { root: '/r', socket: '', log: (m) => logs.push(m) });
  return { client, agent, logs };
}

const start = (p: ReturnType<typeof pair>) => {
  p.agent.rpc.listen();
  p.client.listen();
};

describe('serve', () => {
  it('checks params before the handler runs, and passes typed params and a token', async () => {
    const p = pair();
    const seen: unknown[] = [];
    serve(p.agent, InspectImageRequest, (params) => {
      seen.push(params);
      return { Id: params.reference } as never;
    });
    start(p);
    const ok = await p.client.sendRequest(InspectImageRequest.type, { reference: 'busybox', extra: 1 } as never);
    assert.deepEqual(ok, { Id: 'busybox' });
    assert.deepEqual(seen, [{ reference: 'busybox' }], 'unknown fields dropped');
    for (const [params, message] of [
      [{ reference: 7 }, 'image/inspect: params.reference: "reference" must be a non-empty string'],
      [{}, 'image/inspect: params.reference: "reference" must be a non-empty string'],
      [['busybox', 'x'], 'image/inspect: params must be an object of named fields'],
    ] as const) {
      const e = await p.client.sendRequest(InspectImageRequest.method, params).then(
        () => assert.fail('accepted'),
        (x: ResponseError<{ operation: string }>) => x,
      );
      assert.equal(e.code, ErrorCode.InvalidArgument);
      assert.equal(e.message, message);
      assert.deepEqual(e.data, { operation: 'image/inspect' });
    }
    assert.equal(seen.length, 1, 'the handler never saw bad params');
    p.client.dispose();
    p.agent.dispose();
  });

  it('maps a BerthError to its code and data, anything else to Internal (logged)', async () => {
    const p = pair();
    serve(p.agent, InspectImageRequest, (params) => {
      if (params.reference === 'gone')
        throw new BerthError(ErrorCode.NotFound, 'no such image: gone', { operation: 'inspect', reference: 'gone' });
      throw new TypeError('oops');
    });
    start(p);
    const nf = await p.client.sendRequest(InspectImageRequest.type, { reference: 'gone' }).catch((e: ResponseError<unknown>) => e);
    assert.ok(nf instanceof ResponseError);
    assert.equal(nf.code, ErrorCode.NotFound);
    assert.deepEqual(nf.data, { operation: 'inspect', reference: 'gone' });
    const bug = await p.client.sendRequest(InspectImageRequest.type, { reference: 'x' }).catch((e: ResponseError<unknown>) => e);
    assert.ok(bug instanceof ResponseError);
    assert.equal(bug.code, ErrorCode.Internal);
    assert.equal(bug.message, 'image/inspect: internal error: oops');
    assert.match(p.logs.join('\n'), /internal error during image\/inspect: TypeError: oops/);
    p.client.dispose();
    p.agent.dispose();
  });

  it('a request without params gets {}; cancelling and closing abort withAbort', async () => {
    const p = pair();
    serve(p.agent, VersionRequest, () => ({ Version: 'v', ApiVersion: 1, Os: 'linux', Arch: 'amd64', Pid: 1, Root: '/r', Socket: '' }));
    const aborted: string[] = [];
    serve(p.agent, PullRequest, (params, token) =>
      p.agent.withAbort(
        token,
        (signal) =>
          new Promise((_, reject) =>
            signal.addEventListener(
              'abort',
              () => (aborted.push(params.reference), reject(new BerthError(ErrorCode.Cancelled, 'pull: cancelled', { operation: 'pull' }))),
            ),
          ),
      ),
    );
    start(p);
    assert.equal((await p.client.sendRequest(VersionRequest.type)).Version, 'v');
    const cts = new CancellationTokenSource();
    const cancelled = p.client.sendRequest(PullRequest.type, { reference: 'a' }, cts.token).catch((e: ResponseError<unknown>) => e.code);
    await new Promise((r) => setTimeout(r, 50));
    cts.cancel();
    assert.equal(await cancelled, ErrorCode.Cancelled);
    void p.client.sendRequest(PullRequest.type, { reference: 'b' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    p.agent.dispose();
    assert.deepEqual(aborted, ['a', 'b'], 'the cancelled pull, then the one the closing connection owned');
    p.client.dispose();
  });

  it('drops client notifications whose params do not match', async () => {
    const p = pair();
    const got: unknown[] = [];
    serveNotification(p.agent, InputNotification, (n) => got.push(n));
    start(p);
    await p.client.sendNotification(InputNotification.type, { token: 't', data: 'aGk=' });
    await p.client.sendNotification(InputNotification.method, { token: 5 });
    await p.client.sendNotification(InputNotification.method, { token: 't', eof: 'yes' });
    await p.client.sendNotification(InputNotification.type, { token: 't', eof: true });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, [
      { token: 't', data: 'aGk=' },
      { token: 't', eof: true },
    ]);
    p.client.dispose();
    p.agent.dispose();
  });
});

describe('AgentConnection', () => {
  it('dispose stops watches and runs close hooks once; an unregistered hook does not run', () => {
    const p = pair();
    const ran: string[] = [];
    p.agent.changeWatches.set('w', () => ran.push('watch'));
    p.agent.onClose(() => ran.push('hook'));
    const off = p.agent.onClose(() => ran.push('removed'));
    off();
    p.agent.dispose();
    p.agent.dispose();
    assert.deepEqual(ran, ['watch', 'hook']);
    assert.equal(p.agent.changeWatches.size, 0);
  });
});
