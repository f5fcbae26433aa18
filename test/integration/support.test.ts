/**
 * Self-test of the integration-test infrastructure (test/support): real registries with each kind
 * of auth, pushes of the built images, fetching them back with plain node:http, umoci unpacking,
 * and the kernel's overlay view. Needs root and the Debian packages of scripts/setup-debian.sh;
 * it fails (never skips) without them.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { native } from '../../native';
import {
  busyboxImage,
  FEATURE,
  featureImage,
  INDEX_PLATFORMS,
  MediaTypes,
  multiPlatformIndex,
  PASSWD,
  sha256Digest,
  type BuiltImage,
} from '../support/images';
import { extractLayerForOverlay, snapshotOverlay } from '../support/overlay';
import { authHeader, deleteManifest, parseChallenge, pushImage, pushIndex } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { diffTrees, snapshotTree, type TreeSnapshot } from '../support/tree';
import { makeTempDir, removeTempDir, requireTools, runCleanups } from '../support/tmp';
import { unpackWithUmoci } from '../support/umoci';

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET with plain node:http (no redirects followed). */
function httpGet(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const ACCEPT = [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList].join(', ');

/** Fetches a manifest by tag or digest and checks it is byte-identical to what was built. */
async function checkManifest(reg: TestRegistry, repo: string, ref: string, mediaType: string, bytes: Buffer): Promise<void> {
  const auth = await authHeader(reg, repo, ['pull']);
  const res = await httpGet(`${reg.url}/v2/${repo}/manifests/${ref}`, { accept: ACCEPT, ...(auth ? { authorization: auth } : {}) });
  assert.equal(res.status, 200, `GET manifest ${repo}:${ref}: ${res.body.toString()}`);
  assert.equal(res.headers['content-type'], mediaType);
  assert.equal(res.headers['docker-content-digest'], sha256Digest(bytes));
  assert.equal(sha256Digest(res.body), sha256Digest(bytes));
}

async function checkBlob(reg: TestRegistry, repo: string, digest: string): Promise<Buffer> {
  const auth = await authHeader(reg, repo, ['pull']);
  let res = await httpGet(`${reg.url}/v2/${repo}/blobs/${digest}`, auth ? { authorization: auth } : {});
  // The filesystem driver serves blobs directly (200); follow one redirect should a driver send one.
  if (res.status === 307 && typeof res.headers.location === 'string') res = await httpGet(res.headers.location);
  assert.equal(res.status, 200, `GET blob ${digest}`);
  assert.equal(sha256Digest(res.body), digest);
  return res.body;
}

async function pushAndCheck(reg: TestRegistry, repo: string, tag: string, img: BuiltImage): Promise<void> {
  assert.equal(await pushImage(reg, repo, tag, img), img.manifestDigest);
  await checkManifest(reg, repo, tag, img.mediaType, img.manifest);
  await checkManifest(reg, repo, img.manifestDigest, img.mediaType, img.manifest);
  assert.deepEqual(await checkBlob(reg, repo, img.configDigest), img.config);
  for (const l of img.layers) await checkBlob(reg, repo, l.digest);
}

before(() => requireTools());
after(() => runCleanups());

describe('images', () => {
  it('are reproducible and internally consistent', async () => {
    const a = await featureImage({ compression: 'none' });
    const b = await featureImage({ compression: 'none' });
    assert.equal(a.manifestDigest, b.manifestDigest);
    const config = JSON.parse(a.config.toString()) as {
      rootfs: { diff_ids: string[] };
      history: { empty_layer?: boolean; created_by: string }[];
      architecture: string;
    };
    assert.deepEqual(
      config.rootfs.diff_ids,
      a.layers.map((l) => l.diffId),
    );
    assert.equal(config.history.filter((h) => !h.empty_layer).length, 3);
    for (const l of a.layers) assert.equal(l.digest, l.diffId, 'uncompressed layer: digest == diff_id');
    const z = await featureImage({ compression: 'zstd' });
    assert.deepEqual(
      z.layers.map((l) => l.diffId),
      a.layers.map((l) => l.diffId),
      'same tars, whatever the compression',
    );
    assert.equal(z.layers[0].bytes.subarray(0, 4).toString('hex'), '28b52ffd');
    const d = await busyboxImage({ flavour: 'docker' });
    assert.equal(d.mediaType, MediaTypes.dockerManifest);
    assert.equal(d.layers[0].mediaType, MediaTypes.dockerLayerGzip);
    assert.equal(d.layers[0].bytes.subarray(0, 2).toString('hex'), '1f8b');
    await assert.rejects(featureImage({ flavour: 'docker', compression: 'zstd' }), /zstd/);
    const idx = await multiPlatformIndex();
    const parsed = JSON.parse(idx.index.toString()) as {
      manifests: { platform: { architecture: string; os: string; variant?: string }; annotations?: Record<string, string> }[];
    };
    assert.deepEqual(
      parsed.manifests.slice(0, 3).map((m) => m.platform),
      INDEX_PLATFORMS,
    );
    assert.deepEqual(parsed.manifests[3].platform, { os: 'unknown', architecture: 'unknown' });
    assert.equal(parsed.manifests[3].annotations?.['vnd.docker.reference.type'], 'attestation-manifest');
  });
});

describe('registry without auth', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.stop());

  it('answers /v2/ and takes pushes of every image flavour', async () => {
    assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
    assert.equal((await httpGet(`${reg.url}/v2/`)).status, 200);
    await pushAndCheck(reg, 'test/busybox', 'latest', await busyboxImage());
    await pushAndCheck(reg, 'test/busybox', 'docker', await busyboxImage({ flavour: 'docker' }));
    await pushAndCheck(reg, 'test/feature', 'gzip', await featureImage());
    await pushAndCheck(reg, 'test/feature', 'zstd', await featureImage({ compression: 'zstd' }));
    await pushAndCheck(reg, 'test/feature', 'none', await featureImage({ compression: 'none' }));
    await pushAndCheck(reg, 'test/feature', 'docker', await featureImage({ flavour: 'docker' }));
    const doomed = await busyboxImage({ flavour: 'docker' });
    await deleteManifest(reg, 'test/busybox', doomed.manifestDigest);
    assert.equal((await httpGet(`${reg.url}/v2/test/busybox/manifests/${doomed.manifestDigest}`, { accept: ACCEPT })).status, 404);
  });

  it('takes a multi-platform index with an attestation manifest', async () => {
    for (const flavour of ['oci', 'docker'] as const) {
      const idx = await multiPlatformIndex({ flavour });
      assert.equal(await pushIndex(reg, 'test/multi', flavour, idx), idx.indexDigest);
      await checkManifest(reg, 'test/multi', flavour, idx.mediaType, idx.index);
      for (const img of [...idx.images, idx.attestation])
        await checkManifest(reg, 'test/multi', img.manifestDigest, img.mediaType, img.manifest);
    }
  });

  it('is unpacked by umoci into the expected rootfs (featureImage)', async () => {
    const u = await unpackWithUmoci(reg, 'test/feature', 'gzip');
    try {
      const t = await snapshotTree(u.rootfs);
      assert.equal(t[FEATURE.setuid].mode, 0o4755);
      assert.equal(t[FEATURE.setgid].mode, 0o2755);
      assert.equal(t[FEATURE.setgid].gid, 1000);
      assert.equal(t[FEATURE.stickyDir].mode, 0o1777);
      assert.equal(t['/tmp'].mode, 0o1777);
      assert.equal(t[FEATURE.hardlinks[0]].hardlinkGroup, FEATURE.hardlinks[0]);
      assert.equal(t[FEATURE.hardlinks[1]].hardlinkGroup, FEATURE.hardlinks[0]);
      for (const [p, target] of Object.entries(FEATURE.symlinks)) assert.equal(t[p].target, target);
      assert.equal(t[FEATURE.fifo].type, 'fifo');
      assert.equal(t[FEATURE.charDevice].rdev, '1:3');
      assert.equal(t[FEATURE.xattrFile].xattrs['user.foo'], Buffer.from('bar').toString('hex'));
      assert.ok(t[FEATURE.xattrFile].xattrs['security.capability']);
      assert.deepEqual([t[FEATURE.ownedFile].uid, t[FEATURE.ownedFile].gid], [1000, 1000]);
      for (const [p, m] of Object.entries(FEATURE.mtimes)) assert.equal(t[p].mtime, m, p);
      assert.ok(t[FEATURE.longName] && t[FEATURE.unicode] && t[FEATURE.empty]);
      for (const p of FEATURE.deleted) assert.equal(t[p], undefined, `${p} is whited out`);
      assert.equal(t['/srv/gonedir/x'], undefined);
      assert.deepEqual(
        Object.keys(t).filter((p) => p.startsWith(`${FEATURE.opaqueDir}/`)),
        FEATURE.opaqueAfter,
      );
      assert.equal(await readFile(join(u.rootfs, FEATURE.changed.path), 'utf8'), FEATURE.changed.after);
      assert.equal(t[FEATURE.changed.path].mode, FEATURE.changed.modeAfter);
      assert.equal(t[FEATURE.typeChange].type, 'dir');
      assert.equal(await readFile(join(u.rootfs, '/etc/passwd'), 'utf8'), PASSWD);
      assert.equal(Object.keys(t).filter((p) => p.includes('.wh.')).length, 0);
    } finally {
      await u.cleanup();
    }
  });

  it('umoci unpacks the zstd variant (recompressed by skopeo) and the uncompressed one identically', async () => {
    const gz = await unpackWithUmoci(reg, 'test/feature', 'gzip');
    const zs = await unpackWithUmoci(reg, 'test/feature', 'zstd', { gzipLayers: true });
    const none = await unpackWithUmoci(reg, 'test/feature', 'none');
    try {
      const g = await snapshotTree(gz.rootfs);
      assert.deepEqual(diffTrees(g, await snapshotTree(zs.rootfs)), []);
      assert.deepEqual(diffTrees(g, await snapshotTree(none.rootfs)), []);
    } finally {
      await Promise.all([gz.cleanup(), zs.cleanup(), none.cleanup()]);
    }
  });

  it('the kernel overlay of the layers (GNU tar reference) matches umoci', async () => {
    const img = await featureImage();
    const work = await makeTempDir('berth-layers-');
    const dirs: string[] = [];
    for (let i = 0; i < img.layers.length; i++) {
      dirs.push(join(work, String(i)));
      await extractLayerForOverlay(img.layers[i].tar, dirs[i]);
    }
    const merged = await snapshotOverlay([...dirs].reverse());
    await removeTempDir(work);
    const u = await unpackWithUmoci(reg, 'test/feature', 'gzip');
    try {
      assert.equal(Object.keys(merged).length, Object.keys(await snapshotTree(u.rootfs)).length);
      const diffs = diffTrees(merged, await snapshotTree(u.rootfs), { labels: ['overlay', 'umoci'], ignore: ['root'] });
      assert.deepEqual(diffs, []);
    } finally {
      await u.cleanup();
    }
  });
});

