/**
 * The registry client against real in-process HTTP servers on 127.0.0.1: a fake registry, a token
 * server and a "CDN" on other ports (other origins).
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../agent/errors';
import { MediaType } from '../../agent/oci';
import { parseReference, type ImageReference } from '../../agent/oci/reference';
import { RegistryClient, type RegistryClientOptions } from '../../agent/registry/client';
import type { BerthError } from '../../agent/errors';

// ---------------------------------------------------------------------------------------------
// Test servers
// ---------------------------------------------------------------------------------------------

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

class TestServer {
  readonly seen: Seen[] = [];
  handler: Handler = (_req, res) => res.writeHead(404).end();
  private constructor(readonly server: http.Server) {}

  static async start(): Promise<TestServer> {
    const s = new TestServer(http.createServer());
    s.server.on('request', (req, res) => {
      s.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      s.handler(req, res);
    });
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    return s;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const servers: TestServer[] = [];
async function server(): Promise<TestServer> {
  const s = await TestServer.start();
  servers.push(s);
  return s;
}
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const clients: RegistryClient[] = [];
function client(o: RegistryClientOptions = {}): RegistryClient {
  const c = new RegistryClient({ retryBaseMs: 5, stallTimeoutMs: 2000, dockerConfigDir: emptyConfigDir, ...o });
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

const tmpDirs: string[] = [];
function configDir(auths: Record<string, unknown>): string {
  const d = mkdtempSync(join(tmpdir(), 'berth-regtest-'));
  tmpDirs.push(d);
  writeFileSync(join(d, 'config.json'), JSON.stringify({ auths }));
  return d;
}
const emptyConfigDir = configDir({});
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Images and a fake registry
// ---------------------------------------------------------------------------------------------

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

interface Image {
  layer: Buffer;
  layerDigest: string;
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

function makeImage(arch = 'amd64', layerSize = 100_000, variant?: string): Image {
  const layer = randomBytes(layerSize);
  const config = json({
    architecture: arch,
    os: 'linux',
    ...(variant ? { variant } : {}),
    config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [sha(Buffer.from('uncompressed ' + arch))] },
    history: [{ created_by: 'ADD rootfs' }],
  });
  const manifest = json({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha(config), size: config.length },
    layers: [{ mediaType: MediaType.OciLayerGzip, digest: sha(layer), size: layer.length }],
  });
  return { layer, layerDigest: sha(layer), config, configDigest: sha(config), manifest, manifestDigest: sha(manifest) };
}

function indexOf(entries: Array<{ img?: Image; bytes?: Buffer; mediaType?: string; platform?: object; annotations?: object }>): Buffer {
  return json({
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: entries.map((e) => {
      const b = e.bytes ?? e.img!.manifest;
      return {
        mediaType: e.mediaType ?? MediaType.OciManifest,
        digest: sha(b),
        size: b.length,
        ...(e.platform ? { platform: e.platform } : {}),
        ...(e.annotations ? { annotations: e.annotations } : {}),
      };
    }),
  });
}

interface RegistryState {
  /** tag or digest -> manifest body and content type */
  manifests: Map<string, { body: Buffer; type: string; digestHeader?: string | null }>;
  blobs: Map<string, Buffer>;
  /** 'bearer': tokens from `tokenServer`; 'basic': this user:pass. */
  auth?: { kind: 'bearer'; realm: string; valid: Set<string> } | { kind: 'basic'; userpass: string };
  /** Hook for blob GETs; return true when it answered. */
  blobHook?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, n: number) => boolean;
  /** Hook for manifest requests; return true when it answered. */
  manifestHook?: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => boolean;
}

function addImage(st: RegistryState, img: Image, tag?: string): void {
  if (tag) st.manifests.set(tag, { body: img.manifest, type: MediaType.OciManifest });
  st.manifests.set(img.manifestDigest, { body: img.manifest, type: MediaType.OciManifest });
  st.blobs.set(img.configDigest, img.config);
  st.blobs.set(img.layerDigest, img.layer);
}

function newState(): RegistryState {
  return { manifests: new Map(), blobs: new Map() };
}

