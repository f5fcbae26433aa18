/**
 * Container spec -> launch plan: every decision about how a container is set up, as data.
 *
 * The plan is what the runtime helper (native/helper/) executes, one operation after the other, with no
 * policy of its own; so the plan is also the recording of the syscalls a launch makes, and unit
 * tests assert on it without root. native/helper/plan.c documents the wire form (helper.ts
 * encodes it), native/helper/launch.c the handshake.
 *
 * The order of operations, and why:
 *  1. mount-private   first, so no mount made later propagates to the host's mount table.
 *  2. overlay         the rootfs; every later container path is resolved inside it
 *                     (openat2 RESOLVE_IN_ROOT), so symlinks in the image cannot lead out of it.
 *  3. /proc, /dev (tmpfs, nodes, links, pts, shm, mqueue), /sys
 *                     while the host is still reachable: in a user namespace the device nodes
 *                     are binds of the host's, which pivot_root would make unreachable.
 *  4. /etc files, then user binds (parents before children, so /a is mounted before /a/b and
 *                     does not hide it); last among mounts so a user's volume wins over a default.
 *  5. loopback-up, sethostname   namespace setup that needs no filesystem (loopback-up only in a
 *                     fresh network namespace: a joined one, `netns`, comes configured).
 *  6. pivot-root      the host's tree is detached.
 *  7. mask, readonly  after pivot_root, so they act on the container's final view (the /dev/null
 *                     bound over masked files is the container's own) and a user bind cannot
 *                     shadow them.
 *  8. chdir           the working directory must exist: a missing one fails here, naming it.
 *  9. identity, capabilities   setgroups/setgid/setuid keep the permitted set (PR_SET_KEEPCAPS),
 *                     then the bounding set is dropped and capset sets the final sets; in this
 *                     order for a non-root user too, since dropping the bounding set needs
 *                     CAP_SETPCAP, which the helper raises again from the kept permitted set.
 * 10. no-new-privs, close-fds (close-on-exec above 2), exec.
 *
 * With a terminal, a `tty` op sits between identity and capabilities: the pty is opened from the
 * container's own devpts after pivot_root (so the process sees a /dev/pts/N of its own), by the
 * container's user (who then owns it, as after a login).
 *
 * An exec plan ({@link buildExecPlan}) enters a running container instead of making one: no
 * mounts, a `join` (the init's pid and the namespaces to enter through its pidfd) and the
 * container's cgroup.procs files, then the same process ops as a launch (chdir, identity, tty,
 * capabilities, no-new-privs, close-fds, exec), so a `berth exec` process is confined exactly
 * like the container's init.
 */
import { BerthError, ErrorCode } from '../errors';
import type { ContainerSpec, ExecSpec, IdMapping } from './spec';

export type Namespace = 'user' | 'mount' | 'pid' | 'uts' | 'ipc' | 'net' | 'cgroup';

/** Mount attributes as the helper knows them; "rec" applies them (and the bind) recursively. */
export type MountAttr = 'ro' | 'nosuid' | 'nodev' | 'noexec' | 'strictatime' | 'noatime' | 'rec';

export type LaunchOp =
  | { op: 'mount-private' }
  | { op: 'overlay'; target: string; upperDir: string; workDir: string; options: string[]; lowerDirs: string[] }
  | { op: 'mount'; fstype: string; target: string; attrs: MountAttr[]; options: string[] }
  /** `idmap`: an idmapped mount (files of `hostId` show as `containerId`; never with 'rec'). */
  | { op: 'bind'; source: string; target: string; attrs: MountAttr[]; idmap?: { uidMap: IdMapping[]; gidMap: IdMapping[] } }
  | { op: 'mknod'; path: string; mode: number; major: number; minor: number }
  | { op: 'symlink'; linkTarget: string; path: string }
  | { op: 'sethostname'; hostname: string }
  | { op: 'loopback-up' }
  | { op: 'pivot-root' }
  | { op: 'mask'; path: string }
  | { op: 'readonly'; path: string }
  | { op: 'chdir'; path: string }
  | { op: 'identity'; uid: number; gid: number; umask: number; additionalGids: number[] }
  | {
      op: 'capabilities';
      bounding: Capability[];
      effective: Capability[];
      permitted: Capability[];
      inheritable: Capability[];
      ambient: Capability[];
    }
  | { op: 'no-new-privs' }
  | { op: 'close-fds' }
  | { op: 'tty'; rows: number; cols: number }
  /** Instead of exec: the set-up process sleeps until killed (its /proc/PID/root is the rootfs). */
  | { op: 'hold' }
  | { op: 'exec'; path: string; args: string[]; env: string[] };