describe('registry with Basic auth', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'basic', users: { alice: 'wonderland', bob: 'builder' } });
  });
  after(() => reg.stop());

  it('challenges, rejects bad passwords, accepts good ones', async () => {
    assert.equal(reg.username, 'alice');
    const anon = await httpGet(`${reg.url}/v2/`);
    assert.equal(anon.status, 401);
    assert.equal(parseChallenge(String(anon.headers['www-authenticate'])).scheme, 'basic');
    const bad = await httpGet(`${reg.url}/v2/`, { authorization: 'Basic ' + Buffer.from('alice:nope').toString('base64') });
    assert.equal(bad.status, 401);
    const bob = await httpGet(`${reg.url}/v2/`, { authorization: 'Basic ' + Buffer.from('bob:builder').toString('base64') });
    assert.equal(bob.status, 200);
  });

  it('takes pushes and serves them back; skopeo + umoci pull with credentials', async () => {
    const img = await busyboxImage();
    await pushAndCheck(reg, 'private/busybox', 'v1', img);
    const u = await unpackWithUmoci(reg, 'private/busybox', 'v1');
    try {
      const t = await snapshotTree(u.rootfs);
      assert.equal(t['/bin/sh'].target, 'busybox');
      assert.equal(t['/bin/busybox'].sha256, sha256Digest(await readFile('/bin/busybox')).slice(7));
    } finally {
      await u.cleanup();
    }
  });
});

