/**
 * A container's cgroup, on whichever layout {@link detectCgroups} found.
 *
 * v1 and hybrid: one group per hierarchy of memory, cpu, cpuacct, cpuset, pids, freezer and
 * devices (co-mounted controllers share a group). blkio, hugetlb, net_cls/net_prio, perf_event
 * and rdma are not joined: Berth sets no limit through them. On a hybrid host the same group is
 * also made in the controller-less cgroup2 tree when possible, for its core files: `cgroup.kill`
 * (race-free kill of everything) and `cgroup.events` (an inotify event when the group empties).
 *
 * v2: one group; `cpu`, `memory` and `pids` are enabled through `cgroup.subtree_control` of every
 * ancestor below the mount point (devices would need an eBPF program: not done here, see
 * {@link CreateOptions.allowAllDevices}).
 *
 * Layout on disk: `<mount>/<name>`, e.g. /sys/fs/cgroup/memory/berth/<id> or
 * /sys/fs/cgroup/berth/<id>. The prefix directory ("berth") is shared: destroy and sweep leave it.
 *
 * One file (over 600 lines) on purpose: it is one class whose every verb (create, stats, OOM
 * watch, freeze, kill, destroy, sweep) branches on the same three layouts through the same private
 * readers and writers; split by verb, each layout's rules would be scattered over seven files.
 * The layout-independent parts live beside it (detect.ts, limits.ts, samples.ts, fs.ts).
 */
import { BerthError, ErrorCode, isBerthError, systemError } from '../../errors';
import { isGoneError } from './fs';
import type { CgroupLayout } from './detect';
import { CPU_PERIOD_US, cpuQuotaUs, type Limits, validateLimits } from './limits';

/** The v1 controllers a container joins. */
export const V1_JOINED = ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'freezer', 'devices'] as const;
/** The v2 controllers enabled for a container (when the host offers them). */
export const V2_ENABLED = ['cpu', 'memory', 'pids'] as const;

/**
 * The v1 device rules of a non-privileged container: deny everything, then allow mknod of any node
 * (opening it stays denied) and read/write/mknod of the standard nodes: null 1:3, zero 1:5, full
 * 1:7, random 1:8, urandom 1:9, tty 5:0, console 5:1, ptmx 5:2 and the pty slaves 136:*.
 */
export const V1_DEVICE_ALLOW = [
  'c *:* m',
  'b *:* m',
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:1 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
] as const;

/** v1 reports "no limit" as the largest page-aligned counter (0x7FFFFFFFFFFFF000); anything this big is unlimited. */
const V1_UNLIMITED_THRESHOLD = 2 ** 62;

/** Options of {@link ContainerCgroup.create} beyond the limits. */
export interface CreateOptions {
  /**
   * `--privileged`: on v1, leave the devices group unrestricted instead of writing
   * {@link V1_DEVICE_ALLOW}. On v2 device access is not restricted by cgroups either way (that needs
   * an eBPF program); the launcher's own /dev (a tmpfs with the standard nodes) is what limits it.
   */
  allowAllDevices?: boolean;
}

/** Figures read by {@link ContainerCgroup.stats}. */
export interface CgroupStats {
  /** Memory charged to the group, bytes (v1 memory.usage_in_bytes, v2 memory.current; 0 without a memory controller). */
  memoryBytes: number;
  /** The memory limit in bytes; the host's memory when there is none (as `docker stats` shows). */
  memoryLimit: number;
  /** CPU time used, ns (v1 cpuacct.usage, v2 cpu.stat usage_usec x 1000). */
  cpuUsageNs: number;
  /** Tasks in the group (pids.current; counted from the task list without a pids controller). */
  pids: number;
}

const NAME_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

function checkName(what: string, name: string): void {
  if (!NAME_RE.test(name) || name.split('/').some((s) => s === '.' || s === '..')) {
    throw new BerthError(
      ErrorCode.InvalidArgument,
      `invalid cgroup ${what} ${JSON.stringify(name)}: use relative path segments of letters, digits, '_', '.' and '-' (e.g. "berth/<container-id>")`,
      { operation: 'create cgroup' },
    );
  }
}