export interface LaunchPlan {
  /** Namespaces the container gets (cgroup is created after the cgroups are joined). */
  namespaces: Namespace[];
  /** uid/gid maps when `namespaces` has "user". */
  userNamespace?: { uidMap: IdMapping[]; gidMap: IdMapping[]; setgroups: 'allow' | 'deny' };
  /** cgroup.procs files the helper writes the container's pid to before releasing it. */
  cgroupProcs: string[];
  /**
   * Exec plans only (then `namespaces` is empty): enter the namespaces of the running process
   * `pid` (the container's init) instead of creating any, after joining `cgroupProcs`.
   */
  join?: { pid: number; namespaces: Namespace[] };
  /**
   * Launch plans only: the network namespace file to join (setns) before clone; then `namespaces`
   * has no "net" and there is no loopback-up (the namespace was configured by its maker).
   */
  netns?: string;
  /**
   * Launch plans only: the helper stays as a monitor that outlives the agent, reachable on
   * `dir/monitor.sock` (see native/helper/monitor-socket.c and monitor.ts);
   * `stdin` gives the container a stdin the agent can write to.
   */
  monitor?: { dir: string; stdin: boolean };
  /** Launch plans only: the host path of the init that runs as pid 1 (sealed, see native/helper/sealed.c). */
  init?: string;
  ops: LaunchOp[];
}

/** Linux capabilities by number (include/uapi/linux/capability.h). */
export const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** Docker's default set, in Docker's order. */
export const DEFAULT_CAPABILITIES: readonly Capability[] = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

/** Docker's masked paths: files get /dev/null bound over them, directories an empty read-only tmpfs. */
export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Docker's read-only paths. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The device nodes every container gets: name, major, minor (all character devices, 0666). */
export const DEVICES: readonly [string, number, number][] = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

const DEV_LINKS: readonly [string, string][] = [
  ['/dev/fd', '/proc/self/fd'],
  ['/dev/stdin', '/proc/self/fd/0'],
  ['/dev/stdout', '/proc/self/fd/1'],
  ['/dev/stderr', '/proc/self/fd/2'],
  ['/dev/ptmx', 'pts/ptmx'],
];

/** The group of /dev/pts entries (Debian's and Docker's "tty" group). */
const TTY_GID = 5;

/** Capability bitmask as the helper takes it. */
export function capabilityMask(caps: readonly Capability[]): bigint {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(CAPABILITIES.indexOf(c));
  return m;
}

/**
 * The effective capability set for a spec, the way Docker combines them: privileged is all;
 * `--cap-add ALL` is all minus the drops; `--cap-drop ALL` is only the adds; otherwise the
 * default set minus the drops plus the adds (an add beats a drop of the same capability).
 */
export function resolveCapabilities(spec: Pick<ContainerSpec, 'capAdd' | 'capDrop' | 'privileged'>): Capability[] {
  if (spec.privileged) return [...CAPABILITIES];
  const add = (spec.capAdd ?? []).map(capName);
  const drop = (spec.capDrop ?? []).map(capName);
  let caps: Capability[];
  if (add.includes('ALL')) caps = CAPABILITIES.filter((c) => !drop.includes(c));
  else if (drop.includes('ALL')) caps = add.filter((c): c is Capability => c !== 'ALL');
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add.filter((c): c is Capability => c !== 'ALL')];
  // Numeric order, no duplicates.
  return CAPABILITIES.filter((c) => caps.includes(c));
}

function capName(raw: string): Capability | 'ALL' {
  const n = String(raw).trim().toUpperCase().replace(/^CAP_/, '');
  if (n === 'ALL') return 'ALL';
  if ((CAPABILITIES as readonly string[]).includes(n)) return n as Capability;
  throw invalid(`unknown capability "${raw}"`);
}

function invalid(message: string, operation = 'start container'): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, `${operation}: ${message}`, { operation });
}