/** Serves a blob honouring `Range: bytes=N-`. */
function serveBlob(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
  if (m && Number(m[1]) < body.length) {
    const start = Number(m[1]);
    res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
  res.end(body);
}

function registry(srv: TestServer, st: RegistryState): void {
  let blobCount = 0;
  let manifestCount = 0;
  srv.handler = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const challenge = () => {
      if (st.auth?.kind === 'bearer') return `Bearer realm="${st.auth.realm}",service="test-registry"`;
      return 'Basic realm="test"';
    };
    const authorized = () => {
      if (!st.auth) return true;
      const h = req.headers.authorization ?? '';
      if (st.auth.kind === 'bearer') return h.startsWith('Bearer ') && st.auth.valid.has(h.slice(7));
      return h === 'Basic ' + Buffer.from(st.auth.userpass).toString('base64');
    };
    const deny = () => {
      res.writeHead(401, { 'www-authenticate': challenge(), 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    };
    if (url.pathname === '/v2/') {
      if (st.auth) return deny();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    if (!authorized()) return deny();
    if (m[2] === 'manifests') {
      if (st.manifestHook?.(req, res, ++manifestCount)) return;
      const entry = st.manifests.get(m[3]);
      if (!entry) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
        return;
      }
      const headers: Record<string, string | number> = { 'content-type': entry.type, 'content-length': entry.body.length };
      if (entry.digestHeader !== null) headers['docker-content-digest'] = entry.digestHeader ?? sha(entry.body);
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : entry.body);
      return;
    }
    const body = st.blobs.get(m[3]);
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }));
      return;
    }
    if (st.blobHook?.(req, res, body, ++blobCount)) return;
    serveBlob(req, res, body);
  };
}

/** A token server issuing "tok-N"; `requireBasic` makes it demand those credentials. */
function tokenServer(srv: TestServer, valid: Set<string>, o: { requireBasic?: string; expiresIn?: number } = {}): { count: () => number } {
  let n = 0;
  srv.handler = (req, res) => {
    if (o.requireBasic && req.headers.authorization !== 'Basic ' + Buffer.from(o.requireBasic).toString('base64')) {
      res.writeHead(401).end();
      return;
    }
    n++;
    const token = `tok-${n}`;
    valid.add(token);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, ...(o.expiresIn !== undefined ? { expires_in: o.expiresIn } : {}) }));
  };
  return { count: () => n };
}

function refAt(srv: TestServer, repoTag: string): ImageReference {
  return parseReference(`${srv.host}/${repoTag}`);
}