function errnoOf(e: unknown): string | undefined {
  return typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Lines of "key value" (memory.events, cpu.stat, memory.oom_control) as a map. */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && v !== '') out.set(k, Number(v));
  }
  return out;
}

/** A container's cgroup in every hierarchy it needs. See the module comment for the layout. */
export class ContainerCgroup {
  private readonly watchers = new Set<() => void>();

  private constructor(
    readonly layout: CgroupLayout,
    /** The group's path relative to each hierarchy root, e.g. "berth/<id>". */
    readonly name: string,
    /** v1 controller -> this group's directory (co-mounted controllers share one). */
    private readonly v1: Map<string, string>,
    /** The group's directory in the cgroup2 tree: the group itself on v2, the tracking twin on hybrid. */
    private readonly unified: string | undefined,
  ) {}

  /**
   * Creates the group `name` ("berth/<container-id>") in every hierarchy it needs and writes
   * `limits`. Missing parents are created; on v1 cpuset groups get cpuset.cpus/cpuset.mems copied
   * from their parent (new cpuset groups start empty and would refuse tasks); on v2 `cpu`,
   * `memory` and `pids` are enabled in cgroup.subtree_control of every ancestor.
   *
   * Throws BerthError: InvalidArgument for a bad name or limit; Conflict when the group already
   * exists; System naming the file and errno when the kernel refuses something, or when a limit
   * needs a controller the host does not offer. On failure nothing it created is left behind.
   */
  static create(layout: CgroupLayout, name: string, limits: Limits, opts: CreateOptions = {}): ContainerCgroup {
    checkName('name', name);
    validateLimits(limits, layout.hostCpus);
    const fs = layout.fs;
    const created: string[] = [];
    const op = `create cgroup ${name}`;

    const missing = (controller: string, flag: string, where: string): BerthError =>
      new BerthError(
        ErrorCode.System,
        `${op}: ${flag} needs the ${controller} cgroup controller, which this host does not offer (${where})`,
        { operation: op },
      );

    // mkdir -p of `name` under `root`; `onLevel` runs for every level, new or already there.
    const mkdirs = (root: string, onLevel?: (dir: string, parent: string) => void): string => {
      let dir = root;
      const segs = name.split('/');
      for (let i = 0; i < segs.length; i++) {
        const parent = dir;
        dir = `${dir}/${segs[i]}`;
        const leaf = i === segs.length - 1;
        try {
          fs.mkdir(dir);
        } catch (e) {
          if (errnoOf(e) === 'EEXIST' && !leaf) {
            onLevel?.(dir, parent);
            continue;
          }
          if (errnoOf(e) === 'EEXIST') {
            throw new BerthError(ErrorCode.Conflict, `${op}: \`${dir}\` already exists (a leftover? remove it, or sweep)`, {
              operation: op,
              path: dir,
              errno: 'EEXIST',
            });
          }
          throw systemError(op, e, { path: dir, syscall: 'mkdir' });
        }
        created.push(dir);
        onLevel?.(dir, parent);
      }
      return dir;
    };

    const write = (file: string, value: string, what: string): void => {
      try {
        fs.writeFile(file, value);
      } catch (e) {
        throw systemError(`${op}: ${what} (writing ${JSON.stringify(value)})`, e, { path: file, syscall: 'write' });
      }
    };

    const read = (file: string): string => {
      try {
        return fs.readFile(file);
      } catch (e) {
        throw systemError(op, e, { path: file, syscall: 'open' });
      }
    };

    try {
      if (layout.mode === 'v2') {
        const root = layout.unified as string;
        const where = `cgroup v2 at ${root} offers: ${layout.v2Controllers.join(' ') || 'none'}`;
        if ((limits.memoryBytes !== undefined || limits.memorySwapBytes !== undefined) && !layout.v2Controllers.includes('memory')) {
          throw missing('memory', '--memory', where);
        }
        if (limits.cpus !== undefined && !layout.v2Controllers.includes('cpu')) throw missing('cpu', '--cpus', where);
        if (limits.pidsLimit !== undefined && !layout.v2Controllers.includes('pids')) throw missing('pids', '--pids-limit', where);
        const wanted = V2_ENABLED.filter((c) => layout.v2Controllers.includes(c));
        // Enable the controllers top-down: a group can only enable what its parent enabled for it.
        const enable = (dir: string): void => {
          const file = `${dir}/cgroup.subtree_control`;
          const have = new Set(read(file).split(/\s+/).filter(Boolean));
          for (const c of wanted) {
            if (!have.has(c)) write(file, `+${c}`, `enable the ${c} controller for child groups`);
          }
        };
        if (wanted.length > 0) enable(root);
        const segs = name.split('/');
        let dir = root;
        for (let i = 0; i < segs.length; i++) {
          dir = `${dir}/${segs[i]}`;
          const leaf = i === segs.length - 1;
          try {
            fs.mkdir(dir);
            created.push(dir);
          } catch (e) {
            if (errnoOf(e) !== 'EEXIST') throw systemError(op, e, { path: dir, syscall: 'mkdir' });
            if (leaf) {
              throw new BerthError(ErrorCode.Conflict, `${op}: \`${dir}\` already exists (a leftover? remove it, or sweep)`, {
                operation: op,
                path: dir,
                errno: 'EEXIST',
              });
            }
          }
          if (!leaf && wanted.length > 0) enable(dir);
        }
        const cg = new ContainerCgroup(layout, name, new Map(), dir);
        if (limits.memoryBytes !== undefined) write(`${dir}/memory.max`, String(limits.memoryBytes), 'set the memory limit');
        if (limits.memorySwapBytes !== undefined) {
          const file = `${dir}/memory.swap.max`;
          if (!fs.exists(file)) {
            throw new BerthError(
              ErrorCode.System,
              `${op}: --memory-swap needs swap accounting, which this kernel does not do (no \`${file}\`)`,
              {
                operation: op,
                path: file,
              },
            );
          }
          const swap = limits.memorySwapBytes === -1 ? 'max' : String(limits.memorySwapBytes - (limits.memoryBytes as number));
          write(file, swap, 'set the swap limit');
        }
        if (limits.cpus !== undefined) write(`${dir}/cpu.max`, `${cpuQuotaUs(limits.cpus)} ${CPU_PERIOD_US}`, 'set the CPU quota');
        if (limits.pidsLimit !== undefined) write(`${dir}/pids.max`, String(limits.pidsLimit), 'set the pids limit');
        return cg;
      }

      // v1 and hybrid.
      const mounted = Object.keys(layout.v1).join(' ') || 'none';
      const where = `cgroup v1 controllers mounted: ${mounted}`;
      if ((limits.memoryBytes !== undefined || limits.memorySwapBytes !== undefined) && !layout.v1.memory)
        throw missing('memory', '--memory', where);
      if (limits.cpus !== undefined && !layout.v1.cpu) throw missing('cpu', '--cpus', where);
      if (limits.pidsLimit !== undefined && !layout.v1.pids) throw missing('pids', '--pids-limit', where);

      const groups = new Map<string, string>(); // controller -> group dir
      const byMount = new Map<string, string>(); // mount point -> group dir
      for (const c of V1_JOINED) {
        const mount = layout.v1[c];
        if (!mount) continue;
        let dir = byMount.get(mount);
        if (dir === undefined) {
          // A new cpuset group starts with empty cpus/mems and refuses tasks: copy the parent's.
          const copyCpuset = (d: string, parent: string): void => {
            const prefix = fs.exists(`${d}/cpuset.cpus`) ? 'cpuset.' : '';
            for (const f of ['cpus', 'mems']) {
              if (read(`${d}/${prefix}${f}`).trim() === '') {
                write(`${d}/${prefix}${f}`, read(`${parent}/${prefix}${f}`).trim(), `copy ${prefix}${f} from the parent group`);
              }
            }
          };
          const cpusetHere = layout.v1.cpuset === mount;
          dir = mkdirs(mount, cpusetHere ? copyCpuset : undefined);
          byMount.set(mount, dir);
        }
        groups.set(c, dir);
      }

      // Hybrid: the controller-less v2 twin, for cgroup.kill and cgroup.events. Optional: a host
      // may mount it read-only or not let us write there.
      let unified: string | undefined;
      if (layout.mode === 'hybrid' && layout.unified) {
        const before = created.length;
        try {
          unified = mkdirs(layout.unified);
        } catch (e) {
          // A system call refused there (read-only, not permitted...): go on without the twin.
          if (!isBerthError(e, ErrorCode.System)) throw e;
          for (const d of created.splice(before).reverse()) tryRmdir(layout, d);
          unified = undefined;
        }
      }

      const cg = new ContainerCgroup(layout, name, groups, unified);
      const mem = groups.get('memory');
      if (mem && limits.memoryBytes !== undefined)
        write(`${mem}/memory.limit_in_bytes`, String(limits.memoryBytes), 'set the memory limit');
      if (mem && limits.memorySwapBytes !== undefined) {
        // memsw must be written after the memory limit: the kernel keeps memsw >= memory.
        const file = `${mem}/memory.memsw.limit_in_bytes`;
        if (!fs.exists(file)) {
          throw new BerthError(
            ErrorCode.System,
            `${op}: --memory-swap needs swap accounting, which this kernel does not do (no \`${file}\`; boot with swapaccount=1)`,
            { operation: op, path: file },
          );
        }
        write(file, String(limits.memorySwapBytes), 'set the memory+swap limit');
      }
      const cpu = groups.get('cpu');
      if (cpu && limits.cpus !== undefined) {
        write(`${cpu}/cpu.cfs_period_us`, String(CPU_PERIOD_US), 'set the CPU period');
        write(`${cpu}/cpu.cfs_quota_us`, String(cpuQuotaUs(limits.cpus)), 'set the CPU quota');
      }
      const pids = groups.get('pids');
      if (pids && limits.pidsLimit !== undefined) write(`${pids}/pids.max`, String(limits.pidsLimit), 'set the pids limit');
      const dev = groups.get('devices');
      if (dev && !opts.allowAllDevices) {
        write(`${dev}/devices.deny`, 'a', 'deny all devices');
        for (const rule of V1_DEVICE_ALLOW) write(`${dev}/devices.allow`, rule, 'allow a standard device');
      }
      return cg;
    } catch (e) {
      for (const d of created.reverse()) tryRmdir(layout, d);
      throw e;
    }
  }

