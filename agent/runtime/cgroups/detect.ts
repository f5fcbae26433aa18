/**
 * Finds the cgroup hierarchies this process can see, from /proc/self/mountinfo: where each v1
 * controller is mounted, where cgroup2 is, and which v2 controllers its root offers. Nothing is
 * assumed about paths: a v1 host may co-mount `cpu,cpuacct`, a container may see its cgroups
 * under a namespace root, and a mount stacked over another hides it.
 */
import * as os from 'node:os';
import { BerthError, ErrorCode, systemError } from '../../errors';
import { type CgroupFs, realCgroupFs } from './fs';

/**
 * - `v1`: only cgroup v1 hierarchies (legacy hosts).
 * - `v2`: only the unified hierarchy (modern systemd hosts, /sys/fs/cgroup).
 * - `hybrid`: v1 controllers plus a cgroup2 tree whose useful controllers are bound to v1 (this
 *   machine): limits are driven through v1; the v2 tree is used only for its core files
 *   (cgroup.kill, cgroup.events), which need no controller.
 */
export type CgroupMode = 'v1' | 'v2' | 'hybrid';

/** The v1 controllers the kernel knows (named hierarchies such as name=systemd are not here). */
export const V1_CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'net_cls',
  'net_prio',
  'blkio',
  'perf_event',
  'hugetlb',
  'pids',
  'rdma',
  'misc',
] as const;

/** What {@link detectCgroups} found. Pass it to ContainerCgroup.create / sweep. */
export interface CgroupLayout {
  mode: CgroupMode;
  /** v1 controller name -> the mount point of its hierarchy (co-mounted controllers share one). */
  v1: Record<string, string>;
  /** Mount point of the cgroup2 hierarchy, if one is mounted and visible. */
  unified?: string;
  /** Controllers listed in `<unified>/cgroup.controllers` (empty when there is no cgroup2). */
  v2Controllers: string[];
  /** CPUs the host offers: the upper bound for `cpus`. */
  hostCpus: number;
  /** Host memory in bytes: reported as the limit of a group that has none (as `docker stats` does). */
  hostMemoryBytes: number;
  /** The filesystem everything goes through. */
  fs: CgroupFs;
}

/** One line of /proc/self/mountinfo (the fields this module needs). */
export interface MountInfoEntry {
  id: number;
  parent: number;
  /** Root of the mount inside its filesystem (a cgroup namespace shows e.g. "/docker/abc"). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Undoes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parses /proc/self/mountinfo (proc(5)): `id parent major:minor root mountpoint options
 * [optional...] - fstype source superoptions`. Malformed lines are skipped.
 */
export function parseMountinfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 7 || sep < 0 || f.length < sep + 3) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      root: unescapeMountField(f[3]),
      mountPoint: unescapeMountField(f[4]),
      fsType: f[sep + 1],
      source: unescapeMountField(f[sep + 2]),
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

function isUnder(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir + '/');
}

/**
 * Whether `m` is reachable by path: false when something was mounted later over its mount point,
 * over the mount point of a mount it sits on, or over a directory above it inside one of those.
 */
export function isVisible(m: MountInfoEntry, all: MountInfoEntry[]): boolean {
  const byId = new Map(all.map((e) => [e.id, e]));
  const pos = new Map(all.map((e, i) => [e.id, i]));
  const chain: MountInfoEntry[] = [m];
  for (let p = byId.get(m.parent); p && !chain.includes(p); p = byId.get(p.parent)) chain.push(p);
  const inChain = new Set(chain.map((e) => e.id));
  // Something stacked on m itself.
  if (all.some((z) => z.parent === m.id && z.mountPoint === m.mountPoint)) return false;
  // For each link parent -> child of the chain: a later sibling of child covering child's path.
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i];
    const parent = chain[i + 1];
    const covered = all.some(
      (z) =>
        !inChain.has(z.id) &&
        z.parent === parent.id &&
        isUnder(child.mountPoint, z.mountPoint) &&
        (pos.get(z.id) ?? 0) > (pos.get(child.id) ?? 0),
    );
    if (covered) return false;
  }
  return true;
}

/**
 * Detects the cgroup layout from mountinfo (default: this process's /proc/self/mountinfo, read
 * through `fs`). For cgroup2, reads `<mount>/cgroup.controllers` through `fs`.
 *
 * Throws BerthError(System) when no cgroup filesystem is mounted, or when cgroup.controllers
 * cannot be read.
 */
export function detectCgroups(
  fs: CgroupFs = realCgroupFs,
  mountinfo?: string,
  host: { cpus?: number; memoryBytes?: number } = {},
): CgroupLayout {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = fs.readFile('/proc/self/mountinfo');
    } catch (e) {
      throw systemError('detect cgroups', e, { path: '/proc/self/mountinfo' });
    }
  }
  const all = parseMountinfo(text);
  const visible = all.filter((m) => (m.fsType === 'cgroup' || m.fsType === 'cgroup2') && isVisible(m, all));
  const v1: Record<string, string> = {};
  let unified: string | undefined;
  for (const m of visible) {
    if (m.fsType === 'cgroup2') {
      unified ??= m.mountPoint;
      continue;
    }
    for (const opt of m.superOptions) {
      if ((V1_CONTROLLERS as readonly string[]).includes(opt) && v1[opt] === undefined) v1[opt] = m.mountPoint;
    }
  }
  const hasV1 = Object.keys(v1).length > 0;
  if (!hasV1 && unified === undefined) {
    throw new BerthError(
      ErrorCode.System,
      'detect cgroups: no cgroup filesystem is mounted (neither cgroup2 nor a v1 controller appears in /proc/self/mountinfo)',
      { operation: 'detect cgroups', path: '/proc/self/mountinfo' },
    );
  }
  let v2Controllers: string[] = [];
  if (unified !== undefined) {
    const file = `${unified}/cgroup.controllers`;
    try {
      v2Controllers = fs.readFile(file).split(/\s+/).filter(Boolean);
    } catch (e) {
      throw systemError('detect cgroups: read the v2 controllers', e, { path: file });
    }
  }
  return {
    mode: hasV1 ? (unified !== undefined ? 'hybrid' : 'v1') : 'v2',
    v1,
    unified,
    v2Controllers,
    hostCpus: host.cpus ?? os.availableParallelism(),
    hostMemoryBytes: host.memoryBytes ?? os.totalmem(),
    fs,
  };
}