/** A window size as the kernel takes it (0 is allowed: "unknown", like a fresh pty). */
function checkSize(rows: number, cols: number, operation?: string): void {
  for (const v of [rows, cols])
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw invalid(`terminal size ${rows}x${cols} is out of range`, operation);
}

/** An absolute path without ".", ".." or empty components; anything else is refused. */
function containerPath(what: string, p: string): string {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) throw invalid(`${what} "${p}" is not an absolute path`);
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw invalid(`${what} "${p}" contains ".."`);
  return '/' + parts.join('/');
}

function hostPath(what: string, p: string): string {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) throw invalid(`${what} "${p}" is not an absolute host path`);
  return p;
}

function checkId(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw invalid(`${what} ${v} is not a valid id`);
}

function checkMaps(what: string, maps: IdMapping[]): void {
  if (!Array.isArray(maps) || maps.length === 0 || maps.length > 340) throw invalid(`${what} needs 1 to 340 entries`);
  for (const m of maps) {
    checkId(`${what} container id`, m.containerId);
    checkId(`${what} host id`, m.hostId);
    if (!Number.isInteger(m.size) || m.size < 1 || m.containerId + m.size - 1 > 0xfffffffe || m.hostId + m.size - 1 > 0xfffffffe) {
      throw invalid(`${what} size ${m.size} is out of range`);
    }
  }
}

/** True when container id `id` is mapped by `maps`. */
function mapped(maps: IdMapping[], id: number): boolean {
  return maps.some((m) => id >= m.containerId && id < m.containerId + m.size);
}

function depth(p: string): number {
  return p === '/' ? 0 : p.split('/').length - 1;
}

/** A user bind: recursive, unless idmapped (one mount, its ids mapped; see native/helper/userns.c). */
function bindOp(
  b: { source: string; target: string; ro: boolean; idmap?: { uidMap: IdMapping[]; gidMap: IdMapping[] } },
  spec: Pick<ContainerSpec, 'userNamespace'>,
): LaunchOp {
  if (!b.idmap) return { op: 'bind', source: b.source, target: b.target, attrs: b.ro ? ['rec', 'ro'] : ['rec'] };
  if (spec.userNamespace) throw invalid(`the idmapped bind of ${b.source} needs the host's user namespace (not with --userns)`);
  checkMaps('idmap uid map', b.idmap.uidMap);
  checkMaps('idmap gid map', b.idmap.gidMap);
  return {
    op: 'bind',
    source: b.source,
    target: b.target,
    attrs: b.ro ? ['ro'] : [],
    idmap: { uidMap: b.idmap.uidMap.map((m) => ({ ...m })), gidMap: b.idmap.gidMap.map((m) => ({ ...m })) },
  };
}

