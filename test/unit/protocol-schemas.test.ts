/**
 * The protocol's param schemas and the agent's reading of them (agent/server/serve.ts), without an
 * agent: every declared request has a schema; values drawn from each schema (test/support/
 * schemaValues.ts) are accepted, and each targeted invalid one is refused naming its field, as
 * `serve` words it ("METHOD: params.FIELD: \"FIELD\" must be ..."). The seed is printed and read
 * from BERTH_FUZZ_SEED.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import * as v from 'valibot';
import { RequestType, RequestType0 } from 'vscode-jsonrpc';
import * as protocol from '../../protocol';
import { CreateContainerParams, ErrorCode, FsPathParams, PutArchiveParams, StartContainerParams } from '../../protocol';
import { BerthError } from '../../agent/errors';
import { describeIssue, parseParams } from '../../agent/server/serve';
import { invalidCases, prng, validValue } from '../support/schemaValues';

const SEED = process.env.BERTH_FUZZ_SEED ? Number(process.env.BERTH_FUZZ_SEED) >>> 0 : randomBytes(4).readUInt32LE(0);
console.log(`protocol-schemas: seed ${SEED} (replay: BERTH_FUZZ_SEED=${SEED})`);

type Declared = { method: string; params: protocol.ParamsSchema; type: unknown };
const requests = (Object.values(protocol) as unknown[]).filter(
  (d): d is Declared =>
    !!d &&
    typeof d === 'object' &&
    typeof (d as Declared).method === 'string' &&
    ((d as Declared).type instanceof RequestType || (d as Declared).type instanceof RequestType0),
);

const refusal = (method: string, schema: protocol.ParamsSchema, params: unknown): string => {
  try {
    parseParams(method, schema, params);
  } catch (e) {
    assert.ok(e instanceof BerthError && e.code === ErrorCode.InvalidArgument, String(e));
    assert.equal(e.data.operation, method);
    return e.message;
  }
  return assert.fail(`${method}: ${JSON.stringify(params)?.slice(0, 200)} was accepted`);
};

describe('request schemas', () => {
  it('every declared request has a params schema', () => {
    assert.ok(requests.length >= 46, `requests declared: ${requests.length}`);
    for (const r of requests) assert.equal(typeof (r.params as { '~run'?: unknown })['~run'], 'function', `${r.method} has a schema`);
    assert.ok(requests.some((r) => r.method === 'system/info'));
  });

  it('values drawn from each schema are accepted; targeted invalid ones are refused naming the field', () => {
    const random = prng(SEED);
    const strings = ['x', 'busybox', '/abs/path', 'sha256:' + '0'.repeat(64), '', 'host', 'auto', 'not-running', 'next-exit'];
    for (const r of requests) {
      let accepted = 0;
      for (let i = 0; i < 30; i++) {
        const value = validValue(r.params, { random, strings });
        if (v.safeParse(r.params, value).success) accepted++;
      }
      // Cross-field checks (stream needs attachToken, tty needs attachToken) refuse some draws.
      assert.ok(accepted >= 5, `${r.method}: ${accepted}/30 drawn values accepted (seed ${SEED})`);
      for (const c of invalidCases(r.params, { random, strings })) {
        const msg = refusal(r.method, r.params, c.params);
        const where = c.field ? `${r.method}: params.${c.field}` : `${r.method}: params must be`;
        assert.ok(msg.startsWith(where), `${r.method} ${c.what} ${c.field}: "${msg}" starts with "${where}" (seed ${SEED})`);
        if (c.field) assert.match(msg, new RegExp(`"${c.field}" `), `${r.method}: the field is named in quotes`);
      }
    }
  });

  it('messages name the method, the path and what the field must be', () => {
    assert.equal(
      refusal('container/create', CreateContainerParams, { image: 'b', memory: 'lots' }),
      'container/create: params.memory: "memory" must be a number of at least 0',
    );
    assert.equal(
      refusal('container/create', CreateContainerParams, {}),
      'container/create: params.image: "image" must be a non-empty string',
    );
    assert.equal(
      refusal('container/create', CreateContainerParams, { image: 'b', labels: ['a'] }),
      'container/create: params.labels: "labels" must be an object of strings',
    );
    assert.equal(
      refusal('container/create', CreateContainerParams, { image: 'b', env: ['A=1', 7] }),
      'container/create: params.env[1]: "env" must be an array of strings',
    );
    assert.equal(
      refusal('fs/stat', FsPathParams, { target: { container: 5 }, path: '/' }),
      'fs/stat: params.target.container: "container" must be a non-empty string',
    );
    assert.equal(
      refusal('fs/stat', FsPathParams, { target: { container: 'a', image: 'b' }, path: '/' }),
      'fs/stat: params.target: "target" must name exactly one of "container" and "image"',
    );
    assert.equal(
      refusal('container/start', StartContainerParams, { container: 'c', stream: true }),
      'container/start: params.attachToken: "attachToken" must be 1 to 256 characters with "stream"',
    );
    assert.equal(
      refusal('container/archive/put', PutArchiveParams, { container: 'c', path: '/', token: 't', rename: { from: '..', to: 'x' } }),
      'container/archive/put: params.rename: "rename" must be {from, to}, each a file name',
    );
    assert.equal(refusal('berth/version', protocol.NoParams, 'str'), 'berth/version: params must be an object of named fields');
  });

  it('optional fields may be null (read as absent); unknown fields are dropped', () => {
    const p = parseParams('container/create', CreateContainerParams, {
      image: 'b',
      name: null,
      memory: null,
      extra: 1,
      __proto__: { x: 1 },
    });
    assert.deepEqual({ ...p }, { image: 'b', name: undefined, memory: undefined });
    assert.equal(Object.getPrototypeOf(p), Object.prototype);
  });

  it('a missing field is described by its own schema', () => {
    const issue = v.safeParse(StartContainerParams, {});
    assert.ok(!issue.success);
    assert.equal(describeIssue(StartContainerParams, issue.issues[0]), 'params.container: "container" must be a non-empty string');
  });
});
