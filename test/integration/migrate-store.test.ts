/**
 * A store written by the agent of `main` before issue 11 (test/fixtures/store-main-1, see its
 * README) is opened by this agent: its container, volume and network records are migrated on
 * start and rewritten with a formatVersion, and the JSON-RPC answers for them (container/list,
 * container/inspect, volume/list, volume/inspect) are exactly what that agent gave. The fixture's
 * root, registry, image ID and layer are rewritten to this run's (an image built and pulled in
 * setup). Records that cannot be migrated are reported and left on disk as they were. A migrated
 * container still runs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  ContainerLogsRequest,
  InspectContainerRequest,
  InspectVolumeRequest,
  ListContainersRequest,
  ListVolumesRequest,
  PullRequest,
  RemoveContainerRequest,
  StartContainerRequest,
  WaitContainerRequest,
} from '../../protocol';
import { startAgent, type TestAgent } from '../support/agent';
import { removeAllContainers } from '../support/containers';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { makeTempDir, requireTools, runCleanups } from '../support/tmp';

const FIXTURE = join(__dirname, '..', 'fixtures', 'store-main-1');

interface Meta {
  root: string;
  registryHost: string;
  imageId: string;
}

const hex = (digest: string) => digest.replace(/^sha256:/, '');

/** The chain IDs of layers with these diff IDs (OCI image-spec: chain(n) = sha256(chain(n-1) + " " + diff(n))). */
function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds)
    out.push(
      out.length
        ? `sha256:${createHash('sha256')
            .update(`${out.at(-1)} ${d}`)
            .digest('hex')}`
        : d,
    );
  return out;
}

