/**
 * The Docker Engine API's first slice (agent/docker/) against a real agent, driven by the REAL
 * docker CLI (/usr/local/bin/docker, 28.x; required: the file fails without it) with
 * DOCKER_HOST=unix://<root>/docker.sock: `docker version`, `docker info`, `docker ps` with filters
 * (label, name, id, status, exited, ancestor, volume, network, before, since) and `--format
 * '{{json .}}'`, `docker images`, `docker inspect` of a container and an image
 * (checked against `berth inspect` of the same objects), `docker volume ls/inspect`, and a missing
 * object's error. Then raw HTTP over the socket with hostile requests (bad filters JSON, an
 * oversized head, unknown routes, "..", encoded slashes, control characters, a version out of
 * range), each answered with its status and a JSON message while the agent keeps serving; the
 * socket's mode and a peer of another uid (refused 403 by SO_PEERCRED); `berth docker-env`; and
 * BERTH_DOCKER_SOCKET turning the socket off or pointing it at a path that cannot be bound.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { machine, release } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  CreateContainerRequest,
  CreateVolumeRequest,
  RemoveContainerRequest,
  StartContainerRequest,
  SystemInfoRequest,
  VersionRequest,
  WaitContainerRequest,
} from '../../protocol';
import { berth, runWithInput, startAgent } from '../support/agent';
import { ok } from '../support/expect';
import { containerSuite } from '../support/suite';
import { makeTempDir, trackChild } from '../support/tmp';

const NOBODY = 65534;
const LABEL = 'berth.test=docker-api';

/** One raw HTTP exchange over a Unix socket. */
function http(socket: string, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method, headers: { Host: 'docker' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.end();
  });
}

/** Bytes written as they are, and everything the server answers until it closes (or 10 s pass). */
function rawExchange(socket: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve(out) : reject(e)));
    s.on('close', () => resolve(out));
    s.setTimeout(10_000, () => s.destroy());
    s.write(bytes);
  });
}