/** Builds the launch plan for `spec`. Pure: reads nothing, touches nothing; throws InvalidArgument. */
export function buildLaunchPlan(spec: ContainerSpec): LaunchPlan {
  const { rootfs, process: proc } = spec;
  if (!rootfs.lowerDirs.length) throw invalid('the image has no layers');
  for (const d of rootfs.lowerDirs) hostPath('layer dir', d);
  hostPath('upper dir', rootfs.upperDir);
  hostPath('work dir', rootfs.workDir);
  hostPath('rootfs mount point', rootfs.mountPoint);
  if (!proc.args.length || !proc.args[0]) throw invalid('no command to run');
  for (const s of [...proc.args, ...proc.env, spec.hostname]) {
    if (s.includes('\0')) throw invalid(`"${s.replace(/\0/g, '\\0')}" contains a NUL byte`);
  }
  for (const e of proc.env) if (!e.includes('=')) throw invalid(`environment entry "${e}" has no "="`);
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(spec.hostname)) throw invalid(`hostname "${spec.hostname}" is not valid`);
  const cwd = containerPath('working directory', proc.cwd);
  checkId('uid', proc.user.uid);
  checkId('gid', proc.user.gid);
  for (const g of proc.user.additionalGids ?? []) checkId('group', g);
  const umask = proc.umask ?? 0o022;
  if (!Number.isInteger(umask) || umask < 0 || umask > 0o777) throw invalid(`umask ${umask} is out of range`);

  const userns = spec.userNamespace;
  if (userns) {
    checkMaps('uid map', userns.uidMap);
    checkMaps('gid map', userns.gidMap);
    if (!mapped(userns.uidMap, 0) || !mapped(userns.gidMap, 0)) throw invalid('a user namespace must map container uid and gid 0');
    if (!mapped(userns.uidMap, proc.user.uid)) throw invalid(`uid ${proc.user.uid} is not mapped in the user namespace`);
    if (!mapped(userns.gidMap, proc.user.gid)) throw invalid(`gid ${proc.user.gid} is not mapped in the user namespace`);
  }
  const privateNet = (spec.network ?? 'private') === 'private';
  // A persistent namespace to join (runtime/network made it); otherwise a fresh one, or the host's.
  const joinNet = privateNet && spec.netns !== undefined ? hostPath('network namespace', spec.netns) : undefined;
  const newNet = privateNet && !joinNet;
  const namespaces: Namespace[] = [
    ...(userns ? (['user'] as const) : []),
    'mount',
    'pid',
    'uts',
    'ipc',
    ...(newNet ? (['net'] as const) : []),
    'cgroup',
  ];

  const ops: LaunchOp[] = [{ op: 'mount-private' }];
  ops.push({
    op: 'overlay',
    target: rootfs.mountPoint,
    upperDir: rootfs.upperDir,
    workDir: rootfs.workDir,
    options: [],
    lowerDirs: [...rootfs.lowerDirs],
  });

  ops.push({ op: 'mount', fstype: 'proc', target: '/proc', attrs: ['nosuid', 'noexec', 'nodev'], options: [] });

  ops.push({ op: 'mount', fstype: 'tmpfs', target: '/dev', attrs: ['nosuid', 'strictatime'], options: ['mode=755', 'size=65536k'] });
  for (const [name, major, minor] of DEVICES) {
    // mknod is refused in a user namespace: bind the host's node instead.
    if (userns) ops.push({ op: 'bind', source: `/dev/${name}`, target: `/dev/${name}`, attrs: ['nosuid', 'noexec'] });
    else ops.push({ op: 'mknod', path: `/dev/${name}`, mode: 0o666, major, minor });
  }
  for (const [path, linkTarget] of DEV_LINKS) ops.push({ op: 'symlink', linkTarget, path });
  const ptsOptions = ['newinstance', 'ptmxmode=0666', 'mode=0620'];
  if (!userns || mapped(userns.gidMap, TTY_GID)) ptsOptions.push(`gid=${TTY_GID}`);
  ops.push({ op: 'mount', fstype: 'devpts', target: '/dev/pts', attrs: ['nosuid', 'noexec'], options: ptsOptions });
  ops.push({
    op: 'mount',
    fstype: 'tmpfs',
    target: '/dev/shm',
    attrs: ['nosuid', 'nodev', 'noexec'],
    options: ['mode=1777', 'size=65536k'],
  });
  ops.push({ op: 'mount', fstype: 'mqueue', target: '/dev/mqueue', attrs: ['nosuid', 'nodev', 'noexec'], options: [] });

  const sysAttrs: MountAttr[] = spec.privileged ? ['nosuid', 'noexec', 'nodev'] : ['nosuid', 'noexec', 'nodev', 'ro'];
  if (userns && !newNet) {
    // sysfs can be mounted only by the owner of the network namespace: bind the host's instead.
    ops.push({ op: 'bind', source: '/sys', target: '/sys', attrs: [...sysAttrs, 'rec'] });
  } else {
    ops.push({ op: 'mount', fstype: 'sysfs', target: '/sys', attrs: sysAttrs, options: [] });
  }
  // The container's own cgroups at /sys/fs/cgroup (the cgroup namespace, created before these
  // mounts, makes its groups the roots). v1: a tmpfs of one directory per hierarchy, made
  // read-only after pivot_root with the other read-only paths.
  const cgfs = userns ? undefined : spec.cgroupfs;
  const cgAttrs: MountAttr[] = spec.privileged ? ['nosuid', 'noexec', 'nodev'] : ['nosuid', 'noexec', 'nodev', 'ro'];
  if (cgfs?.version === 2) ops.push({ op: 'mount', fstype: 'cgroup2', target: '/sys/fs/cgroup', attrs: cgAttrs, options: [] });
  if (cgfs?.version === 1) {
    ops.push({
      op: 'mount',
      fstype: 'tmpfs',
      target: '/sys/fs/cgroup',
      attrs: ['nosuid', 'noexec', 'nodev'],
      options: ['mode=755', 'size=64k'],
    });
    for (const controllers of cgfs.hierarchies) {
      if (!controllers.length || !controllers.every((c) => /^[a-z_]{1,32}$/.test(c)))
        throw invalid(`cgroup hierarchy "${controllers.join(',')}" is not a list of controller names`);
      ops.push({ op: 'mount', fstype: 'cgroup', target: `/sys/fs/cgroup/${controllers.join(',')}`, attrs: cgAttrs, options: controllers });
      if (controllers.length > 1)
        for (const c of controllers) ops.push({ op: 'symlink', linkTarget: controllers.join(','), path: `/sys/fs/cgroup/${c}` });
    }
  }

  const etc = spec.etcFiles ?? {};
  for (const [file, source] of [
    ['/etc/hosts', etc.hosts],
    ['/etc/hostname', etc.hostname],
    ['/etc/resolv.conf', etc.resolvConf],
  ] as const) {
    if (source) ops.push({ op: 'bind', source: hostPath(file, source), target: file, attrs: ['rec'] });
  }
  const binds = (spec.mounts ?? []).map((m, i) => ({
    i,
    source: hostPath('bind source', m.source),
    target: containerPath('bind target', m.target),
    ro: !!m.readOnly,
    idmap: m.idmap,
  }));
  binds.sort((a, b) => depth(a.target) - depth(b.target) || a.i - b.i);
  for (const b of binds) ops.push(bindOp(b, spec));

  if (newNet) ops.push({ op: 'loopback-up' });
  ops.push({ op: 'sethostname', hostname: spec.hostname });
  ops.push({ op: 'pivot-root' });

  if (!spec.privileged) {
    for (const path of MASKED_PATHS) ops.push({ op: 'mask', path });
    for (const path of READONLY_PATHS) ops.push({ op: 'readonly', path });
    if (cgfs?.version === 1) ops.push({ op: 'readonly', path: '/sys/fs/cgroup' });
  }
  ops.push({ op: 'chdir', path: cwd });
  ops.push({ op: 'identity', uid: proc.user.uid, gid: proc.user.gid, umask, additionalGids: [...(proc.user.additionalGids ?? [])] });
  if (proc.terminal) {
    checkSize(proc.terminal.rows, proc.terminal.cols);
    ops.push({ op: 'tty', rows: proc.terminal.rows, cols: proc.terminal.cols });
  }

  const caps = resolveCapabilities(spec);
  const ambient = spec.ambientCapabilities && proc.user.uid !== 0 ? caps : [];
  ops.push({ op: 'capabilities', bounding: caps, effective: caps, permitted: caps, inheritable: ambient, ambient });
  if (spec.noNewPrivileges ?? true) ops.push({ op: 'no-new-privs' });
  ops.push({ op: 'close-fds' });
  ops.push({ op: 'exec', path: proc.args[0], args: [...proc.args], env: [...proc.env] });

  return {
    namespaces,
    userNamespace: userns
      ? {
          uidMap: userns.uidMap.map((m) => ({ ...m })),
          gidMap: userns.gidMap.map((m) => ({ ...m })),
          setgroups: userns.denySetgroups ? 'deny' : 'allow',
        }
      : undefined,
    cgroupProcs: (spec.cgroupProcs ?? []).map((p) => hostPath('cgroup.procs file', p)),
    ...(joinNet ? { netns: joinNet } : {}),
    ...(spec.monitor ? { monitor: { dir: hostPath('container directory', spec.monitor.dir), stdin: spec.monitor.stdin } } : {}),
    ...(spec.init ? { init: hostPath('init', spec.init) } : {}),
    ops,
  };
}

