/**
 * `system/info` against a real agent, and `berth info` printing it: every figure is checked
 * against what the host and the store say independently (uname, /proc/meminfo, the cgroup mount,
 * the containers and images the test made).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { machine, release, totalmem } from 'node:os';
import { describe, it } from 'node:test';
import { API_VERSION, CreateContainerRequest, StartContainerRequest, SystemInfoRequest, VersionRequest } from '../../protocol';
import { testNetwork } from '../support/agent';
import { ok } from '../support/expect';
import { containerSuite } from '../support/suite';

describe('system/info', () => {
  const s = containerSuite({ repo: 'info/box' });

  it('answers versions, store, drivers, host figures, counts, the default network and the security options', async () => {
    const fresh = await s.conn.sendRequest(SystemInfoRequest.type);
    assert.equal(fresh.Containers, 0);
    assert.equal(fresh.Images, 1, 'the pulled image');

    const running = await s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, cmd: ['sleep', '60'], networkMode: 'none' });
    await s.conn.sendRequest(StartContainerRequest.type, { container: running.Id });
    await s.conn.sendRequest(CreateContainerRequest.type, { image: s.ref, cmd: ['true'], networkMode: 'none' });

    const info = await s.conn.sendRequest(SystemInfoRequest.type);
    const version = await s.conn.sendRequest(VersionRequest.type);
    assert.equal(info.ServerVersion, version.Version);
    assert.equal(info.ApiVersion, API_VERSION);
    assert.equal(info.DockerRootDir, s.agent.root);
    assert.equal(info.Driver, 'overlay');
    assert.equal(info.CgroupDriver, 'cgroupfs');
    const fsType = execFileSync('stat', ['-f', '-c', '%T', '/sys/fs/cgroup']).toString().trim();
    assert.equal(info.CgroupVersion, fsType === 'cgroup2fs' ? '2' : '1');
    assert.equal(info.KernelVersion, release());
    assert.equal(info.OSType, 'linux');
    assert.equal(info.Architecture, machine());
    assert.ok(Number.isInteger(info.NCPU) && info.NCPU >= 1, `NCPU ${info.NCPU}`);
    assert.equal(info.MemTotal, totalmem());
    assert.deepEqual(
      [info.Containers, info.ContainersRunning, info.ContainersPaused, info.ContainersStopped, info.Images],
      [2, 1, 0, 1, 1],
    );
    const net = testNetwork(s.agent.root);
    assert.deepEqual(info.DefaultNetwork, { Bridge: net.bridge, Subnet: net.subnet });
    assert.deepEqual(info.SecurityOptions, ['name=cgroupns'], 'no user namespace for all containers, no seccomp or AppArmor profile');

    const json = JSON.parse(ok(await s.cli(['info', '--format', 'json']), 'info --format json').stdout);
    assert.deepEqual(json, info);
    const text = ok(await s.cli(['info']), 'info').stdout;
    for (const line of [
      ' Containers: 2',
      '  Running: 1',
      '  Paused: 0',
      '  Stopped: 1',
      ' Images: 1',
      ` Server Version: ${info.ServerVersion}`,
      ' Storage Driver: overlay',
      ' Cgroup Driver: cgroupfs',
      ` Cgroup Version: ${info.CgroupVersion}`,
      ` Default Network: ${net.bridge} ${net.subnet}`,
      ' Security Options:',
      '  cgroupns',
      ` Kernel Version: ${release()}`,
      ` Architecture: ${machine()}`,
      ` Berth Root Dir: ${s.agent.root}`,
    ])
      assert.ok(text.split('\n').includes(line), `"${line}" in:\n${text}`);
    assert.equal(ok(await s.cli(['info', '--format', '{{.Driver}} {{.Containers}}']), 'info --format').stdout, 'overlay 2\n');
  });
});
