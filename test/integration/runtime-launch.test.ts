/**
 * System tests of the launch path: real containers on the real kernel, started by
 * native/helper/berth-helper from plans built by agent/runtime/plan.ts. The rootfs is the busybox
 * test image's layer unpacked by Berth's own LayerUnpacker; each container gets a fresh upper and
 * work dir. Busybox commands inside report what the container sees. Every container is waited
 * for (or killed by PID), every temp dir removed, and the host's mount table is compared before
 * and after.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BerthError, ErrorCode } from '../../agent/errors';
import { LayerUnpacker } from '../../agent/store/unpack';
import { encodePlan, launch, type ExitStatus, type LaunchedContainer } from '../../agent/runtime/helper';
import { buildLaunchPlan, capabilityMask, DEFAULT_CAPABILITIES, resolveCapabilities } from '../../agent/runtime/plan';
import type { ContainerSpec } from '../../agent/runtime/spec';
import { helperPath } from '../../native';
import { busyboxLayer } from '../support/images';
import { makeTempDir, removeTempDir, requireTools } from '../support/tmp';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const RUN_TIMEOUT_MS = 10_000;

let work: string;
let busybox: string; // the unpacked busybox layer
let hostile: string; // a layer above it with /evil -> /etc and /evil2 -> ../../../../etc
let seq = 0;
const live = new Set<LaunchedContainer>();
let mountsBefore: string;

/** The mount table without the per-line ids that change when nothing else does. */
/**
 * The host's mount table, without /run/netns: agents of test files running at the same time
 * mount their containers' network namespaces there (`ip netns add`), on purpose.
 */
function hostMounts(): string {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => !l.split(' ')[4]?.startsWith('/run/netns'))
    .join('\n');
}

interface Run {
  status: ExitStatus;
  stdout: string;
  stderr: string;
  upper: string;
  container: LaunchedContainer;
}

type SpecOverrides = Partial<Omit<ContainerSpec, 'process'>> & { process?: Partial<ContainerSpec['process']>; layers?: string[] };

/** A fresh upper/work/mount point, and the spec for `args` in the busybox rootfs. */
function makeSpec(args: string[], over: SpecOverrides = {}): { spec: ContainerSpec; upper: string } {
  const dir = join(work, `c${++seq}`);
  for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, d), { recursive: true });
  const { process: proc, layers, ...rest } = over;
  const spec: ContainerSpec = {
    id: `c${seq}`,
    hostname: 'box',
    rootfs: {
      lowerDirs: layers ?? [hostile, busybox],
      upperDir: join(dir, 'upper'),
      workDir: join(dir, 'work'),
      mountPoint: join(dir, 'rootfs'),
    },
    process: { args, env: [PATH_ENV], cwd: '/', user: { uid: 0, gid: 0 }, ...proc },
    ...rest,
  };
  return { spec, upper: join(dir, 'upper') };
}

async function start(
  args: string[],
  over: SpecOverrides = {},
): Promise<{ c: LaunchedContainer; upper: string; out: () => string; err: () => string }> {
  const { spec, upper } = makeSpec(args, over);
  const c = await launch(buildLaunchPlan(spec), ['ignore', 'pipe', 'pipe'], { timeoutMs: RUN_TIMEOUT_MS });
  live.add(c);
  void c.exited.then(() => live.delete(c));
  let stdout = '';
  let stderr = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return { c, upper, out: () => stdout, err: () => stderr };
}

/** Waits for the container, killing it (by PID) if it outlives RUN_TIMEOUT_MS. */
async function waitFor(c: LaunchedContainer, ms = RUN_TIMEOUT_MS): Promise<ExitStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const res = await Promise.race([c.exited, timeout]);
  clearTimeout(timer);
  if (res === 'timeout') {
    c.kill('SIGKILL');
    await c.exited;
    assert.fail(`container ${c.pid} did not exit within ${ms} ms`);
  }
  return res;
}

async function run(args: string[], over: SpecOverrides = {}): Promise<Run> {
  const s = await start(args, over);
  const status = await waitFor(s.c);
  await new Promise((r) => setImmediate(r)); // let the last stdout chunks arrive
  return { status, stdout: s.out(), stderr: s.err(), upper: s.upper, container: s.c };
}

