/**
 * `berth push` against a fake agent (a real vscode-jsonrpc server on a Unix socket): Docker's
 * output, progress phases in Docker's words, errors as one line; and the token URL a push asks for
 * (several scopes in one token request).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc/node';
import { ErrorCode, PushProgressNotification, PushRequest, type PushParams, type PushProgress, type PushResult } from '../../protocol';
import { main, type CliIO } from '../../cli/main';
import { PUSH_LABELS } from '../../cli/commands/push';
import { layerLine } from '../../cli/progress';
import { pushScope, tokenUrl } from '../../agent/registry/auth';
import { type StartedFakeAgent, startFakeAgent } from '../support/fakeAgent';

const hex = (c: string) => c.repeat(64);
const L1 = `sha256:${hex('1')}`;
const L2 = `sha256:${hex('2')}`;
const L3 = `sha256:${hex('3')}`;
const MANIFEST = `sha256:${hex('m')}`.replace(/m/g, '9');

let agent: StartedFakeAgent;
before(async () => {
  agent = await startFakeAgent({
    [PushRequest.method]: async (p: PushParams, { conn }): Promise<PushResult> => {
      if (p.reference.includes('denied')) {
        throw new ResponseError(
          ErrorCode.RegistryAuth,
          `push ${p.reference}: push denied to 127.0.0.1:5000/team/denied (401): the registry wants credentials`,
          { operation: 'push' },
        );
      }
      const send = (blob: PushProgress) =>
        conn.sendNotification(PushProgressNotification.type, { token: p.progressToken!, reference: p.reference, blob });
      await send({ digest: L1, phase: 'waiting', current: 0, total: 100 });
      await send({ digest: L1, phase: 'mounted', current: 100, total: 100, from: 'lib/base' });
      await send({ digest: L2, phase: 'exists', current: 100, total: 100 });
      await send({ digest: L3, phase: 'pushing', current: 1_000_000, total: 2_000_000 });
      await send({ digest: L3, phase: 'done', current: 2_000_000, total: 2_000_000 });
      return {
        reference: '127.0.0.1:5000/team/app:v1',
        tag: 'v1',
        digest: MANIFEST,
        size: 947,
        blobs: [
          { digest: L1, size: 100, kind: 'layer', action: 'mounted', from: 'lib/base' },
          { digest: L2, size: 100, kind: 'layer', action: 'exists' },
          { digest: L3, size: 2_000_000, kind: 'layer', action: 'pushed' },
        ],
      };
    },
  });
});
after(() => agent.close());

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const io: Partial<CliIO> = {
    stdout: (s) => void (out.stdout += s),
    stderr: (s) => void (out.stderr += s),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env: { BERTH_SOCKET: agent.socket, BERTH_NO_AUTOSTART: '1' },
    cwd: '/',
    now: () => 0,
    onInterrupt: () => () => undefined,
  };
  const code = await main(argv, io);
  return { code, ...out };
}

test("push: Docker's lines on stdout, one per phase change off a terminal, then TAG: digest: D size: N", async () => {
  const r = await run(['push', '127.0.0.1:5000/team/app:v1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    'The push refers to repository [127.0.0.1:5000/team/app]\n' +
      '111111111111: Waiting\n' +
      '111111111111: Mounted from lib/base\n' +
      '222222222222: Layer already exists\n' +
      '333333333333: Pushing 1MB/2MB\n' +
      '333333333333: Pushed\n' +
      `v1: digest: ${MANIFEST} size: 947\n`,
  );
  assert.deepEqual((agent.requests.at(-1)!.params as PushParams).reference, '127.0.0.1:5000/team/app:v1');
});

test('push -q prints only the digest line; a refusal is one error line and no header', async () => {
  const q = await run(['push', '-q', '127.0.0.1:5000/team/app:v1']);
  assert.equal(q.stdout, `v1: digest: ${MANIFEST} size: 947\n`);
  const d = await run(['push', '127.0.0.1:5000/team/denied']);
  assert.equal(d.code, 1);
  assert.equal(d.stdout, '');
  assert.match(d.stderr, /^Error: push 127\.0\.0\.1:5000\/team\/denied: push denied to .* \(401\)/);
  assert.equal((await run(['push'])).code, 2, 'a missing operand is a usage error');
});

test('push progress on a terminal draws a bar while pushing', () => {
  const line = layerLine({ digest: L3, phase: 'pushing', current: 1_000_000, total: 2_000_000 }, 120, true, PUSH_LABELS);
  assert.match(line, /^333333333333: Pushing \[=+>\s+\] 1MB\/2MB$/);
});

test('a push token asks for push on the target and pull on each mount source, one scope parameter each', () => {
  const u = tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg' } }, [
    pushScope('team/app'),
    'repository:lib/base:pull',
  ]);
  assert.deepEqual(u.searchParams.getAll('scope'), ['repository:team/app:pull,push', 'repository:lib/base:pull']);
  assert.equal(u.searchParams.get('service'), 'reg');
  // A single scope is still one parameter, as pulls ask.
  assert.deepEqual(tokenUrl({ scheme: 'bearer', params: { realm: 'https://a/t' } }, 'repository:x:pull').searchParams.getAll('scope'), [
    'repository:x:pull',
  ]);
});