describe('migrating a store written by main (store-main-1)', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let conn: MessageConnection;
  let root: string;
  let rewrite: (text: string) => string;
  const fixtureIds = readdirSync(join(FIXTURE, 'store', 'containers'));
  const broken = { bad: 'b'.repeat(64), future: 'f'.repeat(64) };
  const brokenText = {
    bad: JSON.stringify({ id: broken.bad, name: 'bad', config: 5 }),
    future: JSON.stringify({ formatVersion: 99, id: broken.future, name: 'future' }),
  };

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    const img = await busyboxImage();
    await pushImage(registry, 'x/box', 'v1', img);
    const image = `${registry.host}/x/box:v1`;
    // The image goes into the store first, by an agent on the new root.
    root = await makeTempDir('berth-root-');
    const first = await startAgent({ root });
    const c = await first.connect();
    const pulled = await c.sendRequest(PullRequest.type, { reference: image });
    await first.stop();

    const meta = JSON.parse(readFileSync(join(FIXTURE, 'meta.json'), 'utf8')) as Meta;
    const anyRecord = JSON.parse(readFileSync(join(FIXTURE, 'store', 'containers', fixtureIds[0], 'config.json'), 'utf8'));
    const oldChains = (anyRecord.layers as string[]).map(hex);
    const newChains = chainIds(img.layers.map((l) => l.diffId)).map(hex);
    assert.equal(oldChains.length, newChains.length, 'the fixture was made from the same one-layer busybox image');
    const pairs: [string, string][] = [
      [meta.root, root],
      [meta.registryHost, registry.host],
      [hex(meta.imageId), hex(pulled.image.Id)],
      ...oldChains.map((o, i) => [o, newChains[i]] as [string, string]),
    ];
    rewrite = (text) => pairs.reduce((t, [from, to]) => t.split(from).join(to), text);

    // The fixture's records, rewritten to this root and image, as the old agent left them.
    const copyTree = (from: string, to: string) => {
      for (const e of readdirSync(from, { withFileTypes: true })) {
        if (e.isDirectory()) {
          mkdirSync(join(to, e.name), { recursive: true });
          copyTree(join(from, e.name), join(to, e.name));
        } else writeFileSync(join(to, e.name), rewrite(readFileSync(join(from, e.name), 'utf8')));
      }
    };
    copyTree(join(FIXTURE, 'store'), root);
    // What the copy leaves out (see the README): the dirs a container and a volume have.
    for (const id of fixtureIds) for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(root, 'containers', id, d));
    for (const v of readdirSync(join(root, 'volumes'))) mkdirSync(join(root, 'volumes', v, '_data'));
    mkdirSync(join(root, 'bind-src'));
    // Two records no migration can read: a damaged one and one of a future format.
    for (const [k, id] of Object.entries(broken)) {
      mkdirSync(join(root, 'containers', id));
      writeFileSync(join(root, 'containers', id, 'config.json'), brokenText[k as keyof typeof broken]);
    }
    mkdirSync(join(root, 'volumes', 'damaged'));
    writeFileSync(join(root, 'volumes', 'damaged', 'volume.json'), '{"Labels": {}}');

    agent = await startAgent({ root });
    conn = await agent.connect();
  });

  after(async () => {
    if (conn) await removeAllContainers(conn);
    await runCleanups();
  });

  const expected = () => JSON.parse(rewrite(readFileSync(join(FIXTURE, 'answers.json'), 'utf8')));

  it('answers container/list and container/inspect exactly as the old agent did', async () => {
    const want = expected();
    assert.deepEqual(await conn.sendRequest(ListContainersRequest.type, { all: true }), want.ps);
    const got = [];
    for (const c of want.ps) got.push(await conn.sendRequest(InspectContainerRequest.type, { container: c.Id }));
    assert.deepEqual(got, want.inspect);
    // Byte for byte, key order included.
    assert.equal(JSON.stringify(got), JSON.stringify(want.inspect));
  });

  it('answers volume/list and volume/inspect exactly as the old agent did', async () => {
    const want = expected();
    assert.deepEqual(await conn.sendRequest(ListVolumesRequest.type, {}), want.volumes);
    const got = [];
    for (const v of want.volumes) got.push(await conn.sendRequest(InspectVolumeRequest.type, { name: v.Name }));
    assert.equal(JSON.stringify(got), JSON.stringify(want.volumeInspect));
  });

  it('rewrote every record on disk in the current format', () => {
    for (const id of fixtureIds) {
      const rec = JSON.parse(readFileSync(join(root, 'containers', id, 'config.json'), 'utf8'));
      assert.equal(rec.formatVersion, 1, `container ${id}`);
      assert.equal(rec.config, undefined, 'no Docker-shaped Config left');
      assert.equal(rec.hostConfig, undefined, 'no Docker-shaped HostConfig left');
    }
    for (const v of readdirSync(join(FIXTURE, 'store', 'volumes'))) {
      const rec = JSON.parse(readFileSync(join(root, 'volumes', v, 'volume.json'), 'utf8'));
      assert.equal(rec.formatVersion, 1, `volume ${v}`);
      assert.equal(rec.name, v);
      assert.equal(rec.Name, undefined);
    }
    const net = JSON.parse(readFileSync(join(root, 'network', 'state.json'), 'utf8'));
    assert.equal(net.formatVersion, 1);
    assert.equal(net.version, undefined);
    assert.match(agent.log(), /record migrated to format 1/);
  });

  it('reports records it cannot migrate and leaves them as they were', async () => {
    const log = agent.log();
    assert.match(log, new RegExp(`container ${broken.bad.slice(0, 12)}: its record .* cannot be read: config is missing or malformed`));
    assert.match(log, new RegExp(`container ${broken.future.slice(0, 12)}: its record .* cannot be read: format version 99`));
    assert.match(log, /volume damaged: its record .* cannot be migrated/);
    for (const [k, id] of Object.entries(broken))
      assert.equal(readFileSync(join(root, 'containers', id, 'config.json'), 'utf8'), brokenText[k as keyof typeof broken]);
    assert.equal(readFileSync(join(root, 'volumes', 'damaged', 'volume.json'), 'utf8'), '{"Labels": {}}');
    const ids = (await conn.sendRequest(ListContainersRequest.type, { all: true })).map((c) => c.Id);
    assert.ok(!ids.includes(broken.bad) && !ids.includes(broken.future), 'not served');
  });

  it('a migrated container runs again, with its env, volume and network mode', async () => {
    await conn.sendRequest(StartContainerRequest.type, { container: 'fx-exited' });
    const w = await conn.sendRequest(WaitContainerRequest.type, { container: 'fx-exited' });
    assert.equal(w.StatusCode, 3);
    const { lines } = await conn.sendRequest(ContainerLogsRequest.type, { container: 'fx-exited' });
    assert.deepEqual(
      lines.map((l) => l.line),
      ['hello'],
    );
    const ins = await conn.sendRequest(InspectContainerRequest.type, { container: 'fx-exited' });
    assert.equal(ins.State.ExitCode, 3);
    assert.notEqual(ins.State.StartedAt, expected().inspect.find((c: { Name: string }) => c.Name === '/fx-exited').State.StartedAt);
    const rec = JSON.parse(readFileSync(join(root, 'containers', ins.Id, 'config.json'), 'utf8'));
    assert.equal(rec.formatVersion, 1);
    assert.equal(rec.state.exitCode, 3);
    await conn.sendRequest(RemoveContainerRequest.type, { container: 'fx-exited' });
    assert.ok(!existsSync(join(root, 'containers', ins.Id)));
  });
});