async function rejectsCode(p: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<BerthError> {
  let caught: BerthError | undefined;
  await assert.rejects(p, (e: BerthError) => {
    assert.equal(e?.name, 'BerthError', String(e?.stack ?? e));
    assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    caught = e;
    return true;
  });
  assert.ok(caught);
  return caught;
}

function collector() {
  const chunks: Buffer[] = [];
  return { sink: (c: Buffer) => void chunks.push(Buffer.from(c)), bytes: () => Buffer.concat(chunks) };
}

const AMD64 = { os: 'linux', architecture: 'amd64' };

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('resolve', () => {
  it('resolves a single manifest and its config, verified', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img, 'v1');
    registry(srv, st);
    const r = await client().resolve(refAt(srv, 'team/app:v1'), AMD64);
    assert.equal(r.manifestDigest, img.manifestDigest);
    assert.equal(r.manifestMediaType, MediaType.OciManifest);
    assert.deepEqual(r.manifestBytes, img.manifest);
    assert.deepEqual(r.configBytes, img.config);
    assert.equal(r.config.architecture, 'amd64');
    assert.equal(r.manifest.layers[0].digest, img.layerDigest);
    assert.equal(r.indexDigest, undefined);
    assert.equal(r.reference.tag, 'v1');
    const m = srv.seen.find((s) => s.url.includes('/manifests/'))!;
    assert.match(String(m.headers.accept), /application\/vnd\.oci\.image\.index\.v1\+json/);
    assert.match(String(m.headers.accept), /application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
    assert.equal(m.headers.authorization, undefined);
  });

  it('adds the latest tag, and pulls by digest when given', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img, 'latest');
    registry(srv, st);
    const r = await client().resolve(refAt(srv, 'app'), AMD64);
    assert.equal(r.reference.tag, 'latest');
    const byDigest = await client().resolve(refAt(srv, `app:ignored@${img.manifestDigest}`), AMD64);
    assert.equal(byDigest.manifestDigest, img.manifestDigest);
    assert.ok(srv.seen.some((s) => s.url === `/v2/app/manifests/${img.manifestDigest}`));
    assert.ok(!srv.seen.some((s) => s.url.endsWith('/manifests/ignored')));
  });

  it('chooses the platform from an index, skipping attestations', async () => {
    const srv = await server();
    const st = newState();
    const amd = makeImage('amd64');
    const arm64 = makeImage('arm64', 1000, 'v8');
    const armv7 = makeImage('arm', 1000, 'v7');
    const attestation = json({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: amd.configDigest, size: amd.config.length },
      layers: [],
    });
    for (const i of [amd, arm64, armv7]) addImage(st, i);
    const idx = indexOf([
      {
        bytes: attestation,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      },
      { img: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { img: arm64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { img: armv7, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    ]);
    st.manifests.set('multi', { body: idx, type: MediaType.OciIndex });
    registry(srv, st);
    const c = client();
    const a = await c.resolve(refAt(srv, 'app:multi'), { os: 'linux', architecture: 'arm64' });
    assert.equal(a.manifestDigest, arm64.manifestDigest);
    assert.equal(a.indexDigest, sha(idx));
    assert.equal(a.indexMediaType, MediaType.OciIndex);
    assert.deepEqual(a.indexBytes, idx);
    assert.equal(a.config.architecture, 'arm64');
    const v7 = await c.resolve(refAt(srv, 'app:multi'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.equal(v7.manifestDigest, armv7.manifestDigest);
    const x = await c.resolve(refAt(srv, 'app:multi'), AMD64);
    assert.equal(x.manifestDigest, amd.manifestDigest);

    const e = await rejectsCode(
      c.resolve(refAt(srv, 'app:multi'), { os: 'linux', architecture: 'riscv64' }),
      ErrorCode.NoMatchingPlatform,
      /linux\/riscv64.*linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/,
    );
    assert.equal(e.data.platform, 'linux/riscv64');
    assert.equal(e.data.reference, `${srv.host}/app:multi`);
    assert.doesNotMatch(e.message, /unknown/);
  });

  it('follows a nested index and refuses loops and deep nesting', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img);
    const inner = indexOf([{ img, platform: { os: 'linux', architecture: 'amd64' } }]);
    const outer = indexOf([{ bytes: inner, mediaType: MediaType.OciIndex }]);
    st.manifests.set(sha(inner), { body: inner, type: MediaType.OciIndex });
    st.manifests.set('nested', { body: outer, type: MediaType.OciIndex });
    // three levels: outer3 -> outer -> inner -> manifest
    const outer3 = indexOf([{ bytes: outer, mediaType: MediaType.OciIndex }]);
    st.manifests.set(sha(outer), { body: outer, type: MediaType.OciIndex });
    st.manifests.set('deep', { body: outer3, type: MediaType.OciIndex });
    registry(srv, st);
    const c = client();
    const r = await c.resolve(refAt(srv, 'app:nested'), AMD64);
    assert.equal(r.manifestDigest, img.manifestDigest);
    assert.equal(r.indexDigest, sha(outer));
    await rejectsCode(c.resolve(refAt(srv, 'app:deep'), AMD64), ErrorCode.UnsupportedManifest, /nested more than 2/);

    // A loop needs a registry serving other bytes under a digest (content addressing makes a real
    // one impossible): the digest check stops it before the loop check would.
    const empty = json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
    const loopA = indexOf([{ bytes: empty, mediaType: MediaType.OciIndex }]);
    st.manifests.set('loop', { body: loopA, type: MediaType.OciIndex });
    st.manifests.set(sha(empty), { body: loopA, type: MediaType.OciIndex });
    await rejectsCode(c.resolve(refAt(srv, 'app:loop'), AMD64), ErrorCode.DigestMismatch);
  });

  it('refuses schema 1 manifests', async () => {
    const srv = await server();
    const st = newState();
    const s1 = json({ schemaVersion: 1, name: 'app', tag: 'old', fsLayers: [], history: [], signatures: [] });
    st.manifests.set('old', { body: s1, type: MediaType.DockerSchema1SignedManifest });
    registry(srv, st);
    await rejectsCode(
      client().resolve(refAt(srv, 'app:old'), AMD64),
      ErrorCode.UnsupportedManifest,
      /schema 1 manifests are not supported; the image must be re-pushed/,
    );
  });

  it('rejects a manifest whose digest does not match', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img);
    st.manifests.set('liar', { body: img.manifest, type: MediaType.OciManifest, digestHeader: 'sha256:' + 'f'.repeat(64) });
    const tampered = Buffer.from(img.manifest.toString().replace('"schemaVersion":2', '"schemaVersion": 2'));
    st.manifests.set(img.manifestDigest, { body: tampered, type: MediaType.OciManifest, digestHeader: null });
    st.manifests.set('nodigest', { body: img.manifest, type: MediaType.OciManifest, digestHeader: null });
    registry(srv, st);
    const c = client();
    const e = await rejectsCode(c.resolve(refAt(srv, 'app:liar'), AMD64), ErrorCode.DigestMismatch, /nothing was stored/);
    assert.equal(e.data.digest, 'sha256:' + 'f'.repeat(64));
    await rejectsCode(c.resolve(refAt(srv, `app@${img.manifestDigest}`), AMD64), ErrorCode.DigestMismatch);
    // no header: the digest is computed
    assert.equal((await c.resolve(refAt(srv, 'app:nodigest'), AMD64)).manifestDigest, img.manifestDigest);
  });

  it('rejects a config that does not match its digest or the manifest', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img, 'bad');
    st.blobs.set(img.configDigest, Buffer.from(img.config.toString().replace('"sh"', '"xx"')));
    registry(srv, st);
    await rejectsCode(client().resolve(refAt(srv, 'app:bad'), AMD64), ErrorCode.DigestMismatch);

    const two = makeImage();
    const cfg = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const man = json({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha(cfg), size: cfg.length },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: two.layerDigest, size: two.layer.length }],
    });
    st.blobs.set(sha(cfg), cfg);
    st.manifests.set('mismatch', { body: man, type: MediaType.OciManifest });
    await rejectsCode(client().resolve(refAt(srv, 'app:mismatch'), AMD64), ErrorCode.InvalidContent, /0 layers but the manifest lists 1/);
  });

  it('maps 404 to ManifestUnknown and refuses oversized manifests', async () => {
    const srv = await server();
    const st = newState();
    registry(srv, st);
    const e = await rejectsCode(
      client().resolve(refAt(srv, 'app:nope'), AMD64),
      ErrorCode.ManifestUnknown,
      /manifest unknown: the registry has no such tag\/repository/,
    );
    assert.equal(e.data.operation, 'pull');
    assert.equal(e.data.reference, `${srv.host}/app:nope`);
    assert.equal(e.data.status, 404);
    assert.match(e.message, new RegExp(`^pull ${srv.host.replace(/\./g, '\\.')}/app:nope: `));

    st.manifestHook = (_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      for (let i = 0; i < 5; i++) res.write(chunk);
      res.end();
      return true;
    };
    await rejectsCode(client().resolve(refAt(srv, 'app:huge'), AMD64), ErrorCode.InvalidContent, /larger than 4194304/);
  });

  it('headManifest returns the current digest, or undefined without a header', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img, 'v1');
    st.manifests.set('nohdr', { body: img.manifest, type: MediaType.OciManifest, digestHeader: null });
    registry(srv, st);
    const c = client();
    assert.equal(await c.headManifest(refAt(srv, 'app:v1')), img.manifestDigest);
    assert.equal(await c.headManifest(refAt(srv, 'app:nohdr')), undefined);
    assert.ok(srv.seen.some((s) => s.method === 'HEAD'));
    await rejectsCode(c.headManifest(refAt(srv, 'app:missing')), ErrorCode.ManifestUnknown);
  });
});

