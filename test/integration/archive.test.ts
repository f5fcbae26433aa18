/**
 * `berth save` and `berth load` against real peers: archives Berth writes are loaded by podman and
 * read by skopeo; archives Berth writes and skopeo writes (oci-archive) are loaded by a fresh agent
 * with the same image IDs, tags and merged layer contents; hostile archives are refused with a
 * typed error and leave the store as it was.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  ErrorCode,
  InspectImageRequest,
  ListImagesRequest,
  LoadImagesRequest,
  PullRequest,
  RemoveImageRequest,
  SaveImagesRequest,
  TagImageRequest,
  type ImageSummary,
} from '../../protocol';
import { contentPadding, endOfArchive, rawHeader, TarWriter } from '../../agent/oci/tarWriter';
import { berth, startAgent, type CliResult, type TestAgent, berthAs } from '../support/agent';
import { busyboxImage, featureImage, sha256Digest, type BuiltImage } from '../support/images';
import { snapshotOverlay } from '../support/overlay';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { diffTrees } from '../support/tree';
import { REQUIRED_TOOLS, makeTempDir, requireTools, run, runCleanups, podman } from '../support/tmp';
import { expectAgentError, ok } from '../support/expect';

const NOBODY = 65534;

/** A failure: exit 1 and exactly one stderr line, returned. */
function oneLineError(r: CliResult, what: string): string {
  assert.equal(r.code, 1, `${what}: expected exit 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${what}: expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], /^Error: /);
  return lines[0];
}

function storeIsEmpty(root: string, what: string): void {
  assert.deepEqual(readdirSync(join(root, 'images')), [], `${what}: no image stored`);
  assert.deepEqual(readdirSync(join(root, 'layers')), [], `${what}: no layer stored`);
  assert.deepEqual(readdirSync(join(root, 'tmp')), [], `${what}: tmp/ is empty`);
  assert.deepEqual(readdirSync(join(root, 'blobs', 'sha256')), [], `${what}: no blob kept`);
  const refs = join(root, 'refs.json');
  assert.deepEqual(existsSync(refs) ? JSON.parse(readFileSync(refs, 'utf8')) : {}, {}, `${what}: no tag`);
}

/** Merged (overlay) view of an image's layers in an agent's store. */
async function mergedView(conn: MessageConnection, ref: string) {
  const ins = await conn.sendRequest(InspectImageRequest.type, { reference: ref });
  return snapshotOverlay(ins.Berth.Layers.map((l) => l.Path).reverse());
}

/** A tar of `files` (name -> content), written with Berth's own tar writer. */
function tarOf(files: [string, Buffer | string][]): Buffer {
  const w = new TarWriter();
  for (const [name, content] of files) {
    const b = Buffer.from(content);
    w.addEntry({ name, size: b.length, mtime: 1_700_000_000 }, b);
  }
  return w.finish();
}

/** An OCI image layout (oci-archive) of one image, tagged `tag`; `blobs` may be overridden by name. */
function ociArchive(img: BuiltImage, tag: string, override: Record<string, Buffer> = {}): Buffer {
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: img.mediaType,
        digest: img.manifestDigest,
        size: img.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  });
  const blob = (digest: string, bytes: Buffer): [string, Buffer] => [`blobs/sha256/${digest.slice(7)}`, override[digest] ?? bytes];
  return tarOf([
    ['oci-layout', '{"imageLayoutVersion":"1.0.0"}'],
    ['index.json', index],
    blob(img.manifestDigest, img.manifest),
    blob(img.configDigest, img.config),
    ...img.layers.map((l) => blob(l.digest, l.bytes)),
  ]);
}

describe('berth save / load with real peers', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let conn: MessageConnection;
  let env: NodeJS.ProcessEnv;
  let work: string;
  let archive: string;
  let box: BuiltImage;
  let feature: BuiltImage;
  let featureRef: string;
  let boxRef: string;
  /** Tags in the archive, as Berth stores them. */
  let featureTags: string[];
  let boxTags: string[];

  before(async () => {
    requireTools([...REQUIRED_TOOLS, 'podman']);
    registry = await startRegistry();
    box = await busyboxImage();
    feature = await featureImage();
    await pushImage(registry, 'arc/box', 'v1', box);
    await pushImage(registry, 'arc/feature', 'v1', feature);
    featureRef = `${registry.host}/arc/feature:v1`;
    boxRef = `${registry.host}/arc/box:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: featureRef });
    await conn.sendRequest(PullRequest.type, { reference: boxRef });
    await conn.sendRequest(TagImageRequest.type, { source: featureRef, target: 'feature:2' });
    await conn.sendRequest(TagImageRequest.type, { source: featureRef, target: 'example.org/team/feature:latest' });
    featureTags = [featureRef, 'docker.io/library/feature:2', 'example.org/team/feature:latest'].sort();
    boxTags = [boxRef];
    work = await makeTempDir('berth-archive-');
    archive = join(work, 'images.tar');
    const r = ok(await berth(['save', '-o', archive, featureRef, boxRef], env), 'save');
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
  });
  after(runCleanups);

  it('writes a docker-save archive: manifest.json, configs, layer tars whose sha256 is the diff_id', async () => {
    const st = statSync(archive);
    assert.equal(st.uid, 0, 'owned by the caller (root)');
    assert.equal(st.mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(work), ['images.tar'], 'no temp file left beside it');
    const out = join(work, 'x');
    mkdirSync(out);
    await run('tar', ['-C', out, '-xf', archive]);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }[];
    assert.equal(manifest.length, 2);
    assert.equal(manifest[0].Config, `${feature.configDigest.slice(7)}.json`);
    assert.deepEqual(
      manifest[0].RepoTags.sort(),
      [`${registry.host}/arc/feature:v1`, 'example.org/team/feature:latest', 'feature:2'].sort(),
    );
    assert.deepEqual(manifest[1].RepoTags, [`${registry.host}/arc/box:v1`]);
    assert.deepEqual(
      manifest[0].Layers,
      feature.layers.map((l) => `${l.diffId.slice(7)}/layer.tar`),
    );
    assert.equal(manifest[1].Layers[0], manifest[0].Layers[0], 'the shared busybox layer is named once');
    for (const l of feature.layers) assert.equal(sha256Digest(readFileSync(join(out, l.diffId.slice(7), 'layer.tar'))), l.diffId);
    assert.equal(sha256Digest(readFileSync(join(out, manifest[0].Config))), feature.configDigest);
  });

  it('podman load accepts it: same image IDs, every tag', async () => {
    const dir = await makeTempDir('berth-podman-');
    const loaded = (await podman(dir, ['load', '-i', archive])).toString();
    assert.match(loaded, /Loaded image/);
    const list = JSON.parse((await podman(dir, ['images', '--format', 'json'])).toString()) as { Id: string; Names?: string[] }[];
    const byId = new Map(list.map((i) => [`sha256:${i.Id.replace(/^sha256:/, '')}`, i.Names ?? []]));
    assert.deepEqual([...byId.keys()].sort(), [feature.configDigest, box.configDigest].sort(), JSON.stringify(list));
    // podman files a short name ("feature:2" in manifest.json) under localhost/, as it does for its own builds.
    assert.deepEqual(
      byId.get(feature.configDigest)!.sort(),
      [`${registry.host}/arc/feature:v1`, 'localhost/feature:2', 'example.org/team/feature:latest'].sort(),
    );
    const inspected = JSON.parse((await podman(dir, ['image', 'inspect', 'example.org/team/feature:latest'])).toString()) as {
      Id: string;
      RootFS: { Layers: string[] };
      Config: { WorkingDir: string };
    }[];
    assert.equal(`sha256:${inspected[0].Id}`, feature.configDigest);
    assert.deepEqual(
      inspected[0].RootFS.Layers,
      feature.layers.map((l) => l.diffId),
    );
    assert.equal(inspected[0].Config.WorkingDir, '/srv');
    assert.deepEqual(byId.get(box.configDigest), [`${registry.host}/arc/box:v1`]);
  });

  it('skopeo reads it and copies an image out of it into an OCI layout', async () => {
    const info = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${archive}:${featureRef}`])).toString()) as {
      Layers: string[];
      Env: string[];
    };
    assert.equal(info.Layers.length, 3);
    assert.ok(info.Env.includes('FEATURE=1'));
    const raw = JSON.parse((await run('skopeo', ['inspect', '--config', '--raw', `docker-archive:${archive}:${boxRef}`])).toString()) as {
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(raw.rootfs.diff_ids, [box.layers[0].diffId]);
    const out = await makeTempDir('berth-skopeo-');
    // dir: keeps the manifest format, so the config bytes (the image ID) come through unchanged.
    await run('skopeo', ['copy', '--insecure-policy', `docker-archive:${archive}:${featureRef}`, `dir:${join(out, 'dir')}`]);
    const dm = JSON.parse(readFileSync(join(out, 'dir', 'manifest.json'), 'utf8')) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    assert.equal(dm.config.digest, feature.configDigest, 'the config (the image ID) survives unchanged');
    assert.deepEqual(
      dm.layers.map((l) => l.digest),
      feature.layers.map((l) => l.diffId),
      'uncompressed layers: blob digest = diff_id',
    );
    // oci: converts to OCI media types; skopeo re-serialises the config then, but says the same.
    await run('skopeo', ['copy', '--insecure-policy', `docker-archive:${archive}:${featureRef}`, `oci:${join(out, 'oci')}:feature`]);
    const index = JSON.parse(readFileSync(join(out, 'oci', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blob = (d: string) => readFileSync(join(out, 'oci', 'blobs', 'sha256', d.slice(7)), 'utf8');
    const m = JSON.parse(blob(index.manifests[0].digest)) as { config: { digest: string }; layers: unknown[] };
    assert.equal(m.layers.length, 3);
    const cfg = JSON.parse(blob(m.config.digest)) as Record<string, unknown>;
    const orig = JSON.parse(feature.config.toString()) as Record<string, unknown>;
    assert.deepEqual(cfg.rootfs, orig.rootfs);
    assert.deepEqual(cfg.config, orig.config);
  });

  it('berth load into a fresh agent restores the IDs, tags and the merged layer contents', async () => {
    const fresh = await startAgent();
    const freshEnv = { ...fresh.env, BERTH_NO_AUTOSTART: '1' };
    const r = ok(await berth(['load', '-i', archive], freshEnv), 'load');
    const out = r.stdout.split('\n').filter(Boolean);
    assert.deepEqual(
      out.sort(),
      [
        `Loaded image: ${registry.host}/arc/feature:v1`,
        'Loaded image: feature:2',
        'Loaded image: example.org/team/feature:latest',
        `Loaded image: ${registry.host}/arc/box:v1`,
      ].sort(),
    );
    const fconn = await fresh.connect();
    const list = await fconn.sendRequest(ListImagesRequest.type, {});
    const mine = await conn.sendRequest(ListImagesRequest.type, {});
    const shape = (l: ImageSummary[]) =>
      l
        .map((i) => ({ Id: i.Id, RepoTags: i.RepoTags, Layers: i.Layers, Size: i.Size, Created: i.Created, Labels: i.Labels }))
        .sort((a, b) => a.Id.localeCompare(b.Id));
    assert.deepEqual(shape(list), shape(mine));
    assert.deepEqual(list.find((i) => i.Id === feature.configDigest)!.RepoTags, featureTags);
    assert.deepEqual(list.find((i) => i.Id === box.configDigest)!.RepoTags, boxTags);

    const a = await conn.sendRequest(InspectImageRequest.type, { reference: featureRef });
    const b = await fconn.sendRequest(InspectImageRequest.type, { reference: featureRef });
    assert.deepEqual(b.RootFS, a.RootFS);
    assert.deepEqual(b.Config, a.Config);
    assert.deepEqual(
      b.Berth.Layers.map((l) => l.ChainID),
      a.Berth.Layers.map((l) => l.ChainID),
    );
    const diffs = diffTrees(await mergedView(conn, featureRef), await mergedView(fconn, featureRef), { labels: ['pulled', 'loaded'] });
    assert.deepEqual(diffs, [], `merged views differ:\n${diffs.join('\n')}`);
    assert.deepEqual(readdirSync(join(fresh.root, 'tmp')), []);

    // Loading the same archive again changes nothing and still reports the tags.
    const again = ok(await berth(['load', '-i', archive], freshEnv), 'load again');
    assert.equal(again.stdout.split('\n').filter(Boolean).length, 4);
    assert.deepEqual(shape(await fconn.sendRequest(ListImagesRequest.type, {})), shape(list));
  });

  it('berth load takes an oci-archive written by skopeo from the registry', async () => {
    const file = join(await makeTempDir('berth-ociarc-'), 'feature.tar');
    await run('skopeo', [
      'copy',
      '--insecure-policy',
      '--src-tls-verify=false',
      `docker://${featureRef}`,
      `oci-archive:${file}:arc/feature:oci`,
    ]);
    const fresh = await startAgent();
    const r = ok(await berth(['load', '-i', file], { ...fresh.env, BERTH_NO_AUTOSTART: '1' }), 'load oci-archive');
    assert.equal(r.stdout, 'Loaded image: arc/feature:oci\n');
    const fconn = await fresh.connect();
    const ins = await fconn.sendRequest(InspectImageRequest.type, { reference: 'arc/feature:oci' });
    assert.equal(ins.Id, feature.configDigest, 'the image ID is the registry image config digest');
    assert.deepEqual(ins.RepoTags, ['docker.io/arc/feature:oci']);
    assert.deepEqual(
      ins.RootFS.Layers,
      feature.layers.map((l) => l.diffId),
    );
    const diffs = diffTrees(await mergedView(conn, featureRef), await mergedView(fconn, ins.Id), { labels: ['pulled', 'oci-archive'] });
    assert.deepEqual(diffs, [], `merged views differ:\n${diffs.join('\n')}`);
  });

  it('the saved file belongs to the caller: a non-root user the agent serves', async () => {
    // An agent started for uid 65534 (as `sudo berth agent` records SUDO_UID); its socket made
    // reachable for that user after the agent created it.
    const forUser = await startAgent({ env: { SUDO_UID: String(NOBODY) } });
    const uconn = await forUser.connect();
    await uconn.sendRequest(PullRequest.type, { reference: boxRef });
    chmodSync(dirname(forUser.socket), 0o711);
    chmodSync(forUser.socket, 0o666);
    const outDir = await makeTempDir('berth-save-user-');
    chmodSync(outDir, 0o755);
    const userDir = join(outDir, 'home');
    mkdirSync(userDir, { mode: 0o700 });
    chownSync(userDir, NOBODY, NOBODY);
    const file = join(userDir, 'box.tar');
    const userEnv = { PATH: process.env.PATH, BERTH_ROOT: forUser.root, BERTH_SOCKET: forUser.socket, BERTH_NO_AUTOSTART: '1' };
    ok(await berthAs(NOBODY, ['save', '-o', file, boxRef], userEnv), 'save as uid 65534');
    const st = statSync(file);
    assert.equal(st.uid, NOBODY);
    assert.equal(st.gid, NOBODY);
    assert.deepEqual(readdirSync(userDir), ['box.tar']);

    // The agent writes as root, but not where its caller could not: a root-owned 0755 directory.
    const rootOnly = join(outDir, 'root-only');
    mkdirSync(rootOnly, { mode: 0o755 });
    const denied = await berthAs(NOBODY, ['save', '-o', join(rootOnly, 'x.tar'), boxRef], userEnv);
    assert.match(oneLineError(denied, 'save into a directory uid 65534 cannot write'), /permission denied: uid 65534/);
    assert.deepEqual(readdirSync(rootOnly), [], 'nothing written there');
    // Root may write anywhere, and the file is then root's.
    const byRoot = join(rootOnly, 'root.tar');
    await uconn.sendRequest(SaveImagesRequest.type, { references: [boxRef], path: byRoot });
    assert.equal(statSync(byRoot).uid, 0);
  });

  it('save errors: a missing directory, an unknown image, a damaged store; no temp file is left', async () => {
    const dir = await makeTempDir('berth-save-err-');
    const missing = join(dir, 'no', 'such', 'dir', 'out.tar');
    const line = oneLineError(await berth(['save', '-o', missing, boxRef], env), 'save into a missing dir');
    assert.equal(line, `Error: save: cannot write ${missing}: the directory ${dirname(missing)} does not exist`);
    await expectAgentError(conn.sendRequest(SaveImagesRequest.type, { references: [boxRef], path: missing }), ErrorCode.System);

    const target = join(dir, 'out.tar');
    const unknown = oneLineError(await berth(['save', '-o', target, 'nosuch:1'], env), 'save unknown image');
    assert.match(unknown, /nosuch:1/);
    assert.deepEqual(readdirSync(dir), [], 'nothing written for an unknown image');
    await expectAgentError(conn.sendRequest(SaveImagesRequest.type, { references: ['nosuch:1'], path: target }), ErrorCode.NotFound);
    await expectAgentError(
      conn.sendRequest(SaveImagesRequest.type, { references: [boxRef], path: 'relative.tar' }),
      ErrorCode.InvalidArgument,
    );

    // A store whose layer blob was damaged behind the agent's back: the save fails half-way, and
    // neither the target nor the temp file beside it remains.
    const damaged = await startAgent();
    const dconn = await damaged.connect();
    await dconn.sendRequest(PullRequest.type, { reference: boxRef });
    const blob = join(damaged.root, 'blobs', 'sha256', box.layers[0].digest.slice(7));
    truncateSync(blob, Math.floor(box.layers[0].size / 2));
    const err = await expectAgentError(
      dconn.sendRequest(SaveImagesRequest.type, { references: [boxRef], path: target }),
      ErrorCode.InvalidContent,
    );
    assert.match(err.message, new RegExp(`^save ${target}: stored layer ${box.layers[0].digest}`));
    assert.deepEqual(readdirSync(dir), [], `no archive and no temp file after a failed save: ${readdirSync(dir).join(', ')}`);
    const cli = oneLineError(
      await berth(['save', '-o', target, boxRef], { ...damaged.env, BERTH_NO_AUTOSTART: '1' }),
      'save from a damaged store',
    );
    assert.match(cli, /^Error: save/);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('berth load refuses hostile archives and leaves the store unchanged', () => {
  let agent: TestAgent;
  let conn: MessageConnection;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  let box: BuiltImage;

  before(async () => {
    requireTools();
    box = await busyboxImage();
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    dir = await makeTempDir('berth-hostile-');
  });
  after(runCleanups);

  /** Loads `bytes` over the protocol and with the CLI; both must fail with `code`. */
  async function refused(name: string, bytes: Buffer, code: ErrorCode, re: RegExp): Promise<void> {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    const err = await expectAgentError(conn.sendRequest(LoadImagesRequest.type, { path: file }), code);
    assert.match(err.message, re);
    assert.match(String(err.data.operation), /^(load|unpack layer)$/);
    storeIsEmpty(agent.root, name);
    const line = oneLineError(await berth(['load', '-i', file], env), `berth load ${name}`);
    assert.match(line, re);
    assert.ok(line.includes(file), `the CLI line names the archive: ${line}`);
    storeIsEmpty(agent.root, name);
  }

  it('an entry named ../escape', async () => {
    const content = Buffer.from('escaped\n');
    const bytes = Buffer.concat([
      rawHeader({ name: '../escape', size: content.length, mtime: 1 }),
      content,
      contentPadding(content.length),
      endOfArchive(),
    ]);
    await refused('escape.tar', bytes, ErrorCode.InvalidArchive, /\.\.\/escape/);
    assert.ok(
      !existsSync(join(agent.root, 'escape')) &&
        !existsSync(join(dirname(agent.root), 'escape')) &&
        !existsSync(join(agent.root, 'tmp', '..', 'escape')),
    );
  });

  it('a manifest.json naming a layer that is not there', async () => {
    const config = box.config;
    const manifest = JSON.stringify([{ Config: 'config.json', RepoTags: ['hostile:1'], Layers: ['missing/layer.tar'] }]);
    await refused(
      'missing-layer.tar',
      tarOf([
        ['config.json', config],
        ['manifest.json', manifest],
      ]),
      ErrorCode.InvalidArchive,
      /missing\/layer\.tar/,
    );
  });

  it('an OCI layout whose blob does not hash to its name', async () => {
    const bad = Buffer.from(box.layers[0].bytes);
    bad[bad.length >> 1] ^= 0xff;
    await refused(
      'bad-blob.tar',
      ociArchive(box, 'hostile:2', { [box.layers[0].digest]: bad }),
      ErrorCode.DigestMismatch,
      new RegExp(box.layers[0].digest.slice(7, 19)),
    );
    // The same layout with honest blobs loads: the refusal was about the content, not the layout.
    const good = join(dir, 'good.tar');
    writeFileSync(good, ociArchive(box, 'honest:1'));
    const res = await conn.sendRequest(LoadImagesRequest.type, { path: good });
    assert.deepEqual(res.tags, ['docker.io/library/honest:1']);
    assert.equal(res.images[0].Id, box.configDigest);
    await conn.sendRequest(RemoveImageRequest.type, { reference: 'honest:1' });
    storeIsEmpty(agent.root, 'after removing the honest image');
  });

  it('a well-formed archive whose layer tries to write outside its directory', async () => {
    const content = Buffer.from('owned\n');
    const layer = Buffer.concat([
      rawHeader({ name: '../../evil', size: content.length, mtime: 1 }),
      content,
      contentPadding(content.length),
      endOfArchive(),
    ]);
    const config = JSON.stringify({
      architecture: JSON.parse(box.config.toString()).architecture,
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] },
    });
    const manifest = JSON.stringify([{ Config: 'config.json', RepoTags: ['hostile:3'], Layers: ['l/layer.tar'] }]);
    await refused(
      'hostile-layer.tar',
      tarOf([
        ['config.json', config],
        ['l/layer.tar', layer],
        ['manifest.json', manifest],
      ]),
      ErrorCode.HostileLayer,
      /\.\.\/\.\.\/evil/,
    );
    assert.ok(!existsSync(join(agent.root, '..', 'evil')) && !existsSync(join(agent.root, 'evil')));
  });

  it('a file that is not a tar at all', async () => {
    await refused(
      'not-a-tar.tar',
      Buffer.from('this is not an archive, just some text that goes on for a while\n'.repeat(20)),
      ErrorCode.InvalidArchive,
      /not-a-tar\.tar/,
    );
  });

  it('a relative path, a missing file, a directory: InvalidArgument / a clear error', async () => {
    const rel = await expectAgentError(conn.sendRequest(LoadImagesRequest.type, { path: 'images.tar' }), ErrorCode.InvalidArgument);
    assert.match(rel.message, /absolute/);
    await expectAgentError(conn.sendRequest(LoadImagesRequest.type, {} as never), ErrorCode.InvalidArgument);
    const missing = join(dir, 'nope.tar');
    const e = await expectAgentError(conn.sendRequest(LoadImagesRequest.type, { path: missing }), ErrorCode.System);
    assert.ok(e.message.includes(missing), e.message);
    assert.match(oneLineError(await berth(['load', '-i', missing], env), 'load missing'), /nope\.tar/);
    const d = await expectAgentError(conn.sendRequest(LoadImagesRequest.type, { path: dir }), ErrorCode.InvalidArgument);
    assert.ok(d.message.includes(dir), d.message);
    storeIsEmpty(agent.root, 'argument errors');
  });
});
