/**
 * Test support: mountinfo texts of the three kinds of host, and {@link fakeHost}, which builds a
 * {@link FakeCgroupFs} whose hierarchies match one of them (with kernel-like control files), so
 * unit tests (here and in the runtime) can run cgroup code without root.
 */
import { FakeCgroupFs } from './fakeFs';
import { detectCgroups, type CgroupLayout, parseMountinfo } from './detect';

/** This development machine (Debian 12 image, kernel 6.18): v1 controllers + an empty cgroup2. */
export const MOUNTINFO_HYBRID_THIS_HOST = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12331664k,nr_inodes=3082916,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24682416k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24682416k
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** A modern systemd host (e.g. Debian 12 / Fedora on bare metal): cgroup2 only, at /sys/fs/cgroup. */
export const MOUNTINFO_V2_SYSTEMD = `22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
24 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
25 22 0:5 / /dev rw,nosuid,relatime shared:9 - devtmpfs udev rw,size=8131436k,nr_inodes=2032859,mode=755,inode64
26 25 0:23 / /dev/pts rw,nosuid,noexec,relatime shared:10 - devpts devpts rw,gid=5,mode=620,ptmxmode=000
27 23 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:3 - securityfs securityfs rw
28 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
29 23 0:27 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw
30 23 0:28 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:6 - bpf bpf rw,mode=700
31 22 0:25 / /run rw,nosuid,nodev,noexec,relatime shared:12 - tmpfs tmpfs rw,size=1631796k,mode=755,inode64
`;

/** A legacy v1 host (systemd on an older distribution): cpu,cpuacct and net_cls,net_prio co-mounted. */
export const MOUNTINFO_V1_LEGACY = `18 62 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
19 62 0:3 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
62 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/centos-root rw,attr2,inode64,noquota
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
29 24 0:25 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
30 24 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
31 24 0:27 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset
32 24 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
33 24 0:29 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,freezer
34 24 0:30 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,devices
35 24 0:31 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,blkio
`;

const V1_FILES: Record<string, (root: boolean) => Record<string, string>> = {
  memory: (root) => ({
    'memory.limit_in_bytes': '9223372036854771712\n',
    'memory.memsw.limit_in_bytes': '9223372036854771712\n',
    'memory.usage_in_bytes': root ? '555479040\n' : '0\n',
    'memory.failcnt': '0\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
  }),
  cpu: () => ({ 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n', 'cpu.shares': '1024\n' }),
  cpuacct: () => ({ 'cpuacct.usage': '0\n' }),
  cpuset: (root) => ({ 'cpuset.cpus': root ? '0-1\n' : '\n', 'cpuset.mems': root ? '0\n' : '\n' }),
  pids: (root): Record<string, string> => (root ? {} : { 'pids.max': 'max\n', 'pids.current': '0\n' }),
  freezer: (root): Record<string, string> => (root ? {} : { 'freezer.state': 'THAWED\n' }),
  devices: () => ({ 'devices.allow': '', 'devices.deny': '', 'devices.list': 'a *:* rwm\n' }),
  blkio: () => ({ 'blkio.weight': '100\n' }),
  net_cls: () => ({ 'net_cls.classid': '0\n' }),
  net_prio: () => ({ 'net_prio.ifpriomap': '' }),
};

/**
 * A fake host for `mountinfo`: every visible cgroup mount becomes a hierarchy in a
 * {@link FakeCgroupFs} with kernel-like control files; cgroup2 offers `v2Controllers`. Returns the
 * fs and the layout {@link detectCgroups} finds on it (2 CPUs, 8 GiB of memory).
 */
export function fakeHost(mountinfo: string, v2Controllers: string[] = []): { fs: FakeCgroupFs; layout: CgroupLayout } {
  const fs = new FakeCgroupFs();
  for (const m of parseMountinfo(mountinfo)) {
    if (m.fsType === 'cgroup') {
      const ctls = m.superOptions.filter((o) => o in V1_FILES);
      fs.addHierarchy(m.mountPoint, (dir) => {
        const root = dir === m.mountPoint;
        const files: Record<string, string> = { 'cgroup.procs': '', tasks: '', notify_on_release: '0\n' };
        for (const c of ctls) Object.assign(files, V1_FILES[c](root));
        return files;
      });
    } else if (m.fsType === 'cgroup2') {
      fs.addHierarchy(m.mountPoint, (dir) => {
        const files: Record<string, string> = {
          'cgroup.controllers': v2Controllers.join(' ') + '\n',
          'cgroup.subtree_control': '\n',
          'cgroup.procs': '',
          'cgroup.threads': '',
          'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
        };
        if (dir === m.mountPoint) return files;
        Object.assign(files, {
          'cgroup.events': 'populated 0\nfrozen 0\n',
          'cgroup.freeze': '0\n',
          'cgroup.kill': '',
          'cgroup.type': 'domain\n',
        });
        // Simplification: a child offers every controller (the kernel offers what its parent enabled).
        if (v2Controllers.includes('memory')) {
          Object.assign(files, {
            'memory.current': '0\n',
            'memory.max': 'max\n',
            'memory.swap.max': 'max\n',
            'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
          });
        }
        if (v2Controllers.includes('cpu')) files['cpu.max'] = 'max 100000\n';
        if (v2Controllers.includes('pids')) Object.assign(files, { 'pids.max': 'max\n', 'pids.current': '0\n' });
        return files;
      });
    }
  }
  const layout = detectCgroups(fs, mountinfo, { cpus: 2, memoryBytes: 8 * 1024 ** 3 });
  fs.log.length = 0;
  return { fs, layout };
}