  /**
   * The existing group `name`, as {@link create} laid it out, without creating or checking
   * anything (after an agent restart, to kill what is left in it and remove it). Hierarchies where
   * the directory does not exist are left out.
   */
  static open(layout: CgroupLayout, name: string): ContainerCgroup {
    checkName('name', name);
    const groups = new Map<string, string>();
    if (layout.mode !== 'v2') {
      for (const c of V1_JOINED) {
        const mount = layout.v1[c];
        if (mount && layout.fs.exists(`${mount}/${name}`)) groups.set(c, `${mount}/${name}`);
      }
    }
    const unified = layout.unified && layout.fs.exists(`${layout.unified}/${name}`) ? `${layout.unified}/${name}` : undefined;
    return new ContainerCgroup(layout, name, groups, unified);
  }

  /** The group's directories, one per hierarchy (deduplicated), the cgroup2 one last. */
  dirs(): string[] {
    const out = [...new Set(this.v1.values())];
    if (this.unified) out.push(this.unified);
    return out;
  }

  /**
   * The `cgroup.procs` files a new process must be written into, in order (the launcher writes the
   * pid into each before exec). One per v1 hierarchy plus the cgroup2 group.
   */
  procsFiles(): string[] {
    return this.dirs().map((d) => `${d}/cgroup.procs`);
  }

