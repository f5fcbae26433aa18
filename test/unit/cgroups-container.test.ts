/**
 * ContainerCgroup against the in-memory cgroupfs: the exact files written for each limit on v1,
 * hybrid and v2, subtree_control on v2, cpuset copying on v1, rollback, stats and OOM parsing,
 * OOM watching, freeze, kill, destroy retries, sweep, and the refusal of bad limits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isBerthError } from '../../agent/errors';
import { ContainerCgroup, V1_DEVICE_ALLOW, validateLimits } from '../../agent/runtime/cgroups';
import { MOUNTINFO_HYBRID_THIS_HOST, MOUNTINFO_V1_LEGACY, MOUNTINFO_V2_SYSTEMD, fakeHost } from '../../agent/runtime/cgroups/samples';

const MiB = 1024 * 1024;
const V2_ALL = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];
const hybrid = () => fakeHost(MOUNTINFO_HYBRID_THIS_HOST, ['hugetlb']);
const v2 = () => fakeHost(MOUNTINFO_V2_SYSTEMD, V2_ALL);
const v1 = () => fakeHost(MOUNTINFO_V1_LEGACY);
const R = '/sys/fs/cgroup';

describe('ContainerCgroup.create on v1 / hybrid', () => {
  it('writes memory.limit_in_bytes, memsw, cfs period/quota, pids.max, device rules, and copies cpuset.cpus/mems', () => {
    const { fs, layout } = hybrid();
    const cg = ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 64 * MiB, memorySwapBytes: 128 * MiB, cpus: 1.5, pidsLimit: 100 });
    assert.deepEqual(fs.writes(), [
      `${R}/cpuset/berth/cpuset.cpus=0-1`,
      `${R}/cpuset/berth/cpuset.mems=0`,
      `${R}/cpuset/berth/c1/cpuset.cpus=0-1`,
      `${R}/cpuset/berth/c1/cpuset.mems=0`,
      `${R}/memory/berth/c1/memory.limit_in_bytes=67108864`,
      `${R}/memory/berth/c1/memory.memsw.limit_in_bytes=134217728`,
      `${R}/cpu/berth/c1/cpu.cfs_period_us=100000`,
      `${R}/cpu/berth/c1/cpu.cfs_quota_us=150000`,
      `${R}/pids/berth/c1/pids.max=100`,
      `${R}/devices/berth/c1/devices.deny=a`,
      ...V1_DEVICE_ALLOW.map((r) => `${R}/devices/berth/c1/devices.allow=${r}`),
    ]);
    // Groups in memory, cpu, cpuacct, cpuset, pids, freezer, devices and the cgroup2 twin; not blkio.
    assert.deepEqual(cg.procsFiles(), [
      `${R}/memory/berth/c1/cgroup.procs`,
      `${R}/cpu/berth/c1/cgroup.procs`,
      `${R}/cpuacct/berth/c1/cgroup.procs`,
      `${R}/cpuset/berth/c1/cgroup.procs`,
      `${R}/pids/berth/c1/cgroup.procs`,
      `${R}/freezer/berth/c1/cgroup.procs`,
      `${R}/devices/berth/c1/cgroup.procs`,
      `${R}/unified/berth/c1/cgroup.procs`,
    ]);
    assert.ok(!fs.exists(`${R}/blkio/berth`));
  });

  it('a second container reuses the prefix group and copies cpuset only into its own group', () => {
    const { fs, layout } = hybrid();
    ContainerCgroup.create(layout, 'berth/c1', {});
    fs.log.length = 0;
    ContainerCgroup.create(layout, 'berth/c2', {});
    assert.deepEqual(
      fs.writes().filter((w) => w.includes('cpuset')),
      [`${R}/cpuset/berth/c2/cpuset.cpus=0-1`, `${R}/cpuset/berth/c2/cpuset.mems=0`],
    );
  });

  it('no limits: writes only cpuset and device rules; allowAllDevices leaves devices alone', () => {
    const { fs, layout } = hybrid();
    ContainerCgroup.create(layout, 'berth/q', {});
    assert.ok(fs.writes().some((w) => w.endsWith('/devices/berth/q/devices.deny=a')));
    fs.log.length = 0;
    ContainerCgroup.create(layout, 'berth/p', {}, { allowAllDevices: true });
    assert.ok(fs.writes().every((w) => w.includes('/cpuset/')));
  });

  it('shares one group between co-mounted cpu,cpuacct on a legacy v1 host (no cgroup2 twin)', () => {
    const { fs, layout } = v1();
    const cg = ContainerCgroup.create(layout, 'berth/x', { cpus: 0.5 });
    assert.deepEqual(cg.procsFiles(), [
      `${R}/memory/berth/x/cgroup.procs`,
      `${R}/cpu,cpuacct/berth/x/cgroup.procs`,
      `${R}/cpuset/berth/x/cgroup.procs`,
      `${R}/pids/berth/x/cgroup.procs`,
      `${R}/freezer/berth/x/cgroup.procs`,
      `${R}/devices/berth/x/cgroup.procs`,
    ]);
    assert.ok(fs.writes().includes(`${R}/cpu,cpuacct/berth/x/cpu.cfs_quota_us=50000`));
  });

  it('addProcess writes the pid into every cgroup.procs', () => {
    const { fs, layout } = hybrid();
    const cg = ContainerCgroup.create(layout, 'berth/c1', {});
    fs.log.length = 0;
    cg.addProcess(4242);
    assert.deepEqual(
      fs.writes(),
      cg.procsFiles().map((f) => `${f}=4242`),
    );
  });

  it('refuses an existing group (Conflict) and undoes a half-made group when a write fails', () => {
    const { layout } = hybrid();
    ContainerCgroup.create(layout, 'berth/c1', {});
    assert.throws(
      () => ContainerCgroup.create(layout, 'berth/c1', {}),
      (e) => isBerthError(e, ErrorCode.Conflict) && e.message.includes(`${R}/memory/berth/c1`),
    );

    const h = hybrid();
    h.fs.failNext('write', `${R}/pids/berth/c9/pids.max`, 'EINVAL');
    assert.throws(
      () => ContainerCgroup.create(h.layout, 'berth/c9', { pidsLimit: 7 }),
      (e) =>
        isBerthError(e, ErrorCode.System) &&
        e.message.includes(`\`${R}/pids/berth/c9/pids.max\``) &&
        e.message.includes('EINVAL') &&
        e.message.includes('set the pids limit') &&
        e.data.errno === 'EINVAL',
    );
    for (const h2 of ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'freezer', 'devices', 'unified']) {
      assert.ok(!h.fs.exists(`${R}/${h2}/berth`), `${h2}/berth left behind`);
    }
  });

  it('names the missing controller when a limit needs one the host does not mount', () => {
    const { fs, layout } = hybrid();
    const noPids = { ...layout, v1: { ...layout.v1 } };
    delete noPids.v1.pids;
    assert.throws(
      () => ContainerCgroup.create(noPids, 'berth/c1', { pidsLimit: 5 }),
      (e) => isBerthError(e, ErrorCode.System) && /--pids-limit needs the pids cgroup controller/.test(e.message),
    );
    assert.equal(fs.log.filter((o) => o.op === 'mkdir').length, 0);
  });

  it('refuses --memory-swap when the kernel does not account swap', () => {
    const { fs, layout } = hybrid();
    const orig = fs.mkdir.bind(fs);
    fs.mkdir = (p: string) => {
      orig(p);
      fs.files.delete(`${p}/memory.memsw.limit_in_bytes`);
    };
    assert.throws(
      () => ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 16 * MiB, memorySwapBytes: 32 * MiB }),
      (e) => isBerthError(e, ErrorCode.System) && /swap accounting/.test(e.message),
    );
    assert.ok(!fs.exists(`${R}/memory/berth/c1`));
  });

  it('rejects bad names', () => {
    const { layout } = hybrid();
    for (const n of ['', '/abs', '../x', 'berth/../x', 'a//b', 'berth/c 1', 'berth/']) {
      assert.throws(
        () => ContainerCgroup.create(layout, n, {}),
        (e) => isBerthError(e, ErrorCode.InvalidArgument),
        n,
      );
    }
  });
});

describe('ContainerCgroup.create on v2', () => {
  it('enables cpu, memory, pids in every ancestor, then writes memory.max, memory.swap.max, cpu.max, pids.max', () => {
    const { fs, layout } = v2();
    const cg = ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 64 * MiB, memorySwapBytes: 96 * MiB, cpus: 1.5, pidsLimit: 100 });
    assert.deepEqual(fs.writes(), [
      `${R}/cgroup.subtree_control=+cpu`,
      `${R}/cgroup.subtree_control=+memory`,
      `${R}/cgroup.subtree_control=+pids`,
      `${R}/berth/cgroup.subtree_control=+cpu`,
      `${R}/berth/cgroup.subtree_control=+memory`,
      `${R}/berth/cgroup.subtree_control=+pids`,
      `${R}/berth/c1/memory.max=67108864`,
      `${R}/berth/c1/memory.swap.max=33554432`,
      `${R}/berth/c1/cpu.max=150000 100000`,
      `${R}/berth/c1/pids.max=100`,
    ]);
    assert.deepEqual(cg.procsFiles(), [`${R}/berth/c1/cgroup.procs`]);
    assert.equal(fs.files.get(`${R}/berth/cgroup.subtree_control`), 'cpu memory pids\n');
    // Already enabled: the next container writes only its limits.
    fs.log.length = 0;
    ContainerCgroup.create(layout, 'berth/c2', { memoryBytes: 32 * MiB, memorySwapBytes: -1 });
    assert.deepEqual(fs.writes(), [`${R}/berth/c2/memory.max=33554432`, `${R}/berth/c2/memory.swap.max=max`]);
  });

  it('enables only what the host offers, and names the missing controller for a limit', () => {
    const { fs, layout } = fakeHost(MOUNTINFO_V2_SYSTEMD, ['cpu', 'io']);
    ContainerCgroup.create(layout, 'berth/a', { cpus: 2 });
    assert.deepEqual(fs.writes(), [
      `${R}/cgroup.subtree_control=+cpu`,
      `${R}/berth/cgroup.subtree_control=+cpu`,
      `${R}/berth/a/cpu.max=200000 100000`,
    ]);
    assert.throws(
      () => ContainerCgroup.create(layout, 'berth/b', { memoryBytes: 64 * MiB }),
      (e) =>
        isBerthError(e, ErrorCode.System) &&
        e.message.includes('--memory needs the memory cgroup controller') &&
        e.message.includes('offers: cpu io'),
    );
    assert.ok(!fs.exists(`${R}/berth/b`));
  });

  it('reports EBUSY on subtree_control (no-internal-process rule) with the file named', () => {
    const { fs, layout } = v2();
    fs.failNext('write', `${R}/berth/cgroup.subtree_control`, 'EBUSY');
    assert.throws(
      () => ContainerCgroup.create(layout, 'berth/c1', {}),
      (e) =>
        isBerthError(e, ErrorCode.System) &&
        e.message.includes(`\`${R}/berth/cgroup.subtree_control\``) &&
        e.message.includes('EBUSY') &&
        e.message.includes('enable the cpu controller'),
    );
    assert.ok(!fs.exists(`${R}/berth`), 'the prefix it created is removed again');
  });
});

describe('limits', () => {
  const bad: [string, object, RegExp][] = [
    ['negative memory', { memoryBytes: -1 }, /invalid memory limit -1/],
    ['fractional memory', { memoryBytes: 1.5 * MiB + 0.5 }, /whole/],
    ['memory below 6 MiB', { memoryBytes: MiB }, /minimum is 6 MiB/],
    ['swap without memory', { memorySwapBytes: 64 * MiB }, /needs a memory limit/],
    ['swap below memory', { memoryBytes: 64 * MiB, memorySwapBytes: 32 * MiB }, /at least the memory limit/],
    ['swap -2', { memoryBytes: 64 * MiB, memorySwapBytes: -2 }, /-1 \(unlimited swap\)/],
    ['cpus 0', { cpus: 0 }, /more than 0 \(leave it out for no limit\)/],
    ['cpus negative', { cpus: -1 }, /more than 0/],
    ['cpus NaN', { cpus: NaN }, /more than 0/],
    ['cpus tiny', { cpus: 0.001 }, /minimum is 0.01/],
    ['cpus above host', { cpus: 3 }, /this host has 2 CPUs/],
    ['pids 0', { pidsLimit: 0 }, /at least 1/],
    ['pids -1', { pidsLimit: -1 }, /at least 1/],
    ['pids fractional', { pidsLimit: 2.5 }, /whole number/],
  ];
  for (const [what, limits, re] of bad) {
    it(`rejects ${what} before touching the filesystem`, () => {
      const { fs, layout } = hybrid();
      assert.throws(
        () => ContainerCgroup.create(layout, 'berth/c1', limits),
        (e) => isBerthError(e, ErrorCode.InvalidArgument) && re.test(e.message),
      );
      assert.equal(fs.log.length, 0);
    });
  }
  it('accepts the edges: 6 MiB, swap = memory, cpus 0.01 and = host CPUs, pids 1', () => {
    validateLimits({ memoryBytes: 6 * MiB, memorySwapBytes: 6 * MiB, cpus: 0.01, pidsLimit: 1 }, 2);
    validateLimits({ cpus: 2 }, 2);
  });
});

describe('stats and OOM', () => {
  it('v1: usage_in_bytes, limit_in_bytes (host memory when unlimited), cpuacct.usage, pids.current', () => {
    const { fs, layout } = hybrid();
    const cg = ContainerCgroup.create(layout, 'berth/c1', {});
    fs.set(`${R}/memory/berth/c1/memory.usage_in_bytes`, '1048576\n')
      .set(`${R}/cpuacct/berth/c1/cpuacct.usage`, '123456789\n')
      .set(`${R}/pids/berth/c1/pids.current`, '3\n');
    assert.deepEqual(cg.stats(), { memoryBytes: 1048576, memoryLimit: 8 * 1024 ** 3, cpuUsageNs: 123456789, pids: 3 });
    fs.set(`${R}/memory/berth/c1/memory.limit_in_bytes`, '16777216\n');
    assert.equal(cg.stats().memoryLimit, 16 * MiB);
  });

  it('v2: memory.current, memory.max, cpu.stat usage_usec (as ns), pids.current', () => {
    const { fs, layout } = v2();
    const cg = ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 32 * MiB });
    fs.set(`${R}/berth/c1/memory.current`, '2097152\n')
      .set(`${R}/berth/c1/memory.max`, '33554432\n')
      .set(`${R}/berth/c1/cpu.stat`, 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n')
      .set(`${R}/berth/c1/pids.current`, '2\n');
    assert.deepEqual(cg.stats(), { memoryBytes: 2097152, memoryLimit: 32 * MiB, cpuUsageNs: 1_500_000, pids: 2 });
  });

  it('v2 without memory/pids controllers: 0 bytes, host memory, threads counted', () => {
    const { fs, layout } = fakeHost(MOUNTINFO_V2_SYSTEMD, []);
    const cg = ContainerCgroup.create(layout, 'berth/c1', {});
    fs.set(`${R}/berth/c1/cgroup.threads`, '10\n11\n12\n');
    assert.deepEqual(cg.stats(), { memoryBytes: 0, memoryLimit: 8 * 1024 ** 3, cpuUsageNs: 0, pids: 3 });
  });

  it('v1: oom_kill in memory.oom_control; failcnt only on kernels without that line', () => {
    const { fs, layout } = hybrid();
    const cg = ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 16 * MiB });
    const oc = `${R}/memory/berth/c1/memory.oom_control`;
    assert.equal(cg.oomKilled(), false);
    fs.set(`${R}/memory/berth/c1/memory.failcnt`, '12\n'); // reclaim hits, no kill
    assert.equal(cg.oomKilled(), false);
    fs.set(oc, 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    assert.equal(cg.oomKilled(), true);
    fs.set(oc, 'oom_kill_disable 0\nunder_oom 0\n'); // kernel < 4.13
    assert.equal(cg.oomKilled(), true);
  });

  it('v2: oom_kill in memory.events', () => {
    const { fs, layout } = v2();
    const cg = ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 16 * MiB });
    assert.equal(cg.oomKilled(), false);
    fs.set(`${R}/berth/c1/memory.events`, 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n');
    assert.equal(cg.oomKilled(), true);
  });

  it('v2 watchOom: fires on each rise of oom_kill in memory.events, and stops', () => {
    const { fs, layout } = v2();
    const cg = ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 16 * MiB });
    const events = `${R}/berth/c1/memory.events`;
    let n = 0;
    const stop = cg.watchOom(() => n++);
    fs.set(events, 'low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n').notify(events);
    assert.equal(n, 0);
    fs.set(events, 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n').notify(events);
    fs.notify(events);
    assert.equal(n, 1);
    stop();
    assert.equal(fs.watcherCount(events), 0);
  });

  it('hybrid watchOom: reads the v1 counter when the cgroup2 twin reports populated 0', () => {
    const { fs, layout } = hybrid();
    const cg = ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 16 * MiB });
    const ev = `${R}/unified/berth/c1/cgroup.events`;
    let n = 0;
    cg.watchOom(() => n++);
    fs.set(ev, 'populated 1\nfrozen 0\n').notify(ev);
    fs.set(`${R}/memory/berth/c1/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    fs.notify(ev); // still populated
    assert.equal(n, 0);
    fs.set(ev, 'populated 0\nfrozen 0\n').notify(ev);
    assert.equal(n, 1);
  });

  it('pure v1 watchOom is a no-op (oomKilled at exit is the source)', () => {
    const { layout } = v1();
    const cg = ContainerCgroup.create(layout, 'berth/c1', { memoryBytes: 16 * MiB });
    let n = 0;
    cg.watchOom(() => n++)();
    assert.equal(n, 0);
  });
});

describe('freeze, kill, destroy, sweep', () => {
  it('v1 freezes through freezer.state; v2 through cgroup.freeze and cgroup.events', async () => {
    const h = hybrid();
    const a = ContainerCgroup.create(h.layout, 'berth/c1', {});
    h.fs.log.length = 0;
    await a.freeze();
    await a.thaw();
    assert.deepEqual(h.fs.writes(), [`${R}/freezer/berth/c1/freezer.state=FROZEN`, `${R}/freezer/berth/c1/freezer.state=THAWED`]);

    const k = v2();
    const b = ContainerCgroup.create(k.layout, 'berth/c1', {});
    k.fs.log.length = 0;
    const ev = `${R}/berth/c1/cgroup.events`;
    const p = b.freeze();
    k.fs.set(ev, 'populated 1\nfrozen 1\n').notify(ev);
    await p;
    const q = b.thaw();
    k.fs.set(ev, 'populated 1\nfrozen 0\n').notify(ev);
    await q;
    assert.deepEqual(k.fs.writes(), [`${R}/berth/c1/cgroup.freeze=1`, `${R}/berth/c1/cgroup.freeze=0`]);
  });

  it('killAll(SIGKILL) writes cgroup.kill on v2 and on the hybrid twin', async () => {
    for (const h of [v2(), hybrid()]) {
      const cg = ContainerCgroup.create(h.layout, 'berth/c1', {});
      h.fs.log.length = 0;
      await cg.killAll('SIGKILL');
      assert.equal(h.fs.writes().length, 1);
      assert.match(h.fs.writes()[0], /\/berth\/c1\/cgroup\.kill=1$/);
    }
  });

  it('killAll on pure v1 freezes, signals each pid (gone ones skipped), thaws', async () => {
    const { fs, layout } = v1();
    const cg = ContainerCgroup.create(layout, 'berth/c1', {});
    fs.set(`${R}/pids/berth/c1/cgroup.procs`, '2147483000\n2147483001\n'); // no such processes
    fs.log.length = 0;
    await cg.killAll('SIGTERM');
    assert.deepEqual(fs.writes(), [`${R}/freezer/berth/c1/freezer.state=FROZEN`, `${R}/freezer/berth/c1/freezer.state=THAWED`]);
  });

  it('destroy removes the group everywhere, keeps the prefix, retries EBUSY, and names the path when it gives up', async () => {
    const { fs, layout } = hybrid();
    const cg = ContainerCgroup.create(layout, 'berth/c1', {});
    fs.failNext('rmdir', `${R}/memory/berth/c1`, 'EBUSY', 2);
    await cg.destroy();
    for (const d of cg.dirs()) assert.ok(!fs.exists(d), d);
    assert.ok(fs.exists(`${R}/memory/berth`));
    await cg.destroy(); // already gone: fine

    const cg2 = ContainerCgroup.create(layout, 'berth/c2', {});
    fs.set(`${R}/pids/berth/c2/cgroup.procs`, '77\n');
    fs.failNext('rmdir', `${R}/pids/berth/c2`, 'EBUSY', 1000);
    await assert.rejects(
      cg2.destroy(),
      (e) =>
        isBerthError(e, ErrorCode.System) &&
        e.message.includes(`\`${R}/pids/berth/c2\``) &&
        e.message.includes('EBUSY') &&
        e.message.includes('77'),
    );
    assert.ok(!fs.exists(`${R}/memory/berth/c2`), 'the other hierarchies are still cleaned');
  });

  it('sweep removes leftover empty groups (nested too), skips busy and kept ones', () => {
    const { fs, layout } = hybrid();
    ContainerCgroup.create(layout, 'berth/dead', {});
    ContainerCgroup.create(layout, 'berth/live', {});
    ContainerCgroup.create(layout, 'berth/busy', {});
    fs.mkdir(`${R}/memory/berth/dead/sub`);
    fs.failNext('rmdir', `${R}/pids/berth/busy`, 'EBUSY');
    const removed = ContainerCgroup.sweep(layout, 'berth', (name) => name === 'live');
    assert.ok(removed.includes(`${R}/memory/berth/dead/sub`) && removed.includes(`${R}/memory/berth/dead`));
    assert.ok(removed.includes(`${R}/unified/berth/dead`));
    assert.ok(!removed.some((d) => d.includes('/live')));
    assert.ok(fs.exists(`${R}/pids/berth/busy`) && !fs.exists(`${R}/memory/berth/busy`));
    assert.ok(fs.exists(`${R}/memory/berth/live`));
    assert.deepEqual(ContainerCgroup.sweep(layout, 'nothing-here'), []);
  });
});