describe('authentication', () => {
  it('bearer: one token for a whole pull, never sent to the token server', async () => {
    const srv = await server();
    const auth = await server();
    const valid = new Set<string>();
    const tokens = tokenServer(auth, valid, { expiresIn: 300 });
    const st = newState();
    st.auth = { kind: 'bearer', realm: `http://${auth.host}/token`, valid };
    const img = makeImage();
    addImage(st, img, 'v1');
    registry(srv, st);
    const c = client();
    const ref = refAt(srv, 'team/app:v1');
    const r = await c.resolve(ref, AMD64);
    const got = collector();
    await c.fetchBlob(ref, r.manifest.layers[0], got.sink);
    assert.deepEqual(got.bytes(), img.layer);
    assert.equal(await c.headManifest(ref), img.manifestDigest);
    assert.equal(tokens.count(), 1, 'the token is cached');
    const tokReq = new URL(auth.seen[0].url, 'http://x');
    assert.equal(tokReq.searchParams.get('service'), 'test-registry');
    assert.equal(tokReq.searchParams.get('scope'), 'repository:team/app:pull');
    assert.equal(auth.seen[0].headers.authorization, undefined, 'no credentials configured');
    const authed = srv.seen.filter((s) => s.url !== '/v2/');
    assert.ok(authed.length >= 4);
    for (const s of authed.slice(1)) assert.equal(s.headers.authorization, 'Bearer tok-1');
  });

  it('bearer: a 401 with a cached token drops it and retries once', async () => {
    const srv = await server();
    const auth = await server();
    const valid = new Set<string>();
    const tokens = tokenServer(auth, valid, { expiresIn: 3600 });
    const st = newState();
    st.auth = { kind: 'bearer', realm: `http://${auth.host}/token`, valid };
    const img = makeImage();
    addImage(st, img, 'v1');
    registry(srv, st);
    const c = client();
    const ref = refAt(srv, 'app:v1');
    await c.resolve(ref, AMD64);
    assert.equal(tokens.count(), 1);
    valid.clear(); // the registry revokes every token
    await c.resolve(ref, AMD64);
    assert.equal(tokens.count(), 2);
  });

  it('bearer: a token expiring soon is not reused', async () => {
    const srv = await server();
    const auth = await server();
    const valid = new Set<string>();
    const tokens = tokenServer(auth, valid, { expiresIn: 5 }); // less than the refresh margin
    const st = newState();
    st.auth = { kind: 'bearer', realm: `http://${auth.host}/token`, valid };
    const img = makeImage();
    addImage(st, img, 'v1');
    registry(srv, st);
    const c = client();
    await c.headManifest(refAt(srv, 'app:v1'));
    await c.headManifest(refAt(srv, 'app:v1'));
    assert.equal(tokens.count(), 2);
  });

  it('bearer: sends configured credentials to the token server; refused credentials are RegistryAuth', async () => {
    const srv = await server();
    const auth = await server();
    const valid = new Set<string>();
    const tokens = tokenServer(auth, valid, { requireBasic: 'alice:s3cret' });
    const st = newState();
    st.auth = { kind: 'bearer', realm: `http://${auth.host}/token`, valid };
    const img = makeImage();
    addImage(st, img, 'v1');
    registry(srv, st);
    const good = client({ dockerConfigDir: configDir({ [srv.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } }) });
    await good.resolve(refAt(srv, 'app:v1'), AMD64);
    assert.equal(tokens.count(), 1);
    const badDir = configDir({ [`http://${srv.host}/v1/`]: { username: 'alice', password: 'wrong' } });
    const e = await rejectsCode(
      client({ dockerConfigDir: badDir }).resolve(refAt(srv, 'app:v1'), AMD64),
      ErrorCode.RegistryAuth,
      /refused the credentials/,
    );
    assert.match(e.message, new RegExp(srv.host.replace(/\./g, '\\.')));
    assert.equal(e.data.status, 401);
    await rejectsCode(
      client().resolve(refAt(srv, 'app:v1'), AMD64),
      ErrorCode.RegistryAuth,
      /needs credentials; add them to "auths" in .*config\.json/,
    );
  });

  it('basic: credentials from DOCKER_CONFIG, and a clear error without them', async () => {
    const srv = await server();
    const st = newState();
    st.auth = { kind: 'basic', userpass: 'bob:pw' };
    const img = makeImage();
    addImage(st, img, 'v1');
    registry(srv, st);
    const dir = configDir({ [srv.host]: { auth: Buffer.from('bob:pw').toString('base64') } });
    const old = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dir;
    try {
      const c = new RegistryClient({ retryBaseMs: 5 }); // no dockerConfigDir: $DOCKER_CONFIG
      clients.push(c);
      const r = await c.resolve(refAt(srv, 'app:v1'), AMD64);
      assert.equal(r.manifestDigest, img.manifestDigest);
    } finally {
      if (old === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = old;
    }
    const e = await rejectsCode(client().resolve(refAt(srv, 'app:v1'), AMD64), ErrorCode.RegistryAuth, /config\.json/);
    assert.match(e.message, new RegExp(`registry ${srv.host.replace(/\./g, '\\.')}`));
    await rejectsCode(
      client({ dockerConfigDir: configDir({ [srv.host]: { username: 'bob', password: 'nope' } }) }).resolve(refAt(srv, 'app:v1'), AMD64),
      ErrorCode.RegistryAuth,
      /refused the credentials/,
    );
  });

  it('redirects: follows to another origin without Authorization, relative Location too', async () => {
    const srv = await server();
    const cdn = await server();
    const auth = await server();
    const valid = new Set<string>();
    tokenServer(auth, valid);
    const st = newState();
    st.auth = { kind: 'bearer', realm: `http://${auth.host}/token`, valid };
    const img = makeImage('amd64', 300_000);
    addImage(st, img, 'v1');
    st.blobHook = (req, res) => {
      if (req.url?.includes(img.layerDigest)) {
        res.writeHead(307, { location: `http://${cdn.host}/signed/${img.layerDigest}?sig=abc` }).end();
      } else {
        res.writeHead(302, { location: `../../app/blobs-moved/${img.configDigest}` }).end(); // relative
      }
      return true;
    };
    registry(srv, st);
    const inner = srv.handler;
    srv.handler = (req, res) => {
      if (req.url?.startsWith('/v2/app/blobs-moved/')) {
        if (req.headers.authorization !== 'Bearer tok-1') return void res.writeHead(401).end();
        return serveBlob(req, res, img.config);
      }
      inner(req, res);
    };
    cdn.handler = (req, res) => serveBlob(req, res, img.layer);
    const c = client();
    const ref = refAt(srv, 'app:v1');
    const r = await c.resolve(ref, AMD64); // config: relative redirect on the same origin, Authorization kept
    assert.deepEqual(r.configBytes, img.config);
    const got = collector();
    await c.fetchBlob(ref, { digest: img.layerDigest, size: img.layer.length }, got.sink);
    assert.deepEqual(got.bytes(), img.layer);
    assert.ok(cdn.seen.length >= 1);
    for (const s of cdn.seen) assert.equal(s.headers.authorization, undefined, 'no Authorization to another origin');
    assert.ok(srv.seen.some((s) => s.url.startsWith('/v2/app/blobs-moved/') && s.headers.authorization === 'Bearer tok-1'));
  });

  it('redirect loops end with RegistryError', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img, 'v1');
    st.blobHook = (req, res) => {
      res.writeHead(302, { location: req.url ?? '/' }).end();
      return true;
    };
    registry(srv, st);
    await rejectsCode(
      client().fetchBlob(refAt(srv, 'app:v1'), { digest: img.layerDigest, size: img.layer.length }, () => {}),
      ErrorCode.RegistryError,
      /redirected more than 5 times/,
    );
  });
});

