/**
 * Container and volume records in Berth's own words (runtime/containers/record.ts, volumes.ts),
 * their migration from the format before formatVersion, and the presenters that make Docker's
 * shapes of them (presenters/containers.ts, volumes.ts), without root: the records of the
 * store-main-1 fixture (written by main's agent) are migrated in memory and presented, and must
 * give exactly the answers that agent gave.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { presentContainer, presentContainerSummary } from '../../agent/presenters/containers';
import { decodeCreate } from '../../agent/runtime/containers/decode';
import { presentVolume } from '../../agent/presenters/volumes';
import { CONTAINER_FORMAT, parseContainerRecord, RecordFormatError } from '../../agent/runtime/containers/record';
import type { ContainerView } from '../../agent/runtime/containers/service';
import { parseVolumeRecord, VolumeFormatError } from '../../agent/runtime/volumes';
import { ErrorCode, type ContainerInspect, type ContainerSummary, type Volume } from '../../protocol';

const FIXTURE = join(__dirname, '..', 'fixtures', 'store-main-1');
const answers = JSON.parse(readFileSync(join(FIXTURE, 'answers.json'), 'utf8')) as {
  ps: ContainerSummary[];
  inspect: ContainerInspect[];
  volumes: Volume[];
};
const meta = JSON.parse(readFileSync(join(FIXTURE, 'meta.json'), 'utf8')) as { root: string };

/** The view the service would give of a stopped container of the fixture's root. */
function viewOf(raw: unknown): ContainerView {
  const { record } = parseContainerRecord(raw);
  const dir = join(meta.root, 'containers', record.id);
  return {
    record,
    running: false,
    lowerDirs: record.layers.map((c) => join(meta.root, 'layers', c.replace(/^sha256:/, ''), 'diff')).reverse(),
    upperDir: join(dir, 'upper'),
    workDir: join(dir, 'work'),
    volumeSources: record.mounts.volumes.map((v) => join(meta.root, 'volumes', v.name, '_data')),
  };
}

const legacyMinimal = {
  id: 'a'.repeat(64),
  name: 'old',
  created: '2024-01-01T00:00:00.000Z',
  image: 'sha256:' + 'b'.repeat(64),
  imageRef: 'busybox',
  layers: ['sha256:' + 'c'.repeat(64)],
  path: 'sh',
  args: [],
  config: {
    Hostname: 'aaaaaaaaaaaa',
    Env: ['PATH=/bin'],
    Cmd: ['sh'],
    Entrypoint: null,
    WorkingDir: '',
    User: '',
    Image: 'busybox',
    Labels: {},
    StopSignal: '',
  },
  hostConfig: { Binds: [], Memory: 0, NanoCpus: 0, PidsLimit: 0, Privileged: false, CapAdd: [], CapDrop: [], AutoRemove: false },
  state: {
    Status: 'exited',
    Running: false,
    Pid: 0,
    ExitCode: 1,
    OOMKilled: false,
    StartedAt: '2024-01-01T00:00:01.000Z',
    FinishedAt: '2024-01-01T00:00:02.000Z',
    Error: '',
  },
};

describe('container records', () => {
  it('migrates every record of the fixture and presents them as main answered, key order included', () => {
    const dir = join(FIXTURE, 'store', 'containers');
    const views = readdirSync(dir).map((id) => viewOf(JSON.parse(readFileSync(join(dir, id, 'config.json'), 'utf8'))));
    assert.equal(views.length, answers.inspect.length);
    for (const want of answers.inspect) {
      const v = views.find((x) => x.record.id === want.Id)!;
      assert.equal(v.record.formatVersion, CONTAINER_FORMAT);
      assert.equal(JSON.stringify(presentContainer(v)), JSON.stringify(want), want.Name);
    }
    for (const want of answers.ps) {
      const v = views.find((x) => x.record.id === want.Id)!;
      assert.equal(JSON.stringify(presentContainerSummary(v)), JSON.stringify(want), want.Names[0]);
    }
  });

  it('a migrated record is current: parsed again, it is not migrated twice', () => {
    const dir = join(FIXTURE, 'store', 'containers');
    const id = readdirSync(dir)[0];
    const first = parseContainerRecord(JSON.parse(readFileSync(join(dir, id, 'config.json'), 'utf8')));
    assert.equal(first.migrated, true);
    const again = parseContainerRecord(JSON.parse(JSON.stringify(first.record)));
    assert.equal(again.migrated, false);
    assert.deepEqual(again.record, first.record);
  });

  it('gives a record of the oldest shape the values that agent assumed (attach flags, network none, no volumes)', () => {
    const { record, migrated } = parseContainerRecord(legacyMinimal);
    assert.equal(migrated, true);
    assert.equal(record.network.mode, 'none');
    assert.deepEqual(record.network.ports, []);
    assert.equal(record.network.exposed, undefined);
    assert.deepEqual(record.mounts, { given: [], binds: [], volumes: [] });
    assert.deepEqual(record.process.tty, false);
    assert.equal(record.state.startedAt, '2024-01-01T00:00:01.000Z');
    const ins = presentContainer({ record, running: false, lowerDirs: [], upperDir: '/u', workDir: '/w', volumeSources: [] });
    assert.deepEqual(
      { ...ins.Config, Env: undefined },
      {
        Tty: false,
        OpenStdin: false,
        AttachStdin: false,
        AttachStdout: true,
        AttachStderr: true,
        StdinOnce: false,
        Hostname: 'aaaaaaaaaaaa',
        Env: undefined,
        Cmd: ['sh'],
        Entrypoint: null,
        WorkingDir: '',
        User: '',
        Image: 'busybox',
        Labels: {},
        StopSignal: '',
      },
    );
    assert.equal(ins.HostConfig.NetworkMode, 'none');
    assert.deepEqual(ins.HostConfig.PortBindings, {});
    // A never-started container shows Docker's zero time.
    const created = parseContainerRecord({ ...legacyMinimal, state: { ...legacyMinimal.state, StartedAt: '0001-01-01T00:00:00Z' } }).record;
    assert.equal(created.state.startedAt, undefined);
    assert.equal(
      presentContainer({ record: created, running: false, lowerDirs: [], upperDir: '', workDir: '', volumeSources: [] }).State.StartedAt,
      '0001-01-01T00:00:00Z',
    );
  });

  it('refuses, saying why, a record it cannot read', () => {
    const bad = (raw: unknown, why: RegExp) =>
      assert.throws(
        () => parseContainerRecord(raw),
        (e) => e instanceof RecordFormatError && why.test(e.message),
      );
    bad([], /not a JSON object/);
    bad({ ...legacyMinimal, config: 5 }, /config is missing or malformed/);
    bad({ ...legacyMinimal, id: '../x' }, /id is missing or malformed/);
    bad({ ...legacyMinimal, hostConfig: { ...legacyMinimal.hostConfig, Binds: ['relative:/x:zz'] } }, /invalid volume/);
    bad({ ...legacyMinimal, hostConfig: { ...legacyMinimal.hostConfig, NetworkMode: 'mynet' } }, /NetworkMode "mynet"/);
    bad({ ...legacyMinimal, state: { ...legacyMinimal.state, Status: 'paused' } }, /state.Status "paused"/);
    bad({ formatVersion: 2, id: 'a'.repeat(64) }, /format version 2 is not one this agent knows/);
    bad({ formatVersion: 1, id: 'a'.repeat(64) }, /missing or malformed/);
  });
});