describe('registry with token auth', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'token' });
  });
  after(() => reg.stop());

  it('sends clients to the issuer and accepts its tokens', async () => {
    const issuer = reg.tokenIssuer;
    assert.ok(issuer);
    const anon = await httpGet(`${reg.url}/v2/test/feature/manifests/latest`);
    assert.equal(anon.status, 401);
    const ch = parseChallenge(String(anon.headers['www-authenticate']));
    assert.equal(ch.scheme, 'bearer');
    assert.equal(ch.params.realm, issuer.url);
    assert.equal(ch.params.service, issuer.service);
    assert.equal(ch.params.scope, 'repository:test/feature:pull');

    const img = await featureImage();
    issuer.reset();
    await pushAndCheck(reg, 'test/feature', 'latest', img);
    assert.ok(issuer.issued >= 1);
    assert.ok(issuer.requests.some((r) => r.scopes.includes('repository:test/feature:pull,push') && r.user === reg.username));

    // Bad credentials: 401 from the issuer. Anonymous: a token without access, which the registry refuses.
    const q = `?service=${encodeURIComponent(issuer.service)}&scope=repository:test/feature:pull`;
    const badCreds = await httpGet(issuer.url + q, { authorization: 'Basic ' + Buffer.from(`${reg.username}:wrong`).toString('base64') });
    assert.equal(badCreds.status, 401);
    const anonToken = JSON.parse((await httpGet(issuer.url + q)).body.toString()) as { token: string };
    const refused = await httpGet(`${reg.url}/v2/test/feature/manifests/latest`, { authorization: `Bearer ${anonToken.token}` });
    assert.equal(refused.status, 401);

    // A pull-only token may read but not start an upload.
    const pullOnly = issuer.mint(reg.username, [{ type: 'repository', name: 'test/feature', actions: ['pull'] }]);
    assert.equal(
      (await httpGet(`${reg.url}/v2/test/feature/manifests/latest`, { authorization: `Bearer ${pullOnly}`, accept: ACCEPT })).status,
      200,
    );
    const upload = await fetch(`${reg.url}/v2/test/feature/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pullOnly}` },
    });
    await upload.arrayBuffer();
    assert.equal(upload.status, 401);

    // Several scopes in one request.
    const multi = await httpGet(`${issuer.url}?service=${issuer.service}&scope=repository:a:pull&scope=repository:b:pull,push`, {
      authorization: 'Basic ' + Buffer.from(`${reg.username}:${reg.password}`).toString('base64'),
    });
    assert.equal(multi.status, 200);
    assert.deepEqual(issuer.lastScopes, ['repository:a:pull', 'repository:b:pull,push']);
    const claims = JSON.parse(
      Buffer.from((JSON.parse(multi.body.toString()) as { token: string }).token.split('.')[1], 'base64url').toString(),
    ) as {
      access: unknown;
      aud: string;
    };
    assert.equal(claims.aud, issuer.service);
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'a', actions: ['pull'] },
      { type: 'repository', name: 'b', actions: ['pull', 'push'] },
    ]);
  });

  it('a multi-platform index round-trips and skopeo + umoci pull it for the host', async () => {
    const idx = await multiPlatformIndex();
    await pushIndex(reg, 'test/multi', 'v1', idx);
    await checkManifest(reg, 'test/multi', 'v1', idx.mediaType, idx.index);
    const u = await unpackWithUmoci(reg, 'test/multi', 'v1');
    try {
      const t = await snapshotTree(u.rootfs);
      assert.equal(t['/bin/busybox'].type, 'file');
    } finally {
      await u.cleanup();
    }
  });
});