async function sh(script: string, over: SpecOverrides = {}): Promise<Run> {
  return run(['sh', '-c', script], over);
}

async function launchFails(args: string[], over: SpecOverrides = {}): Promise<BerthError> {
  try {
    const s = await start(args, over);
    await waitFor(s.c);
  } catch (e) {
    assert.ok(e instanceof BerthError, String(e));
    return e;
  }
  assert.fail('expected the launch to fail');
}

function statusField(status: string, field: string): string {
  const m = new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(status);
  assert.ok(m, `no ${field} in ${status}`);
  return m[1];
}

const hex16 = (m: bigint) => m.toString(16).padStart(16, '0');

before(async () => {
  requireTools(['tar']);
  mountsBefore = hostMounts();
  work = await makeTempDir('berth-runtime-');
  busybox = join(work, 'layers', 'busybox');
  mkdirSync(busybox, { recursive: true });
  const u = new LayerUnpacker(busybox);
  await u.write((await busyboxLayer('none')).tar);
  await u.finish();
  // A user namespace's root must be able to reach the layers (mkdtemp made `work` 0700).
  chmodSync(work, 0o755);
  hostile = join(work, 'layers', 'hostile');
  mkdirSync(hostile, { recursive: true });
  symlinkSync('/etc', join(hostile, 'evil'));
  symlinkSync('../../../../etc', join(hostile, 'evil2'));
});

after(async () => {
  for (const c of live) {
    c.kill('SIGKILL');
    await Promise.race([c.exited, new Promise((r) => setTimeout(r, 2000))]);
  }
  if (work) await removeTempDir(work);
});