/**
 * A plan that only assembles the container's filesystem (overlay, /etc files, binds and volumes,
 * in a private mount namespace, pivoted into) and then holds it: the process runs nothing and
 * sleeps until killed. Its /proc/PID/root is how the agent reads and writes a stopped
 * container's files (`cp`) without mounting anything on the host. Pure; throws InvalidArgument.
 */
export function buildHoldPlan(spec: Pick<ContainerSpec, 'rootfs' | 'mounts' | 'etcFiles'>): LaunchPlan {
  const { rootfs } = spec;
  if (!rootfs.lowerDirs.length) throw invalid('the image has no layers');
  for (const d of rootfs.lowerDirs) hostPath('layer dir', d);
  const ops: LaunchOp[] = [
    { op: 'mount-private' },
    {
      op: 'overlay',
      target: hostPath('rootfs mount point', rootfs.mountPoint),
      upperDir: hostPath('upper dir', rootfs.upperDir),
      workDir: hostPath('work dir', rootfs.workDir),
      options: [],
      lowerDirs: [...rootfs.lowerDirs],
    },
  ];
  const etc = spec.etcFiles ?? {};
  for (const [file, source] of [
    ['/etc/hosts', etc.hosts],
    ['/etc/hostname', etc.hostname],
    ['/etc/resolv.conf', etc.resolvConf],
  ] as const) {
    if (source) ops.push({ op: 'bind', source: hostPath(file, source), target: file, attrs: ['rec'] });
  }
  const binds = (spec.mounts ?? []).map((m, i) => ({
    i,
    source: hostPath('bind source', m.source),
    target: containerPath('bind target', m.target),
    ro: !!m.readOnly,
    idmap: m.idmap,
  }));
  binds.sort((a, b) => depth(a.target) - depth(b.target) || a.i - b.i);
  for (const b of binds) ops.push(bindOp(b, {}));
  ops.push({ op: 'pivot-root' }, { op: 'hold' });
  return { namespaces: ['mount'], cgroupProcs: [], ops };
}