describe('registry lifecycle', () => {
  it('stop() kills the registry and removes its dir', async () => {
    const reg = await startRegistry({ auth: 'token' });
    const { storageDir, url } = reg;
    await reg.stop();
    await assert.rejects(httpGet(`${url}/v2/`));
    await assert.rejects(readFile(join(storageDir, '..', 'config.yml')));
    await reg.stop(); // idempotent
  });
});

describe('snapshotOverlay (kernel view of hand-made overlay dirs)', () => {
  it('applies whiteouts, opaque dirs and upper-over-lower, keeps hardlinks and xattrs', async () => {
    const root = await makeTempDir('berth-ovl-test-');
    const lower = join(root, 'lower');
    const upper = join(root, 'upper');
    const n = native();
    await mkdir(join(lower, 'dir'), { recursive: true });
    await mkdir(join(lower, 'opaque', 'sub'), { recursive: true });
    await writeFile(join(lower, 'keep'), 'keep\n');
    await writeFile(join(lower, 'gone'), 'gone\n');
    await writeFile(join(lower, 'dir', 'inner'), 'inner\n');
    await writeFile(join(lower, 'opaque', 'old'), 'old\n');
    await writeFile(join(lower, 'opaque', 'sub', 'old2'), 'old2\n');
    await writeFile(join(lower, 'changed'), 'v1\n');
    await writeFile(join(lower, 'hl1'), 'hl\n');
    await (await import('node:fs/promises')).link(join(lower, 'hl1'), join(lower, 'hl2'));
    n.lsetxattr(join(lower, 'keep'), 'user.k', Buffer.from('v'));

    await mkdir(join(upper, 'opaque'), { recursive: true });
    n.mknod(join(upper, 'gone'), 0o020000, 0, 0);
    n.mknod(join(upper, 'dir'), 0o020000, 0, 0);
    n.lsetxattr(join(upper, 'opaque'), 'trusted.overlay.opaque', Buffer.from('y'));
    await writeFile(join(upper, 'opaque', 'new'), 'new\n');
    await writeFile(join(upper, 'changed'), 'v2\n');

    const merged: TreeSnapshot = await snapshotOverlay([upper, lower]);
    assert.deepEqual(Object.keys(merged), ['/', '/changed', '/hl1', '/hl2', '/keep', '/opaque', '/opaque/new']);
    assert.equal(merged['/changed'].sha256, sha256Digest('v2\n').slice(7));
    assert.equal(merged['/hl1'].hardlinkGroup, '/hl1');
    assert.equal(merged['/hl2'].hardlinkGroup, '/hl1');
    assert.deepEqual(merged['/keep'].xattrs, { 'user.k': Buffer.from('v').toString('hex') });
    assert.deepEqual(merged['/opaque'].xattrs, {}, 'overlayfs hides trusted.overlay.*');

    // A single lower dir works too, and equals a plain snapshot of it.
    const single = await snapshotOverlay([lower]);
    assert.deepEqual(diffTrees(single, await snapshotTree(lower), { ignore: ['root'] }), []);
    await removeTempDir(root);
  });

  it('diffTrees reports differences readably and honours its ignore list', () => {
    const base = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 1, mtimeNs: 0, xattrs: {}, sha256: 'aa' };
    const a: TreeSnapshot = { '/': { ...base, type: 'dir', size: 0, sha256: undefined, mtime: 5 }, '/f': base, '/only-a': base };
    const b: TreeSnapshot = {
      '/': { ...base, type: 'dir', size: 0, sha256: undefined, mtime: 6 },
      '/f': { ...base, mode: 0o4755, mtime: 2 },
    };
    assert.deepEqual(diffTrees(a, b), [
      '/: mtime 5 (a) != 6 (b)',
      '/f: mode 0644 (a) != 4755 (b)',
      '/f: mtime 1 (a) != 2 (b)',
      '/only-a: only in a (file)',
    ]);
    assert.deepEqual(diffTrees(a, b, { ignore: ['root', 'mtime', 'mode'], ignorePaths: ['/only-a'] }), []);
    assert.deepEqual(diffTrees(a, b, { ignore: ['dirMtime'], ignorePaths: [/^\/only/] }), [
      '/f: mode 0644 (a) != 4755 (b)',
      '/f: mtime 1 (a) != 2 (b)',
    ]);
  });
});