  /** Moves `pid` (the whole thread group) into the group in every hierarchy. */
  addProcess(pid: number): void {
    if (!Number.isSafeInteger(pid) || pid <= 0) {
      throw new BerthError(ErrorCode.InvalidArgument, `add process to cgroup ${this.name}: invalid pid ${pid}`, {
        operation: 'add process to cgroup',
      });
    }
    for (const file of this.procsFiles()) {
      try {
        this.layout.fs.writeFile(file, String(pid));
      } catch (e) {
        throw systemError(`add process ${pid} to cgroup ${this.name}`, e, { path: file, syscall: 'write' });
      }
    }
  }

  /** The pids (thread-group ids) in the group, read from one hierarchy's cgroup.procs. */
  pids(): number[] {
    const dir = this.v1.get('pids') ?? this.v1.get('memory') ?? this.unified ?? this.dirs()[0];
    const text = this.read(`${dir}/cgroup.procs`, 'list processes');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
  }

  /** Memory, CPU and task figures; see {@link CgroupStats}. */
  stats(): CgroupStats {
    const fs = this.layout.fs;
    let memoryBytes = 0;
    let memoryLimit = this.layout.hostMemoryBytes;
    const mem = this.v1.get('memory');
    if (mem) {
      memoryBytes = Number(this.read(`${mem}/memory.usage_in_bytes`, 'stats').trim());
      const limit = Number(this.read(`${mem}/memory.limit_in_bytes`, 'stats').trim());
      if (limit < V1_UNLIMITED_THRESHOLD) memoryLimit = limit;
    } else if (this.v2Has('memory.current')) {
      const u = this.unified as string;
      memoryBytes = Number(this.read(`${u}/memory.current`, 'stats').trim());
      const max = this.read(`${u}/memory.max`, 'stats').trim();
      if (max !== 'max') memoryLimit = Number(max);
    }

    let cpuUsageNs = 0;
    const acct = this.v1.get('cpuacct');
    if (acct) cpuUsageNs = Number(this.read(`${acct}/cpuacct.usage`, 'stats').trim());
    else if (this.unified && fs.exists(`${this.unified}/cpu.stat`)) {
      // cpu.stat's usage_usec is a core v2 file: there even without the cpu controller.
      cpuUsageNs = (parseKeyValues(this.read(`${this.unified}/cpu.stat`, 'stats')).get('usage_usec') ?? 0) * 1000;
    }

    let pids: number;
    const p = this.v1.get('pids');
    if (p) pids = Number(this.read(`${p}/pids.current`, 'stats').trim());
    else if (this.mode() === 'v2' && this.v2Has('pids.current')) pids = Number(this.read(`${this.unified}/pids.current`, 'stats').trim());
    else {
      const dir = this.v1.values().next().value ?? this.unified;
      const tasks = this.mode() === 'v2' ? `${dir}/cgroup.threads` : `${dir}/tasks`;
      pids = this.read(tasks, 'stats')
        .split('\n')
        .filter((l) => l.trim() !== '').length;
    }
    return { memoryBytes, memoryLimit, cpuUsageNs, pids };
  }