describe('runtime launch: isolation', () => {
  it('runs as pid 1 with the spec hostname, loopback only and up', async () => {
    const r = await sh('echo $$; hostname; ls /sys/class/net; cat /sys/class/net/lo/flags', { hostname: 'box-7' });
    assert.equal(r.status.code, 0, r.stderr);
    assert.equal(r.stdout, '1\nbox-7\nlo\n0x9\n');
  });

  it('has /proc, a tmpfs /dev with the device nodes and links, /dev/pts, /dev/shm, /dev/mqueue', async () => {
    const r = await sh(
      'ls -ln /dev; echo > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; ' +
        'for d in /dev/pts /dev/shm /dev/mqueue; do test -d $d && echo dir $d; done; ' +
        'echo --; cat /proc/self/mountinfo',
    );
    assert.equal(r.status.code, 0, r.stderr);
    for (const [name, maj, min] of [
      ['null', 1, 3],
      ['zero', 1, 5],
      ['full', 1, 7],
      ['random', 1, 8],
      ['urandom', 1, 9],
      ['tty', 5, 0],
    ] as const) {
      assert.match(r.stdout, new RegExp(`^crw-rw-rw-\\s+1 0\\s+0\\s+${maj},\\s+${min} .* ${name}$`, 'm'), name);
    }
    for (const [l, t] of [
      ['fd', '/proc/self/fd'],
      ['stdin', '/proc/self/fd/0'],
      ['stdout', '/proc/self/fd/1'],
      ['stderr', '/proc/self/fd/2'],
      ['ptmx', 'pts/ptmx'],
    ]) {
      assert.match(r.stdout, new RegExp(` ${l} -> ${t.replace(/\//g, '\\/')}$`, 'm'), l);
    }
    assert.match(r.stdout, /^null-ok$/m);
    assert.match(r.stdout, /^ 00 00 00 00$/m);
    assert.match(r.stdout, /^dir \/dev\/pts$/m);
    assert.match(r.stdout, /^dir \/dev\/shm$/m);
    assert.match(r.stdout, /^dir \/dev\/mqueue$/m);
    // mountinfo as "mount point, fs type, mount options, super options" lines
    const mounts = r.stdout
      .split('--\n')[1]
      .trim()
      .split('\n')
      .map((l) => {
        const [pre, post] = l.split(' - ');
        const f = pre.split(' ');
        const [fstype, , superOpts] = post.split(' ');
        return `${f[4]} ${fstype} ${f[5]} ${superOpts}`;
      })
      .join('\n');
    assert.match(mounts, /^\/proc proc rw,nosuid,nodev,noexec\S* rw$/m);
    assert.match(mounts, /^\/dev tmpfs rw,nosuid\S* rw,size=65536k,mode=755/m);
    assert.match(mounts, /^\/dev\/pts devpts rw,nosuid,noexec\S* rw,gid=5,mode=620,ptmxmode=666$/m);
    assert.match(mounts, /^\/dev\/shm tmpfs rw,nosuid,nodev,noexec\S* rw,size=65536k$/m);
    assert.match(mounts, /^\/dev\/mqueue mqueue rw,nosuid,nodev,noexec/m);
    assert.match(mounts, /^\/sys sysfs ro,nosuid,nodev,noexec/m);
    assert.match(mounts, /^\/ overlay rw\S* rw,lowerdir\+=/m);
  });

  it('hides the masked paths and makes the read-only ones read-only', async () => {
    const r = await sh(
      'cat /proc/kcore >/dev/null 2>&1 && echo kcore-readable; ' +
        'stat -c "%F %t,%T" /proc/keys /proc/timer_list 2>/dev/null; ' +
        'test -d /sys/firmware && ls -A /sys/firmware | wc -l; touch /sys/firmware/x 2>/dev/null && echo fw-writable; ' +
        'echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys-writable; ' +
        'echo h > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable; ' +
        'grep -E " /proc/(sys|bus|fs|irq) " /proc/self/mountinfo | cut -d" " -f5,6; echo done',
    );
    assert.equal(r.status.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /readable|writable/);
    if (existsSync('/proc/keys')) assert.match(r.stdout, /^character special file 1,3$/m);
    if (existsSync('/sys/firmware')) assert.match(r.stdout, /^0$/m);
    for (const p of ['sys', 'bus', 'fs', 'irq']) if (existsSync(`/proc/${p}`)) assert.match(r.stdout, new RegExp(`^/proc/${p} ro,`, 'm'));
    assert.match(r.stdout, /done\n$/);
  });

  it('closes every fd above 2 before exec', async () => {
    const r = await run(['ls', '/proc/1/fd']);
    assert.equal(r.status.code, 0, r.stderr);
    const fds = r.stdout.trim().split(/\s+/).map(Number);
    // ls is pid 1 here: 0 1 2, and at most the directory it opened to list.
    assert.deepEqual(fds.slice(0, 3), [0, 1, 2]);
    assert.ok(fds.length <= 4, `fds: ${fds.join(' ')}`);
  });

  it('mounts only inside the container: the host mount table is unchanged while it runs', async () => {
    const s = await start(['sh', '-c', 'echo up; sleep 5']);
    while (!s.out().includes('up')) await new Promise((r) => setTimeout(r, 10));
    assert.equal(hostMounts(), mountsBefore);
    assert.deepEqual(readdirSync(join(work, `c${seq}`, 'rootfs')), []);
    s.c.kill('SIGKILL');
    await waitFor(s.c);
  });
});