describe('retries', () => {
  it('retries a 500 then succeeds', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img, 'v1');
    st.manifestHook = (_req, res, n) => {
      if (n > 1) return false;
      res.writeHead(500).end('oops');
      return true;
    };
    st.blobHook = (_req, res, _b, n) => {
      if (n !== 2) return false; // config is blob 1; the layer's first try fails
      res.writeHead(502).end();
      return true;
    };
    registry(srv, st);
    const c = client();
    const ref = refAt(srv, 'app:v1');
    const r = await c.resolve(ref, AMD64);
    assert.equal(r.manifestDigest, img.manifestDigest);
    const retries: Array<[number, string]> = [];
    const got = collector();
    await c.fetchBlob(ref, { digest: img.layerDigest, size: img.layer.length }, got.sink, { onRetry: (a, why) => retries.push([a, why]) });
    assert.deepEqual(got.bytes(), img.layer);
    assert.equal(retries.length, 1);
    assert.equal(retries[0][0], 1);
    assert.match(retries[0][1], /502/);
  });

  it('honours Retry-After on 429 (0 and 1 seconds)', async () => {
    const srv = await server();
    const st = newState();
    const img = makeImage();
    addImage(st, img, 'v1');
    let after = '0';
    let fail = true;
    st.manifestHook = (_req, res) => {
      if (!fail) return false;
      fail = false;
      res.writeHead(429, { 'retry-after': after }).end();
      return true;
    };
    registry(srv, st);
    const c = client({ retryBaseMs: 1 });
    let t = Date.now();
    await c.headManifest(refAt(srv, 'app:v1'));
    assert.ok(Date.now() - t < 500, 'Retry-After: 0 retries at once');
    after = '1';
    fail = true;
    t = Date.now();
    await c.headManifest(refAt(srv, 'app:v1'));
    const took = Date.now() - t;
    assert.ok(took >= 950 && took < 3000, `Retry-After: 1 waited ${took} ms`);
  });

  it('persistent 503 ends with RegistryError carrying the status', async () => {
    const srv = await server();
    const st = newState();
    st.manifestHook = (_req, res) => {
      res.writeHead(503).end();
      return true;
    };
    registry(srv, st);
    const e = await rejectsCode(
      client({ retries: 2 }).resolve(refAt(srv, 'app:v1'), AMD64),
      ErrorCode.RegistryError,
      /kept failing after 3 attempts.*503/,
    );
    assert.equal(e.data.status, 503);
    assert.equal(srv.seen.filter((s) => s.url.includes('/manifests/')).length, 3);
  });

  it('connection refused ends with RegistryUnreachable naming the host', async () => {
    const gone = await TestServer.start();
    const host = gone.host;
    await gone.close();
    const e = await rejectsCode(
      client({ retries: 1 }).resolve(parseReference(`${host}/app:v1`), AMD64),
      ErrorCode.RegistryUnreachable,
      new RegExp(`cannot reach registry ${host.replace(/\./g, '\\.')}`),
    );
    assert.match(e.message, /ECONNREFUSED/);
  });
});

