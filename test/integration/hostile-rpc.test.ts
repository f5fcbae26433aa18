/**
 * Malformed JSON-RPC at the real agent's socket: random bytes, broken and oversized framing,
 * messages that are valid JSON but not JSON-RPC, and seeded fuzzed params for every request the
 * protocol declares (and the notifications clients send). Every case is answered with an error
 * (never Internal: a bad param is the caller's fault and must be named as such) or a closed
 * connection; the agent serves a fresh connection afterwards; nothing is written outside its
 * store (a sentinel directory the fuzzed paths point into stays empty; host files are unchanged).
 *
 * The seed is printed and read from BERTH_FUZZ_SEED; BERTH_FUZZ_CASES sets the cases per method
 * (default 12; `npm run test:soak` runs more). The values are drawn from a pool that also names
 * a real image, container and volume, so validation past "no such object" is reached too.
 * Fuzzed strings that parse as image references of another registry are pointed at a loopback
 * server that answers 404, so no request leaves this machine (the real image's registry is a
 * loopback one the test started).
 * Besides the random fields, each request's own schema (protocol/schema.ts) is walked
 * (test/support/schemaValues.ts): params invalid in one field (wrong type, missing, too long) must
 * be refused with InvalidArgument naming that field, and params the schema accepts (naming no real
 * object, so nothing runs) must get past it, answered by the core, never Internal.
 * (Unknown methods, missing params and a peer of another uid: protocol.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createConnection, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as v from 'valibot';
import { RequestType, RequestType0 } from 'vscode-jsonrpc';
import * as protocol from '../../protocol';
import { CreateContainerRequest, CreateVolumeRequest, ErrorCode, PullRequest, VersionRequest } from '../../protocol';
import { parseReference } from '../../agent/oci/reference';
import { startAgent, type TestAgent } from '../support/agent';
import { invalidCases, prng, validValue } from '../support/schemaValues';
import { makeTempDir, registerCleanup, runCleanups } from '../support/tmp';
import { removeAllContainers } from '../support/containers';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry } from '../support/registry';

const SEED = process.env.BERTH_FUZZ_SEED ? Number(process.env.BERTH_FUZZ_SEED) >>> 0 : randomBytes(4).readUInt32LE(0);
const CASES = Math.min(Math.max(Number(process.env.BERTH_FUZZ_CASES ?? 12) || 12, 1), 1000);
console.log(`hostile-rpc: seed ${SEED}, ${CASES} fuzz cases per method (replay: BERTH_FUZZ_SEED=${SEED} BERTH_FUZZ_CASES=${CASES})`);

/** Frames a body the way vscode-jsonrpc does. */
const frame = (body: Buffer | string) => {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(`Content-Length: ${b.length}\r\n\r\n`), b]);
};

interface Raw {
  socket: Socket;
  /** Bytes received so far. */
  received(): Buffer;
  /** Resolves when the agent closed the connection, or after `ms` with false. */
  closed(ms: number): Promise<boolean>;
  /** Resolves with the parsed messages once `n` have arrived (or after `ms` with what came). */
  messages(n: number, ms: number): Promise<Record<string, unknown>[]>;
  /** The same, counting only responses (notifications such as pull progress come along). */
  responses(n: number, ms: number): Promise<Record<string, unknown>[]>;
}

async function raw(path: string): Promise<Raw> {
  const socket = createConnection(path);
  await new Promise<void>((res, rej) => socket.once('connect', res).once('error', rej));
  let buf = Buffer.alloc(0);
  let ended = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake();
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    ended = true;
    wake();
  });
  const until = (cond: () => boolean, ms: number) =>
    new Promise<boolean>((resolve) => {
      if (cond()) return resolve(true);
      const w = () => cond() && (clearTimeout(t), waiters.delete(w), resolve(true));
      const t = setTimeout(() => (waiters.delete(w), resolve(cond())), ms);
      waiters.add(w);
    });
  const parse = () => {
    const out: Record<string, unknown>[] = [];
    let rest = buf;
    for (;;) {
      const sep = rest.indexOf('\r\n\r\n');
      if (sep < 0) break;
      const len = Number(/Content-Length: (\d+)/i.exec(rest.subarray(0, sep).toString())?.[1]);
      if (rest.length < sep + 4 + len) break;
      out.push(JSON.parse(rest.subarray(sep + 4, sep + 4 + len).toString()) as Record<string, unknown>);
      rest = rest.subarray(sep + 4 + len);
    }
    return out;
  };
  return {
    socket,
    received: () => buf,
    closed: (ms) => until(() => ended, ms),
    messages: async (n, ms) => {
      await until(() => ended || parse().length >= n, ms);
      return parse();
    },
    responses: async (n, ms) => {
      const isResponse = (m: Record<string, unknown>) => 'id' in m && ('result' in m || 'error' in m);
      await until(() => ended || parse().filter(isResponse).length >= n, ms);
      return parse();
    },
  };
}