describe('runtime launch: capabilities and privileges', () => {
  it("has Docker's 14 capabilities and no_new_privs", async () => {
    const r = await run(['cat', '/proc/self/status']);
    const mask = hex16(capabilityMask(DEFAULT_CAPABILITIES));
    assert.equal(mask, '00000000a80425fb');
    for (const f of ['CapEff', 'CapPrm', 'CapBnd']) assert.equal(statusField(r.stdout, f), mask, f);
    assert.equal(statusField(r.stdout, 'CapInh'), '0000000000000000');
    assert.equal(statusField(r.stdout, 'CapAmb'), '0000000000000000');
    assert.equal(statusField(r.stdout, 'NoNewPrivs'), '1');
  });

  it('honours cap-add and cap-drop', async () => {
    const over = { capAdd: ['NET_ADMIN', 'sys_ptrace'], capDrop: ['CHOWN', 'NET_RAW'] };
    const r = await run(['cat', '/proc/self/status'], over);
    assert.equal(statusField(r.stdout, 'CapEff'), hex16(capabilityMask(resolveCapabilities(over))));
    const none = await run(['cat', '/proc/self/status'], { capDrop: ['ALL'] });
    assert.equal(statusField(none.stdout, 'CapEff'), '0000000000000000');
    assert.equal(statusField(none.stdout, 'CapBnd'), '0000000000000000');
  });

  it('privileged: every capability the host has, /sys read-write, nothing masked', async () => {
    const host = readFileSync('/proc/self/status', 'utf8');
    const r = await sh(
      'cat /proc/self/status; grep " /sys " /proc/self/mountinfo | cut -d" " -f6; grep -c " /proc/keys " /proc/self/mountinfo',
      { privileged: true },
    );
    assert.equal(statusField(r.stdout, 'CapEff'), statusField(host, 'CapBnd'));
    assert.match(r.stdout, /^rw,/m);
    assert.match(r.stdout, /^0$/m);
  });

  it('runs as a non-root user with no effective capabilities, like Docker', async () => {
    const r = await sh('id -u; id -g; id -G; grep CapEff /proc/self/status; touch /root/x 2>/dev/null || echo denied', {
      process: { user: { uid: 1000, gid: 1000, additionalGids: [1000, 65534] } },
    });
    assert.equal(r.status.code, 0, r.stderr);
    assert.match(r.stdout, /^1000\n1000\n1000 65534\nCapEff:\s+0000000000000000\ndenied\n$/);
  });
});

