/**
 * `berth check` against real stores: a pristine one (the feature image with whiteouts, an opaque
 * directory and hardlinks, a busybox image sharing its base layer, a container) passes; then each
 * way a store can be damaged or littered, applied to a fresh copy of it, is reported with its
 * kind and path, and `--repair` removes exactly what is garbage. The real agent and CLI are used;
 * every copy is a temp dir removed in cleanup.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PullRequest, type StoreCheckResult, type StoreProblemKind } from '../../protocol';
import { native } from '../../native';
import { chainIds } from '../../agent/store/store';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { busyboxImage, FEATURE, featureImage, type BuiltImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { makeTempDir, requireTools, run, runCleanups } from '../support/tmp';

interface Checked {
  code: number;
  res: StoreCheckResult;
  text: string;
}

describe('berth check', () => {
  let registry: TestRegistry;
  let feature: BuiltImage;
  let busybox: BuiltImage;
  let pristine: string;
  const featureRef = () => `${registry.host}/check/feature:v1`;

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    feature = await featureImage();
    busybox = await busyboxImage();
    await pushImage(registry, 'check/feature', 'v1', feature);
    await pushImage(registry, 'check/box', 'v1', busybox);
    const agent = await startAgent();
    const conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: featureRef() });
    await conn.sendRequest(PullRequest.type, { reference: `${registry.host}/check/box:v1` });
    const created = await berth(['create', '--name', 'c1', `${registry.host}/check/box:v1`, 'true'], {
      ...agent.env,
      BERTH_NO_AUTOSTART: '1',
    });
    assert.equal(created.code, 0, created.stderr);
    await agent.stop();
    pristine = agent.root;
  });
  after(runCleanups);

  /** A fresh copy of the pristine store with an agent on it. */
  const copy = async (): Promise<TestAgent> => {
    const root = await makeTempDir('berth-check-');
    await run('cp', ['-a', `${pristine}/.`, root]);
    return startAgent({ root });
  };
  const check = async (agent: TestAgent, repair = false): Promise<Checked> => {
    const env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    const json = await berth(['check', '--format', 'json', ...(repair ? ['--repair'] : [])], env);
    assert.ok(json.code === 0 || json.code === 1, `check exits 0 or 1: ${json.code} ${json.stderr}`);
    const text = repair ? '' : (await berth(['check'], env)).stdout;
    return { code: json.code, res: JSON.parse(json.stdout) as StoreCheckResult, text };
  };
  const kinds = (c: Checked) => c.res.problems.map((p) => `${p.kind} ${p.path}`).sort();
  /** Exactly these problems (kind and path); the text output names each path. */
  const expectProblems = (c: Checked, want: [StoreProblemKind, string][]) => {
    assert.deepEqual(kinds(c), want.map(([k, p]) => `${k} ${p}`).sort(), JSON.stringify(c.res.problems, null, 1));
    assert.equal(c.code, want.length ? 1 : 0);
    for (const [, p] of want) assert.ok(c.text.includes(p), `the text output names ${p}:\n${c.text}`);
  };
  const layerDir = (a: TestAgent, img: BuiltImage, i: number) =>
    join(a.root, 'layers', chainIds(img.layers.map((l) => l.diffId))[i].slice(7));
  const blob = (a: TestAgent, digest: string) => join(a.root, 'blobs', 'sha256', digest.slice(7));

  it('a pristine store passes, with every blob, layer, image, tag and container counted', async () => {
    const a = await copy();
    const c = await check(a);
    expectProblems(c, []);
    const s = c.res.summary;
    // Blobs: 3 layer blobs + 2 configs + 2 manifests; layers: the shared busybox base + 2.
    assert.deepEqual([s.blobs, s.layers, s.images, s.tags, s.containers], [7, 3, 2, 2, 1]);
    assert.ok(s.files >= 20, `files in the indexes were found in place: ${s.files}`);
    assert.equal(s.unreferencedLayers + s.unreferencedBlobs, 0);
    assert.match(
      c.text,
      /^Checked 7 blobs \(\S+\), 3 layers \(\d+ files\), 2 images, 2 tags, 1 container in [\d.]+s\.\nNo problems found\.\n$/,
    );
    await a.stop();
  });

  it('a blob whose bytes changed: blob-corrupt; --repair removes it, the image then misses it until removed and pulled again', async () => {
    const a = await copy();
    const path = blob(a, feature.layers[1].digest);
    const bytes = readFileSync(path);
    bytes[100] ^= 0xff;
    writeFileSync(path, bytes);
    expectProblems(await check(a), [
      ['blob-corrupt', path],
      ['image-blob', path],
    ]);
    const repaired = await check(a, true);
    assert.deepEqual(
      repaired.res.problems.filter((p) => p.repaired).map((p) => p.path),
      [path],
    );
    assert.equal(repaired.code, 1, 'the image still needs the blob');
    assert.ok(!existsSync(path));
    expectProblems(await check(a), [['image-blob', path]]);
    // Removing the image and pulling it again mends it (a pull of an image already stored, like
    // Docker's, says it is up to date without looking at its blobs).
    assert.equal((await berth(['rmi', featureRef()], { ...a.env, BERTH_NO_AUTOSTART: '1' })).code, 0);
    await (await a.connect()).sendRequest(PullRequest.type, { reference: featureRef() });
    expectProblems(await check(a), []);
    await a.stop();
  });

  it('a missing config blob and a missing manifest blob: image-blob, not repairable', async () => {
    const a = await copy();
    unlinkSync(blob(a, feature.configDigest));
    unlinkSync(blob(a, busybox.manifestDigest));
    const c = await check(a);
    expectProblems(c, [
      ['image-blob', blob(a, feature.configDigest)],
      ['image-blob', blob(a, busybox.manifestDigest)],
    ]);
    assert.ok(c.res.problems.every((p) => !p.repairable));
    assert.equal((await check(a, true)).code, 1, 'repair cannot mend missing content');
    await a.stop();
  });

  it('layer content that disagrees with its index: a missing file, a changed size, a whiteout and an opaque dir undone', async () => {
    const a = await copy();
    const l2 = join(layerDir(a, feature, 1), 'diff');
    const l3 = join(layerDir(a, feature, 2), 'diff');
    const gone = join(l2, FEATURE.hardlinks[0]);
    const grown = join(l3, FEATURE.changed.path);
    const whiteout = join(l3, '/srv/gone');
    const opaque = join(l3, FEATURE.opaqueDir);
    unlinkSync(gone);
    appendFileSync(grown, 'more');
    rmSync(whiteout);
    writeFileSync(whiteout, '');
    native().lsetxattr(opaque, 'trusted.overlay.opaque', Buffer.from('n'));
    const c = await check(a);
    expectProblems(c, [
      ['layer-content', gone],
      ['layer-content', grown],
      ['layer-content', whiteout],
      ['layer-content', opaque],
    ]);
    const msg = (p: string) => c.res.problems.find((x) => x.path === p)!.message;
    assert.match(msg(grown), /a file of 11 bytes, but it has 15/);
    assert.match(msg(whiteout), /whiteout/);
    assert.match(msg(opaque), /trusted\.overlay\.opaque/);
    assert.match(msg(gone), /not in the layer \(ENOENT\)/);
    await a.stop();
  });

  it('a layer without its index, one with a corrupt index, one without its diff directory', async () => {
    const a = await copy();
    const [d1, d2, d3] = [0, 1, 2].map((i) => layerDir(a, feature, i));
    unlinkSync(join(d1, 'index'));
    writeFileSync(join(d2, 'index'), '{"v":1,"e":[["x"');
    await run('rm', ['-rf', join(d3, 'diff')]);
    expectProblems(await check(a), [
      ['layer-index', join(d1, 'index')],
      ['layer-index', join(d2, 'index')],
      ['layer', join(d3, 'diff')],
    ]);
    await a.stop();
  });

  it('a layer without layer.json: partial-layer (removed by --repair), and the images and container that need it', async () => {
    const a = await copy();
    const base = layerDir(a, busybox, 0);
    unlinkSync(join(base, 'layer.json'));
    const c = await check(a);
    const containerRec = readdirSync(join(a.root, 'containers')).map((id) => join(a.root, 'containers', id, 'config.json'));
    const parent = join(layerDir(a, feature, 1), 'layer.json');
    expectProblems(c, [
      ['partial-layer', base],
      ['image-layer', base],
      ['image-layer', base],
      ['layer', parent],
      ['container', containerRec[0]],
    ]);
    const r = await check(a, true);
    assert.deepEqual(
      r.res.problems.filter((p) => p.repaired).map((p) => p.kind),
      ['partial-layer'],
    );
    assert.ok(!existsSync(base), 'the partial layer is gone');
    await a.stop();
  });

  it('records: a layer naming another chain, an unreadable image record, tags pointing at nothing', async () => {
    const a = await copy();
    const l3 = join(layerDir(a, feature, 2), 'layer.json');
    const rec = JSON.parse(readFileSync(l3, 'utf8')) as { chainId: string };
    rec.chainId = 'sha256:' + '0'.repeat(64);
    writeFileSync(l3, JSON.stringify(rec));
    const imgRec = join(a.root, 'images', `${busybox.configDigest.slice(7)}.json`);
    writeFileSync(imgRec, '{"id": ');
    const refs = join(a.root, 'refs.json');
    const tags = JSON.parse(readFileSync(refs, 'utf8')) as Record<string, string>;
    tags['127.0.0.1:1/nowhere:v1'] = 'sha256:' + '1'.repeat(64);
    tags['127.0.0.1:1/bad:v1'] = 'not-a-digest';
    writeFileSync(refs, JSON.stringify(tags));
    const c = await check(a);
    expectProblems(c, [
      ['layer', l3],
      ['image-layer', layerDir(a, feature, 2)],
      ['image', imgRec],
      ['ref', refs],
      ['ref', refs],
      ['ref', refs],
    ]);
    assert.equal(
      c.res.problems.filter((p) => p.kind === 'ref' && /check\/box:v1/.test(p.message)).length,
      1,
      'the tag of the image whose record is unreadable',
    );
    await a.stop();
  });

  it('leftovers of interrupted work are reported and --repair removes exactly them; work in flight and strays are left', async () => {
    const a = await copy();
    const hex12 = 'a1b2c3d4e5f6';
    const leftovers = [
      join(a.root, `.refs.json.${hex12}.tmp`),
      join(a.root, 'blobs', 'sha256', `.${'f'.repeat(64)}.${hex12}.tmp`),
      join(a.root, 'images', `.${'e'.repeat(64)}.json.${hex12}.tmp`),
      join(a.root, 'tmp', `layer-${(Date.now() - 86_400_000).toString(36)}-${hex12}`),
      join(a.root, 'tmp', 'not-a-berth-name'),
      join(a.root, 'layers', 'd'.repeat(64)),
    ];
    for (const p of leftovers.slice(0, 3)) writeFileSync(p, 'partial');
    mkdirSync(join(leftovers[3], 'diff', 'usr'), { recursive: true });
    writeFileSync(leftovers[4], 'x');
    mkdirSync(join(leftovers[5], 'diff'), { recursive: true });
    const inFlight = join(a.root, 'tmp', `blob-${(Date.now() + 60_000).toString(36)}-${hex12}`);
    writeFileSync(inFlight, 'downloading');
    const stray = join(a.root, 'blobs', 'sha256', 'README');
    writeFileSync(stray, 'not a blob');

    const c = await check(a);
    expectProblems(c, [
      ['temp-leftover', leftovers[0]],
      ['temp-leftover', leftovers[1]],
      ['temp-leftover', leftovers[2]],
      ['temp-leftover', leftovers[3]],
      ['temp-leftover', leftovers[4]],
      ['partial-layer', leftovers[5]],
      ['stray', stray],
    ]);
    assert.equal(c.res.summary.inFlight, 1, 'the tmp/ entry named after the agent started is work in flight');
    assert.ok(c.res.problems.every((p) => p.repairable === (p.kind !== 'stray')));

    const r = await check(a, true);
    assert.equal(r.res.summary.repaired, 6);
    for (const p of leftovers) assert.ok(!existsSync(p), `${p} removed`);
    assert.ok(existsSync(inFlight), 'work in flight is never touched');
    assert.ok(existsSync(stray), 'a stray entry Berth did not make is only reported');
    unlinkSync(stray);
    expectProblems(await check(a), []);
    // An agent starting on the store removes such leftovers itself (tmp/ and atomic-write temps).
    for (const p of leftovers.slice(0, 3)) writeFileSync(p, 'partial');
    mkdirSync(leftovers[3]);
    const cdir = join(a.root, 'containers', readdirSync(join(a.root, 'containers'))[0]);
    const containerTemp = join(cdir, `.config.json.${hex12}.tmp`);
    writeFileSync(containerTemp, '{');
    expectProblems(await check(a), [
      ...leftovers.slice(0, 4).map((p): [StoreProblemKind, string] => ['temp-leftover', p]),
      ['temp-leftover', containerTemp],
    ]);
    await a.stop();
    const b = await startAgent({ root: a.root });
    expectProblems(await check(b), []);
    for (const p of [...leftovers.slice(0, 4), containerTemp]) assert.ok(!existsSync(p), `${p} removed at start`);
    await b.stop();
  });

  it('unused layers and blobs are counted, not problems', async () => {
    const a = await copy();
    // Remove the feature image's record and tag by hand: its two top layers and four blobs stay.
    unlinkSync(join(a.root, 'images', `${feature.configDigest.slice(7)}.json`));
    const refs = join(a.root, 'refs.json');
    const tags = JSON.parse(readFileSync(refs, 'utf8')) as Record<string, string>;
    for (const [t, id] of Object.entries(tags)) if (id === feature.configDigest) delete tags[t];
    writeFileSync(refs, JSON.stringify(tags));
    const c = await check(a);
    expectProblems(c, []);
    assert.deepEqual([c.res.summary.unreferencedLayers, c.res.summary.unreferencedBlobs], [2, 4]);
    assert.match(c.text, /Unused: 2 layers, 4 blobs/);
    await a.stop();
  });

  it('usage: no operands; --repair is a boolean over the protocol', async () => {
    const a = await copy();
    const env = { ...a.env, BERTH_NO_AUTOSTART: '1' };
    const r = await berth(['check', 'extra'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /accepts no arguments/);
    const conn = await a.connect();
    await assert.rejects(conn.sendRequest('store/check', { repair: 'yes' }), /"repair" must be a boolean/);
    await a.stop();
  });
});