/** A JSON error answer: the status, and the message matching `re`. */
function assertJsonError(r: { status: number; body: string }, status: number, re: RegExp, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.body}`);
  const body = JSON.parse(r.body) as { message?: unknown };
  assert.equal(typeof body.message, 'string', `${what}: ${r.body}`);
  assert.match(body.message as string, re, what);
}

describe('the Docker Engine API, with the docker CLI', () => {
  const s = containerSuite({ repo: 'dockerapi/box', tools: ['docker-registry', 'tar', 'gzip', 'docker'] });
  let sock: string;
  let dockerEnv: NodeJS.ProcessEnv;
  const ids: Record<string, string> = {};
  const docker = (args: string[]) => runWithInput('docker', args, dockerEnv, '', 60_000);

  before(async () => {
    sock = join(s.agent.root, 'docker.sock');
    // A config dir of its own: no context or credentials of the machine's user are read.
    const config = await makeTempDir('berth-docker-config-');
    dockerEnv = { PATH: process.env.PATH, HOME: config, DOCKER_CONFIG: config, DOCKER_HOST: `unix://${sock}` };
    const make = async (name: string, cmd: string[], labels: Record<string, string>, binds?: string[]) =>
      (ids[name] = (
        await s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, name, cmd, labels, binds, networkMode: 'none' })
      ).Id);
    // The volume first (with its labels); dk-created then mounts it.
    await s.conn.sendRequest(CreateVolumeRequest.type, { name: 'dkvol', labels: { 'berth.test': 'docker-api' } });
    await make('dk-created', ['true'], { 'berth.test': 'docker-api', role: 'created' }, ['dkvol:/data']);
    await make('dk-exited', ['sh', '-c', 'exit 3'], { 'berth.test': 'docker-api', role: 'exited' });
    await make('dk-other', ['true'], { role: 'other' });
    await s.conn.sendRequest(StartContainerRequest.type, { container: ids['dk-exited'] });
    const exit = await s.conn.sendRequest(WaitContainerRequest.type, { container: ids['dk-exited'] });
    assert.equal(exit.StatusCode, 3);
  });

  it('docker version: the server part is Berth, API 1.44 (minimum 1.24), the agent version, host OS/arch/kernel', async () => {
    const berthVersion = await s.conn.sendRequest(VersionRequest.type);
    const v = JSON.parse(ok(await docker(['version', '--format', '{{json .}}']), 'docker version').stdout);
    assert.ok(v.Server, `a server part: ${JSON.stringify(v)}`);
    assert.equal(v.Server.Platform.Name, 'Berth');
    assert.equal(v.Server.ApiVersion, '1.44');
    assert.equal(v.Server.MinAPIVersion, '1.24');
    assert.equal(v.Server.Version, berthVersion.Version);
    assert.equal(v.Server.Os, 'linux');
    assert.equal(v.Server.Arch, berthVersion.Arch);
    assert.equal(v.Server.KernelVersion, release());
    assert.equal(v.Server.Components[0].Name, 'Engine');
    assert.equal(v.Server.Components[0].Details.ApiVersion, '1.44');
    assert.equal(v.Client.ApiVersion, '1.44', 'the CLI negotiated down to the announced version');
    const text = ok(await docker(['version']), 'docker version').stdout;
    assert.match(text, /^Server: Berth$/m);
    assert.match(text, /^ {2}API version: {6}1\.44 \(minimum version 1\.24\)$/m);
  });

  it('docker info: the figures of system/info', async () => {
    const info = await s.conn.sendRequest(SystemInfoRequest.type);
    const d = JSON.parse(ok(await docker(['info', '--format', '{{json .}}']), 'docker info').stdout);
    assert.deepEqual(d.ServerErrors ?? [], []);
    assert.deepEqual(
      [d.Containers, d.ContainersRunning, d.ContainersPaused, d.ContainersStopped, d.Images],
      [3, 0, 0, 3, 1],
      'three containers made, none running, the pulled image',
    );
    assert.equal(d.ServerVersion, info.ServerVersion);
    assert.equal(d.Driver, 'overlay');
    assert.equal(d.CgroupDriver, 'cgroupfs');
    assert.equal(d.CgroupVersion, info.CgroupVersion);
    assert.equal(d.KernelVersion, release());
    assert.equal(d.OperatingSystem, info.OperatingSystem);
    assert.equal(d.OSType, 'linux');
    assert.equal(d.Architecture, machine());
    assert.equal(d.NCPU, info.NCPU);
    assert.equal(d.MemTotal, info.MemTotal);
    assert.equal(d.DockerRootDir, s.agent.root);
    assert.deepEqual(d.SecurityOptions, ['name=cgroupns']);
    const text = ok(await docker(['info']), 'docker info').stdout;
    for (const line of [
      ' Containers: 3',
      '  Stopped: 3',
      ' Images: 1',
      ' Storage Driver: overlay',
      ' Cgroup Driver: cgroupfs',
      '  cgroupns',
    ])
      assert.ok(text.split('\n').includes(line), `"${line}" in:\n${text}`);
  });

  it('docker ps: -a, label/name/id/status filters, --format {{json .}} field by field, -n, -q', async () => {
    const lines = ok(await docker(['ps', '-a', '--filter', `label=${LABEL}`, '--format', '{{json .}}']), 'ps -a')
      .stdout.trim()
      .split('\n');
    assert.equal(lines.length, 2, lines.join('\n'));
    const rows = lines.map((l) => JSON.parse(l) as Record<string, string>);
    // Newest first, as Docker lists them.
    assert.deepEqual(
      rows.map((r) => r.Names),
      ['dk-exited', 'dk-created'],
    );
    const [exited, created] = rows;
    assert.equal(created.ID, ids['dk-created'].slice(0, 12));
    assert.equal(created.Image, s.ref);
    assert.equal(created.Command, '"true"');
    assert.equal(created.State, 'created');
    assert.equal(created.Status, 'Created');
    // The CLI joins a map (in Go's map order); the image's label is the container's too.
    const labels = (r: Record<string, string>) => r.Labels.split(',').sort();
    assert.deepEqual(labels(created), ['berth.test=docker-api', 'org.berth.test=busybox', 'role=created']);
    assert.equal(created.Ports, '');
    assert.equal(created.Networks, 'none');
    assert.match(created.RunningFor, /ago$/);
    assert.equal(exited.ID, ids['dk-exited'].slice(0, 12));
    assert.equal(exited.Command, '"sh -c exit 3"');
    assert.equal(exited.State, 'exited');
    assert.match(exited.Status, /^Exited \(3\) (Less than a second|\d+ seconds?|About a minute) ago$/);
    assert.deepEqual(labels(exited), ['berth.test=docker-api', 'org.berth.test=busybox', 'role=exited']);

    const q = async (...args: string[]) => ok(await docker(['ps', '--no-trunc', '-q', ...args]), `ps ${args.join(' ')}`).stdout.trim();
    assert.equal(await q(), '', 'nothing runs: plain ps lists nothing');
    assert.equal(await q('-a', '--filter', 'name=dk-created'), ids['dk-created']);
    assert.equal(await q('-a', '--filter', 'name=^dk-ex'), ids['dk-exited']);
    assert.equal(await q('-a', '--filter', `id=${ids['dk-other'].slice(0, 10)}`), ids['dk-other']);
    assert.equal(await q('--filter', 'status=exited'), ids['dk-exited'], 'a status filter lists stopped containers without -a');
    assert.equal(await q('-a', '--filter', 'exited=3'), ids['dk-exited']);
    assert.equal(await q('-a', '--filter', 'label=role=created'), ids['dk-created']);
    assert.equal(await q('-a', '--filter', 'label=role', '--filter', 'label=berth.test'), `${ids['dk-exited']}\n${ids['dk-created']}`);
    assert.equal(await q('-n', '1'), ids['dk-other'], '-n 1: the newest container, whatever its state');
    const all3 = `${ids['dk-other']}\n${ids['dk-exited']}\n${ids['dk-created']}`;
    assert.equal(await q('-a', '--filter', `ancestor=${s.ref}`), all3);
    const [image] = JSON.parse(ok(await s.cli(['images', '--format', 'json']), 'berth images').stdout);
    assert.equal(await q('-a', '--filter', `ancestor=${image.Id.slice(7, 19)}`), all3, 'ancestor by short image ID');
    assert.equal(await q('-a', '--filter', 'volume=dkvol'), ids['dk-created']);
    assert.equal(await q('-a', '--filter', 'volume=/data'), ids['dk-created']);
    assert.equal(await q('-a', '--filter', 'network=none'), all3);
    assert.equal(await q('-a', '--filter', 'network=bridge'), '');
    assert.equal(await q('-a', '--filter', 'before=dk-other'), `${ids['dk-exited']}\n${ids['dk-created']}`);
    assert.equal(await q('-a', '--filter', 'since=dk-created'), `${ids['dk-other']}\n${ids['dk-exited']}`);
    const noImage = await docker(['ps', '-a', '--filter', 'ancestor=nope:1']);
    assert.equal(noImage.code, 1);
    assert.match(noImage.stderr, /no such image/);
    const sized = JSON.parse(ok(await docker(['ps', '-a', '-s', '--filter', 'name=dk-created', '--format', '{{json .}}']), 'ps -s').stdout);
    assert.match(sized.Size, /^\d+(\.\d+)?[kMG]?B \(virtual \d+(\.\d+)?[kMG]?B\)$/, sized.Size);
    // A running container: plain ps lists it, "Up ...".
    const running = await s.conn.sendRequest(CreateContainerRequest.type, {
      image: s.ref,
      name: 'dk-running',
      cmd: ['sleep', '60'],
      labels: { 'berth.test': 'docker-api' },
      networkMode: 'none',
    });
    await s.conn.sendRequest(StartContainerRequest.type, { container: running.Id });
    try {
      const up = ok(await docker(['ps', '--format', '{{json .}}']), 'ps')
        .stdout.trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        up.map((r) => [r.Names, r.State, r.Command]),
        [['dk-running', 'running', '"sleep 60"']],
      );
      assert.match(up[0].Status, /^Up (Less than a second|\d+ seconds?)$/);
      assert.equal(await q('--filter', 'status=running'), running.Id);
      assert.equal(await q('-a', '--filter', 'status=created', '--filter', `label=${LABEL}`), ids['dk-created']);
    } finally {
      await s.conn.sendRequest(RemoveContainerRequest.type, { container: running.Id, force: true });
    }

    const bad = await docker(['ps', '-a', '--filter', 'status=sleepy']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid filter 'status=sleepy'/);
  });

  it('docker images: the pulled image as berth lists it; dangling and reference filters', async () => {
    const [berthImage] = JSON.parse(ok(await s.cli(['images', '--format', 'json']), 'berth images').stdout);
    const lines = ok(await docker(['images', '--format', '{{json .}}']), 'docker images')
      .stdout.trim()
      .split('\n');
    assert.equal(lines.length, 1, lines.join('\n'));
    const row = JSON.parse(lines[0]);
    assert.equal(row.Repository, `${s.registry.host}/dockerapi/box`);
    assert.equal(row.Tag, 'v1');
    assert.equal(row.ID, berthImage.Id.slice('sha256:'.length, 'sha256:'.length + 12));
    assert.match(row.CreatedSince, /ago$/);
    const q = async (...args: string[]) =>
      ok(await docker(['images', '-q', '--no-trunc', ...args]), `images ${args.join(' ')}`).stdout.trim();
    assert.equal(await q('--filter', 'dangling=true'), '');
    assert.equal(await q('--filter', 'dangling=false'), berthImage.Id);
    assert.equal(await q('--filter', 'reference=*/dockerapi/box'), berthImage.Id);
    assert.equal(await q('--filter', 'reference=*/dockerapi/box:v1'), berthImage.Id);
    assert.equal(await q('--filter', 'reference=*/dockerapi/box:v2'), '');
    assert.equal(await q('--filter', 'reference=busybox'), '');
    assert.equal(await q('--filter', `before=${s.ref}`), '');
    assert.equal(await q('--filter', `since=${s.ref}`), '');
    assert.equal(await q(`${s.registry.host}/dockerapi/box`), berthImage.Id, 'the repository operand is a reference filter');
  });

  it('docker inspect of a container and of an image answers what berth inspect answers', async () => {
    const [d] = JSON.parse(ok(await docker(['inspect', 'dk-exited']), 'docker inspect').stdout);
    const [b] = JSON.parse(ok(await s.cli(['inspect', 'dk-exited']), 'berth inspect').stdout);
    for (const k of ['Id', 'Name', 'Created', 'Path', 'Args', 'Image', 'Config', 'Mounts', 'GraphDriver', 'NetworkSettings'])
      assert.deepEqual(d[k], b[k], `container ${k}`);
    assert.deepEqual(d.State, { ...b.State, Paused: false, Restarting: false, Dead: false });
    assert.deepEqual(d.HostConfig, {
      ...b.HostConfig,
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      LogConfig: { Type: 'json-file', Config: {} },
    });
    assert.equal(d.State.ExitCode, 3);
    assert.equal(d.Driver, 'overlay');
    assert.equal(
      ok(await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.Config.Labels.role}}', 'dk-exited']), 'inspect -f')
        .stdout,
      'exited 3 exited\n',
    );
    assert.equal(
      ok(await docker(['container', 'inspect', '-f', '{{.Id}}', ids['dk-created'].slice(0, 12)]), 'by short id').stdout.trim(),
      ids['dk-created'],
    );

    const [di] = JSON.parse(ok(await docker(['inspect', '--type', 'image', s.ref]), 'docker inspect image').stdout);
    const [bi] = JSON.parse(ok(await s.cli(['inspect', s.ref]), 'berth inspect image').stdout);
    for (const k of ['Id', 'RepoTags', 'Created', 'Author', 'Architecture', 'Os', 'Size', 'Config', 'RootFS', 'Metadata'])
      assert.deepEqual(di[k], bi[k], `image ${k}`);
    assert.deepEqual(di.RepoTags, [s.ref], 'a registry other than Docker Hub is kept in the familiar name');
    assert.equal(di.Berth, undefined, "Berth's own layer details stay in its own API");
    assert.equal(ok(await docker(['image', 'inspect', '-f', '{{.Id}}', bi.Id.slice(7, 19)]), 'by short id').stdout.trim(), bi.Id);

    const missing = await docker(['inspect', 'no-such-thing']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such object: no-such-thing/);
    // A write of a later slice: said so, not mistaken for a missing image (no pull is tried).
    const run = await docker(['run', '--rm', s.ref, 'true']);
    assert.equal(run.code, 125, run.stderr);
    assert.match(run.stderr, /POST \/v1\.44\/containers\/create is not implemented by Berth yet/);
    assert.doesNotMatch(run.stderr, /Unable to find image/);
    const missingContainer = await docker(['container', 'inspect', 'no-such-thing']);
    assert.equal(missingContainer.code, 1);
    assert.match(missingContainer.stderr, /no such container: no-such-thing/);
  });

  it('docker volume ls and inspect answer what berth volume inspect answers', async () => {
    const rows = ok(await docker(['volume', 'ls', '--format', '{{json .}}']), 'volume ls')
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      rows.map((r) => [r.Driver, r.Name, r.Labels, r.Scope]),
      [['local', 'dkvol', 'berth.test=docker-api', 'local']],
    );
    assert.equal(ok(await docker(['volume', 'ls', '-q', '--filter', 'label=berth.test=nope']), 'volume ls filter').stdout, '');
    assert.equal(ok(await docker(['volume', 'ls', '-q', '--filter', 'dangling=true']), 'volume ls dangling').stdout, '');
    assert.equal(ok(await docker(['volume', 'ls', '-q', '--filter', 'dangling=false']), 'dk-created mounts it').stdout, 'dkvol\n');
    assert.equal(ok(await docker(['volume', 'ls', '-q', '--filter', 'name=kvo']), 'volume ls name').stdout, 'dkvol\n');
    const [d] = JSON.parse(ok(await docker(['volume', 'inspect', 'dkvol']), 'docker volume inspect').stdout);
    const [b] = JSON.parse(ok(await s.cli(['volume', 'inspect', 'dkvol']), 'berth volume inspect').stdout);
    assert.deepEqual(d, b);
    const missing = await docker(['volume', 'inspect', 'nope-volume']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such volume: nope-volume/);
  });

  it('hostile raw HTTP: each answered with its status and a JSON message, and the agent serves on', async () => {
    const ping = await http(sock, '/_ping');
    assert.equal(ping.status, 200);
    assert.equal(ping.body, 'OK');
    assert.equal(ping.headers['api-version'], '1.44');
    assert.equal(ping.headers.ostype, 'linux');
    assert.equal(ping.headers['docker-experimental'], 'false');
    const head = await http(sock, '/v1.44/_ping', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['api-version'], '1.44');

    const enc = encodeURIComponent;
    // Both encodings of filters (the docker CLI sends the map one), repeated and unknown parameters.
    const names = (body: string) => (JSON.parse(body) as { Names: string[] }[]).map((c) => c.Names[0]).sort();
    const listForm = await http(sock, `/v1.44/containers/json?all=1&filters=${enc(`{"label":["${LABEL}"]}`)}`);
    const mapForm = await http(sock, `/v1.44/containers/json?all=1&filters=${enc(`{"label":{"${LABEL}":true}}`)}`);
    assert.deepEqual(names(listForm.body), ['/dk-created', '/dk-exited']);
    assert.deepEqual(names(mapForm.body), ['/dk-created', '/dk-exited']);
    const repeated = await http(sock, `/containers/json?all=true&all=true&bogus=1&filters=${enc(`{"label":["${LABEL}"]}`)}&limit=&size=0`);
    assert.deepEqual(names(repeated.body), ['/dk-created', '/dk-exited']);
    assertJsonError(
      await http(sock, `/containers/json?filters=${enc('{"label":')}`),
      400,
      /^invalid filters: not JSON/,
      'bad filters JSON',
    );
    assertJsonError(await http(sock, `/containers/json?filters=${enc('["label"]')}`), 400, /want a JSON object/, 'filters an array');
    assertJsonError(
      await http(sock, `/containers/json?filters=${enc('{"label":[1]}')}`),
      400,
      /list of strings/,
      'filter values not strings',
    );
    assertJsonError(
      await http(sock, `/containers/json?filters=${enc('{"__proto__":["x"]}')}`),
      400,
      /invalid filter '__proto__'/,
      '__proto__ key',
    );
    assertJsonError(
      await http(sock, `/containers/json?filters=${enc('{"publish":["80"]}')}`),
      400,
      /filter "publish" is not supported by Berth yet/,
      'a later filter',
    );
    assertJsonError(await http(sock, '/containers/json?limit=abc'), 400, /"limit"/, 'limit not a number');
    assertJsonError(await http(sock, '/v1.44/nope'), 404, /^page not found: GET \/v1\.44\/nope$/, 'unknown route');
    assertJsonError(
      await http(sock, '/v1.44/containers/create', 'POST'),
      501,
      /^POST \/v1\.44\/containers\/create is not implemented by Berth yet/,
      'a write',
    );
    assertJsonError(await http(sock, '/containers/json', 'DELETE'), 501, /DELETE \/containers\/json is not implemented/, 'another method');
    assertJsonError(await http(sock, '/containers/../info'), 400, /"\.\." segments are refused/, '..');
    assertJsonError(await http(sock, '/volumes/%2e%2e'), 400, /"\.\." segments are refused/, 'encoded ..');
    assertJsonError(await http(sock, '/containers/..%2F..%2Fetc/json'), 400, /encoded "\/"/, 'encoded slashes');
    assertJsonError(await http(sock, '/images/a%2F..%2F..%2Fb/json'), 400, /encoded "\/"/, 'encoded slashes in an image name');
    assertJsonError(await http(sock, '/volumes/a%00b'), 400, /control characters/, 'NUL');
    assertJsonError(await http(sock, '/volumes/%E0%A4%A'), 400, /percent-encoding/, 'bad percent-encoding');
    assertJsonError(await http(sock, '/v1.99/info'), 400, /client version 1\.99 is too new/, 'version too new');
    assertJsonError(await http(sock, '/v1.12/info'), 400, /client version 1\.12 is too old/, 'version too old');
    assertJsonError(await http(sock, '/volumes/-bad'), 400, /invalid volume name/, 'bad volume name');
    assertJsonError(await http(sock, '/containers/nope/json'), 404, /no such container: nope/, 'missing container');
    assertJsonError(await http(sock, '/images/nope:1/json'), 404, /no such image/, 'missing image');

    const big = await rawExchange(sock, `GET /info HTTP/1.1\r\nHost: d\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /, big.slice(0, 200));
    assert.match(big, /\{"message":"the request head is larger than 16384 bytes"\}$/);
    const garbage = await rawExchange(sock, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /, garbage);
    assert.match(garbage, /\{"message":"malformed HTTP request/);
    const body = await rawExchange(
      sock,
      `POST /info HTTP/1.1\r\nHost: d\r\nContent-Length: ${64 * 1024 * 1024}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(body, /^HTTP\/1\.1 413 /, body.slice(0, 200));

    // Still serving, both doors.
    assert.equal((await http(sock, '/_ping')).body, 'OK');
    ok(await docker(['version']), 'docker version after the hostile requests');
    assert.equal((await s.conn.sendRequest(VersionRequest.type)).Pid, s.agent.child.pid);
    assert.doesNotMatch(s.agent.log(), /internal error/);
  });

  it("the socket has the agent socket's mode; a peer of another uid is refused 403 (SO_PEERCRED), root still served", async () => {
    const st = statSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, statSync(s.agent.socket).mode & 0o777);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 0);
    // Open the way to the socket so the refusal can only come from the peer check.
    const rootMode = statSync(s.agent.root).mode & 0o777;
    chmodSync(s.agent.root, 0o711);
    chmodSync(sock, 0o666);
    try {
      const script = `
        const http = require('node:http');
        const req = http.request({ socketPath: process.argv[1], path: '/v1.44/containers/json' }, (res) => {
          let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => { process.stdout.write(JSON.stringify({ status: res.statusCode, body: b })); });
        });
        req.on('error', (e) => process.stdout.write(JSON.stringify({ error: e.code })));
        req.end();`;
      const r = await new Promise<{ status?: number; body?: string; error?: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', script, sock], {
          uid: NOBODY,
          gid: NOBODY,
          cwd: '/',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        trackChild(child);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('error', reject);
        child.on('close', () => resolve(JSON.parse(out || '{}')));
      });
      assert.equal(r.status, 403, JSON.stringify(r));
      assert.match(JSON.parse(r.body!).message, /permission denied: .* you are uid 65534/);
      assert.match(s.agent.log(), /docker api: refusing uid 65534/);
      ok(await docker(['ps', '-a']), 'root still served');
    } finally {
      chmodSync(sock, 0o600);
      chmodSync(s.agent.root, rootMode);
    }
  });

  it('berth docker-env prints the DOCKER_HOST line of the store it talks to', async () => {
    assert.equal(ok(await s.cli(['docker-env']), 'docker-env').stdout, `export DOCKER_HOST=unix://${sock}\n`);
    const other = await berth(['docker-env'], { ...s.env, BERTH_DOCKER_SOCKET: '/tmp/some where/d.sock' });
    assert.equal(ok(other, 'docker-env, BERTH_DOCKER_SOCKET').stdout, "export DOCKER_HOST='unix:///tmp/some where/d.sock'\n");
    const off = await berth(['docker-env'], { ...s.env, BERTH_DOCKER_SOCKET: '' });
    assert.equal(off.code, 1);
    assert.match(off.stderr, /turned off/);
    const noRoot = { PATH: process.env.PATH, BERTH_NO_AUTOSTART: '1' };
    const dflt = await berth(['docker-env'], noRoot);
    assert.equal(ok(dflt, 'docker-env, defaults').stdout, 'export DOCKER_HOST=unix:///run/berth/docker.sock\n');
  });

  it('BERTH_DOCKER_SOCKET="" turns the socket off; a path that cannot be bound is logged and the agent serves on', async () => {
    const off = await startAgent({ env: { BERTH_DOCKER_SOCKET: '' } });
    try {
      assert.throws(() => statSync(join(off.root, 'docker.sock')), /ENOENT/);
      const c = await off.connect();
      assert.equal((await c.sendRequest(VersionRequest.type)).Pid, off.child.pid);
      assert.doesNotMatch(off.log(), /Docker Engine API/);
    } finally {
      await off.stop();
    }
    const dir = await makeTempDir('berth-docker-sock-');
    const notASocket = join(dir, 'taken');
    writeFileSync(notASocket, 'a file, not a socket');
    const blocked = await startAgent({ env: { BERTH_DOCKER_SOCKET: notASocket } });
    try {
      const c = await blocked.connect();
      assert.equal((await c.sendRequest(VersionRequest.type)).Pid, blocked.child.pid);
      assert.match(blocked.log(), /not serving the Docker Engine API on .*taken: .*is not a socket/);
    } finally {
      await blocked.stop();
    }
  });
});