describe('runtime launch: filesystem', () => {
  it('honours the working directory', async () => {
    const r = await run(['pwd'], { process: { cwd: '/home/app' } });
    assert.equal(r.stdout, '/home/app\n');
  });

  it('refuses a working directory missing from the rootfs, naming it', async () => {
    const e = await launchFails(['pwd'], { process: { cwd: '/no/such/dir' } });
    assert.equal(e.code, ErrorCode.InvalidArgument);
    assert.match(e.message, /^start container: chdir "\/no\/such\/dir": ENOENT/);
    assert.deepEqual(
      { syscall: e.data.syscall, path: e.data.path, errno: e.data.errno },
      { syscall: 'chdir', path: '/no/such/dir', errno: 'ENOENT' },
    );
  });

  it('writes go to the upper dir; the lower dirs are untouched', async () => {
    const r = await sh('echo hello > /hello.txt && rm /etc/group && mkdir -p /var/new && echo ok');
    assert.equal(r.stdout, 'ok\n', r.stderr);
    assert.equal(readFileSync(join(r.upper, 'hello.txt'), 'utf8'), 'hello\n');
    const wh = lstatSync(join(r.upper, 'etc', 'group'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'a whiteout for /etc/group');
    assert.ok(existsSync(join(busybox, 'etc', 'group')));
    assert.ok(!existsSync(join(busybox, 'hello.txt')) && !existsSync(join(hostile, 'hello.txt')));
    assert.ok(lstatSync(join(r.upper, 'var', 'new')).isDirectory());
  });

  it('bind mounts a host dir read-write and read-only', async () => {
    const src = join(work, 'vol');
    mkdirSync(src);
    writeFileSync(join(src, 'f'), 'from host\n');
    const r = await sh('cat /data/ro/f; touch /data/ro/x 2>/dev/null && echo ro-writable; echo from-ctr > /data/rw/g && echo wrote', {
      mounts: [
        { source: src, target: '/data/ro', readOnly: true },
        { source: src, target: '/data/rw' },
      ],
    });
    assert.equal(r.stdout, 'from host\nwrote\n', r.stderr);
    assert.equal(readFileSync(join(src, 'g'), 'utf8'), 'from-ctr\n');
    assert.ok(!existsSync(join(src, 'x')));
  });

  it('bind targets through symlinks in the image stay inside the rootfs', async () => {
    const src = join(work, 'evil-src');
    mkdirSync(src);
    writeFileSync(join(src, 'marker'), 'bound\n');
    const name = `berth-evil-${process.pid}-${seq}`;
    assert.ok(!existsSync(join('/etc', name)));
    const r = await sh(`cat /etc/${name}/marker; cat /etc/${name}2/marker`, {
      mounts: [
        { source: src, target: `/evil/${name}` },
        { source: src, target: `/evil2/${name}2` },
      ],
    });
    assert.equal(r.stdout, 'bound\nbound\n', r.stderr);
    assert.ok(!existsSync(join('/etc', name)) && !existsSync(join('/etc', `${name}2`)), "nothing was created in the host's /etc");
    assert.ok(lstatSync(join(r.upper, 'etc', name)).isDirectory(), 'the mount point was made in the container');
    assert.equal(hostMounts(), mountsBefore);
  });

  it('bind-mounts the per-container /etc files', async () => {
    const files = join(work, 'etcfiles');
    mkdirSync(files);
    writeFileSync(join(files, 'hosts'), '127.0.0.1 localhost box\n');
    writeFileSync(join(files, 'hostname'), 'box\n');
    writeFileSync(join(files, 'resolv.conf'), 'nameserver 192.0.2.53\n');
    const r = await sh('cat /etc/hosts /etc/hostname /etc/resolv.conf', {
      etcFiles: { hosts: join(files, 'hosts'), hostname: join(files, 'hostname'), resolvConf: join(files, 'resolv.conf') },
    });
    assert.equal(r.stdout, '127.0.0.1 localhost box\nbox\nnameserver 192.0.2.53\n', r.stderr);
  });

  it('refuses a bind source that does not exist', async () => {
    const e = await launchFails(['true'], { mounts: [{ source: join(work, 'missing'), target: '/m' }] });
    assert.equal(e.code, ErrorCode.InvalidArgument);
    assert.match(e.message, /open_tree|bind ".*missing" on "\/m": ENOENT/);
  });

  it('mounts an image with 64 layers', async () => {
    const layers: string[] = [];
    for (let i = 63; i >= 1; i--) {
      const d = join(work, 'many', String(i).padStart(2, '0'));
      mkdirSync(join(d, 'layers'), { recursive: true });
      writeFileSync(join(d, 'layers', `l${i}`), `${i}\n`);
      writeFileSync(join(d, 'top'), `${i}\n`);
      layers.push(d);
    }
    const r = await sh('ls /layers | wc -l; cat /top; grep -o "lowerdir+=" /proc/self/mountinfo | wc -l', { layers: [...layers, busybox] });
    assert.equal(r.stdout, '63\n63\n64\n', r.stderr);
  });
});

describe('runtime launch: process lifecycle', () => {
  it('propagates the exit code', async () => {
    assert.deepEqual((await sh('exit 3')).status, { code: 3 });
    assert.deepEqual((await run(['true'])).status, { code: 0 });
  });

  it('reports a kill by SIGKILL as 137', async () => {
    const s = await start(['sleep', '30']);
    s.c.kill('SIGKILL');
    assert.deepEqual(await waitFor(s.c), { code: 137, signal: 'SIGKILL' });
  });

  it('forwards SIGTERM sent to the helper to the container', async () => {
    const s = await start(['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done']);
    while (!s.out().includes('ready')) await new Promise((r) => setTimeout(r, 10));
    process.kill(s.c.helperPid, 'SIGTERM');
    assert.deepEqual(await waitFor(s.c), { code: 7 });
    assert.match(s.out(), /got-term/);
  });

  it('fails clearly for a command that does not exist', async () => {
    const e = await launchFails(['nosuch']);
    assert.equal(e.code, ErrorCode.InvalidArgument);
    assert.match(e.message, /^start container: exec "nosuch": ENOENT/);
    assert.equal(e.data.errno, 'ENOENT');
  });

  it('fails clearly for a file that is not executable', async () => {
    const e = await launchFails(['/etc/passwd']);
    assert.match(e.message, /^start container: exec "\/etc\/passwd": EACCES/);
  });
});

describe('runtime launch: cgroups', () => {
  it('joins the given cgroup before running anything, and sees it as its cgroup namespace root', async () => {
    // v1 pids controller on hybrid hosts (this one), the unified root on pure v2 hosts.
    const v1 = existsSync('/sys/fs/cgroup/pids/cgroup.procs');
    const base = v1 ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup';
    const cg = join(base, `berth-test-${process.pid}`);
    mkdirSync(cg);
    try {
      const s = await start(['sh', '-c', 'cat /proc/self/cgroup; echo ready; sleep 5'], { cgroupProcs: [join(cg, 'cgroup.procs')] });
      while (!s.out().includes('ready')) await new Promise((r) => setTimeout(r, 10));
      // the pid reported is the container's init as the host sees it
      assert.deepEqual(readFileSync(join(cg, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number), [s.c.pid]);
      assert.match(s.out(), v1 ? /^\d+:pids:\/$/m : /^0::\/$/m);
      s.c.kill('SIGKILL');
      await waitFor(s.c);
    } finally {
      rmdirSync(cg);
    }
  });
});

describe('runtime launch: user namespace', () => {
  it('maps uid 0 inside to 100000 outside', async () => {
    const { spec } = makeSpec([]);
    const upper = join(work, 'userns');
    for (const d of ['upper', 'work']) {
      mkdirSync(join(upper, d), { recursive: true });
      chownSync(join(upper, d), 100000, 100000);
    }
    // The helper attaches the idmapped layers on lowers/N beside the mount point.
    for (let i = 0; i < spec.rootfs.lowerDirs.length; i++)
      mkdirSync(join(spec.rootfs.mountPoint, '..', 'lowers', String(i)), { recursive: true });
    const r = await sh(
      'cat /proc/self/uid_map /proc/self/gid_map; id -u; echo hi > /w && echo wrote; grep CapEff /proc/self/status; ls -ln /dev/null; stat -c "image %u:%g" /bin /etc; echo x >> /etc/passwd && echo copied-up',
      {
        userNamespace: {
          uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
          gidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
        },
        rootfs: { ...spec.rootfs, upperDir: join(upper, 'upper'), workDir: join(upper, 'work') },
      },
    );
    assert.equal(r.status.code, 0, r.stderr);
    assert.match(r.stdout, /^\s+0\s+100000\s+65536\n\s+0\s+100000\s+65536\n0\n/);
    assert.match(r.stdout, /^CapEff:\s+00000000a80425fb$/m);
    // The upper dir belongs to the mapped root: what the container writes belongs to host uid
    // 100000. /dev/null is the host's node, bound (mknod is refused in a user namespace): nobody.
    assert.match(r.stdout, /^wrote$/m);
    assert.equal(lstatSync(join(upper, 'upper', 'w')).uid, 100000);
    assert.match(r.stdout, /^crw-rw-rw-\s+1 65534\s+65534\s+1,\s+3 /m);
    // The image's layers are idmapped with the container's maps: its files belong to its root,
    // and root may change them (copy-up into the upper dir, owned by host uid 100000).
    assert.match(r.stdout, /^image 0:0\nimage 0:0\ncopied-up$/m);
    assert.equal(lstatSync(join(upper, 'upper', 'etc', 'passwd')).uid, 100000);
  });
});

describe('runtime helper: plan validation', () => {
  function helper(input: Buffer): Promise<{ code: number | null; status: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(helperPath(), [], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
      let status = '';
      (child.stdio[4] as NodeJS.ReadableStream).setEncoding('utf8');
      (child.stdio[4] as NodeJS.ReadableStream).on('data', (d: string) => (status += d));
      (child.stdio[3] as NodeJS.WritableStream).on('error', () => {});
      (child.stdio[3] as NodeJS.WritableStream).end(input);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, status });
      });
    });
  }
  const good = () => encodePlan(buildLaunchPlan(makeSpec(['true']).spec));

  it('refuses a truncated plan, a NUL byte, an unknown op and trailing bytes before creating anything', async () => {
    const g = good();
    const cases: [Buffer, RegExp][] = [
      [g.subarray(0, g.length - 3), /the plan ends inside/],
      [Buffer.concat([g, Buffer.from([1])]), /bytes after the end record/],
      [Buffer.from('NOPE\x01\x00\x00\x00'), /does not start with "BRTH"/],
      [Buffer.concat([g.subarray(0, 8), Buffer.from([99, 0, 0, 0, 0, 0, 0, 0])]), /unknown op 99/],
    ];
    const nul = Buffer.from(g);
    const at = nul.indexOf('/proc');
    nul[at + 1] = 0;
    cases.push([nul, /contains a NUL byte/]);
    for (const [input, re] of cases) {
      const r = await helper(input);
      assert.equal(r.code, 125);
      assert.match(r.status, /^failed 0 plan EINVAL - -: /);
      assert.match(r.status, re);
    }
  });

  it('refuses a monitor in an exec plan, a second monitor and a bad stdin flag', async () => {
    const plan = buildLaunchPlan(makeSpec(['true']).spec);
    const withMonitor = (stdin: string, twice = false) => {
      const g = encodePlan({ ...plan, monitor: { dir: '/tmp', stdin: false } });
      // Rewrite the record's stdin argument ("0") in place, or append a second record after it.
      const rec = Buffer.concat([
        Buffer.from([8, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0]),
        Buffer.from('/tmp'),
        Buffer.from([stdin.length, 0, 0, 0]),
        Buffer.from(stdin),
      ]);
      const at = g.indexOf(Buffer.from([8, 0, 0, 0, 2, 0, 0, 0]));
      const end = at + 12 + 4 + 4 + 1;
      return Buffer.concat([g.subarray(0, at), rec, ...(twice ? [rec] : []), g.subarray(end)]);
    };
    const cases: [Buffer, RegExp][] = [
      [withMonitor('2'), /monitor: stdin flag 2 is neither 0 nor 1/],
      [withMonitor('1', true), /monitor given twice/],
      [
        encodePlan({
          namespaces: [],
          cgroupProcs: [],
          join: { pid: process.pid, namespaces: [] },
          monitor: { dir: '/tmp', stdin: false },
          ops: [{ op: 'exec', path: 'true', args: ['true'], env: [] }],
        }),
        /monitor is for containers/,
      ],
    ];
    for (const [input, re] of cases) {
      const r = await helper(input);
      assert.equal(r.code, 125);
      assert.match(r.status, re);
    }
  });

  it('refuses netns with a new "net" namespace or in an exec plan, and a file that is no network namespace', async () => {
    const plan = buildLaunchPlan(makeSpec(['true']).spec);
    assert.ok(plan.namespaces.includes('net'));
    const exec = {
      namespaces: [],
      cgroupProcs: [],
      join: { pid: process.pid, namespaces: [] },
      netns: '/run/netns/x',
      ops: [{ op: 'exec' as const, path: 'true', args: ['true'], env: [] }],
    };
    for (const input of [encodePlan({ ...plan, netns: '/run/netns/x' }), encodePlan(exec)]) {
      const r = await helper(input);
      assert.equal(r.code, 125);
      assert.match(r.status, /^failed 0 plan EINVAL - -: netns \(join a network namespace\) excludes join and a new "net" namespace/);
    }
    const e = await launchFails(['true'], { netns: '/etc/hostname' });
    assert.equal(e.code, ErrorCode.System);
    assert.match(e.message, /join the network namespace "\/etc\/hostname": EINVAL/);
    assert.equal(e.data.syscall, 'setns');
  });
});

describe('runtime launch: a prepared network namespace (netns)', () => {
  it('the process starts inside it, with its interfaces as they are (the helper sets nothing up)', async () => {
    const ns = `bt-plan-${process.pid}`;
    const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'ignore' });
    ip('netns', 'add', ns);
    try {
      ip('-n', ns, 'link', 'add', 'name', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1');
      const r = await sh('ls /sys/class/net; cat /sys/class/net/lo/flags', { netns: `/run/netns/${ns}` });
      assert.equal(r.status.code, 0, r.stderr);
      assert.equal(r.stdout, 'lo\nprobe0\nprobe1\n0x8\n', 'its own interfaces, and lo left down');
    } finally {
      ip('netns', 'del', ns);
    }
  });
});

describe('runtime launch: leaves nothing behind', () => {
  it('the host mount table is as it was', () => {
    assert.equal(hostMounts(), mountsBefore);
    assert.equal(live.size, 0);
  });
});
