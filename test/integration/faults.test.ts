/**
 * What real networks and hostile registries do: corrupt bytes, 500s, dropped connections, an agent
 * killed in the middle of a pull, layers that try to escape. Each case either succeeds exactly
 * (retried, resumed) or fails cleanly with a typed error and nothing stored.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import { ErrorCode, InspectImageRequest, ListImagesRequest, PullProgressNotification, PullRequest } from '../../protocol';
import { contentPadding, endOfArchive, rawHeader } from '../../agent/oci/tarWriter';
import { startAgent, type TestAgent } from '../support/agent';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';
import { buildImage, busyboxImage, busyboxLayer, sha256Digest, type BuiltLayer } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';
import { expectAgentError } from '../support/expect';

function storeIsEmpty(root: string): void {
  assert.deepEqual(readdirSync(join(root, 'layers')), [], 'no layer stored');
  assert.deepEqual(readdirSync(join(root, 'images')), [], 'no image stored');
  assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'no temp work left');
}

describe('registry faults', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let layerDigest: string;

  before(async () => {
    requireTools();
    registry = await startRegistry();
    const img = await busyboxImage();
    layerDigest = img.layers[0].digest;
    await pushImage(registry, 'f/box', 'v1', img);
    proxy = await startFaultProxy(registry.host);
  });
  after(runCleanups);

  const isLayer = (path: string) => path.includes(layerDigest);

  it('a corrupted blob is refused with DigestMismatch and nothing is stored', async () => {
    const agent = await startAgent();
    proxy.fault = (req) => (isLayer(req.path) ? { kind: 'corrupt', atByte: 1000 } : undefined);
    const err = await expectAgentError(
      (await agent.connect()).sendRequest(PullRequest.type, { reference: `${proxy.host}/f/box:v1` }),
      ErrorCode.DigestMismatch,
    );
    assert.match(err.message, new RegExp(layerDigest.slice(7, 19)));
    storeIsEmpty(agent.root);
    assert.deepEqual(readdirSync(join(agent.root, 'blobs', 'sha256')), []);
    await agent.stop();
  });

  it('a registry answering 500, then 429 with Retry-After, then 200 is retried to success', async () => {
    const agent = await startAgent();
    let n = 0;
    proxy.fault = (req) => {
      if (!isLayer(req.path)) return undefined;
      n++;
      if (n === 1) return { kind: 'status', status: 500 };
      if (n === 2) return { kind: 'status', status: 429, retryAfter: 1 };
      return undefined;
    };
    const conn = await agent.connect();
    const res = await conn.sendRequest(PullRequest.type, { reference: `${proxy.host}/f/box:v1` });
    assert.equal(res.image.Layers, 1);
    assert.equal(n, 3, 'two failures, then the good answer');
    await agent.stop();
  });

  it('a connection dropped mid-blob is resumed with a Range request from the bytes received', async () => {
    const agent = await startAgent();
    const before = proxy.requests.length;
    let n = 0;
    proxy.fault = (req) => (isLayer(req.path) && ++n === 1 ? { kind: 'cut', afterBytes: 300_000 } : undefined);
    const conn = await agent.connect();
    const res = await conn.sendRequest(PullRequest.type, { reference: `${proxy.host}/f/box:v1` });
    assert.equal(res.image.Layers, 1);
    const layerReqs = proxy.requests.slice(before).filter((r) => isLayer(r.path));
    assert.equal(layerReqs.length, 2);
    // The resume starts exactly where the client's received bytes end: somewhere up to the cut
    // (bytes in flight when the socket died are lost), never at 0.
    const m = /^bytes=(\d+)-$/.exec(String(layerReqs[1].headers.range));
    assert.ok(m, `a Range request: ${layerReqs[1].headers.range}`);
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= 300_000, `resumed from ${m[1]}`);
    const inspect = await conn.sendRequest(InspectImageRequest.type, { reference: res.image.Id });
    assert.ok(existsSync(join(inspect.Berth.Layers[0].Path, 'bin', 'busybox')));
    await agent.stop();
  });

  it('an agent killed mid-pull leaves nothing trusted; a restarted agent pulls the image whole', async () => {
    const agent = await startAgent();
    proxy.fault = (req) => (isLayer(req.path) ? { kind: 'throttle', bytesPerSecond: 256 * 1024 } : undefined);
    const conn = await agent.connect();
    let received = 0;
    conn.onNotification(PullProgressNotification.type, (p) => (received = Math.max(received, p.layer.current)));
    const pulling = conn.sendRequest(PullRequest.type, { reference: `${proxy.host}/f/box:v1`, progressToken: 'k' }).catch((e: Error) => e);
    for (let i = 0; i < 200 && received < 200_000; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(received >= 200_000, 'the pull was under way when the agent was killed');
    process.kill(agent.child.pid!, 'SIGKILL');
    assert.ok((await pulling) instanceof Error, 'the client sees the pull fail');
    // The exit may already have been seen while the client noticed the closed socket.
    if (agent.child.exitCode === null && agent.child.signalCode === null) await new Promise((r) => agent.child.once('exit', r));
    assert.ok(readdirSync(join(agent.root, 'tmp')).length > 0, 'the kill left temp work behind');
    assert.deepEqual(readdirSync(join(agent.root, 'layers')), [], 'but no layer under a trusted name');

    proxy.fault = () => undefined;
    const again = await startAgent({ root: agent.root });
    assert.deepEqual(readdirSync(join(again.root, 'tmp')), [], 'the restarted agent discarded the half-done work');
    const c2 = await again.connect();
    assert.deepEqual(await c2.sendRequest(ListImagesRequest.type, {}), []);
    const res = await c2.sendRequest(PullRequest.type, { reference: `${proxy.host}/f/box:v1` });
    const inspect = await c2.sendRequest(InspectImageRequest.type, { reference: res.image.Id });
    assert.ok(existsSync(join(inspect.Berth.Layers[0].Path, 'bin', 'busybox')));
    await again.stop();
  });
});

/** A gzip layer made of hand-written tar headers, for entries no honest tool writes. */
function hostileLayer(entries: { name: string; type?: string; linkname?: string; content?: string }[]): BuiltLayer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = Buffer.from(e.content ?? '');
    parts.push(rawHeader({ name: e.name, typeflag: e.type ?? '0', linkname: e.linkname, size: content.length, mode: 0o644 }));
    if (content.length) parts.push(content, contentPadding(content.length));
  }
  parts.push(endOfArchive());
  const tar = Buffer.concat(parts);
  const bytes = gzipSync(tar);
  return {
    digest: sha256Digest(bytes),
    diffId: sha256Digest(tar),
    size: bytes.length,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    compression: 'gzip',
    bytes,
    tar,
    createdBy: 'hostile',
  };
}