describe('fetchBlob', () => {
  async function blobServer(hook: RegistryState['blobHook'], size = 200_000) {
    const srv = await server();
    const st = newState();
    const img = makeImage('amd64', size);
    addImage(st, img, 'v1');
    st.blobHook = hook;
    registry(srv, st);
    return { srv, img, ref: refAt(srv, 'app:v1'), desc: { digest: img.layerDigest, size: img.layer.length } };
  }

  it('resumes with Range after the connection drops mid-blob', async () => {
    const N = 70_000;
    const { srv, img, ref, desc } = await blobServer((_req, res, body, n) => {
      if (n > 1) return false;
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, N), () => setTimeout(() => res.socket?.destroy(), 20));
      return true;
    });
    const got = collector();
    const reasons: string[] = [];
    await client().fetchBlob(ref, desc, got.sink, { onRetry: (_a, r) => reasons.push(r) });
    assert.deepEqual(got.bytes(), img.layer);
    const blobReqs = srv.seen.filter((s) => s.url.includes(img.layerDigest));
    assert.equal(blobReqs.length, 2);
    const m = /^bytes=(\d+)-$/.exec(String(blobReqs[1].headers.range));
    assert.ok(m, 'second request has a Range header');
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= N);
    assert.equal(reasons.length, 1);
    assert.match(reasons[0], /dropped|ended/);
  });

  it('resumes after a stall', async () => {
    const N = 50_000;
    const { srv, img, ref, desc } = await blobServer((_req, res, body, n) => {
      if (n > 1) return false;
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, N)); // and then nothing
      return true;
    });
    const got = collector();
    const reasons: string[] = [];
    const t = Date.now();
    await client({ stallTimeoutMs: 200 }).fetchBlob(ref, desc, got.sink, { onRetry: (_a, r) => reasons.push(r) });
    assert.ok(Date.now() - t < 3000);
    assert.deepEqual(got.bytes(), img.layer);
    assert.match(reasons[0], /stalled/);
    const blobReqs = srv.seen.filter((s) => s.url.includes(img.layerDigest));
    assert.equal(blobReqs[1].headers.range, `bytes=${N}-`);
  });

  it('stays exact when the server ignores Range and answers 200', async () => {
    const N = 33_333;
    const { img, ref, desc } = await blobServer((_req, res, body, n) => {
      res.writeHead(200, { 'content-length': body.length });
      if (n === 1) res.write(body.subarray(0, N), () => setTimeout(() => res.socket?.destroy(), 20));
      else res.end(body); // full body, Range ignored
      return true;
    });
    const got = collector();
    await client().fetchBlob(ref, desc, got.sink);
    assert.equal(got.bytes().length, img.layer.length);
    assert.deepEqual(got.bytes(), img.layer);
  });

  it('a body that ends early (no Content-Length) is resumed', async () => {
    const { img, ref, desc } = await blobServer((req, res, body, n) => {
      if (n > 1) return serveBlob(req, res, body), true;
      res.writeHead(200, { connection: 'close' }); // no length: the close ends the body "cleanly"
      res.end(body.subarray(0, 1000));
      return true;
    });
    const got = collector();
    const reasons: string[] = [];
    await client().fetchBlob(ref, desc, got.sink, { onRetry: (_a, r) => reasons.push(r) });
    assert.deepEqual(got.bytes(), img.layer);
    assert.match(reasons[0], /ended after 1000 of/);
  });

  it('rejects a blob whose bytes do not match its digest', async () => {
    const { img, ref, desc } = await blobServer((_req, res, body) => {
      const evil = Buffer.from(body);
      evil[evil.length - 1] ^= 0xff;
      res.writeHead(200, { 'content-length': evil.length }).end(evil);
      return true;
    });
    const got = collector();
    const e = await rejectsCode(client().fetchBlob(ref, desc, got.sink), ErrorCode.DigestMismatch, /hashes to sha256:/);
    assert.equal(e.data.digest, img.layerDigest);
    assert.ok(got.bytes().length <= img.layer.length);
  });

  it('never delivers bytes beyond the descriptor size', async () => {
    const { img, ref, desc } = await blobServer((_req, res, body) => {
      res.writeHead(200); // chunked, no length, more bytes than announced in the manifest
      res.write(body);
      res.end(Buffer.alloc(5000, 1));
      return true;
    });
    const got = collector();
    await rejectsCode(client().fetchBlob(ref, desc, got.sink), ErrorCode.DigestMismatch, /longer than/);
    assert.ok(got.bytes().length <= img.layer.length);
    // a wrong Content-Length fails before anything is delivered
    const other = await blobServer((_req, res, body) => {
      res.writeHead(200, { 'content-length': body.length + 1 }).end(Buffer.concat([body, Buffer.from('x')]));
      return true;
    });
    const none = collector();
    await rejectsCode(client().fetchBlob(other.ref, other.desc, none.sink), ErrorCode.DigestMismatch);
    assert.equal(none.bytes().length, 0);
  });

  it('awaits a slow sink (backpressure) without counting it as a stall', async () => {
    const { img, ref, desc } = await blobServer(undefined, 400_000);
    const chunks: Buffer[] = [];
    let busy = false;
    await client({ stallTimeoutMs: 100 }).fetchBlob(ref, desc, async (c) => {
      assert.equal(busy, false, 'the sink is never re-entered');
      busy = true;
      chunks.push(Buffer.from(c));
      if (chunks.length <= 3) await new Promise((r) => setTimeout(r, 250));
      busy = false;
    });
    assert.deepEqual(Buffer.concat(chunks), img.layer);
  });

  it("a sink's error ends the fetch without retry", async () => {
    const { srv, img, ref, desc } = await blobServer(undefined);
    const boom = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
    await assert.rejects(
      client().fetchBlob(ref, desc, () => {
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(srv.seen.filter((s) => s.url.includes(img.layerDigest)).length, 1);
  });

  it('an unknown blob is ManifestUnknown; an invalid digest is InvalidContent', async () => {
    const { ref } = await blobServer(undefined);
    await rejectsCode(
      client().fetchBlob(ref, { digest: 'sha256:' + '0'.repeat(64), size: 1 }, () => {}),
      ErrorCode.ManifestUnknown,
      /blob unknown/,
    );
    await rejectsCode(
      client().fetchBlob(ref, { digest: 'sha256:nope', size: 1 }, () => {}),
      ErrorCode.InvalidContent,
    );
    await rejectsCode(
      client().fetchSmallBlob(ref, { digest: 'sha256:' + '0'.repeat(64), size: 100 }, 10),
      ErrorCode.InvalidContent,
      /at most 10/,
    );
  });

  it('AbortSignal cancels a stalled download, a backoff, and a fetch not yet started', async () => {
    const stalled = await blobServer((_req, res, body) => {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 1000));
      return true;
    });
    const ac = new AbortController();
    const t = Date.now();
    setTimeout(() => ac.abort(), 150);
    const e = await rejectsCode(
      client({ stallTimeoutMs: 60_000 }).fetchBlob(stalled.ref, stalled.desc, () => {}, { signal: ac.signal }),
      ErrorCode.Cancelled,
      /cancelled/,
    );
    assert.ok(Date.now() - t < 2000);
    assert.equal(e.data.operation, 'pull');

    const failing = await blobServer((_req, res) => {
      res.writeHead(503, { 'retry-after': '20' }).end();
      return true;
    });
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 150);
    const t2 = Date.now();
    await rejectsCode(
      client().fetchBlob(failing.ref, failing.desc, () => {}, { signal: ac2.signal }),
      ErrorCode.Cancelled,
    );
    assert.ok(Date.now() - t2 < 2000);

    const ac3 = new AbortController();
    ac3.abort();
    await rejectsCode(client().resolve(failing.ref, AMD64, ac3.signal), ErrorCode.Cancelled);
  });
});