/**
 * Builds the plan of `berth exec`: a process that enters the running container `spec.pid` (its
 * init) and is confined like it. Pure; throws InvalidArgument naming "exec in container".
 */
export function buildExecPlan(spec: ExecSpec): LaunchPlan {
  const operation = 'exec in container';
  const bad = (m: string) => invalid(m, operation);
  if (!Number.isInteger(spec.pid) || spec.pid < 1) throw bad(`pid ${spec.pid} is not a process`);
  const proc = spec.process;
  if (!proc.args.length || !proc.args[0]) throw bad('no command to run');
  for (const s of [...proc.args, ...proc.env, proc.cwd])
    if (s.includes('\0')) throw bad(`"${s.replace(/\0/g, '\\0')}" contains a NUL byte`);
  for (const e of proc.env) if (!e.includes('=')) throw bad(`environment entry "${e}" has no "="`);
  if (!proc.cwd.startsWith('/')) throw bad(`working directory "${proc.cwd}" is not an absolute path`);
  for (const [what, v] of [
    ['uid', proc.user.uid],
    ['gid', proc.user.gid],
    ...(proc.user.additionalGids ?? []).map((g) => ['group', g] as const),
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw bad(`${what} ${v} is not a valid id`);
  }
  const umask = proc.umask ?? 0o022;
  const namespaces: Namespace[] = [
    ...(spec.userNamespace ? (['user'] as const) : []),
    'mount',
    'uts',
    'ipc',
    ...((spec.network ?? 'private') === 'private' ? (['net'] as const) : []),
    'pid',
    'cgroup',
  ];
  const ops: LaunchOp[] = [
    { op: 'chdir', path: proc.cwd },
    { op: 'identity', uid: proc.user.uid, gid: proc.user.gid, umask, additionalGids: [...(proc.user.additionalGids ?? [])] },
  ];
  if (proc.terminal) {
    checkSize(proc.terminal.rows, proc.terminal.cols, operation);
    ops.push({ op: 'tty', rows: proc.terminal.rows, cols: proc.terminal.cols });
  }
  const caps = resolveCapabilities(spec);
  const ambient = spec.ambientCapabilities && proc.user.uid !== 0 ? caps : [];
  ops.push({ op: 'capabilities', bounding: caps, effective: caps, permitted: caps, inheritable: ambient, ambient });
  if (spec.noNewPrivileges ?? true) ops.push({ op: 'no-new-privs' });
  ops.push({ op: 'close-fds' });
  ops.push({ op: 'exec', path: proc.args[0], args: [...proc.args], env: [...proc.env] });
  return {
    namespaces: [],
    cgroupProcs: (spec.cgroupProcs ?? []).map((p) => hostPath('cgroup.procs file', p)),
    join: { pid: spec.pid, namespaces },
    ops,
  };
}
