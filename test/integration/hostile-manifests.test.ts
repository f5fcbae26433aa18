/**
 * Malicious manifests from a fake registry (an in-process HTTP server on 127.0.0.1) pulled by the
 * real agent: huge documents, wrong media types, index loops and nesting, descriptors with
 * negative, fractional, huge or string sizes, bad digests, layer-count bombs, JSON nested deep
 * enough to blow a recursive parser. Each is refused with a typed error naming the reference,
 * nothing is stored (check passes, no image, no layer, tmp/ empty), and the agent still serves.
 * (The parsers themselves are unit-tested in test/unit/oci.test.ts and registry-client.test.ts;
 * this is the same input arriving over the wire at the real agent.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import { ErrorCode, PullRequest, VersionRequest, type StoreCheckResult } from '../../protocol';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { expectAgentError } from '../support/expect';
import { busyboxLayer, MediaTypes } from '../support/images';
import { registerCleanup, runCleanups } from '../support/tmp';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const json = (o: unknown) => Buffer.from(JSON.stringify(o));

interface Served {
  body: Buffer;
  type: string;
}

describe('hostile manifests from a fake registry', () => {
  let server: Server;
  let host: string;
  let agent: TestAgent;
  let conn: MessageConnection;
  const manifests = new Map<string, Served>();
  const blobs = new Map<string, Buffer>();
  let requests = 0;

  before(async () => {
    server = createServer((req, res) => {
      requests++;
      const url = req.url ?? '';
      if (url === '/v2/' || url === '/v2') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      const m = /^\/v2\/hostile\/(manifests|blobs)\/(.+)$/.exec(url);
      const item =
        m?.[1] === 'manifests'
          ? manifests.get(decodeURIComponent(m[2]))
          : m
            ? { body: blobs.get(decodeURIComponent(m[2])), type: 'application/octet-stream' }
            : undefined;
      if (!item?.body)
        return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      res.writeHead(200, { 'content-type': item.type, 'content-length': item.body.length });
      res.end(req.method === 'HEAD' ? undefined : item.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    registerCleanup(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    agent = await startAgent();
    conn = await agent.connect();
  });
  after(runCleanups);

  /** A config and a manifest for `layers` (descriptors as given, however wrong). */
  const image = (layers: unknown[], diffIds: string[], over: Record<string, unknown> = {}) => {
    const config = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} });
    blobs.set(sha(config), config);
    return json({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: sha(config), size: config.length },
      layers,
      ...over,
    });
  };
  const serve = (tag: string, body: Buffer, type: string = MediaTypes.ociManifest) => manifests.set(tag, { body, type });

  /** The pull of `tag` fails with `code` (and a message matching `re`); nothing is stored; the agent serves on. */
  const refused = async (tag: string, code: ErrorCode, re: RegExp) => {
    const ref = `${host}/hostile:${tag}`;
    const err = await expectAgentError(conn.sendRequest(PullRequest.type, { reference: ref }), code, re);
    assert.match(
      err.message,
      new RegExp(`^pull ${host.replace(/\./g, '\\.')}/hostile:${tag}: `),
      `the message names the reference: ${err.message}`,
    );
    assert.deepEqual(readdirSync(join(agent.root, 'images')), [], 'no image recorded');
    assert.deepEqual(readdirSync(join(agent.root, 'layers')), [], 'no layer stored');
    assert.deepEqual(readdirSync(join(agent.root, 'tmp')), [], 'no temp work left');
    assert.equal((await conn.sendRequest(VersionRequest.type)).Pid, agent.child.pid, 'the agent still serves');
  };

  it('a 5 MiB manifest is refused before it is parsed', async () => {
    serve('huge', Buffer.concat([Buffer.from('{"schemaVersion":2,"x":"'), Buffer.alloc(5 * 1024 * 1024, 0x61), Buffer.from('"}')]));
    await refused('huge', ErrorCode.InvalidContent, /larger than 4194304 bytes/);
  });

  it('wrong media types: an unknown manifest type, HTML, a layer of an unknown type', async () => {
    serve(
      'unknown-type',
      json({ schemaVersion: 2, mediaType: 'application/vnd.example.not-an-image+json', config: {}, layers: [] }),
      'application/vnd.example.not-an-image+json',
    );
    await refused('unknown-type', ErrorCode.UnsupportedManifest, /not a container image manifest/);
    serve('html', Buffer.from('<html><body>login</body></html>'), 'text/html');
    await refused('html', ErrorCode.InvalidContent, /not valid JSON/);
    const layer = await busyboxLayer();
    serve('layer-type', image([{ mediaType: 'application/x-executable', digest: layer.digest, size: layer.size }], [layer.diffId]));
    await refused('layer-type', ErrorCode.UnsupportedManifest, /unsupported media type "application\/x-executable"/);
  });

  it('index loops and nesting deeper than two levels', async () => {
    // A loop: an index naming a digest whose served bytes are the index itself.
    const stub = json({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] });
    const loop = json({
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [{ mediaType: MediaTypes.ociIndex, digest: sha(stub), size: stub.length }],
    });
    serve('loop', loop, MediaTypes.ociIndex);
    serve(sha(stub), loop, MediaTypes.ociIndex);
    await refused('loop', ErrorCode.DigestMismatch, /./);
    // Nesting: index -> index -> index -> manifest.
    const layer = await busyboxLayer();
    blobs.set(layer.digest, layer.bytes);
    let doc = image([{ mediaType: MediaTypes.ociLayerGzip, digest: layer.digest, size: layer.size }], [layer.diffId]);
    let type: string = MediaTypes.ociManifest;
    for (let depth = 0; depth < 3; depth++) {
      serve(sha(doc), doc, type);
      doc = json({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [{ mediaType: type, digest: sha(doc), size: doc.length, platform: { os: 'linux', architecture: 'amd64' } }],
      });
      type = MediaTypes.ociIndex;
    }
    serve('deep', doc, MediaTypes.ociIndex);
    await refused('deep', ErrorCode.UnsupportedManifest, /nested more than/);
  });

  it('descriptor sizes: negative, fractional, a string, beyond 2^53, and a config size that lies', async () => {
    const layer = await busyboxLayer();
    blobs.set(layer.digest, layer.bytes);
    const cases: [string, unknown][] = [
      ['negative', -1],
      ['fraction', 10.5],
      ['string', '1000'],
      ['unsafe', 2 ** 60],
    ];
    for (const [tag, size] of cases) {
      serve(`size-${tag}`, image([{ mediaType: MediaTypes.ociLayerGzip, digest: layer.digest, size }], [layer.diffId]));
      await refused(`size-${tag}`, ErrorCode.InvalidContent, /invalid size/);
    }
    // A layer served with fewer bytes than its descriptor claims: never stored.
    serve('size-short', image([{ mediaType: MediaTypes.ociLayerGzip, digest: layer.digest, size: layer.size + 1000 }], [layer.diffId]));
    const ref = `${host}/hostile:size-short`;
    const e = await conn.sendRequest(PullRequest.type, { reference: ref }).then(
      () => assert.fail('a layer shorter than its descriptor was accepted'),
      (err: { code: number; message: string }) => err,
    );
    assert.ok(
      [ErrorCode.RegistryError, ErrorCode.DigestMismatch, ErrorCode.InvalidContent].includes(e.code),
      `a typed error: ${e.code} ${e.message}`,
    );
    assert.deepEqual(readdirSync(join(agent.root, 'images')), []);
  });

  it('bad digests and a layer-count bomb', async () => {
    const layer = await busyboxLayer();
    serve(
      'digest-md5',
      image([{ mediaType: MediaTypes.ociLayerGzip, digest: 'md5:d41d8cd98f00b204e9800998ecf8427e', size: 1 }], [layer.diffId]),
    );
    await refused('digest-md5', ErrorCode.InvalidContent, /invalid digest/);
    serve(
      'digest-traversal',
      image([{ mediaType: MediaTypes.ociLayerGzip, digest: 'sha256:../../../../etc/passwd', size: 1 }], [layer.diffId]),
    );
    await refused('digest-traversal', ErrorCode.InvalidContent, /invalid digest/);
    const before = requests;
    const many = Array.from({ length: 5000 }, () => ({ mediaType: MediaTypes.ociLayerGzip, digest: layer.digest, size: layer.size }));
    serve(
      'bomb',
      image(
        many,
        many.map(() => layer.diffId),
      ),
    );
    await refused('bomb', ErrorCode.InvalidContent, /5000 layers; at most 1000/);
    assert.ok(requests - before <= 3, `no layer was fetched (${requests - before} requests)`);
  });

  it('JSON nested 100,000 deep, and a manifest that is a JSON array', async () => {
    serve('deep-json', Buffer.from('{"schemaVersion":2,"layers":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'));
    const e = await expectAgentError(
      conn.sendRequest(PullRequest.type, { reference: `${host}/hostile:deep-json` }),
      ErrorCode.InvalidContent,
    );
    assert.doesNotMatch(e.message, /internal error/);
    serve('array', Buffer.from('[1,2,3]'));
    await refused('array', ErrorCode.InvalidContent, /not a JSON object/);
  });

  it('after all that, berth check passes', async () => {
    const r = await berth(['check', '--format', 'json'], { ...agent.env, BERTH_NO_AUTOSTART: '1' });
    assert.equal(r.code, 0, JSON.stringify((JSON.parse(r.stdout) as StoreCheckResult).problems));
  });
});
