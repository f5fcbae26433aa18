/**
 * Cgroup layout detection from mountinfo: this machine's hybrid layout, a pure-v2 systemd host, a
 * legacy v1 host with co-mounted controllers, stacked mounts, a cgroup namespace, nothing mounted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isBerthError } from '../../agent/errors';
import { detectCgroups, parseMountinfo } from '../../agent/runtime/cgroups';
import { FakeCgroupFs } from '../../agent/runtime/cgroups/fakeFs';
import { MOUNTINFO_HYBRID_THIS_HOST, MOUNTINFO_V1_LEGACY, MOUNTINFO_V2_SYSTEMD, fakeHost } from '../../agent/runtime/cgroups/samples';

describe('detectCgroups', () => {
  it("finds this machine's hybrid layout: v1 controllers each in its own hierarchy, cgroup2 at /sys/fs/cgroup/unified", () => {
    const { layout } = fakeHost(MOUNTINFO_HYBRID_THIS_HOST, ['hugetlb']);
    assert.equal(layout.mode, 'hybrid');
    assert.deepEqual(layout.v1, {
      cpu: '/sys/fs/cgroup/cpu',
      cpuacct: '/sys/fs/cgroup/cpuacct',
      cpuset: '/sys/fs/cgroup/cpuset',
      memory: '/sys/fs/cgroup/memory',
      devices: '/sys/fs/cgroup/devices',
      freezer: '/sys/fs/cgroup/freezer',
      blkio: '/sys/fs/cgroup/blkio',
      pids: '/sys/fs/cgroup/pids',
    });
    assert.equal(layout.unified, '/sys/fs/cgroup/unified');
    assert.deepEqual(layout.v2Controllers, ['hugetlb']);
    assert.equal(layout.hostCpus, 2);
  });

  it('finds a pure v2 systemd host, and the controllers its root offers', () => {
    const { layout } = fakeHost(MOUNTINFO_V2_SYSTEMD, ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']);
    assert.equal(layout.mode, 'v2');
    assert.deepEqual(layout.v1, {});
    assert.equal(layout.unified, '/sys/fs/cgroup');
    assert.deepEqual(layout.v2Controllers, ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']);
  });

  it('finds a legacy v1 host, co-mounted controllers sharing one hierarchy; name=systemd is no controller', () => {
    const { layout } = fakeHost(MOUNTINFO_V1_LEGACY);
    assert.equal(layout.mode, 'v1');
    assert.equal(layout.unified, undefined);
    assert.equal(layout.v1.cpu, '/sys/fs/cgroup/cpu,cpuacct');
    assert.equal(layout.v1.cpuacct, '/sys/fs/cgroup/cpu,cpuacct');
    assert.equal(layout.v1.net_prio, '/sys/fs/cgroup/net_cls,net_prio');
    assert.equal(layout.v1.memory, '/sys/fs/cgroup/memory');
    assert.ok(!('systemd' in layout.v1) && !('name=systemd' in layout.v1));
    assert.deepEqual(layout.v2Controllers, []);
  });

  it('ignores hierarchies hidden by a mount stacked over /sys/fs/cgroup (what a private-namespace test does)', () => {
    const stacked = MOUNTINFO_HYBRID_THIS_HOST + '50 31 0:40 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n';
    const fs = new FakeCgroupFs().set('/sys/fs/cgroup/cgroup.controllers', 'hugetlb\n');
    const layout = detectCgroups(fs, stacked, { cpus: 2, memoryBytes: 1 });
    assert.equal(layout.mode, 'v2');
    assert.equal(layout.unified, '/sys/fs/cgroup');
    assert.deepEqual(layout.v1, {});
  });

  it('ignores hierarchies under a directory that a later mount covers (a tmpfs over /sys/fs)', () => {
    const covered = MOUNTINFO_HYBRID_THIS_HOST + '51 23 0:41 / /sys/fs rw,relatime - tmpfs tmpfs rw\n';
    assert.throws(
      () => detectCgroups(new FakeCgroupFs(), covered),
      (e) => isBerthError(e, ErrorCode.System) && /no cgroup filesystem is mounted/.test(e.message),
    );
  });

  it('reads a cgroup namespace view (mount root not "/") and octal escapes in mount points', () => {
    const text = `100 1 0:50 / / rw - overlay overlay rw
101 100 0:51 / /sys rw - sysfs sysfs ro
102 101 0:52 /docker/0123abcd /sys/fs/my\\040cgroup ro,nosuid - cgroup2 cgroup2 rw,nsdelegate
`;
    const [, , cg] = parseMountinfo(text);
    assert.equal(cg.root, '/docker/0123abcd');
    assert.equal(cg.mountPoint, '/sys/fs/my cgroup');
    const fs = new FakeCgroupFs().set('/sys/fs/my cgroup/cgroup.controllers', 'cpu memory pids\n');
    const layout = detectCgroups(fs, text, { cpus: 4, memoryBytes: 1 });
    assert.equal(layout.mode, 'v2');
    assert.equal(layout.unified, '/sys/fs/my cgroup');
    assert.deepEqual(layout.v2Controllers, ['cpu', 'memory', 'pids']);
  });

  it('says so when no cgroup filesystem is mounted, or cgroup.controllers cannot be read', () => {
    const none = '1 0 0:1 / / rw - ext4 /dev/sda1 rw\n';
    assert.throws(
      () => detectCgroups(new FakeCgroupFs(), none),
      (e) => isBerthError(e, ErrorCode.System) && /no cgroup filesystem/.test(e.message),
    );
    assert.throws(
      () => detectCgroups(new FakeCgroupFs(), MOUNTINFO_V2_SYSTEMD),
      (e) => isBerthError(e, ErrorCode.System) && e.message.includes('/sys/fs/cgroup/cgroup.controllers') && e.message.includes('ENOENT'),
    );
  });

  it('skips malformed mountinfo lines', () => {
    assert.deepEqual(parseMountinfo('garbage\n\n1 2 3\n'), []);
  });
});
