import { existsSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { ContainerEventAction } from '../../../protocol';
import { BerthError, ErrorCode, isBerthError } from '../../errors';
import type { EventHub } from '../../events';
import type { ImageService } from '../../images/service';
import { writeFileAtomic } from '../../store/fsutil';
import type { ImageRecord, Store } from '../../store/store';
import type { ImageConfigRun } from '../../oci';
import { ContainerCgroup, detectCgroups, type CgroupLayout, type Limits } from '../cgroups';
import type { LaunchedContainer } from '../helper';
import { NetworkManager, networkConfig, type NetworkContainer, type NetworkEndpoint, type NetworkMode } from '../network';
import { initialHosts, resolvConfFor } from '../network/etc';
import type { ContainerSpec } from '../spec';
import type { LogWriter } from './logs';
import type { LayerFs } from './rootfs';
import { VolumeService } from '../volumes';
import type { ContainerRecord } from './record';
/** The image of a build step's container (see {@link ContainerService.create}). */
export interface BuildBase {
  id: string;
  layers: ImageRecord['layers'];
  config: ImageConfigRun;
}

/** Exit code recorded for a container the agent lost track of (Docker's for the same case). */
export const LOST_EXIT_CODE = 255;
export const DEFAULT_STOP_TIMEOUT_S = 10;
export const START_TIMEOUT_MS = 30_000;
/** How long to wait for the last output after the helper reported the exit. */
export const DRAIN_MS = 2000;

/**
 * A container as the presenters see it: its record and what only the running agent knows (for
 * inspect and ps; agent/presenters/containers.ts).
 */
export interface ContainerView {
  record: ContainerRecord;
  running: boolean;
  /** The overlay: the image's layer dirs topmost first, the writable layer and overlayfs's work dir. */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  /** Each of record.mounts.volumes' data directory, in order. */
  volumeSources: string[];
  /** While it runs on the bridge: its address and the host ports its proxies listen on. */
  endpoint?: NetworkEndpoint;
}

/** How a container's last run ended (what `wait` resolves with). */
export interface ExitResult {
  exitCode: number;
  /** The OOM killer killed a process of it during that run. */
  oomKilled: boolean;
  /** Why the agent marked it exited, or why it could not start; absent otherwise. */
  error?: string;
}

/** A running container, as the agent holds it. */
export interface Live {
  launched: LaunchedContainer;
  cgroup: ContainerCgroup;
  logs: LogWriter;
  /** Set by stop: the exit was asked for (emits `stop` after `die`). */
  stopping: boolean;
  /** Settles once the exit is fully handled (state saved, events sent, --rm done). */
  done: Promise<void>;
  /** Byte-stream listeners of attached clients (see {@link StartStream}). */
  outputs: Set<(stream: 'stdout' | 'stderr' | 'tty', data: Buffer) => void>;
}

/** An attached byte-stream client of `start` (StartContainerParams.stream). */
export interface StartStream {
  onOutput(stream: 'stdout' | 'stderr' | 'tty', data: Buffer): void;
  /** Initial pty size for a Tty container that is started. */
  rows?: number;
  cols?: number;
}

/** What an attached client may do while the container runs. */
export interface StreamHandle {
  /** Bytes for its stdin (OpenStdin only; dropped otherwise). */
  write(data: Buffer): void;
  end(): void;
  resize(rows: number, cols: number): void;
  pending(): number;
  /** Settles when the container's exit has been handled. */
  done: Promise<void>;
  /** Stops the output; closes stdin when the container is StdinOnce. */
  detach(): void;
}

export interface ContainerServiceOptions {
  /** The cgroup layout; detected on first use when absent. */
  cgroups?: CgroupLayout;
  log?: (msg: string) => void;
  /** For tests of the rootfs reading. */
  layerFs?: LayerFs;
  /** Container networking (runtime/network); default: the default network's defaults and env. */
  network?: NetworkManager;
}

export function notFound(operation: string, ref: string): BerthError {
  return new BerthError(ErrorCode.NotFound, `${operation}: no such container: ${ref}`, { operation });
}

/** "TERM", "SIGTERM", "15" -> ["SIGTERM", 15]. Throws InvalidArgument. */
export function parseSignal(raw: string, operation: string): [NodeJS.Signals, number] {
  const s = String(raw).trim().toUpperCase();
  const signals = osConstants.signals as Record<string, number>;
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    const name = Object.keys(signals).find((k) => signals[k] === n);
    if (name) return [name as NodeJS.Signals, n];
  } else {
    const name = s.startsWith('SIG') ? s : `SIG${s}`;
    if (typeof signals[name] === 'number') return [name as NodeJS.Signals, signals[name]];
  }
  throw new BerthError(ErrorCode.InvalidArgument, `${operation}: invalid signal "${raw}"`, { operation });
}

/**
 * SIGKILLs a live container's init and every process of its cgroup, then waits until its exit has
 * been handled (stop after its timeout, remove --force). A failure to kill the rest of the group is
 * logged, not thrown: the init's exit is what counts.
 */