  /**
   * How many processes the kernel's OOM killer has killed in this group. v2: memory.events
   * `oom_kill`. v1: memory.oom_control `oom_kill` (kernels >= 4.13); on older kernels, which lack
   * that line, 1 when memory.failcnt > 0 (the group hit its limit: a heuristic). 0 without a memory
   * controller.
   */
  oomKillCount(): number {
    const mem = this.v1.get('memory');
    if (mem) {
      const oc = parseKeyValues(this.read(`${mem}/memory.oom_control`, 'read OOM counter'));
      const n = oc.get('oom_kill');
      if (n !== undefined) return n;
      return Number(this.read(`${mem}/memory.failcnt`, 'read OOM counter').trim()) > 0 ? 1 : 0;
    }
    if (this.v2Has('memory.events')) {
      return parseKeyValues(this.read(`${this.unified}/memory.events`, 'read OOM counter')).get('oom_kill') ?? 0;
    }
    return 0;
  }

  /**
   * Whether the OOM killer killed any process of the group. The runtime asks this when the
   * container's init has exited (e.g. by SIGKILL, 137) and before {@link destroy}, to report
   * "OOM killed" instead of a bare 137. See {@link oomKillCount} for the sources.
   */
  oomKilled(): boolean {
    return this.oomKillCount() > 0;
  }