describe('malformed JSON-RPC at the agent socket', () => {
  let agent: TestAgent;
  let sentinel: string;
  let notFound: Server;
  let notFoundHost: string;
  let imageRef: string;
  let imageId: string;
  let containerId: string;
  const random = prng(SEED);
  const hostFiles = ['/etc/passwd', '/etc/shadow', '/etc/hostname', '/etc/hosts'];
  const hostBefore = new Map<string, string>();
  const stamp = (p: string) => {
    const s = statSync(p);
    return `${s.size}:${s.mtimeMs}:${s.mode}`;
  };

  before(async () => {
    sentinel = await makeTempDir('berth-fuzz-sentinel-');
    for (const f of hostFiles) hostBefore.set(f, stamp(f));
    notFound = createServer((_req, res) =>
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}'),
    );
    await new Promise<void>((r) => notFound.listen(0, '127.0.0.1', r));
    notFoundHost = `127.0.0.1:${(notFound.address() as AddressInfo).port}`;
    registerCleanup(async () => {
      notFound.closeAllConnections();
      await new Promise<void>((r) => notFound.close(() => r()));
    });
    agent = await startAgent();
    // Real objects for the fuzzed params to name, so validation past "no such image" is reached.
    const registry = await startRegistry();
    await pushImage(registry, 'fuzz/box', 'v1', await busyboxImage());
    imageRef = `${registry.host}/fuzz/box:v1`;
    const conn = await agent.connect();
    imageId = (await conn.sendRequest(PullRequest.type, { reference: imageRef })).image.Id;
    containerId = (
      await conn.sendRequest(CreateContainerRequest.type, { image: imageRef, name: 'fuzz-c', cmd: ['true'], networkMode: 'none' })
    ).Id;
    await conn.sendRequest(CreateVolumeRequest.type, { name: 'fuzz-v' });
    conn.dispose();
  });

  after(async () => {
    await removeAllContainers(agent ? await agent.connect() : undefined);
    await runCleanups();
  });

  /** A fresh protocol connection still gets an answer. */
  const stillServes = async (what: string) => {
    const conn = await agent.connect();
    const v = await conn.sendRequest(VersionRequest.type);
    assert.equal(v.Pid, agent.child.pid, `${what}: the agent still serves (seed ${SEED})`);
    conn.dispose();
  };

  it('random bytes: the connection is closed or ignored, never answered with anything but JSON-RPC', async () => {
    for (let i = 0; i < 8; i++) {
      const r = await raw(agent.socket);
      const len = 1 + Math.floor(random() * 4096);
      const bytes = Buffer.alloc(len);
      for (let j = 0; j < len; j++) bytes[j] = Math.floor(random() * 256);
      r.socket.write(bytes);
      await r.closed(300);
      const got = r.received().toString('latin1');
      assert.ok(
        got === '' || /^Content-Length: \d+\r\n/.test(got),
        `only framed JSON-RPC comes back: ${JSON.stringify(got.slice(0, 200))}`,
      );
      r.socket.destroy();
    }
    await stillServes('after random bytes');
  });

  it('broken framing: a negative, non-numeric and absurd Content-Length, a header that never ends', async () => {
    const cases: Buffer[] = [
      Buffer.from('Content-Length: -5\r\n\r\n{}'),
      Buffer.from('Content-Length: abc\r\n\r\n{}'),
      Buffer.from('Content-Length: 99999999999999999999\r\n\r\n{}'),
      Buffer.from('Content-Type: application/vscode-jsonrpc; charset=latin-9\r\nContent-Length: 2\r\n\r\n{}'),
      Buffer.concat([Buffer.from('X-Header: '), Buffer.alloc(1024 * 1024, 0x61)]),
    ];
    for (const c of cases) {
      const r = await raw(agent.socket);
      r.socket.write(c);
      await r.closed(500);
      r.socket.destroy();
    }
    await stillServes('after broken framing');
  });

  it('an oversized message (64 MiB of JSON) closes the connection before it is buffered, and the agent serves on', async () => {
    const r = await raw(agent.socket);
    const body = Buffer.concat([
      Buffer.from('{"jsonrpc":"2.0","id":1,"method":"berth/version","params":{"x":"'),
      Buffer.alloc(64 * 1024 * 1024, 0x61),
      Buffer.from('"}}'),
    ]);
    r.socket.on('error', () => undefined);
    r.socket.write(frame(body), () => undefined);
    const msgs = await r.messages(1, 5_000);
    assert.equal(msgs.length, 0, 'no answer to a message over the limit');
    assert.ok(await r.closed(5000), 'the connection was closed');
    // The agent's log reaches us through a pipe: wait for the line (bounded).
    const said = /closing a connection: a message of \d+ bytes \(at most 33554432\)/;
    for (let i = 0; i < 100 && !said.test(agent.log()); i++) await new Promise((res) => setTimeout(res, 50));
    assert.match(agent.log(), said);
    r.socket.destroy();
    await stillServes('after an oversized message');
  });

  it('valid JSON that is not JSON-RPC: arrays, scalars, a request without a method, a numeric method, a huge id', async () => {
    const bodies = [
      '[]',
      '[1,2,3]',
      '42',
      'null',
      '"x"',
      '{}',
      '{"jsonrpc":"2.0","id":1}',
      '{"jsonrpc":"2.0","id":2,"method":42}',
      `{"jsonrpc":"2.0","id":${'9'.repeat(400)},"method":"berth/version"}`,
      '{"jsonrpc":"1.0","id":3,"method":"berth/version"}',
      '{"jsonrpc":"2.0","id":{"a":1},"method":"berth/version"}',
      '{"jsonrpc":"2.0","id":4,"method":"berth/version","params":"str"}',
    ];
    for (const b of bodies) {
      const r = await raw(agent.socket);
      r.socket.write(frame(b));
      const msgs = await r.messages(1, 500);
      for (const m of msgs) {
        // Whatever comes back is a response (an answer or an error), never a crash dump.
        assert.ok('result' in m || 'error' in m, `a JSON-RPC response to ${b}: ${JSON.stringify(m)}`);
        if ('error' in m) assert.notEqual((m.error as { code: number }).code, ErrorCode.Internal, `${b}: ${JSON.stringify(m)}`);
      }
      r.socket.destroy();
    }
    await stillServes('after non-JSON-RPC JSON');
  });

  // --- fuzzed params for every declared request ------------------------------------------------

  const FIELDS = [
    'reference',
    'references',
    'container',
    'containers',
    'image',
    'name',
    'path',
    'paths',
    'cmd',
    'env',
    'entrypoint',
    'tty',
    'stdin',
    'attachToken',
    'token',
    'follow',
    'tail',
    'since',
    'all',
    'force',
    'volumes',
    'timeout',
    'signal',
    'platform',
    'progressToken',
    'source',
    'target',
    'layer',
    'merged',
    'offset',
    'limit',
    'repair',
    'labels',
    'binds',
    'memory',
    'nanoCpus',
    'pidsLimit',
    'capAdd',
    'capDrop',
    'privileged',
    'user',
    'workingDir',
    'hostname',
    'condition',
    'intervalMs',
    'changes',
    'pause',
    'comment',
    'author',
    'rows',
    'cols',
    'stream',
    'context',
    'dockerfile',
    'tags',
    'buildArgs',
    'data',
    'eof',
    'network',
    'publish',
    'autoRemove',
    'openStdin',
    'types',
    '__proto__',
    'constructor',
    'prototype',
  ];
  const strings = () => [
    '',
    'x',
    '-1',
    '0',
    'ALL',
    '../../../../../../etc/passwd',
    '/etc/passwd',
    '/nonexistent/berth-fuzz',
    join(sentinel, 'out.tar'),
    join(sentinel, 'sub', 'x'),
    sentinel,
    'a\0b',
    'line\nbreak',
    '%s%n%x',
    '🙂ünï',
    'x'.repeat(5000),
    'sha256:' + '0'.repeat(64),
    'busybox',
    'docker.io/library/busybox:latest',
    'localhost:1/a',
    '/',
    '.',
    '..',
    'root',
    '65535:65535',
    'SIGKILL',
    'SIGSEGV',
    '1g',
    'c1',
    imageRef,
    imageId,
    imageId.slice(7, 19),
    containerId,
    containerId.slice(0, 12),
    'fuzz-c',
    'fuzz-v',
    '/data',
    'fuzz-v:/data',
  ];
  const value = (depth: number): unknown => {
    const r = random();
    if (r < 0.08) return null;
    if (r < 0.14) return random() < 0.5;
    if (r < 0.3) return [0, -1, 1, 1.5, -0.5, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, 65536][Math.floor(random() * 10)];
    if (r < 0.7) {
      const s = strings();
      return s[Math.floor(random() * s.length)];
    }
    if (depth > 2) return {};
    if (r < 0.85) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
    return obj(depth + 1);
  };
  const obj = (depth: number): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    const n = Math.floor(random() * 6);
    for (let i = 0; i < n; i++) o[FIELDS[Math.floor(random() * FIELDS.length)]] = value(depth);
    return o;
  };
  /**
   * Params for one case: mostly an object of random fields; fields the agent has named in its
   * InvalidArgument answers to this method ("\"container\" must be ...") are learnt and given
   * (each with probability 0.8), so later waves get past the first check and deeper.
   */
  const params = (learnt: Set<string>): unknown => {
    const r = random();
    if (r < 0.1) return value(3);
    const o = obj(0);
    for (const f of learnt) if (random() < 0.8) o[f] = value(1);
    return o;
  };
  /** Points every string that parses as a non-loopback image reference at the 404 server. */
  const tame = (v: unknown): unknown => {
    if (typeof v === 'string') {
      try {
        const ref = parseReference(v);
        if (!/^(127\.|localhost)/.test(ref.registry)) return `${notFoundHost}/${ref.repository}:fuzz`;
      } catch {
        /* not a reference */
      }
      return v;
    }
    if (Array.isArray(v)) return v.map(tame);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tame(x)]));
    return v;
  };

  const declared = (Object.values(protocol) as unknown[]).filter(
    (v): v is { method: string; type: unknown } => !!v && typeof v === 'object' && typeof (v as { method?: unknown }).method === 'string',
  );
  const requests = declared.filter((d) => d.type instanceof RequestType);

  it(`fuzzed params for each of the ${requests.length} declared requests: answered, never Internal, nothing written outside the store`, async () => {
    assert.ok(requests.length >= 40, `the protocol declares the requests (${requests.length})`);
    const failures: string[] = [];
    const outcomes = new Map<string, number>();
    let answered = 0;
    const WAVES = 3;
    for (const d of requests) {
      const learnt = new Set<string>();
      for (let wave = 0; wave < WAVES; wave++) {
        const r = await raw(agent.socket);
        const sent: { id: number; params: unknown }[] = [];
        const n = Math.ceil(CASES / WAVES);
        for (let i = 0; i < n; i++) {
          const p = tame(params(learnt));
          const id = i + 1;
          sent.push({ id, params: p });
          r.socket.write(frame(JSON.stringify({ jsonrpc: '2.0', id, method: d.method, params: p })));
        }
        const msgs = await r.responses(n, 30_000);
        const responses = msgs.filter((m) => 'id' in m && ('result' in m || 'error' in m));
        for (const m of responses) {
          const e = m.error as { code: number; message: string } | undefined;
          if (e?.code === ErrorCode.InvalidArgument)
            for (const f of e.message.matchAll(/"([A-Za-z]{1,40})"/g)) if (FIELDS.includes(f[1])) learnt.add(f[1]);
        }
        for (const s of sent) {
          const m = responses.find((x) => x.id === s.id);
          if (!m) {
            // Streams (logs -f, wait, exec, start -a, events) may legitimately stay open; none exist here
            // for the random names, so a missing answer is a hang.
            failures.push(`${d.method} ${JSON.stringify(s.params).slice(0, 300)}: no answer within 30 s`);
            continue;
          }
          answered++;
          const e = m.error as { code: number; message: string } | undefined;
          const k = e ? protocol.errorCodeName(e.code) : 'result';
          outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
          if (e && (e.code === ErrorCode.Internal || /internal error/i.test(e.message)))
            failures.push(`${d.method} ${JSON.stringify(s.params).slice(0, 300)}: ${e.message}`);
        }
        r.socket.destroy();
      }
    }
    // Client -> agent notifications with fuzzed params: no answer is due; the agent must not fall over.
    const r = await raw(agent.socket);
    for (const d of declared.filter((x) => !(x.type instanceof RequestType))) {
      for (let i = 0; i < CASES; i++)
        r.socket.write(
          frame(
            JSON.stringify({ jsonrpc: '2.0', method: d.method, params: tame(params(new Set(['token', 'data', 'eof', 'rows', 'cols']))) }),
          ),
        );
    }
    r.socket.destroy();
    console.log(
      `fuzz answers: ${[...outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
    await stillServes('after the fuzz');
    assert.deepEqual(failures, [], `seed ${SEED}: requests answered badly`);
    assert.equal(answered, requests.length * Math.ceil(CASES / WAVES) * WAVES);
    assert.doesNotMatch(agent.log(), /internal error/, 'the agent logged no internal error');
    assert.deepEqual(readdirSync(sentinel), [], 'nothing was written in the sentinel directory the fuzzed paths name');
    for (const f of hostFiles) assert.equal(stamp(f), hostBefore.get(f), `${f} is unchanged`);
  });

  it("params drawn from each request's schema: one bad field is refused naming it, valid params get past the schema", async () => {
    const drawn = prng(SEED ^ 0x5eed);
    // No real object and no host path: valid params reach the core, which answers "no such ...".
    // The pool is tamed up front (tamed after the draw, a picklist's "host" would be a reference).
    const safe = [
      'x',
      'fuzz-missing',
      'busybox',
      '/nonexistent/berth-fuzz',
      '/nonexistent/berth-fuzz/sub',
      'sha256:' + '0'.repeat(64),
      '',
      '🙂ünï',
      'line\nbreak',
      'SIGKILL',
      '1g',
    ].map((x) => tame(x) as string);
    const failures: string[] = [];
    let invalid = 0;
    let valid = 0;
    const schemaRequests = declared.filter((d) => d.type instanceof RequestType || d.type instanceof RequestType0);
    for (const d of schemaRequests) {
      const schema = (d as unknown as { params: protocol.ParamsSchema }).params;
      const cases: { params: unknown; expect: string | undefined }[] = invalidCases(schema, { random: drawn, strings: safe }).map((c) => ({
        params: c.params,
        expect: c.field ? `${d.method}: params.${c.field}` : `${d.method}: params must be`,
      }));
      for (let i = 0; i < CASES; i++) {
        const p = validValue(schema, { random: drawn, strings: safe });
        if (v.safeParse(schema, p).success) cases.push({ params: p, expect: undefined });
      }
      const r = await raw(agent.socket);
      for (const [i, c] of cases.entries())
        r.socket.write(frame(JSON.stringify({ jsonrpc: '2.0', id: i + 1, method: d.method, params: c.params })));
      const msgs = await r.responses(cases.length, 30_000);
      for (const [i, c] of cases.entries()) {
        const m = msgs.find((x) => x.id === i + 1 && ('result' in x || 'error' in x));
        const what = `${d.method} ${JSON.stringify(c.params)?.slice(0, 200)}`;
        if (!m) {
          failures.push(`${what}: no answer within 30 s`);
          continue;
        }
        const e = m.error as { code: number; message: string } | undefined;
        if (e && (e.code === ErrorCode.Internal || /internal error/i.test(e.message))) failures.push(`${what}: ${e.message}`);
        if (c.expect !== undefined) {
          invalid++;
          if (e?.code !== ErrorCode.InvalidArgument || !e.message.startsWith(c.expect))
            failures.push(`${what}: want InvalidArgument "${c.expect}...", got ${JSON.stringify(m.error ?? m.result)}`);
        } else {
          valid++;
          if (e?.code === ErrorCode.InvalidArgument && e.message.startsWith(`${d.method}: params`))
            failures.push(`${what}: valid params refused by the schema: ${e.message}`);
        }
      }
      r.socket.destroy();
    }
    console.log(`schema-drawn params: ${invalid} invalid, ${valid} valid`);
    assert.deepEqual(failures, [], `seed ${SEED}: requests answered badly`);
    assert.ok(invalid >= schemaRequests.length * 2 && valid >= schemaRequests.length, `${invalid} invalid and ${valid} valid cases sent`);
    await stillServes('after the schema-drawn params');
    assert.deepEqual(readdirSync(sentinel), [], 'nothing was written in the sentinel directory');
  });
});