export async function killNow(svc: ContainerCore, rec: ContainerRecord, live: Live): Promise<void> {
  svc.emit('kill', rec, { signal: String(osConstants.signals.SIGKILL) });
  live.launched.kill('SIGKILL');
  await live.cgroup
    .killAll('SIGKILL')
    .catch((e: Error) => svc.log(`killing the processes of container ${rec.id.slice(0, 12)}: ${e.message}`));
  await live.done;
}

export class ContainerCore {
  readonly dir: string;
  readonly records = new Map<string, ContainerRecord>();
  readonly live = new Map<string, Live>();
  /** Containers whose start is under way. */
  readonly starting = new Set<string>();
  /** The store leases of each container's layers. */
  readonly leases = new Map<string, () => void>();
  readonly waiters = new Map<string, Set<(r: ExitResult) => void>>();
  private layout?: CgroupLayout;
  readonly log: (msg: string) => void;
  /** The volumes containers mount (volumes.ts). */
  readonly volumes: VolumeService;
  /** Networks: addresses, namespaces, published ports, /etc/hosts (runtime/network). */
  readonly network: NetworkManager;
  /** Network teardowns still deleting links, by container (see onExit). */
  readonly netTeardowns = new Map<string, Promise<void>>();
  /**
   * Containers whose stopped filesystem is assembled right now (copy.ts): they cannot start
   * meanwhile (overlayfs takes one mount per upper dir), and start says so.
   */
  readonly held = new Set<string>();
  /**
   * Records that could not be read at init (load.ts): the container's directory and why. Such a
   * container is not served (nor removed); its directory is left as it is for a person.
   */
  readonly unreadable: { dir: string; reason: string }[] = [];

  constructor(
    readonly store: Store,
    readonly images: ImageService,
    readonly events: EventHub,
    readonly opts: ContainerServiceOptions = {},
  ) {
    this.dir = join(store.root, 'containers');
    this.layout = opts.cgroups;
    this.log = opts.log ?? (() => {});
    images.imageUsers = (imageId) => [...this.records.values()].filter((r) => r.image.id === imageId).map((r) => r.name);
    this.volumes = new VolumeService(store.root, events, opts.layerFs);
    this.network = opts.network ?? new NetworkManager(store.root, networkConfig(undefined, join(store.root, 'settings.json')), this.log);
    this.volumes.usedBy = (name) =>
      [...this.records.values()].filter((r) => r.mounts.volumes.some((v) => v.name === name)).map((r) => r.name);
  }

  networkOf(rec: ContainerRecord): NetworkContainer {
    return {
      id: rec.id,
      name: rec.name,
      hostname: rec.hostname,
      mode: rec.network.mode,
      ports: rec.network.ports,
      hostsPath: join(this.containerDir(rec.id), 'hosts'),
    };
  }

  trackTeardown(id: string, links: Promise<void>): void {
    const p = links.catch((e: Error) => this.log(`removing the network links of container ${id.slice(0, 12)}: ${e.message}`));
    this.netTeardowns.set(id, p);
    void p.finally(() => {
      if (this.netTeardowns.get(id) === p) this.netTeardowns.delete(id);
    });
  }

  async killLeftovers(id: string): Promise<void> {
    let layout: CgroupLayout;
    try {
      layout = this.cgroups();
    } catch (e) {
      // No cgroup hierarchy this agent can use (detectCgroups says why at start): nothing to kill.
      if (isBerthError(e)) return;
      throw e;
    }
    const cg = ContainerCgroup.open(layout, `berth/${id}`);
    if (cg.dirs().length === 0) return;
    try {
      await cg.killAll('SIGKILL');
      await cg.destroy();
    } catch (e) {
      this.log(`cleaning up the cgroup of container ${id.slice(0, 12)}: ${(e as Error).message}`);
    }
  }

  cgroups(): CgroupLayout {
    this.layout ??= detectCgroups();
    return this.layout;
  }

  containerDir(id: string): string {
    return join(this.dir, id);
  }

  /**
   * Writes the record. Durable (fsync) when it is created; state changes (running, exited) are
   * not: after a power loss the runtime state is rebuilt anyway (init: monitors, exit files),
   * and each fsync costs a disk flush on every start and exit.
   */
  save(rec: ContainerRecord, durable = true): void {
    writeFileAtomic(join(this.containerDir(rec.id), 'config.json'), JSON.stringify(rec, null, 1), 0o600, { durable });
  }

  emit(action: ContainerEventAction, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    this.events.emit('container', action, rec.id, { name: rec.name, image: rec.image.reference, ...extra });
  }