describe('hostile layers served by a registry', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let conn: MessageConnection;
  const outside = '/tmp/berth-escape-probe';

  before(async () => {
    requireTools();
    rmSync(outside, { recursive: true, force: true });
    registry = await startRegistry();
    agent = await startAgent();
    conn = await agent.connect();
  });
  after(async () => {
    rmSync(outside, { recursive: true, force: true });
    await runCleanups();
  });

  const cases: { name: string; entries: Parameters<typeof hostileLayer>[0]; entry: string }[] = [
    {
      name: 'a path climbing out with ..',
      entries: [{ name: '../../../../../../tmp/berth-escape-probe', content: 'x' }],
      entry: '../../../../../../tmp/berth-escape-probe',
    },
    {
      name: 'a symlink out, then a file written through it',
      entries: [
        { name: 'evil', type: '2', linkname: '/tmp' },
        { name: 'evil/berth-escape-probe', content: 'x' },
      ],
      entry: 'evil/berth-escape-probe',
    },
    { name: 'a hardlink to a file outside', entries: [{ name: 'h', type: '1', linkname: '../../../../../../etc/passwd' }], entry: 'h' },
    { name: 'a symlink named /.', entries: [{ name: '/.', type: '2', linkname: '/tmp/berth-escape-probe' }], entry: '/.' },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}, naming the entry, writing nothing outside`, async () => {
      const img = buildImage({ layers: [await busyboxLayer(), hostileLayer(c.entries)] });
      const repo = `hostile/${c.name.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '')}`;
      await pushImage(registry, repo, 'v1', img);
      const err = await expectAgentError(
        conn.sendRequest(PullRequest.type, { reference: `${registry.host}/${repo}:v1` }),
        ErrorCode.HostileLayer,
      );
      assert.equal(err.data.entry, c.entry);
      assert.ok(err.message.includes(c.entry), `the message names the entry: ${err.message}`);
      assert.equal(existsSync(outside), false, 'nothing was written outside the store');
      assert.deepEqual(readdirSync(join(agent.root, 'images')), []);
      assert.deepEqual(readdirSync(join(agent.root, 'tmp')), []);
      const layers = readdirSync(join(agent.root, 'layers'));
      assert.ok(layers.length <= 1, 'at most the honest base layer was kept');
    });
  }
});