describe('volume records', () => {
  it('migrates the Docker-cased record and presents it as main answered', () => {
    const dir = join(FIXTURE, 'store', 'volumes');
    for (const want of answers.volumes) {
      const { record, migrated } = parseVolumeRecord(JSON.parse(readFileSync(join(dir, want.Name, 'volume.json'), 'utf8')));
      assert.equal(migrated, true);
      assert.equal(record.formatVersion, 1);
      assert.equal(
        JSON.stringify(presentVolume({ record, dataDir: join(meta.root, 'volumes', want.Name, '_data') })),
        JSON.stringify(want),
      );
      assert.equal(parseVolumeRecord(JSON.parse(JSON.stringify(record))).migrated, false);
    }
  });

  it('refuses, saying why, a record it cannot read', () => {
    for (const [raw, why] of [
      [null, /not a JSON object/],
      [{ Labels: {} }, /Name or CreatedAt is missing/],
      [{ Name: 'v', CreatedAt: 'x', Labels: { a: 1 } }, /labels are not a map of strings/],
      [{ formatVersion: 7, name: 'v', createdAt: 'x' }, /format version 7/],
    ] as const)
      assert.throws(
        () => parseVolumeRecord(raw),
        (e) => e instanceof VolumeFormatError && why.test(e.message),
      );
  });
});

describe('decodeCreate', () => {
  it('parses -v and -p into the spec, keeping the text as given', () => {
    const spec = decodeCreate({
      image: 'box',
      binds: ['/h:/c:ro,idmap', 'data:/d', '/anon'],
      ports: ['8080:80', '53/udp'],
      memory: 7e6,
      userns: 'auto',
      capAdd: ['NET_ADMIN'],
    });
    assert.deepEqual(spec.mounts, [
      { given: '/h:/c:ro,idmap', bind: { source: '/h', target: '/c', readOnly: true, idmap: {} } },
      { given: 'data:/d', volume: { name: 'data', destination: '/d', readOnly: false } },
      { given: '/anon', volume: { destination: '/anon', readOnly: false } },
    ]);
    assert.deepEqual(spec.network, {
      mode: 'bridge',
      ports: [
        { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 },
        { containerPort: 53, protocol: 'udp', hostIp: '', hostPort: 0 },
      ],
    });
    assert.deepEqual(spec.limits, { memoryBytes: 7e6, nanoCpus: 0, pids: 0 });
    assert.deepEqual(spec.security, { privileged: false, capAdd: ['NET_ADMIN'], capDrop: [], userns: 'auto' });
  });

  it('refuses what is malformed with InvalidArgument', () => {
    for (const [p, why] of [
      [{ image: 'box', userns: 'weird' }, /invalid userns "weird"/],
      [{ image: 'box', networkMode: 'mynet' }, /network "mynet" is not one of/],
      [{ image: 'box', networkMode: 'host', ports: ['80'] }, /need the bridge network/],
      [{ image: 'box', binds: ['/h:relative'] }, /container path must be absolute/],
    ] as const)
      assert.throws(
        () => decodeCreate(p as never),
        (e) => (e as { code?: unknown }).code === ErrorCode.InvalidArgument && why.test((e as Error).message),
      );
  });
});