  find(ref: string, operation: string): ContainerRecord {
    const byId = this.records.get(ref);
    if (byId) return byId;
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    for (const r of this.records.values()) if (r.name === name) return r;
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = [...this.records.values()].filter((r) => r.id.startsWith(ref));
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) {
        throw new BerthError(ErrorCode.Conflict, `${operation}: "${ref}" matches ${matches.length} containers; give more of the ID`, {
          operation,
        });
      }
    }
    throw notFound(operation, ref);
  }

  tryFind(ref: string): ContainerRecord | undefined {
    try {
      return this.find(ref, 'find');
    } catch (e) {
      if (e instanceof BerthError && e.code === ErrorCode.NotFound) return undefined;
      throw e;
    }
  }

  /**
   * For `cp` (copy.ts): the container's filesystem as the helper assembles it (layers, upper,
   * /etc files, binds and volumes), and its init's pid while it runs.
   */
  filesystemOf(rec: ContainerRecord): { spec: Pick<ContainerSpec, 'rootfs' | 'mounts' | 'etcFiles'>; pid?: number } {
    const dir = this.containerDir(rec.id);
    const live = this.live.get(rec.id);
    return {
      pid: live?.launched.pid,
      spec: {
        rootfs: {
          lowerDirs: rec.layers.map((c) => this.store.layerDiffDir(c)).reverse(),
          upperDir: join(dir, 'upper'),
          workDir: join(dir, 'work'),
          mountPoint: join(dir, 'rootfs'),
        },
        mounts: [
          ...rec.mounts.binds.map(({ idmap: _idmap, ...b }) => b), // cp writes as root, unmapped
          ...rec.mounts.volumes.map((v) => ({ source: this.volumes.dataDir(v.name), target: v.destination, readOnly: v.readOnly })),
        ],
        etcFiles: { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') },
      },
    };
  }

  /**
   * For the verbs built on the service (diff.ts, commit.ts, top.ts, stats.ts, prune.ts): the
   * container's directory, its overlay upper dir and, while it runs, its cgroup.
   */
  runtimeOf(rec: ContainerRecord): { dir: string; upper: string; cgroup?: ContainerCgroup; running: boolean } {
    const live = this.live.get(rec.id);
    const dir = this.containerDir(rec.id);
    return { dir, upper: join(dir, 'upper'), cgroup: live?.cgroup, running: live !== undefined };
  }

  emitEvent(action: ContainerEventAction, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    this.emit(action, rec, extra);
  }

  removeRecord(rec: ContainerRecord, volumes = false): void {
    this.records.delete(rec.id);
    this.network.release(rec.id);
    this.store.discard(this.containerDir(rec.id));
    this.leases.get(rec.id)?.();
    this.leases.delete(rec.id);
    this.emit('destroy', rec);
    if (!volumes) return;
    for (const v of rec.mounts.volumes) {
      if (!v.anonymous) continue;
      try {
        this.volumes.remove(v.name);
      } catch (e) {
        this.log(`removing anonymous volume ${v.name} of container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
      }
    }
  }

  views(all = false): ContainerView[] {
    const up = (r: ContainerRecord) => r.state.status === 'running';
    const rows = [...this.records.values()].filter((r) => all || up(r));
    rows.sort((a, b) => Number(up(b)) - Number(up(a)) || b.createdAt.localeCompare(a.createdAt));
    return rows.map((r) => this.viewOf(r));
  }

  view(ref: string, operation = 'inspect container'): ContainerView {
    return this.viewOf(this.find(ref, operation));
  }

  private viewOf(record: ContainerRecord): ContainerView {
    const dir = this.containerDir(record.id);
    const running = this.live.has(record.id);
    const endpoint = running ? this.network.endpoint(record.id) : undefined;
    return {
      record,
      running,
      lowerDirs: record.layers.map((c) => this.store.layerDiffDir(c)).reverse(),
      upperDir: join(dir, 'upper'),
      workDir: join(dir, 'work'),
      volumeSources: record.mounts.volumes.map((v) => this.volumes.dataDir(v.name)),
      ...(endpoint ? { endpoint } : {}),
    };
  }
}

/**
 * The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, bind-mounted into the
 * container. They can always be made again from the record, so they are written without fsync;
 * with `onlyMissing`, files that exist with content (perhaps edited by the container) are kept.
 */
export function writeEtcFiles(dir: string, hostname: string, onlyMissing: boolean, mode: NetworkMode): void {
  // By network mode (network/etc.ts): a bridge container's hosts file is rewritten in place with
  // its address and the other containers when it starts; host mode gets the host's files.
  const files: [string, () => string][] = [
    ['hostname', () => `${hostname}\n`],
    ['hosts', () => initialHosts(mode, hostname)],
    ['resolv.conf', () => resolvConfFor(mode)],
  ];
  for (const [name, content] of files) {
    const path = join(dir, name);
    if (onlyMissing && existsSync(path) && statSync(path).size > 0) continue;
    writeFileAtomic(path, content(), 0o644, { durable: false });
  }
}

/** The cgroup limits of a record's (0 is none). */
export function limitsOf(l: ContainerRecord['limits']): Limits {
  const limits: Limits = {};
  if (l.memoryBytes) limits.memoryBytes = l.memoryBytes;
  if (l.nanoCpus) limits.cpus = l.nanoCpus / 1e9;
  if (l.pids > 0) limits.pidsLimit = l.pids;
  return limits;
}
