/**
 * `berth push` against a real registry (Debian's docker-registry on 127.0.0.1), through the real
 * agent and CLI: a pulled image pushed under a new name (blobs mounted from the repository it came
 * from, the manifest unchanged) and read back by skopeo byte for byte; a second push that sends no
 * blob (requests counted at a proxy in front of the registry); a committed image pushed and pulled
 * into a fresh store; a loaded docker-save image (uncompressed layers) gzipped once and pushed the
 * same way twice; token auth with and without credentials and with a read-only account; and
 * registries that lie (a bogus upload Location, a wrong digest, 500s).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  ErrorCode,
  EventNotification,
  InspectImageRequest,
  PullRequest,
  PushProgressNotification,
  PushRequest,
  SubscribeRequest,
  TagImageRequest,
  type BerthEvent,
  type ImageInspect,
  type PushProgressParams,
} from '../../protocol';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { removeAllContainers } from '../support/containers';
import { expectAgentError, ok } from '../support/expect';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';
import { busyboxImage } from '../support/images';
import { pushImage as seedImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { makeTempDir, registerCleanup, requireTools, run, runCleanups } from '../support/tmp';

function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

interface Copied {
  manifest: { mediaType?: string; config: { digest: string }; layers: { digest: string; mediaType: string; size: number }[] };
  manifestDigest: string;
  config: { rootfs: { diff_ids: string[] } };
}

/**
 * Copies `ref` out of the registry with skopeo into a `dir:` layout (blobs and manifest byte for
 * byte) and checks every blob hashes to its name.
 */
async function skopeoCopy(ref: string): Promise<Copied> {
  const out = join(await makeTempDir('berth-push-skopeo-'), 'img');
  await run('skopeo', ['copy', '--insecure-policy', '--src-tls-verify=false', `docker://${ref}`, `dir:${out}`], { timeoutMs: 60_000 });
  const manifestBytes = readFileSync(join(out, 'manifest.json'));
  const manifest = JSON.parse(manifestBytes.toString()) as Copied['manifest'];
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    assert.equal(sha256(readFileSync(join(out, d.slice(7)))), d, `skopeo's copy of blob ${d}`);
  }
  const config = JSON.parse(readFileSync(join(out, manifest.config.digest.slice(7))).toString()) as Copied['config'];
  return { manifest, manifestDigest: sha256(manifestBytes), config };
}