  /**
   * Calls `onOom` on OOM kills, without polling; returns a function that stops watching.
   *
   * - v2: inotify on memory.events; `onOom` runs once per change that raised `oom_kill`, while the
   *   container runs (also for a killed child while init lives on).
   * - hybrid: v1 has no file the kernel notifies (its OOM notification is cgroup.event_control +
   *   eventfd, which Node cannot make). So inotify watches the cgroup2 twin's cgroup.events; when
   *   it reports `populated 0` (the last process left) the v1 `oom_kill` counter is read, and
   *   `onOom` runs if it rose. OOM is thus learnt at exit, which is when the runtime reports it.
   * - pure v1 (no cgroup2 twin) or a fs without `watch`: nothing fires; call {@link oomKilled}
   *   when the container exits.
   *
   * Read errors inside the watcher (the group being removed) are ignored.
   */
  watchOom(onOom: () => void): () => void {
    const fs = this.layout.fs;
    if (!fs.watch) return () => {};
    let seen = this.safeCount();
    let stop: () => void;
    if (this.mode() === 'v2' || !this.v1.get('memory')) {
      if (!this.v2Has('memory.events')) return () => {};
      stop = fs.watch(`${this.unified}/memory.events`, () => {
        const n = this.safeCount();
        if (n > seen) {
          seen = n;
          onOom();
        }
      });
    } else if (this.unified) {
      const events = `${this.unified}/cgroup.events`;
      stop = fs.watch(events, () => {
        let populated: number | undefined;
        try {
          populated = parseKeyValues(fs.readFile(events)).get('populated');
        } catch {
          // Everything is caught on purpose: this is an inotify callback, where a throw would take
          // the agent down; the group being removed (ENOENT, ENODEV) is the expected case.
          return;
        }
        if (populated !== 0) return;
        const n = this.safeCount();
        if (n > seen) {
          seen = n;
          onOom();
        }
      });
    } else {
      return () => {};
    }
    const wrapped = () => {
      if (this.watchers.delete(wrapped)) stop();
    };
    this.watchers.add(wrapped);
    return wrapped;
  }

  /**
   * Freezes every process of the group (for `pause`). v1 and hybrid: freezer.state = FROZEN, then
   * waits (bounded, ~2 s) until the kernel reports FROZEN rather than FREEZING. v2: cgroup.freeze
   * = 1, then waits for `frozen 1` in cgroup.events (inotify, ~2 s bound). Throws when the host
   * has no freezer or the freeze does not complete in time.
   */
  async freeze(): Promise<void> {
    const f = this.v1.get('freezer');
    if (f) {
      const file = `${f}/freezer.state`;
      for (let i = 0; i < 100; i++) {
        this.write(file, 'FROZEN', 'freeze');
        if (this.read(file, 'freeze').trim() === 'FROZEN') return;
        await sleep(20);
      }
      throw new BerthError(ErrorCode.System, `freeze cgroup ${this.name}: \`${file}\` still says FREEZING after 2 s`, {
        operation: 'freeze',
        path: file,
      });
    }
    if (this.unified && this.layout.fs.exists(`${this.unified}/cgroup.freeze`)) {
      this.write(`${this.unified}/cgroup.freeze`, '1', 'freeze');
      await this.waitEvents('frozen', 1, 2000, 'freeze');
      return;
    }
    throw new BerthError(ErrorCode.System, `freeze cgroup ${this.name}: this host has no cgroup freezer`, { operation: 'freeze' });
  }

