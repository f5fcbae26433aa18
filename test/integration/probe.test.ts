/**
 * What a container sees, asked of the probe (test/probe/probe.c) running inside real containers
 * started by the real agent through the `berth` CLI: pid 1, hostname, identity, environment,
 * working directory, capabilities, no_new_privs, mounts, masked and read-only paths, the cgroup
 * limits it reads through /sys/fs/cgroup, network interfaces and inherited file descriptors.
 * Every container runs with --rm; the end of the suite proves none is left (no record, no cgroup).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import { ListContainersRequest, PullRequest } from '../../protocol';
import { detectCgroups } from '../../agent/runtime/cgroups';
import { capabilityMask, DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, resolveCapabilities } from '../../agent/runtime/plan';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { removeAllContainers } from '../support/containers';
import { capsOf, parseProbe, probeImage, type ProbeReport } from '../support/probe';
import { pushImage } from '../support/push';
import { startRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';

const hex = (m: bigint) => m.toString(16).padStart(16, '0');
const DEFAULT_MASK = hex(capabilityMask(DEFAULT_CAPABILITIES));
const V1_UNLIMITED = 2n ** 62n;

describe('the probe inside containers', () => {
  let agent: TestAgent;
  let conn: MessageConnection;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  const layout = detectCgroups();

  /** `berth run --rm FLAGS... IMAGE /probe ARGS...`: the probe's report (exit 0 required). */
  const probe = async (flags: string[] = [], args: string[] = []): Promise<ProbeReport> => {
    const r = await berth(['run', '--rm', ...flags, ref, '/probe', ...args], env, 60_000);
    assert.equal(r.code, 0, `berth run ${flags.join(' ')}: exit ${r.code}\nstderr: ${r.stderr}`);
    assert.equal(r.stderr, '', 'the probe writes nothing on stderr');
    return parseProbe(r.stdout);
  };

  before(async () => {
    requireTools(['docker-registry', 'gcc', 'tar', 'gzip']);
    const registry = await startRegistry();
    await pushImage(registry, 'probe/img', 'v1', await probeImage());
    ref = `${registry.host}/probe/img:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
  });

  after(async () => {
    const left = agent ? await conn.sendRequest(ListContainersRequest.type, { all: true }) : [];
    await removeAllContainers(agent ? conn : undefined);
    await runCleanups();
    assert.deepEqual(
      left.map((c) => c.Id),
      [],
      'every --rm container removed itself',
    );
  });

  it('defaults: pid 1 alone in its pid namespace, a 12-hex hostname, root in /, the image env, no inherited fds', async () => {
    const r = await probe();
    assert.equal(r.pid, 1);
    assert.equal(r.ppid, 0, 'pid 1 has no parent inside');
    assert.deepEqual(r.processes, [{ pid: 1, comm: 'probe' }], 'no host process is visible');
    assert.match(r.hostname ?? '', /^[0-9a-f]{12}$/);
    assert.deepEqual([r.uid, r.gid, r.euid, r.egid], [0, 0, 0, 0]);
    assert.equal(r.cwd, '/');
    assert.equal(r.umask, 0o022);
    assert.deepEqual(r.argv, ['/probe']);
    assert.deepEqual([...r.env].sort(), [
      'HOME=/root',
      `HOSTNAME=${r.hostname}`,
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'PROBE_IMAGE=1',
    ]);
    assert.deepEqual(r.fds, [], 'no file descriptor above 2 reaches the container');
  });

  it("Docker's 14 default capabilities, nothing inheritable or ambient, no_new_privs", async () => {
    const r = await probe();
    assert.equal(DEFAULT_MASK, '00000000a80425fb');
    assert.equal(r.status.CapEff, DEFAULT_MASK);
    assert.equal(r.status.CapPrm, DEFAULT_MASK);
    assert.equal(r.status.CapBnd, DEFAULT_MASK);
    assert.equal(r.status.CapInh, '0000000000000000');
    assert.equal(r.status.CapAmb, '0000000000000000');
    assert.equal(r.status.NoNewPrivs, '1');
    assert.match(r.status.Seccomp ?? '', /^[0-2]$/, 'the kernel reports a seccomp mode');
  });

  it('--cap-add and --cap-drop change exactly those bits; --privileged has every capability the host has', async () => {
    const over = { capAdd: ['NET_ADMIN', 'SYS_PTRACE'], capDrop: ['CHOWN', 'NET_RAW'] };
    const r = await probe(['--cap-add', 'NET_ADMIN', '--cap-add', 'sys_ptrace', '--cap-drop', 'CHOWN', '--cap-drop', 'CAP_NET_RAW']);
    const want = capabilityMask(resolveCapabilities(over));
    assert.equal(capsOf(r.status.CapEff), want);
    assert.equal(capsOf(r.status.CapBnd), want);
    assert.equal(want & 1n, 0n, 'CHOWN (bit 0) is dropped');
    assert.notEqual(want & (1n << 12n), 0n, 'NET_ADMIN (bit 12) is added');

    const hostBnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    const p = await probe(['--privileged']);
    assert.equal(p.status.CapEff, hostBnd);
    assert.equal(p.status.CapBnd, hostBnd);
  });

  it('masked paths read as nothing, read-only paths refuse writes; --privileged has neither', async () => {
    const r = await probe();
    assert.deepEqual(Object.keys(r.masked).sort(), [...MASKED_PATHS].sort(), 'the probe looks at every masked path the runtime claims');
    let checked = 0;
    for (const path of MASKED_PATHS) {
      if (!existsSync(path)) continue;
      const m = r.masked[path];
      assert.ok(m.exists, `${path} exists inside as it does on the host`);
      if (statSync(path).isDirectory()) {
        assert.deepEqual([m.type, m.entries], ['dir', 0], `${path} is an empty directory inside: ${JSON.stringify(m)}`);
      } else {
        assert.deepEqual([m.type, m.major, m.minor, m.bytes], ['char', 1, 3, 0], `${path} is /dev/null inside: ${JSON.stringify(m)}`);
      }
      checked++;
    }
    assert.ok(checked >= 2, `at least two masked paths exist on this host to check (${checked})`);

    for (const path of [...READONLY_PATHS, '/sys']) {
      if (!existsSync(path)) continue;
      const ro = r.readonly[path];
      assert.ok(ro, `the probe looked at ${path}`);
      assert.equal(ro.mountReadOnly, true, `${path} is on a read-only mount: ${JSON.stringify(ro)}`);
      if (ro.file) assert.deepEqual([ro.openForWrite, ro.errno], [false, 'EROFS'], `${ro.file} cannot be opened for writing`);
    }
    assert.equal(r.readonly['/proc/sys'].file, '/proc/sys/kernel/hostname');
    assert.equal(r.readonly['/sys'].file, '/sys/class/net/lo/mtu');

    const p = await probe(['--privileged']);
    for (const path of MASKED_PATHS) {
      if (!existsSync(path) || statSync(path).isDirectory()) continue;
      assert.equal(p.masked[path].type, 'file', `${path} is not masked in a privileged container`);
    }
    assert.equal(p.mounts.filter((m) => MASKED_PATHS.includes(m.mountPoint)).length, 0, 'nothing is mounted over a masked path');
    assert.equal(p.readonly['/proc/sys'].mountReadOnly, false);
    assert.equal(p.readonly['/sys'].mountReadOnly, false);
    assert.equal(p.readonly['/proc/sys'].openForWrite, true, '/proc/sys is writable (only opened, nothing written)');
  });

  it('mounts: overlay root, proc, tmpfs /dev with pts/shm/mqueue, read-only sysfs and cgroupfs, the /etc files; no store path', async () => {
    const r = await probe();
    const at = (p: string) => r.mounts.filter((m) => m.mountPoint === p);
    const one = (p: string) => {
      const ms = at(p);
      assert.equal(ms.length, 1, `one mount at ${p}: ${JSON.stringify(ms)}`);
      return ms[0];
    };
    assert.equal(one('/').fstype, 'overlay');
    assert.equal(one('/proc').fstype, 'proc');
    assert.match(one('/proc').options, /(^|,)nosuid,nodev,noexec(,|$)/);
    assert.equal(one('/dev').fstype, 'tmpfs');
    assert.equal(one('/dev/pts').fstype, 'devpts');
    assert.match(one('/dev/pts').superOptions, /(^|,)mode=620(,|$)/);
    assert.equal(one('/dev/shm').fstype, 'tmpfs');
    assert.equal(one('/dev/mqueue').fstype, 'mqueue');
    assert.equal(one('/sys').fstype, 'sysfs');
    assert.match(one('/sys').options, /^ro,/);
    for (const f of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) assert.ok(one(f), f);
    // The store is not mounted anywhere the container can name by the host's path.
    for (const m of r.mounts) assert.ok(!m.mountPoint.startsWith(agent.root), `${m.mountPoint} is not a host path`);
    // cgroupfs: read-only, and the container's group is the root of what it sees. A path made
    // read-only after mounting shows twice in mountinfo: what counts is the last (top) mount.
    const top = new Map(r.mounts.map((m) => [m.mountPoint, m]));
    const cg = [...top.values()].filter((m) => m.mountPoint.startsWith('/sys/fs/cgroup'));
    assert.ok(cg.length > 0, 'cgroupfs is mounted at /sys/fs/cgroup');
    for (const m of cg) {
      assert.match(m.options, /^ro,/, `${m.mountPoint} is read-only`);
      assert.equal(m.root, '/', `${m.mountPoint} shows the container's own group as its root`);
    }
    if (layout.mode === 'v2') assert.equal(one('/sys/fs/cgroup').fstype, 'cgroup2');
    else
      assert.ok(
        cg.some((m) => m.fstype === 'cgroup' && m.superOptions.split(',').includes('memory')),
        'the v1 memory hierarchy is mounted',
      );
  });

  it('memory, cpu and pids limits are seen through cgroups; none without flags', async () => {
    const r = await probe(['--memory', '64m', '--cpus', '0.5', '--pids-limit', '50']);
    const none = await probe();
    if (layout.mode === 'v2') {
      assert.equal(r.cgroup.v2['memory.max'], String(64 * 1024 * 1024));
      assert.equal(r.cgroup.v2['cpu.max'], '50000 100000');
      assert.equal(r.cgroup.v2['pids.max'], '50');
      assert.equal(none.cgroup.v2['memory.max'], 'max');
      assert.match(none.cgroup.v2['cpu.max'] ?? '', /^max /);
      assert.equal(none.cgroup.v2['pids.max'], 'max');
    } else {
      assert.equal(r.cgroup.v1['memory.limit_in_bytes'], String(64 * 1024 * 1024));
      assert.equal(r.cgroup.v1['cpu.cfs_quota_us'], String(Number(r.cgroup.v1['cpu.cfs_period_us']) / 2));
      assert.equal(r.cgroup.v1['pids.max'], '50');
      assert.ok(
        BigInt(none.cgroup.v1['memory.limit_in_bytes'] ?? '0') >= V1_UNLIMITED,
        `no memory limit: ${none.cgroup.v1['memory.limit_in_bytes']}`,
      );
      assert.equal(none.cgroup.v1['cpu.cfs_quota_us'], '-1');
      assert.equal(none.cgroup.v1['pids.max'], 'max');
    }
  });

  it('-u by name and uid:gid, -w, -e, --hostname', async () => {
    const app = await probe(['-u', 'app', '-w', '/tmp', '-e', 'FOO=bar baz', '-e', 'PATH=/bin', '--hostname', 'probe-box']);
    assert.deepEqual([app.uid, app.gid, app.euid, app.egid], [1000, 1000, 1000, 1000]);
    assert.deepEqual(app.groups, [], "app's one group in the image's /etc/group is its primary group: no supplementary ones");
    assert.equal(app.cwd, '/tmp');
    assert.equal(app.hostname, 'probe-box');
    assert.ok(app.env.includes('FOO=bar baz'), app.env.join('\n'));
    assert.ok(app.env.includes('PATH=/bin'), 'an -e entry replaces the image value');
    assert.ok(!app.env.some((e) => e.startsWith('PATH=/usr')), 'and the image value is gone');
    assert.ok(app.env.includes('HOME=/home/app'));
    assert.equal(app.status.CapEff, '0000000000000000', 'a non-root user has no effective capabilities');
    assert.equal(app.status.CapBnd, DEFAULT_MASK);

    const num = await probe(['-u', '1000:65534']);
    assert.deepEqual([num.uid, num.gid], [1000, 65534]);
    assert.equal(num.cwd, '/');
  });

  it("network: only the loopback interface (today's default; --network none when the CLI has it)", async () => {
    const help = await berth(['run', '--help'], env);
    const flags = /--network\b/.test(help.stdout) ? ['--network', 'none'] : [];
    const r = await probe(flags);
    assert.deepEqual(r.interfaces, ['lo']);
  });
});