/** Requests that sent blob bytes: the PUT closing an upload session (monolithic uploads) and PATCHes. */
function blobUploads(proxy: FaultProxy): number {
  return proxy.count(/\/blobs\/uploads\//, 'PUT') + proxy.count(/\/blobs\/uploads\//, 'PATCH');
}

describe('push to a registry without auth', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let agent: TestAgent;
  let conn: MessageConnection;
  let env: NodeJS.ProcessEnv;
  let host: string;
  const events: BerthEvent[] = [];
  const cli = (args: string[]) => berth(args, env, 120_000);
  const inspectImage = (r: string) => conn.sendRequest(InspectImageRequest.type, { reference: r }) as Promise<ImageInspect>;

  before(async () => {
    requireTools(['docker-registry', 'skopeo']);
    registry = await startRegistry();
    await seedImage(registry, 'lib/busybox', 'latest', await busyboxImage());
    proxy = await startFaultProxy(registry.host);
    host = proxy.host;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    conn.onNotification(EventNotification.type, (e) => events.push(e));
    await conn.sendRequest(SubscribeRequest.type, {});
    await conn.sendRequest(PullRequest.type, { reference: `${host}/lib/busybox` });
  });
  after(async () => {
    await removeAllContainers(conn);
    await runCleanups();
  });

  it('pushes a pulled image under a new name: blobs mounted from where they came from, the manifest unchanged, skopeo reads it back', async () => {
    const img = await busyboxImage();
    ok(await cli(['tag', `${host}/lib/busybox`, `${host}/team/copy:v1`]), 'tag');
    proxy.requests.length = 0;
    const res = ok(await cli(['push', `${host}/team/copy:v1`]), 'push');
    assert.match(res.stdout, new RegExp(`^The push refers to repository \\[${host}/team/copy\\]\n`));
    assert.match(res.stdout, new RegExp(`${img.layers[0].digest.slice(7, 19)}: Mounted from lib/busybox`));
    assert.match(res.stdout, new RegExp(`v1: digest: ${img.manifestDigest} size: ${img.manifest.length}\n$`));
    // Both blobs were mounted: nothing uploaded, one mount POST each naming the source.
    assert.equal(blobUploads(proxy), 0, JSON.stringify(proxy.requests.map((r) => `${r.method} ${r.path}`)));
    const mounts = proxy.requests.filter((r) => r.method === 'POST' && /mount=/.test(r.path));
    assert.equal(mounts.length, 2);
    assert.ok(
      mounts.every((r) => r.path.includes('from=lib%2Fbusybox')),
      mounts.map((r) => r.path).join('\n'),
    );

    const copied = await skopeoCopy(`${host}/team/copy:v1`);
    assert.equal(copied.manifestDigest, img.manifestDigest);
    assert.equal(copied.manifest.config.digest, img.configDigest);
    assert.deepEqual(
      copied.manifest.layers.map((l) => l.digest),
      img.layers.map((l) => l.digest),
    );

    const after = await inspectImage(`${host}/team/copy:v1`);
    assert.ok(after.RepoDigests.includes(`${host}/team/copy@${img.manifestDigest}`), JSON.stringify(after.RepoDigests));
    assert.ok(
      events.some((e) => e.Type === 'image' && e.Action === 'push' && e.Actor.Attributes.name === `${host}/team/copy:v1`),
      JSON.stringify(events),
    );
  });

  it('a second push sends no blob: every blob is found by HEAD', async () => {
    proxy.requests.length = 0;
    const progress: PushProgressParams[] = [];
    const sub = conn.onNotification(PushProgressNotification.type, (p) => progress.push(p));
    const res = await conn.sendRequest(PushRequest.type, { reference: `${host}/team/copy:v1`, progressToken: 'p2' });
    sub.dispose();
    assert.equal(blobUploads(proxy), 0);
    assert.equal(proxy.count(/\/blobs\/uploads\//, 'POST'), 0, 'no upload session and no mount');
    assert.equal(proxy.count(/\/team\/copy\/blobs\/sha256:/, 'HEAD'), 2);
    assert.deepEqual(
      res.blobs.map((b) => [b.kind, b.action]),
      [
        ['layer', 'exists'],
        ['config', 'exists'],
      ],
    );
    assert.ok(progress.length > 0 && progress.every((p) => p.token === 'p2' && p.blob.phase !== 'pushing'));
    assert.equal(progress.at(-1)!.blob.phase, 'exists');
  });

  it('pushes a committed image (base layer mounted, new layer and config uploaded) that a fresh store pulls and runs', async () => {
    ok(await cli(['run', '--name', 'c1', `${host}/lib/busybox`, 'sh', '-c', 'mkdir -p /srv && echo pushed-by-berth > /srv/note']), 'run');
    ok(await cli(['commit', 'c1', `${host}/team/committed:1`]), 'commit');
    const local = await inspectImage(`${host}/team/committed:1`);
    proxy.requests.length = 0;
    const progress: PushProgressParams[] = [];
    const sub = conn.onNotification(PushProgressNotification.type, (p) => progress.push(p));
    const res = await conn.sendRequest(PushRequest.type, { reference: `${host}/team/committed:1`, progressToken: 'c' });
    sub.dispose();
    assert.deepEqual(
      res.blobs.map((b) => [b.kind, b.action]),
      [
        ['layer', 'mounted'],
        ['layer', 'pushed'],
        ['config', 'pushed'],
      ],
    );
    assert.equal(blobUploads(proxy), 2, 'the new layer and the config');
    const top = local.Berth.Layers[1].Digest;
    const phases = progress.filter((p) => p.blob.digest === top).map((p) => p.blob.phase);
    assert.equal(phases[0], 'waiting');
    assert.ok(phases.includes('pushing') && phases.at(-1) === 'done', phases.join(','));

    const copied = await skopeoCopy(`${host}/team/committed:1`);
    assert.equal(copied.manifestDigest, res.digest);
    assert.equal(copied.manifest.config.digest, local.Id);
    assert.deepEqual(copied.config.rootfs.diff_ids, local.RootFS.Layers);

    // A fresh store pulls it back: same image ID and layers, and the file is there.
    const fresh = await startAgent();
    const freshEnv = { ...fresh.env, BERTH_NO_AUTOSTART: '1' };
    ok(await berth(['pull', `${host}/team/committed:1`], freshEnv), 'pull back');
    const back = JSON.parse(ok(await berth(['inspect', `${host}/team/committed:1`], freshEnv), 'inspect').stdout) as ImageInspect[];
    assert.equal(back[0].Id, local.Id);
    assert.deepEqual(back[0].RootFS.Layers, local.RootFS.Layers);
    const ran = ok(await berth(['run', '--rm', `${host}/team/committed:1`, 'cat', '/srv/note'], freshEnv), 'run pulled-back image');
    assert.equal(ran.stdout, 'pushed-by-berth\n');
    const freshConn = await fresh.connect();
    await removeAllContainers(freshConn);
    await fresh.stop();
  });

  it('a loaded docker-save image (uncompressed layers) is gzipped once; pushing it again sends identical bytes', async () => {
    const dir = await makeTempDir('berth-push-save-');
    const archive = join(dir, 'box.tar');
    ok(await cli(['save', '-o', archive, `${host}/lib/busybox`]), 'save');
    const other = await startAgent();
    const otherEnv = { ...other.env, BERTH_NO_AUTOSTART: '1' };
    ok(await berth(['load', '-i', archive], otherEnv), 'load');
    const loaded = JSON.parse(ok(await berth(['inspect', `${host}/lib/busybox`], otherEnv), 'inspect').stdout) as ImageInspect[];
    assert.equal(loaded[0].Berth.ManifestMediaType, 'application/vnd.oci.image.manifest.v1+json');
    const tarDigest = loaded[0].Berth.Layers[0].Digest;
    assert.equal(tarDigest, loaded[0].RootFS.Layers[0], 'the loaded layer blob is the uncompressed tar');
    ok(await berth(['tag', `${host}/lib/busybox`, `${host}/team/loaded:1`], otherEnv), 'tag');

    proxy.requests.length = 0;
    const first = ok(await berth(['push', `${host}/team/loaded:1`], otherEnv), 'push loaded');
    assert.match(first.stdout, /: Pushed\n/);
    const digest = /1: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(first.stdout)?.[1];
    assert.ok(digest, first.stdout);
    // The gzipped layer and the config: a loaded image has no RepoDigests, so no mount source is known.
    assert.equal(blobUploads(proxy), 2);
    const copied = await skopeoCopy(`${host}/team/loaded:1`);
    assert.equal(copied.manifestDigest, digest);
    assert.equal(copied.manifest.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.notEqual(copied.manifest.layers[0].digest, tarDigest);
    assert.deepEqual(copied.config.rootfs.diff_ids, loaded[0].RootFS.Layers);
    // The store now holds the image with its gzipped layer, under the same image ID.
    const now = JSON.parse(ok(await berth(['inspect', `${host}/team/loaded:1`], otherEnv), 'inspect').stdout) as ImageInspect[];
    assert.equal(now[0].Id, loaded[0].Id);
    assert.equal(now[0].Berth.ManifestDigest, digest);
    assert.equal(now[0].Berth.Layers[0].Digest, copied.manifest.layers[0].digest);

    proxy.requests.length = 0;
    const second = ok(await berth(['push', `${host}/team/loaded:1`], otherEnv), 'push again');
    assert.match(second.stdout, new RegExp(`1: digest: ${digest} size: `));
    assert.equal(blobUploads(proxy), 0);
    // The image still runs from the store after its record changed.
    const ran = ok(await berth(['run', '--rm', `${host}/team/loaded:1`, 'echo', 'still-runs'], otherEnv), 'run');
    assert.equal(ran.stdout, 'still-runs\n');
    await removeAllContainers(await other.connect());
    await other.stop();
  });

  it('refuses what cannot be pushed with a clear error', async () => {
    await expectAgentError(
      conn.sendRequest(PushRequest.type, { reference: `${host}/team/nothing:here` }),
      ErrorCode.NotFound,
      /no image has this tag/,
    );
    await expectAgentError(
      conn.sendRequest(PushRequest.type, { reference: `${host}/team/copy@sha256:${'a'.repeat(64)}` }),
      ErrorCode.InvalidReference,
      /digest reference cannot be pushed/,
    );
    const r = await cli(['push', `${host}/team/nothing:here`]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '', 'no header for a refused push');
    assert.match(r.stderr, /^Error: push .*team\/nothing:here: no image has this tag/);
  });

  it('retries an upload the registry fails with 500, and succeeds', async () => {
    // A layer no repository has yet, so it must be uploaded.
    ok(await cli(['run', '--name', 'c2', `${host}/lib/busybox`, 'sh', '-c', 'echo flaky > /flaky']), 'run');
    ok(await cli(['commit', 'c2', `${host}/flaky/app:1`]), 'commit');
    proxy.requests.length = 0;
    let failed = 0;
    proxy.fault = (req) =>
      req.method === 'PUT' && req.path.includes('/blobs/uploads/') && failed++ < 2 ? { kind: 'status', status: 500 } : undefined;
    try {
      const res = await conn.sendRequest(PushRequest.type, { reference: `${host}/flaky/app:1` });
      assert.deepEqual(
        res.blobs.map((b) => b.action),
        ['mounted', 'pushed', 'pushed'],
      );
    } finally {
      proxy.fault = () => undefined;
    }
    assert.equal(failed, 4, 'two failed PUTs, then one per blob');
    assert.equal(blobUploads(proxy), 4);
    const copied = await skopeoCopy(`${host}/flaky/app:1`);
    assert.equal(copied.manifest.layers.length, 2);
  });
});

/** A registry that answers what a test script says: for hostile-answer tests. */
async function startLyingRegistry(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ host: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const unregister = registerCleanup(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  void unregister;
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('push to registries that misbehave', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let conn: MessageConnection;

  before(async () => {
    requireTools(['docker-registry']);
    registry = await startRegistry();
    await seedImage(registry, 'lib/busybox', 'latest', await busyboxImage());
    agent = await startAgent();
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/lib/busybox` });
  });
  after(runCleanups);

  it('an upload Location that is not http(s) is refused, naming the blob', async () => {
    const liar = await startLyingRegistry((req, res) => {
      if (req.method === 'HEAD') return res.writeHead(404).end();
      if (req.method === 'POST') return res.writeHead(202, { location: 'file:///etc/passwd', 'content-length': '0' }).end();
      res.writeHead(req.url === '/v2/' ? 200 : 500, { 'content-length': '0' }).end();
    });
    await conn.sendRequest(TagImageRequest.type, { source: `${registry.host}/lib/busybox`, target: `${liar.host}/x/y:1` });
    const err = await expectAgentError(
      conn.sendRequest(PushRequest.type, { reference: `${liar.host}/x/y:1` }),
      ErrorCode.RegistryError,
      /without a usable Location/,
    );
    assert.match(String(err.data.digest), /^sha256:/);
    assert.ok(!liar.seen.some((s) => s.startsWith('PUT')), 'nothing was uploaded anywhere');
  });

  it('a registry that says it stored a different digest is a DigestMismatch', async () => {
    const bogus = `sha256:${'b'.repeat(64)}`;
    const liar = await startLyingRegistry((req, res) => {
      if (req.method === 'HEAD') return res.writeHead(404).end();
      if (req.method === 'POST') return res.writeHead(202, { location: '/v2/x/y/blobs/uploads/1', 'content-length': '0' }).end();
      if (req.method === 'PUT') return res.writeHead(201, { 'docker-content-digest': bogus, 'content-length': '0' }).end();
      res.writeHead(200, { 'content-length': '0' }).end();
    });
    await conn.sendRequest(TagImageRequest.type, { source: `${registry.host}/lib/busybox`, target: `${liar.host}/x/y:1` });
    await expectAgentError(
      conn.sendRequest(PushRequest.type, { reference: `${liar.host}/x/y:1` }),
      ErrorCode.DigestMismatch,
      new RegExp(`stored blob sha256:\\w+ as ${bogus}`),
    );
  });

  it('a registry error body is reported with its code and message, naming what was being done', async () => {
    const liar = await startLyingRegistry((req, res) => {
      if (req.method === 'HEAD') return res.writeHead(404).end();
      if (req.method === 'POST') {
        const body = JSON.stringify({ errors: [{ code: 'DENIED', message: 'quota exceeded for x/y' }] });
        return res.writeHead(400, { 'content-type': 'application/json', 'content-length': String(body.length) }).end(body);
      }
      res.writeHead(200, { 'content-length': '0' }).end();
    });
    await conn.sendRequest(TagImageRequest.type, { source: `${registry.host}/lib/busybox`, target: `${liar.host}/x/y:1` });
    await expectAgentError(
      conn.sendRequest(PushRequest.type, { reference: `${liar.host}/x/y:1` }),
      ErrorCode.RegistryError,
      /starting the upload of blob sha256:\w+: the registry answered 400 \(DENIED: quota exceeded for x\/y\)/,
    );
  });
});

describe('push to a registry with token auth', () => {
  let registry: TestRegistry;

  before(async () => {
    requireTools(['docker-registry', 'htpasswd', 'openssl', 'skopeo']);
    registry = await startRegistry({
      auth: 'token',
      users: { berth: 'berth-secret', reader: 'reader-secret' },
      // "reader" may only pull.
      issuer: { grant: (user, _type, _name, requested) => (user === 'reader' ? requested.filter((a) => a === 'pull') : requested) },
    });
    await seedImage(registry, 'lib/busybox', 'latest', await busyboxImage());
  });
  after(runCleanups);

  async function agentWith(user?: string): Promise<{ agent: TestAgent; env: NodeJS.ProcessEnv }> {
    const dockerConfig = await makeTempDir('berth-push-auth-');
    if (user) {
      writeFileSync(
        join(dockerConfig, 'config.json'),
        JSON.stringify({ auths: { [registry.host]: { username: user, password: registry.users[user] } } }),
      );
    }
    const agent = await startAgent({ env: { DOCKER_CONFIG: dockerConfig } });
    return { agent, env: { ...agent.env, BERTH_NO_AUTOSTART: '1' } };
  }

  it('without credentials the push is denied with a sentence saying so', async () => {
    const { env } = await agentWith('reader');
    ok(await berth(['pull', `${registry.host}/lib/busybox`], env), 'pull as reader');
    // An agent without credentials, holding the image by loading it.
    const dir = await makeTempDir('berth-push-auth-save-');
    ok(await berth(['save', '-o', join(dir, 'b.tar'), `${registry.host}/lib/busybox`], env), 'save');
    const anon = await agentWith();
    ok(await berth(['load', '-i', join(dir, 'b.tar')], anon.env), 'load');
    ok(await berth(['tag', `${registry.host}/lib/busybox`, `${registry.host}/team/app:1`], anon.env), 'tag');
    const r = await berth(['push', `${registry.host}/team/app:1`], anon.env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `Error: push ${registry.host}/team/app:1: push denied to ${registry.host}/team/app \\(401\\): the registry wants credentials that may push; add them to "auths" in`,
      ),
    );
  });

  it('with read-only credentials the push is denied, naming the credentials file', async () => {
    const { env } = await agentWith('reader');
    ok(await berth(['pull', `${registry.host}/lib/busybox`], env), 'pull');
    ok(await berth(['tag', `${registry.host}/lib/busybox`, `${registry.host}/team/app:ro`], env), 'tag');
    const r = await berth(['push', `${registry.host}/team/app:ro`], env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /push denied to .*team\/app \(401\): the credentials from .*config\.json were refused or may not push there/);
  });

  it('with credentials it pushes, asking for pull,push on the target and pull on the mount source in one token', async () => {
    const { env } = await agentWith('berth');
    ok(await berth(['pull', `${registry.host}/lib/busybox`], env), 'pull');
    ok(await berth(['tag', `${registry.host}/lib/busybox`, `${registry.host}/team/app:2`], env), 'tag');
    registry.tokenIssuer!.reset();
    const r = ok(await berth(['push', `${registry.host}/team/app:2`], env), 'push');
    assert.match(r.stdout, /Mounted from lib\/busybox/);
    const img = await busyboxImage();
    assert.match(r.stdout, new RegExp(`2: digest: ${img.manifestDigest} size: `));
    const scopes = registry.tokenIssuer!.requests.filter((q) => q.status === 200).map((q) => q.scopes.join(' '));
    assert.deepEqual([...new Set(scopes)], ['repository:team/app:pull,push repository:lib/busybox:pull']);
    assert.equal(registry.tokenIssuer!.issued, 1, 'one token for the whole push');
    const copied = await (async () => {
      const out = join(await makeTempDir('berth-push-skopeo-auth-'), 'img');
      await run(
        'skopeo',
        [
          'copy',
          '--insecure-policy',
          '--src-tls-verify=false',
          '--src-creds',
          `berth:${registry.users.berth}`,
          `docker://${registry.host}/team/app:2`,
          `dir:${out}`,
        ],
        {
          timeoutMs: 60_000,
        },
      );
      return sha256(readFileSync(join(out, 'manifest.json')));
    })();
    assert.equal(copied, img.manifestDigest);
  });
});
