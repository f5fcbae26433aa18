/**
 * Pulls from a real registry (Debian's docker-registry on 127.0.0.1) through the real agent over
 * its real socket: every auth mode, every manifest flavour, multi-platform selection, layer
 * sharing, up-to-date pulls, removal freeing layers, and live events.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  ErrorCode,
  EventNotification,
  InspectImageRequest,
  ListImagesRequest,
  PullProgressNotification,
  PullRequest,
  RemoveImageRequest,
  SubscribeRequest,
  TagImageRequest,
  ImageHistoryRequest,
  type BerthEvent,
  type PullProgressParams,
} from '../../protocol';
import { startAgent, type TestAgent } from '../support/agent';
import { startFaultProxy } from '../support/faultProxy';
import { busyboxImage, buildImage, buildLayer, busyboxLayer, featureImage, hostPlatform, multiPlatformIndex } from '../support/images';
import { pushImage, pushIndex } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { makeTempDir, requireTools, runCleanups } from '../support/tmp';
import { expectAgentError } from '../support/expect';

describe('pull from a registry without auth', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let conn: MessageConnection;

  before(async () => {
    requireTools();
    registry = await startRegistry();
    await pushImage(registry, 'lib/busybox', 'latest', await busyboxImage());
    await pushImage(registry, 'lib/feature', 'v1', await featureImage());
    await pushImage(registry, 'lib/feature-zstd', 'v1', await featureImage({ compression: 'zstd' }));
    await pushImage(registry, 'lib/feature-plain', 'v1', await featureImage({ compression: 'none' }));
    await pushImage(registry, 'lib/feature-docker', 'v1', await featureImage({ flavour: 'docker' }));
    await pushIndex(registry, 'lib/multi', 'latest', await multiPlatformIndex());
    agent = await startAgent();
    conn = await agent.connect();
  });
  after(runCleanups);

  it('pulls an image, with progress per layer, and lists it with Docker-shaped fields', async () => {
    const progress: PullProgressParams[] = [];
    const sub = conn.onNotification(PullProgressNotification.type, (p) => progress.push(p));
    const ref = `${registry.host}/lib/busybox`;
    const res = await conn.sendRequest(PullRequest.type, { reference: ref, progressToken: 't1' });
    sub.dispose();
    const img = await busyboxImage();
    assert.equal(res.image.Id, img.configDigest);
    assert.equal(res.digest, img.manifestDigest);
    assert.equal(res.upToDate, false);
    assert.deepEqual(res.image.RepoTags, [`${registry.host}/lib/busybox:latest`]);
    assert.ok(res.image.Size > 500_000, `size ${res.image.Size} should count busybox`);
    assert.ok(progress.every((p) => p.token === 't1'));
    const phases = progress.map((p) => p.layer.phase);
    assert.ok(phases.includes('downloading') && phases.at(-1) === 'done', `phases: ${phases.join(',')}`);
    assert.equal(progress.at(-1)!.layer.current, img.layers[0].size);

    const list = await conn.sendRequest(ListImagesRequest.type, {});
    assert.equal(list.length, 1);
    assert.deepEqual(list[0].RepoDigests, [`${registry.host}/lib/busybox@${img.manifestDigest}`]);
    const inspect = await conn.sendRequest(InspectImageRequest.type, { reference: `${registry.host}/lib/busybox:latest` });
    assert.equal(inspect.Id, img.configDigest);
    assert.deepEqual(inspect.Config.Cmd, ['sh']);
    assert.deepEqual(inspect.RootFS.Layers, [img.layers[0].diffId]);
    assert.ok(existsSync(join(inspect.Berth.Layers[0].Path, 'bin', 'busybox')));
  });

  it('pulling the same tag again downloads nothing and says it is up to date', async () => {
    const proxy = await startFaultProxy(registry.host);
    const ref = `${proxy.host}/lib/busybox`;
    const first = await conn.sendRequest(PullRequest.type, { reference: ref });
    // Layers are shared by chain ID: a new registry name for the same image fetches no blob.
    assert.equal(proxy.count(/\/blobs\/sha256:[0-9a-f]+$/), 1, 'only the config blob is fetched');
    assert.equal(first.image.RepoTags.length, 2);
    const again = await conn.sendRequest(PullRequest.type, { reference: ref });
    assert.equal(again.upToDate, true);
    assert.equal(proxy.count(/\/blobs\//), 1, 'the second pull fetches no blob (the agent keeps configs it fetched lately)');
    await proxy.stop();
  });

  it('stores every layer flavour the same way: gzip, zstd, uncompressed, Docker schema 2', async () => {
    const ids = new Set<string>();
    const layerSets: string[] = [];
    for (const repo of ['feature', 'feature-zstd', 'feature-plain', 'feature-docker']) {
      const res = await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/lib/${repo}:v1` });
      ids.add(res.image.Id);
      const inspect = await conn.sendRequest(InspectImageRequest.type, { reference: res.image.Id });
      layerSets.push(inspect.Berth.Layers.map((l) => l.ChainID).join(','));
      assert.equal(inspect.Config.WorkingDir, '/srv');
      assert.deepEqual(
        inspect.Berth.Layers.map((l) => l.DiffID),
        inspect.RootFS.Layers,
      );
    }
    // Same diff_ids => same chain IDs => the very same layer directories, whatever the compression.
    assert.equal(new Set(layerSets).size, 1, `layer chains differ: ${layerSets.join(' | ')}`);
    const layerDirs = readdirSync(join(agent.root, 'layers'));
    assert.equal(layerDirs.length, 3, `3 layers shared by all flavours, found ${layerDirs.length}`);
  });

  it('chooses the host platform from an index, skips the attestation, and honours --platform', async () => {
    const idx = await multiPlatformIndex();
    const host = hostPlatform();
    const res = await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/lib/multi:latest` });
    assert.equal(res.digest, idx.indexDigest);
    const hostImage = idx.images.find((i) => i.platform.architecture === host.architecture)!;
    assert.equal(res.image.Id, hostImage.configDigest);
    const inspect = await conn.sendRequest(InspectImageRequest.type, { reference: res.image.Id });
    assert.equal(inspect.Architecture, host.architecture);
    assert.deepEqual(inspect.RepoDigests, [`${registry.host}/lib/multi@${idx.indexDigest}`]);

    const other =
      host.architecture === 'arm64' ? { os: 'linux', architecture: 'amd64' } : { os: 'linux', architecture: 'arm64', variant: 'v8' };
    const res2 = await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/lib/multi:latest`, platform: other });
    const inspect2 = await conn.sendRequest(InspectImageRequest.type, { reference: res2.image.Id });
    assert.equal(inspect2.Architecture, other.architecture);

    await expectAgentError(
      conn.sendRequest(PullRequest.type, {
        reference: `${registry.host}/lib/multi:latest`,
        platform: { os: 'linux', architecture: 's390x' },
      }),
      ErrorCode.NoMatchingPlatform,
      /s390x/,
    );
    await expectAgentError(
      conn.sendRequest(PullRequest.type, {
        reference: `${registry.host}/lib/multi:latest`,
        platform: { os: 'unknown', architecture: 'unknown' },
      }),
      ErrorCode.NoMatchingPlatform,
    );
  });

  it('answers bad references, unknown tags and unknown repositories with clear errors', async () => {
    await expectAgentError(conn.sendRequest(PullRequest.type, { reference: 'UPPER/Case' }), ErrorCode.InvalidReference, /lowercase/);
    await expectAgentError(
      conn.sendRequest(PullRequest.type, { reference: `${registry.host}/lib/busybox:nope` }),
      ErrorCode.ManifestUnknown,
      /nope/,
    );
    await expectAgentError(conn.sendRequest(PullRequest.type, { reference: `${registry.host}/no/such` }), ErrorCode.ManifestUnknown);
    await expectAgentError(conn.sendRequest(PullRequest.type, { reference: 42 } as never), ErrorCode.InvalidArgument);
    const closed = `127.0.0.1:1/x/y`;
    await expectAgentError(conn.sendRequest(PullRequest.type, { reference: closed }), ErrorCode.RegistryUnreachable, /127\.0\.0\.1:1/);
  });

  it('tags, shows history, removes tags and frees layers only when no image uses them; events follow', async () => {
    const events: BerthEvent[] = [];
    const watcher = await agent.connect();
    watcher.onNotification(EventNotification.type, (e) => events.push(e));
    await watcher.sendRequest(SubscribeRequest.type, {});

    const feature = await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/lib/feature:v1` });
    await conn.sendRequest(TagImageRequest.type, { source: `${registry.host}/lib/feature:v1`, target: 'mine/feature:copy' });
    const hist = await conn.sendRequest(ImageHistoryRequest.type, { reference: 'mine/feature:copy' });
    assert.equal(hist[0].Id, feature.image.Id);
    assert.equal(hist.filter((h) => !h.EmptyLayer).length, 3);
    assert.ok(hist.some((h) => h.EmptyLayer));
    assert.ok(hist.every((h) => typeof h.CreatedBy === 'string'));

    const untagOnly = await conn.sendRequest(RemoveImageRequest.type, { reference: 'mine/feature:copy' });
    assert.deepEqual(untagOnly.Deleted, []);
    assert.deepEqual(untagOnly.Untagged, ['docker.io/mine/feature:copy']);

    // Remove every image: all layers and blobs must go.
    const all = await conn.sendRequest(ListImagesRequest.type, {});
    for (const img of all) await conn.sendRequest(RemoveImageRequest.type, { reference: img.Id, force: true });
    assert.deepEqual(await conn.sendRequest(ListImagesRequest.type, {}), []);
    assert.deepEqual(readdirSync(join(agent.root, 'layers')), []);
    assert.deepEqual(readdirSync(join(agent.root, 'blobs', 'sha256')), []);
    await expectAgentError(
      conn.sendRequest(InspectImageRequest.type, { reference: feature.image.Id }),
      ErrorCode.NotFound,
      /no such image/,
    );

    // Events arrive without polling; give the last ones a moment to cross the socket.
    for (let i = 0; i < 50 && !events.some((e) => e.Action === 'delete'); i++) await new Promise((r) => setTimeout(r, 20));
    const actions = events.map((e) => e.Action);
    for (const a of ['pull', 'tag', 'untag', 'delete'] as const) assert.ok(actions.includes(a), `no ${a} event in ${actions.join(',')}`);
    watcher.dispose();
  });
});

describe('pull with credentials', () => {
  after(runCleanups);

  it('uses Basic credentials from $DOCKER_CONFIG/config.json and explains a refusal', async () => {
    requireTools();
    const registry = await startRegistry({ auth: 'basic' });
    await pushImage(registry, 'private/box', 'v1', await busyboxImage());
    const dockerConfig = await makeTempDir('berth-dockercfg-');
    const noAuth = await startAgent({ env: { DOCKER_CONFIG: await makeTempDir('berth-empty-') } });
    const c0 = await noAuth.connect();
    await expectAgentError(
      c0.sendRequest(PullRequest.type, { reference: `${registry.host}/private/box:v1` }),
      ErrorCode.RegistryAuth,
      new RegExp(registry.host.replace(/\./g, '\\.')),
    );
    await noAuth.stop();

    const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
    const agent = await startAgent({ env: { DOCKER_CONFIG: dockerConfig } });
    const conn = await agent.connect();
    const res = await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/private/box:v1` });
    assert.equal(res.image.Id, (await busyboxImage()).configDigest);
  });

  it('follows the Bearer token flow of the registry, caching tokens per scope', async () => {
    requireTools();
    const registry = await startRegistry({ auth: 'token', issuer: { anonymousPull: true } });
    await pushImage(registry, 'team/app', 'v1', await featureImage());
    await pushImage(registry, 'team/box', 'v1', await busyboxImage());
    const issuer = registry.tokenIssuer!;
    issuer.reset();
    const agent = await startAgent({ env: { DOCKER_CONFIG: await makeTempDir('berth-empty-') } });
    const conn = await agent.connect();
    const res = await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/team/app:v1` });
    assert.equal(res.image.Layers, 3);
    assert.equal(issuer.issued, 1, `one token for repository:team/app:pull, got ${issuer.issued}`);
    assert.ok(issuer.lastScopes.some((s) => s.includes('repository:team/app:pull')));
    await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/team/app:v1` });
    assert.equal(issuer.issued, 1, 'the cached token serves the second pull');
    await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/team/box:v1` });
    assert.equal(issuer.issued, 2, 'another repository needs its own token');
  });

  it('sends credentials to the token realm when the registry requires them', async () => {
    requireTools();
    const registry = await startRegistry({ auth: 'token' });
    await pushImage(registry, 'closed/app', 'v1', await busyboxImage());
    const anon = await startAgent({ env: { DOCKER_CONFIG: await makeTempDir('berth-empty-') } });
    await expectAgentError(
      (await anon.connect()).sendRequest(PullRequest.type, { reference: `${registry.host}/closed/app:v1` }),
      ErrorCode.RegistryAuth,
    );
    await anon.stop();
    const dockerConfig = await makeTempDir('berth-dockercfg-');
    mkdirSync(dockerConfig, { recursive: true });
    writeFileSync(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [registry.host]: { username: registry.username, password: registry.password } } }),
    );
    const agent = await startAgent({ env: { DOCKER_CONFIG: dockerConfig } });
    const res = await (await agent.connect()).sendRequest(PullRequest.type, { reference: `${registry.host}/closed/app:v1` });
    assert.equal(res.image.Layers, 1);
  });
});

describe('images sharing layers', () => {
  after(runCleanups);

  it('unpacks a shared base once and keeps it until the last image using it is removed', async () => {
    requireTools();
    const registry = await startRegistry();
    const base = await busyboxLayer();
    const extra = await buildLayer([{ type: 'file', path: '/app/hello', content: 'hello\n' }]);
    const a = buildImage({ layers: [base, extra] });
    const b = buildImage({ layers: [base], config: { Cmd: ['echo', 'b'] } });
    await pushImage(registry, 'x/a', 'v1', a);
    await pushImage(registry, 'x/b', 'v1', b);
    const agent = await startAgent();
    const conn = await agent.connect();
    const progress: PullProgressParams[] = [];
    conn.onNotification(PullProgressNotification.type, (p) => progress.push(p));
    await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/x/a:v1` });
    await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/x/b:v1`, progressToken: 'b' });
    assert.deepEqual(
      progress.filter((p) => p.token === 'b').map((p) => p.layer.phase),
      ['exists'],
      'the base layer is reported as already there',
    );
    assert.equal(readdirSync(join(agent.root, 'layers')).length, 2);
    const rmA = await conn.sendRequest(RemoveImageRequest.type, { reference: `${registry.host}/x/a:v1` });
    assert.equal(rmA.Deleted.length, 2, `the image and its top layer: ${rmA.Deleted.join(',')}`);
    assert.equal(readdirSync(join(agent.root, 'layers')).length, 1, 'the base stays for x/b');
    await conn.sendRequest(RemoveImageRequest.type, { reference: `${registry.host}/x/b:v1` });
    assert.equal(readdirSync(join(agent.root, 'layers')).length, 0);
  });
});