  /** Undoes {@link freeze}: freezer.state = THAWED (v1), cgroup.freeze = 0 (v2). */
  async thaw(): Promise<void> {
    const f = this.v1.get('freezer');
    if (f) {
      this.write(`${f}/freezer.state`, 'THAWED', 'thaw');
      return;
    }
    if (this.unified && this.layout.fs.exists(`${this.unified}/cgroup.freeze`)) {
      this.write(`${this.unified}/cgroup.freeze`, '0', 'thaw');
      await this.waitEvents('frozen', 0, 2000, 'thaw');
      return;
    }
    throw new BerthError(ErrorCode.System, `thaw cgroup ${this.name}: this host has no cgroup freezer`, { operation: 'thaw' });
  }

  /**
   * Sends `signal` to every process of the group. SIGKILL with a cgroup.kill file (v2, and the
   * cgroup2 twin on hybrid; kernel >= 5.14): one write, which also catches processes forking
   * meanwhile. Otherwise signals each pid of cgroup.procs with the group frozen around it (v1
   * freezer or cgroup.freeze), so nothing forks in between; the signal arrives at the thaw. Processes already gone are skipped. Returns
   * without waiting for the processes to die.
   */
  async killAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (signal === 'SIGKILL' && this.unified && this.layout.fs.exists(`${this.unified}/cgroup.kill`)) {
      this.write(`${this.unified}/cgroup.kill`, '1', 'kill every process');
      return;
    }
    const frozen = this.v1.has('freezer') || (this.unified !== undefined && this.layout.fs.exists(`${this.unified}/cgroup.freeze`));
    if (frozen) await this.freeze();
    try {
      for (const pid of this.pids()) {
        try {
          process.kill(pid, signal);
        } catch (e) {
          if (errnoOf(e) !== 'ESRCH') throw systemError(`kill cgroup ${this.name}`, e, { syscall: 'kill' });
        }
      }
    } finally {
      if (frozen) await this.thaw();
    }
  }

  /**
   * Removes the group from every hierarchy (the shared prefix directory stays). Call after its
   * processes are gone: rmdir answers EBUSY while a process (or, briefly, a dying one) remains, so
   * it retries with growing delays for about 3 s, then throws BerthError(System, EBUSY) naming the
   * directory and the pids still there. Directories already gone are fine. Stops OOM watchers.
   */
  async destroy(): Promise<void> {
    for (const stop of [...this.watchers]) stop();
    let first: unknown;
    for (const dir of this.dirs()) {
      try {
        await rmdirRetrying(this.layout, dir, 20);
      } catch (e) {
        first ??= e;
      }
    }
    if (first) throw first;
  }

  /**
   * Removes leftover groups under `<hierarchy>/<prefix>/` in every hierarchy (v1 and cgroup2),
   * deepest first, e.g. after an agent crash. Groups that still hold processes are left alone
   * (rmdir answers EBUSY), as are names `keep` accepts (live containers). Call it when no create
   * is in flight (at agent start): a group made a moment ago is empty too. Returns the removed
   * directories. Errors other than EBUSY/ENOENT throw BerthError(System).
   */
  static sweep(layout: CgroupLayout, prefix: string, keep: (child: string) => boolean = () => false): string[] {
    checkName('prefix', prefix);
    const fs = layout.fs;
    const roots = [...new Set(Object.values(layout.v1))];
    if (layout.unified) roots.push(layout.unified);
    const removed: string[] = [];
    const removeTree = (dir: string): boolean => {
      let ok = true;
      for (const sub of fs.readdir(dir)) ok = removeTree(`${dir}/${sub}`) && ok;
      if (!ok) return false;
      try {
        fs.rmdir(dir);
        removed.push(dir);
        return true;
      } catch (e) {
        if (errnoOf(e) === 'EBUSY') return false;
        if (errnoOf(e) === 'ENOENT') return true;
        throw systemError(`sweep cgroups under ${prefix}`, e, { path: dir, syscall: 'rmdir' });
      }
    };
    for (const root of roots) {
      const base = `${root}/${prefix}`;
      if (!fs.exists(base)) continue;
      let children: string[];
      try {
        children = fs.readdir(base);
      } catch (e) {
        throw systemError(`sweep cgroups under ${prefix}`, e, { path: base, syscall: 'scandir' });
      }
      for (const child of children) if (!keep(child)) removeTree(`${base}/${child}`);
    }
    return removed;
  }

  private mode() {
    return this.layout.mode;
  }

  private v2Has(file: string): boolean {
    return this.unified !== undefined && this.layout.fs.exists(`${this.unified}/${file}`);
  }

  /** The OOM kill count for the inotify callbacks of watchOom: 0 when it cannot be read. */
  private safeCount(): number {
    try {
      return this.oomKillCount();
    } catch {
      // Everything is caught on purpose: a throw in an inotify callback would take the agent
      // down; the group being removed (ENOENT, ENODEV) is the expected case.
      return 0;
    }
  }

  private read(file: string, what: string): string {
    try {
      return this.layout.fs.readFile(file);
    } catch (e) {
      throw systemError(`${what} of cgroup ${this.name}`, e, { path: file, syscall: 'open' });
    }
  }

  private write(file: string, value: string, what: string): void {
    try {
      this.layout.fs.writeFile(file, value);
    } catch (e) {
      throw systemError(`${what} of cgroup ${this.name} (writing ${JSON.stringify(value)})`, e, { path: file, syscall: 'write' });
    }
  }

  /** Waits for `key value` in cgroup.events: inotify when available, with a bounded fallback. */
  private async waitEvents(key: string, value: number, timeoutMs: number, what: string): Promise<void> {
    const file = `${this.unified}/cgroup.events`;
    const ok = () => parseKeyValues(this.read(file, what)).get(key) === value;
    if (ok()) return;
    const fs = this.layout.fs;
    await new Promise<void>((resolve, reject) => {
      let stop = () => {};
      const timer = setTimeout(() => {
        stop();
        if (ok()) resolve();
        else
          reject(
            new BerthError(
              ErrorCode.System,
              `${what} cgroup ${this.name}: \`${file}\` did not say "${key} ${value}" within ${timeoutMs} ms`,
              { operation: what, path: file },
            ),
          );
      }, timeoutMs);
      const check = () => {
        if (!ok()) return;
        clearTimeout(timer);
        stop();
        resolve();
      };
      if (fs.watch) stop = fs.watch(file, check);
      check(); // the change may have happened before the watch was set
    });
  }
}

function tryRmdir(layout: CgroupLayout, dir: string): void {
  try {
    layout.fs.rmdir(dir);
  } catch {
    // Everything is caught on purpose: this undoes a failed create, whose own error is the one
    // reported; a directory left behind is removed by the next sweep.
  }
}

async function rmdirRetrying(layout: CgroupLayout, dir: string, attempts: number): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      layout.fs.rmdir(dir);
      return;
    } catch (e) {
      const errno = errnoOf(e);
      if (errno === 'ENOENT') return;
      if (errno !== 'EBUSY' || i >= attempts - 1) {
        let still = '';
        if (errno === 'EBUSY') {
          try {
            const p = layout.fs.readFile(`${dir}/cgroup.procs`).trim().split('\n').filter(Boolean);
            if (p.length) still = ` (processes still in it: ${p.join(', ')})`;
          } catch (e2) {
            // Only decorates the error below; a group emptied or gone meanwhile has nothing to list.
            if (!isGoneError(e2)) throw e2;
          }
        }
        const err = systemError('remove cgroup', e, { path: dir, syscall: 'rmdir' });
        if (still) err.message += still;
        throw err;
      }
      await sleep(Math.min(5 * 2 ** i, 250));
    }
  }
}
