/**
 * The launch plan (agent/runtime/plan.ts) is the recording of what the helper will do: these
 * tests assert its operations, their order and their arguments without root. Also the wire
 * encoding (agent/runtime/helper.ts) and the parsing of the helper's status lines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError, ErrorCode } from '../../agent/errors';
import { encodePlan, failureError, parseStatusLine } from '../../agent/runtime/helper';
import {
  buildLaunchPlan,
  capabilityMask,
  CAPABILITIES,
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  READONLY_PATHS,
  resolveCapabilities,
  type LaunchOp,
  type LaunchPlan,
} from '../../agent/runtime/plan';
import type { ContainerSpec } from '../../agent/runtime/spec';

function spec(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    id: 'c1',
    hostname: 'box',
    rootfs: { lowerDirs: ['/s/layers/top', '/s/layers/base'], upperDir: '/s/c1/upper', workDir: '/s/c1/work', mountPoint: '/s/c1/rootfs' },
    process: { args: ['sh', '-c', 'echo hi'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } },
    ...over,
  };
}

const names = (plan: LaunchPlan) => plan.ops.map((o) => o.op);
const index = (plan: LaunchPlan, pred: (o: LaunchOp) => boolean) => {
  const i = plan.ops.findIndex(pred);
  assert.ok(i >= 0, 'operation not in the plan');
  return i;
};
const find = <K extends LaunchOp['op']>(plan: LaunchPlan, op: K, pred: (o: Extract<LaunchOp, { op: K }>) => boolean = () => true) =>
  plan.ops.filter((o): o is Extract<LaunchOp, { op: K }> => o.op === op).filter(pred);
const mountAt = (plan: LaunchPlan, target: string) => find(plan, 'mount', (o) => o.target === target)[0];
const caps = (plan: LaunchPlan) => find(plan, 'capabilities')[0];

function throwsInvalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BerthError, String(e));
    assert.equal(e.code, ErrorCode.InvalidArgument);
    assert.match(e.message, re);
    return true;
  });
}

describe('launch plan: order of operations', () => {
  const plan = buildLaunchPlan(spec());

  it('starts private, mounts the rootfs, and ends with identity, capabilities, no-new-privs, close-fds, exec', () => {
    const n = names(plan);
    assert.equal(n[0], 'mount-private');
    assert.equal(n[1], 'overlay');
    assert.deepEqual(n.slice(-6), ['chdir', 'identity', 'capabilities', 'no-new-privs', 'close-fds', 'exec']);
    assert.equal(n.filter((x) => x === 'pivot-root').length, 1);
  });

  it('mounts /proc, /dev, /sys after the rootfs and before pivot_root; masks after it', () => {
    const overlay = index(plan, (o) => o.op === 'overlay');
    const pivot = index(plan, (o) => o.op === 'pivot-root');
    for (const t of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']) {
      const i = index(plan, (o) => o.op === 'mount' && o.target === t);
      assert.ok(i > overlay && i < pivot, `${t} at ${i}, overlay ${overlay}, pivot ${pivot}`);
    }
    assert.ok(index(plan, (o) => o.op === 'mount' && o.target === '/dev') < index(plan, (o) => o.op === 'mknod'));
    assert.ok(index(plan, (o) => o.op === 'mknod') < index(plan, (o) => o.op === 'mount' && o.target === '/dev/pts'));
    for (const o of plan.ops) if (o.op === 'mask' || o.op === 'readonly') assert.ok(plan.ops.indexOf(o) > pivot);
    assert.ok(index(plan, (o) => o.op === 'sethostname') < pivot);
    assert.ok(index(plan, (o) => o.op === 'chdir') > pivot);
  });

  it('creates every namespace but the user one, and brings loopback up', () => {
    assert.deepEqual(plan.namespaces, ['mount', 'pid', 'uts', 'ipc', 'net', 'cgroup']);
    assert.equal(plan.userNamespace, undefined);
    assert.equal(find(plan, 'loopback-up').length, 1);
  });
});

describe('launch plan: filesystems', () => {
  it('passes the layers top first with upper and work dirs, attached at the mount point', () => {
    const o = find(buildLaunchPlan(spec()), 'overlay')[0];
    assert.deepEqual(o.lowerDirs, ['/s/layers/top', '/s/layers/base']);
    assert.equal(o.upperDir, '/s/c1/upper');
    assert.equal(o.workDir, '/s/c1/work');
    assert.equal(o.target, '/s/c1/rootfs');
  });

  it('mounts the standard filesystems with the usual attributes and options', () => {
    const plan = buildLaunchPlan(spec());
    assert.deepEqual(mountAt(plan, '/proc'), {
      op: 'mount',
      fstype: 'proc',
      target: '/proc',
      attrs: ['nosuid', 'noexec', 'nodev'],
      options: [],
    });
    assert.deepEqual(mountAt(plan, '/dev').options, ['mode=755', 'size=65536k']);
    assert.ok(mountAt(plan, '/dev').attrs.includes('nosuid'));
    assert.deepEqual(mountAt(plan, '/dev/pts').options, ['newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    assert.equal(mountAt(plan, '/dev/shm').options[0], 'mode=1777');
    assert.equal(mountAt(plan, '/dev/mqueue').fstype, 'mqueue');
    assert.equal(mountAt(plan, '/sys').fstype, 'sysfs');
    assert.ok(mountAt(plan, '/sys').attrs.includes('ro'));
  });

  it('makes the six device nodes 0666 and the /dev links', () => {
    const plan = buildLaunchPlan(spec());
    assert.deepEqual(
      find(plan, 'mknod').map((o) => [o.path, o.mode, o.major, o.minor]),
      [
        ['/dev/null', 0o666, 1, 3],
        ['/dev/zero', 0o666, 1, 5],
        ['/dev/full', 0o666, 1, 7],
        ['/dev/random', 0o666, 1, 8],
        ['/dev/urandom', 0o666, 1, 9],
        ['/dev/tty', 0o666, 5, 0],
      ],
    );
    const links = Object.fromEntries(find(plan, 'symlink').map((o) => [o.path, o.linkTarget]));
    assert.deepEqual(links, {
      '/dev/fd': '/proc/self/fd',
      '/dev/stdin': '/proc/self/fd/0',
      '/dev/stdout': '/proc/self/fd/1',
      '/dev/stderr': '/proc/self/fd/2',
      '/dev/ptmx': 'pts/ptmx',
    });
  });

  it("masks Docker's paths and makes its read-only paths read-only", () => {
    const plan = buildLaunchPlan(spec());
    assert.deepEqual(
      find(plan, 'mask').map((o) => o.path),
      MASKED_PATHS,
    );
    assert.deepEqual(
      find(plan, 'readonly').map((o) => o.path),
      READONLY_PATHS,
    );
    assert.ok(MASKED_PATHS.includes('/proc/kcore') && READONLY_PATHS.includes('/proc/sys'));
  });

  it('privileged: no masked or read-only paths, /sys read-write', () => {
    const plan = buildLaunchPlan(spec({ privileged: true }));
    assert.equal(find(plan, 'mask').length, 0);
    assert.equal(find(plan, 'readonly').length, 0);
    assert.ok(!mountAt(plan, '/sys').attrs.includes('ro'));
  });

  it('binds user mounts after the /etc files, parents before children, ro when asked, targets normalised', () => {
    const plan = buildLaunchPlan(
      spec({
        etcFiles: { hosts: '/s/c1/hosts', hostname: '/s/c1/hostname', resolvConf: '/s/c1/resolv.conf' },
        mounts: [
          { source: '/h/b', target: '/data/sub/', readOnly: true },
          { source: '/h/a', target: '/data' },
          { source: '/h/c', target: '/./x//y' },
        ],
      }),
    );
    const binds = find(plan, 'bind').map((o) => [o.source, o.target, o.attrs]);
    assert.deepEqual(binds, [
      ['/s/c1/hosts', '/etc/hosts', ['rec']],
      ['/s/c1/hostname', '/etc/hostname', ['rec']],
      ['/s/c1/resolv.conf', '/etc/resolv.conf', ['rec']],
      ['/h/a', '/data', ['rec']],
      ['/h/b', '/data/sub', ['rec', 'ro']],
      ['/h/c', '/x/y', ['rec']],
    ]);
    assert.ok(index(plan, (o) => o.op === 'bind') > index(plan, (o) => o.op === 'mount' && o.target === '/sys'));
    assert.ok(index(plan, (o) => o.op === 'bind' && o.target === '/data/sub') < index(plan, (o) => o.op === 'pivot-root'));
  });

  it('refuses relative paths, ".." and NUL', () => {
    throwsInvalid(
      () => buildLaunchPlan(spec({ mounts: [{ source: '/h', target: 'data' }] })),
      /bind target "data" is not an absolute path/,
    );
    throwsInvalid(() => buildLaunchPlan(spec({ mounts: [{ source: '/h', target: '/a/../../etc' }] })), /contains "\.\."/);
    throwsInvalid(() => buildLaunchPlan(spec({ mounts: [{ source: 'h', target: '/a' }] })), /bind source "h"/);
    throwsInvalid(() => buildLaunchPlan(spec({ process: { ...spec().process, cwd: 'tmp' } })), /working directory "tmp"/);
    throwsInvalid(() => buildLaunchPlan(spec({ process: { ...spec().process, args: ['a\0b'] } })), /NUL/);
    throwsInvalid(() => buildLaunchPlan(spec({ process: { ...spec().process, env: ['NOEQUALS'] } })), /has no "="/);
    throwsInvalid(() => buildLaunchPlan(spec({ hostname: 'bad host' })), /hostname/);
    throwsInvalid(() => buildLaunchPlan(spec({ rootfs: { ...spec().rootfs, lowerDirs: [] } })), /no layers/);
  });

  it('host network: no network namespace, no loopback setup', () => {
    const plan = buildLaunchPlan(spec({ network: 'host' }));
    assert.ok(!plan.namespaces.includes('net'));
    assert.equal(find(plan, 'loopback-up').length, 0);
  });
});

describe('launch plan: process', () => {
  it('chdirs to the normalised working directory and sets the numeric user, umask 022 by default', () => {
    const plan = buildLaunchPlan(
      spec({ process: { args: ['id'], env: [], cwd: '/home/app/', user: { uid: 1000, gid: 1000, additionalGids: [5, 20] } } }),
    );
    assert.deepEqual(find(plan, 'chdir')[0], { op: 'chdir', path: '/home/app' });
    assert.deepEqual(find(plan, 'identity')[0], { op: 'identity', uid: 1000, gid: 1000, umask: 0o022, additionalGids: [5, 20] });
    assert.deepEqual(find(plan, 'exec')[0], { op: 'exec', path: 'id', args: ['id'], env: [] });
  });

  it('sets no_new_privs unless asked not to', () => {
    assert.equal(find(buildLaunchPlan(spec()), 'no-new-privs').length, 1);
    assert.equal(find(buildLaunchPlan(spec({ noNewPrivileges: false })), 'no-new-privs').length, 0);
  });

  it('passes the cgroup.procs files through', () => {
    assert.deepEqual(buildLaunchPlan(spec({ cgroupProcs: ['/sys/fs/cgroup/pids/berth/c1/cgroup.procs'] })).cgroupProcs, [
      '/sys/fs/cgroup/pids/berth/c1/cgroup.procs',
    ]);
  });
});

describe('launch plan: capabilities', () => {
  it("defaults to Docker's 14 (mask a80425fb) in bounding, effective and permitted; nothing inheritable or ambient", () => {
    const c = caps(buildLaunchPlan(spec()));
    assert.equal(c.bounding.length, 14);
    assert.deepEqual([...c.bounding].sort(), [...DEFAULT_CAPABILITIES].sort());
    assert.equal(capabilityMask(c.effective), 0xa80425fbn);
    assert.deepEqual(c.permitted, c.bounding);
    assert.deepEqual(c.inheritable, []);
    assert.deepEqual(c.ambient, []);
  });

  it('cap-add and cap-drop, in any case and with or without CAP_', () => {
    const c = caps(buildLaunchPlan(spec({ capAdd: ['net_admin', 'CAP_SYS_PTRACE'], capDrop: ['CHOWN', 'cap_net_raw'] })));
    assert.ok(c.effective.includes('NET_ADMIN') && c.effective.includes('SYS_PTRACE'));
    assert.ok(!c.effective.includes('CHOWN') && !c.effective.includes('NET_RAW'));
    assert.equal(c.effective.length, 14);
  });

  it('drop ALL keeps only the adds; add ALL keeps all but the drops; an add beats a drop', () => {
    assert.deepEqual(resolveCapabilities({ capDrop: ['ALL'], capAdd: ['KILL', 'CHOWN'] }), ['CHOWN', 'KILL']);
    const all = resolveCapabilities({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] });
    assert.equal(all.length, CAPABILITIES.length - 1);
    assert.ok(!all.includes('SYS_ADMIN'));
    assert.ok(resolveCapabilities({ capAdd: ['KILL'], capDrop: ['KILL'] }).includes('KILL'));
  });

  it('privileged keeps every capability whatever the adds and drops', () => {
    const c = caps(buildLaunchPlan(spec({ privileged: true, capDrop: ['ALL'] })));
    assert.deepEqual(c.bounding, [...CAPABILITIES]);
  });

  it('ambient capabilities only for a non-root user who asks', () => {
    const user = { args: ['id'], env: [], cwd: '/', user: { uid: 1000, gid: 1000 } };
    assert.deepEqual(caps(buildLaunchPlan(spec({ process: user }))).ambient, []);
    const c = caps(buildLaunchPlan(spec({ process: user, ambientCapabilities: true })));
    assert.deepEqual(c.ambient, c.effective);
    assert.deepEqual(c.inheritable, c.effective);
    assert.deepEqual(caps(buildLaunchPlan(spec({ ambientCapabilities: true }))).ambient, []);
  });

  it('refuses unknown capabilities', () => {
    throwsInvalid(() => buildLaunchPlan(spec({ capAdd: ['SYS_EVERYTHING'] })), /unknown capability "SYS_EVERYTHING"/);
  });
});

describe('launch plan: user namespace', () => {
  const userns = { uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }], gidMap: [{ containerId: 0, hostId: 100000, size: 65536 }] };

  it('creates the user namespace first, with the maps and setgroups allowed', () => {
    const plan = buildLaunchPlan(spec({ userNamespace: userns }));
    assert.equal(plan.namespaces[0], 'user');
    assert.deepEqual(plan.userNamespace, { ...userns, setgroups: 'allow' });
    assert.equal(buildLaunchPlan(spec({ userNamespace: { ...userns, denySetgroups: true } })).userNamespace?.setgroups, 'deny');
  });

  it("binds the host's device nodes instead of mknod", () => {
    const plan = buildLaunchPlan(spec({ userNamespace: userns }));
    assert.equal(find(plan, 'mknod').length, 0);
    assert.deepEqual(
      find(plan, 'bind', (o) => o.target.startsWith('/dev/')).map((o) => o.source),
      ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'],
    );
  });

  it('leaves gid=5 off /dev/pts when gid 5 is not mapped; binds /sys with the host network', () => {
    const one = { uidMap: [{ containerId: 0, hostId: 100000, size: 1 }], gidMap: [{ containerId: 0, hostId: 100000, size: 1 }] };
    const plan = buildLaunchPlan(spec({ userNamespace: one, network: 'host' }));
    assert.ok(!mountAt(plan, '/dev/pts').options.includes('gid=5'));
    assert.equal(mountAt(plan, '/sys'), undefined);
    assert.deepEqual(find(plan, 'bind', (o) => o.target === '/sys')[0].attrs, ['nosuid', 'noexec', 'nodev', 'ro', 'rec']);
  });

  it('refuses maps without root or without the user', () => {
    throwsInvalid(
      () => buildLaunchPlan(spec({ userNamespace: { uidMap: [{ containerId: 1, hostId: 100000, size: 10 }], gidMap: userns.gidMap } })),
      /must map container uid and gid 0/,
    );
    throwsInvalid(
      () =>
        buildLaunchPlan(
          spec({
            userNamespace: { uidMap: [{ containerId: 0, hostId: 100000, size: 10 }], gidMap: userns.gidMap },
            process: { ...spec().process, user: { uid: 1000, gid: 0 } },
          }),
        ),
      /uid 1000 is not mapped/,
    );
    throwsInvalid(() => buildLaunchPlan(spec({ userNamespace: { uidMap: [], gidMap: userns.gidMap } })), /uid map needs 1 to 340 entries/);
  });
});

// A reader of the wire format, independent of the encoder, for the tests.
function decode(b: Buffer): { op: number; args: string[] }[] {
  assert.equal(b.subarray(0, 4).toString('latin1'), 'BRTH');
  assert.equal(b.readUInt32LE(4), 1);
  const out: { op: number; args: string[] }[] = [];
  let at = 8;
  while (at < b.length) {
    const op = b.readUInt32LE(at);
    const n = b.readUInt32LE(at + 4);
    at += 8;
    const args: string[] = [];
    for (let i = 0; i < n; i++) {
      const len = b.readUInt32LE(at);
      args.push(b.subarray(at + 4, at + 4 + len).toString('utf8'));
      at += 4 + len;
    }
    out.push({ op, args });
  }
  return out;
}

describe('wire format', () => {
  it('header, config records, one record per operation, END last', () => {
    const plan = buildLaunchPlan(
      spec({
        userNamespace: {
          uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
          gidMap: [{ containerId: 0, hostId: 200000, size: 10 }],
        },
        cgroupProcs: ['/cg/a/cgroup.procs', '/cg/b/cgroup.procs'],
        process: { args: ['sh', '-c', 'echo ü'], env: ['A=1', 'B=2'], cwd: '/', user: { uid: 0, gid: 0 } },
      }),
    );
    const recs = decode(encodePlan(plan));
    assert.deepEqual(recs[0], { op: 1, args: plan.namespaces });
    assert.deepEqual(recs[1], { op: 2, args: ['0', '100000', '65536'] });
    assert.deepEqual(recs[2], { op: 3, args: ['0', '200000', '10'] });
    assert.deepEqual(recs[3], { op: 4, args: ['allow'] });
    assert.deepEqual(recs[4], { op: 5, args: ['/cg/a/cgroup.procs'] });
    assert.deepEqual(recs[5], { op: 5, args: ['/cg/b/cgroup.procs'] });
    assert.equal(recs.length, 6 + plan.ops.length + 1);
    assert.deepEqual(recs.at(-1), { op: 0, args: [] });
    assert.deepEqual(recs.at(-2), { op: 26, args: ['sh', '3', 'sh', '-c', 'echo ü', 'A=1', 'B=2'] });
    assert.deepEqual(recs[6], { op: 10, args: [] });
    assert.deepEqual(recs[7], { op: 11, args: ['/s/c1/rootfs', '/s/c1/upper', '/s/c1/work', '-', '/s/layers/top', '/s/layers/base'] });
    const capRec = recs.find((r) => r.op === 23)!;
    assert.deepEqual(capRec.args, [String(0xa80425fb), String(0xa80425fb), String(0xa80425fb), '0', '0']);
    const proc = recs.find((r) => r.op === 12)!;
    assert.deepEqual(proc.args, ['proc', '/proc', 'nosuid,noexec,nodev']);
    assert.deepEqual(recs.find((r) => r.op === 13)!.args, ['/dev/null', '/dev/null', 'nosuid,noexec']);
    const mk = decode(encodePlan(buildLaunchPlan(spec()))).find((r) => r.op === 14)!;
    assert.deepEqual(mk.args, ['/dev/null', String(0o666), '1', '3']);
  });
});

describe('status lines', () => {
  it('parses started, exited, killed and failed lines, unescaping the path', () => {
    assert.deepEqual(parseStatusLine('started 1234'), { kind: 'started', pid: 1234 });
    assert.deepEqual(parseStatusLine('exited 3'), { kind: 'exited', code: 3 });
    assert.deepEqual(parseStatusLine('killed SIGKILL'), { kind: 'killed', signal: 'SIGKILL' });
    assert.deepEqual(parseStatusLine('failed 4 mount EPERM fsconfig /a\\x20b\\x3ac: mount "proc" on "/a b:c"'), {
      kind: 'failed',
      step: 4,
      op: 'mount',
      errno: 'EPERM',
      syscall: 'fsconfig',
      path: '/a b:c',
      description: 'mount "proc" on "/a b:c"',
    });
    assert.equal(parseStatusLine('hello'), null);
  });

  it('turns a failure into a crun-like BerthError', () => {
    const f = parseStatusLine('failed 3 mount EPERM fsconfig /proc: mount "proc" on "/proc"');
    assert.ok(f && f.kind === 'failed');
    const e = failureError(f);
    assert.equal(e.code, ErrorCode.System);
    assert.equal(e.message, 'start container: mount "proc" on "/proc": EPERM');
    assert.deepEqual(e.data, { operation: 'start container', syscall: 'fsconfig', path: '/proc', errno: 'EPERM' });
    const x = parseStatusLine('failed 40 exec ENOENT execve nosuch: exec "nosuch"');
    assert.ok(x && x.kind === 'failed');
    assert.equal(failureError(x).code, ErrorCode.InvalidArgument);
    assert.match(failureError(x).message, /^start container: exec "nosuch": ENOENT/);
  });
});

describe('launch plan: cgroupfs at /sys/fs/cgroup', () => {
  it('v2: one read-only cgroup2 mount after /sys', () => {
    const plan = buildLaunchPlan(spec({ cgroupfs: { version: 2 } }));
    const m = mountAt(plan, '/sys/fs/cgroup');
    assert.deepEqual([m.fstype, m.attrs.includes('ro')], ['cgroup2', true]);
    assert.ok(index(plan, (o) => o === m) > index(plan, (o) => o.op === 'mount' && o.target === '/sys'));
    assert.equal(
      mountAt(buildLaunchPlan(spec({ cgroupfs: { version: 2 }, privileged: true })), '/sys/fs/cgroup').attrs.includes('ro'),
      false,
    );
  });

  it('v1: a tmpfs, one read-only mount per hierarchy with its co-mounted controllers, links, then made read-only', () => {
    const plan = buildLaunchPlan(spec({ cgroupfs: { version: 1, hierarchies: [['memory'], ['cpu', 'cpuacct']] } }));
    assert.equal(mountAt(plan, '/sys/fs/cgroup').fstype, 'tmpfs');
    assert.deepEqual(mountAt(plan, '/sys/fs/cgroup/memory').options, ['memory']);
    assert.deepEqual(mountAt(plan, '/sys/fs/cgroup/cpu,cpuacct').options, ['cpu', 'cpuacct']);
    assert.ok(mountAt(plan, '/sys/fs/cgroup/memory').attrs.includes('ro'));
    assert.deepEqual(
      find(plan, 'symlink', (o) => o.path.startsWith('/sys/fs/cgroup/')).map((o) => [o.path, o.linkTarget]),
      [
        ['/sys/fs/cgroup/cpu', 'cpu,cpuacct'],
        ['/sys/fs/cgroup/cpuacct', 'cpu,cpuacct'],
      ],
    );
    assert.ok(index(plan, (o) => o.op === 'readonly' && o.path === '/sys/fs/cgroup') > index(plan, (o) => o.op === 'pivot-root'));
    throwsInvalid(() => buildLaunchPlan(spec({ cgroupfs: { version: 1, hierarchies: [['memory,name=x']] } })), /controller names/);
  });

  it('none with a user namespace', () => {
    const userNamespace = {
      uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
      gidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
    };
    const plan = buildLaunchPlan(spec({ cgroupfs: { version: 2 }, userNamespace }));
    assert.equal(mountAt(plan, '/sys/fs/cgroup'), undefined);
  });
});

describe('launch plan: network namespaces', () => {
  it('private: a fresh namespace with loopback-up; host: none of its own', () => {
    const fresh = buildLaunchPlan(spec());
    assert.ok(fresh.namespaces.includes('net'));
    assert.equal(fresh.netns, undefined);
    assert.equal(find(fresh, 'loopback-up').length, 1);
    const host = buildLaunchPlan(spec({ network: 'host' }));
    assert.ok(!host.namespaces.includes('net'));
    assert.equal(find(host, 'loopback-up').length, 0);
    assert.equal(host.netns, undefined);
  });

  it('netns: joins the prepared namespace instead (no "net", no loopback-up), encoded as record 7 before the operations', () => {
    const plan = buildLaunchPlan(spec({ netns: '/run/netns/berth-0123456789ab' }));
    assert.equal(plan.netns, '/run/netns/berth-0123456789ab');
    assert.ok(!plan.namespaces.includes('net'));
    assert.deepEqual(plan.namespaces, ['mount', 'pid', 'uts', 'ipc', 'cgroup']);
    assert.equal(find(plan, 'loopback-up').length, 0);
    assert.equal(mountAt(plan, '/sys').fstype, 'sysfs', 'sysfs of the joined namespace (the helper is in it)');
    const recs = decode(encodePlan(plan));
    const at = recs.findIndex((r) => r.op === 7);
    assert.deepEqual(recs[at], { op: 7, args: ['/run/netns/berth-0123456789ab'] });
    assert.ok(at < recs.findIndex((r) => r.op === 10), 'a config record, before the first operation');
    assert.equal(recs.filter((r) => r.op === 7).length, 1);
  });

  it('netns is ignored with the host network, and must be an absolute host path', () => {
    assert.equal(buildLaunchPlan(spec({ network: 'host', netns: '/run/netns/x' })).netns, undefined);
    throwsInvalid(() => buildLaunchPlan(spec({ netns: 'run/netns/x' })), /network namespace "run\/netns\/x" is not an absolute host path/);
  });

  it("a user namespace with a joined network namespace binds the host's /sys (sysfs needs the namespace owner)", () => {
    const userNamespace = {
      uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
      gidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
    };
    const plan = buildLaunchPlan(spec({ userNamespace, netns: '/run/netns/berth-x' }));
    assert.equal(mountAt(plan, '/sys'), undefined);
    assert.equal(find(plan, 'bind', (o) => o.target === '/sys').length, 1);
  });
});
