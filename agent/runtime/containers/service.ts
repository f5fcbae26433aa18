/**
 * The container service: the core's one front for containers (create, start, stop, kill, wait,
 * remove, list, inspect, logs), beside the image service. It owns the records under
 * `$BERTH_ROOT/containers/<id>/`, knows nothing of JSON-RPC or Docker's shapes (the presenters in
 * agent/presenters/ make those from {@link ContainerView}s), and reports changes as events through
 * the agent's {@link EventHub}.
 *
 * On disk, per container:
 *   config.json          the {@link ContainerRecord} (record.ts), written atomically on every change;
 *                        records of an older format are migrated and rewritten by init
 *   upper/ work/         overlayfs's writable layer and work dir (kept across stop/start)
 *   rootfs/              the empty host directory the helper mounts the overlay on, inside the
 *                        container's own mount namespace (it stays empty on the host)
 *   hostname hosts resolv.conf   bind-mounted over the image's /etc files (by network mode;
 *                        a bridge container's hosts is rewritten in place as others start
 *                        and stop: runtime/network)
 *   container.log[.1]    its output (see logs.ts)
 *
 * Running: start creates the cgroup `berth/<id>` and launches the plan through the C helper,
 * which stays as the container's monitor in its own session (not tied to the agent) and serves
 * the container's stdio, signals and exit on `<dir>/monitor.sock` (runtime/monitor.ts). The agent
 * connects there and writes the output into the log. When the monitor reports the exit, the OOM
 * counter is read, the cgroup emptied and removed, the state recorded, and `oom`/`die`/`stop`
 * emitted; `--rm` containers are then removed.
 *
 * Agent restarts: containers keep running without an agent; their monitors keep (up to 64 MiB
 * of) their output. A new agent, in {@link ContainerService.init}, connects to the monitor of
 * every container recorded as running and takes it over as if it had started it (the kept output
 * reaches the log first). A container that exited meanwhile left `exit` and `spill` files: its
 * output and exit are recorded as they would have been. Only a container whose monitor is gone
 * without a trace (killed, or a reboot) is marked exited with 255 ("its monitor went away"), and
 * what is left in its cgroup is killed. The overlay mount lives in the container's own mount
 * namespace, so a reboot leaves no mount to repair: the next start mounts afresh.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, hostname as osHostname, constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { ContainerEventAction, CreateContainerParams, LogLine, WaitContainerResult } from '../../../protocol';
import { BerthError, ErrorCode, isErrno, systemError } from '../../errors';
import type { EventHub } from '../../events';
import type { ImageService } from '../../image/service';
import { mkdirp, writeFileAtomic } from '../../store/fsutil';
import type { ImageRecord, Store } from '../../store/store';
import type { ImageConfigRun } from '../../image/oci';
import { ContainerCgroup, detectCgroups, validateLimits, V1_JOINED, type CgroupLayout, type Limits } from '../cgroups';
import { initPath } from '../../../native';
import { launch, type ExitStatus, type LaunchedContainer } from '../helper';
import { clearMonitorFiles, connectMonitor, readLeftovers } from '../monitor';
import { buildLaunchPlan, resolveCapabilities } from '../plan';
import { NetworkManager, networkConfig, validateNetwork, type NetworkContainer, type NetworkEndpoint, type NetworkMode } from '../network';
import { initialHosts, resolvConfFor } from '../network/etc';
import { exposedPorts } from '../network/ports';
import type { BindMountSpec, ContainerSpec } from '../spec';
import { checkName, parseBind, resolveProcess, resolveUser, userNamespaceOf, USERNS_AUTO } from './config';
import { LogWriter, readLogs } from './logs';
import { generateName } from './names';
import { RootfsReader, type LayerFs } from './rootfs';
import { parseVolumeBind, VolumeService } from '../volumes';
import { CONTAINER_FORMAT, parseContainerRecord, RecordFormatError, type ContainerRecord, type HostBind } from './record';

export type { ContainerRecord } from './record';

/** The image of a build step's container (see {@link ContainerService.create}). */
export interface BuildBase {
  id: string;
  layers: ImageRecord['layers'];
  config: ImageConfigRun;
}

/**
 * The user namespace of a container at start, with the empty `lowers/0..N-1` dirs beside its
 * mount point that the helper attaches the idmapped layers on (berth-helper.c, op_overlay).
 */
function prepareUserns(dir: string, mode: string | undefined, layers: number): ReturnType<typeof userNamespaceOf> {
  const userns = userNamespaceOf(mode);
  if (!userns) return undefined;
  const lowers = join(dir, 'lowers');
  rmSync(lowers, { recursive: true, force: true });
  mkdirSync(lowers, { mode: 0o711 });
  for (let i = 0; i < layers; i++) mkdirSync(join(lowers, String(i)), { mode: 0o755 });
  return userns;
}

/**
 * A host bind as the helper mounts it: with `idmap`, the container's user (or the ids given) maps
 * to the owner of the host path, read at each start.
 */
function idmapped(b: HostBind, user: { uid: number; gid: number }): BindMountSpec {
  const { idmap, ...rest } = b;
  if (!idmap) return rest;
  let owner: { uid: number; gid: number };
  try {
    owner = statSync(b.source);
  } catch (e) {
    throw systemError('start container', e, { path: b.source });
  }
  return {
    ...rest,
    idmap: {
      uidMap: [{ containerId: idmap.uid ?? user.uid, hostId: owner.uid, size: 1 }],
      gidMap: [{ containerId: idmap.gid ?? user.gid, hostId: owner.gid, size: 1 }],
    },
  };
}

/** Exit code recorded for a container the agent lost track of (Docker's for the same case). */
const LOST_EXIT_CODE = 255;
const DEFAULT_STOP_TIMEOUT_S = 10;
const START_TIMEOUT_MS = 30_000;
/** How long to wait for the last output after the helper reported the exit. */
const DRAIN_MS = 2000;

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

interface Live {
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

function notFound(operation: string, ref: string): BerthError {
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

export class ContainerService {
  readonly dir: string;
  private readonly records = new Map<string, ContainerRecord>();
  private readonly live = new Map<string, Live>();
  private readonly starting = new Set<string>();
  private readonly leases = new Map<string, () => void>();
  private readonly waiters = new Map<string, Set<(r: WaitContainerResult) => void>>();
  private layout?: CgroupLayout;
  private readonly log: (msg: string) => void;
  /** The volumes containers mount (volumes.ts). */
  readonly volumes: VolumeService;
  /** Networks: addresses, namespaces, published ports, /etc/hosts (runtime/network). */
  readonly network: NetworkManager;

  constructor(
    readonly store: Store,
    readonly images: ImageService,
    readonly events: EventHub,
    private readonly opts: ContainerServiceOptions = {},
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

  /**
   * Records that could not be read at init (see {@link init}): the container's directory and why.
   * Such a container is not served (nor removed); its directory is left as it is for a person.
   */
  readonly unreadable: { dir: string; reason: string }[] = [];

  /**
   * Loads the records, migrating those of an older format (rewritten atomically in the current
   * one: record.ts); containers recorded as running are taken over or marked exited (see the
   * module comment). Volumes are migrated first. A record that cannot be read or migrated is
   * logged, listed in {@link unreadable} and left on disk untouched. Call once, before serving.
   */
  async init(): Promise<void> {
    mkdirp(this.dir);
    this.volumes.migrate((m) => this.log(m));
    for (const id of readdirSync(this.dir)) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const rec = this.load(id);
      if (!rec) continue;
      this.records.set(rec.id, rec);
      this.leases.set(rec.id, this.store.lease(rec.layers));
      if (rec.state.status === 'running') await this.reattach(rec);
      else await this.killLeftovers(rec.id);
    }
    // Networks: addresses of containers that are gone are released, the namespaces and veths of
    // containers that stopped without this agent are deleted, running ones get their ports back.
    const recs = [...this.records.values()];
    await this.network.init(
      (id) => this.records.has(id),
      recs.filter((r) => !this.live.has(r.id)).map((r) => r.id),
    );
    const running = recs
      .filter((r) => this.live.has(r.id))
      .flatMap((r) => {
        try {
          return [this.networkOf(r)];
        } catch (e) {
          this.log(`container ${r.id.slice(0, 12)}: ${(e as Error).message}; its ports are not published`);
          return [];
        }
      });
    await this.network.restore(running);
  }

  /**
   * Reads container `id`'s record, migrating (and rewriting) one of an older format. Undefined
   * when there is none to serve: a directory without a record (a create that died before writing
   * it) is removed; a record that cannot be read or migrated is reported and left alone.
   */
  private load(id: string): ContainerRecord | undefined {
    const path = join(this.dir, id, 'config.json');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw systemError('load containers', e, { path });
      this.log(`removing container directory ${id}: it has no record (a create that did not finish)`);
      this.store.discard(join(this.dir, id));
      return undefined;
    }
    const unreadable = (reason: string) => {
      this.log(
        `container ${id.slice(0, 12)}: its record ${path} cannot be read: ${reason}; the container is not loaded and its directory is left as it is`,
      );
      this.unreadable.push({ dir: join(this.dir, id), reason });
      return undefined;
    };
    if (text.length === 0) {
      // An empty file is what a crash between create and the record's fsync leaves: nothing refers to it.
      this.log(`removing container directory ${id}: its record is empty (a create that did not finish)`);
      this.store.discard(join(this.dir, id));
      return undefined;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      return unreadable(`not JSON (${(e as Error).message})`);
    }
    let parsed: ReturnType<typeof parseContainerRecord>;
    try {
      parsed = parseContainerRecord(raw);
    } catch (e) {
      if (!(e instanceof RecordFormatError)) throw e;
      return unreadable(e.message);
    }
    const { record, migrated } = parsed;
    if (record.id !== id) return unreadable(`it names container ${record.id.slice(0, 80)}, not the directory's ${id}`);
    if (migrated) {
      this.save(record);
      this.log(`container ${id.slice(0, 12)} (${record.name}): record migrated to format ${CONTAINER_FORMAT}`);
    }
    return record;
  }

  /** What the network hooks need of a record. */
  private networkOf(rec: ContainerRecord): NetworkContainer {
    return {
      id: rec.id,
      name: rec.name,
      hostname: rec.hostname,
      mode: rec.network.mode,
      ports: rec.network.ports,
      hostsPath: join(this.containerDir(rec.id), 'hosts'),
    };
  }

  /**
   * A container recorded as running when this agent started: taken over from its monitor, or
   * its exit (and the output kept meanwhile) recorded from what the monitor left.
   */
  private async reattach(rec: ContainerRecord): Promise<void> {
    const dir = this.containerDir(rec.id);
    const short = `${rec.name} (${rec.id.slice(0, 12)})`;
    let launched: LaunchedContainer | undefined;
    try {
      launched = await connectMonitor(dir, rec.state.pid);
    } catch {
      /* no monitor listens: see below */
    }
    if (launched) {
      try {
        const cgroup = ContainerCgroup.open(this.cgroups(), `berth/${rec.id}`);
        this.adopt(rec, launched, cgroup, new LogWriter(dir), false);
        this.log(`container ${short} is still running: taken over from its monitor`);
        return;
      } catch (e) {
        this.log(`taking over container ${short}: ${(e as Error).message}; killing it`);
        launched.kill('SIGKILL');
        await launched.exited;
      }
    }
    const left = readLeftovers(dir);
    let logs: LogWriter | undefined;
    try {
      logs = new LogWriter(dir);
      for (const o of left.output) logs.write(o.stream, o.data.toString('utf8'));
    } catch (e) {
      this.log(`writing the kept output of container ${short}: ${(e as Error).message}`);
    } finally {
      logs?.close();
    }
    await this.killLeftovers(rec.id);
    const exit = left.exit;
    if (exit) this.log(`container ${short} exited (${exit.code}) while no agent was running`);
    else this.log(`container ${short} was running, but its monitor is gone: marking it exited`);
    rec.state = {
      ...rec.state,
      status: 'exited',
      pid: 0,
      exitCode: exit ? exit.code : LOST_EXIT_CODE,
      finishedAt: new Date().toISOString(),
      error: exit ? '' : "the container's monitor went away (killed, or the machine restarted)",
    };
    this.save(rec, false);
    if (rec.autoRemove) {
      try {
        this.removeRecord(rec, true);
      } catch (e) {
        this.log(`auto-removing container ${short}: ${(e as Error).message}`);
      }
    }
  }

  /** Network teardowns still deleting links, by container (see onExit). */
  private readonly netTeardowns = new Map<string, Promise<void>>();

  private trackTeardown(id: string, links: Promise<void>): void {
    const p = links.catch((e: Error) => this.log(`removing the network links of container ${id.slice(0, 12)}: ${e.message}`));
    this.netTeardowns.set(id, p);
    void p.finally(() => {
      if (this.netTeardowns.get(id) === p) this.netTeardowns.delete(id);
    });
  }

  /** Kills every process in the container's cgroup and removes it, if there is one. */
  private async killLeftovers(id: string): Promise<void> {
    let layout: CgroupLayout;
    try {
      layout = this.cgroups();
    } catch {
      return;
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

  private cgroups(): CgroupLayout {
    this.layout ??= detectCgroups();
    return this.layout;
  }

  private containerDir(id: string): string {
    return join(this.dir, id);
  }

  /**
   * Writes the record. Durable (fsync) when it is created; state changes (running, exited) are
   * not: after a power loss the runtime state is rebuilt anyway (init: monitors, exit files),
   * and each fsync costs a disk flush on every start and exit.
   */
  private save(rec: ContainerRecord, durable = true): void {
    writeFileAtomic(join(this.containerDir(rec.id), 'config.json'), JSON.stringify(rec, null, 1), 0o600, { durable });
  }

  private emit(action: ContainerEventAction, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    this.events.emit('container', action, rec.id, { name: rec.name, image: rec.image.reference, ...extra });
  }

  /** Finds a container by full ID, name ("web" or "/web") or unique ID prefix. */
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

  /** Like {@link find}, but undefined when there is no such container. */
  tryFind(ref: string): ContainerRecord | undefined {
    try {
      return this.find(ref, 'find');
    } catch (e) {
      if (e instanceof BerthError && e.code === ErrorCode.NotFound) return undefined;
      throw e;
    }
  }

  /**
   * For the verbs built on the service (diff.ts, commit.ts, top.ts, stats.ts, prune.ts): the
   * container's directory, its overlay upper dir and, while it runs, its cgroup.
   */
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
   * Containers whose stopped filesystem is assembled right now (copy.ts): they cannot start
   * meanwhile (overlayfs takes one mount per upper dir), and start says so.
   */
  readonly held = new Set<string>();

  runtimeOf(rec: ContainerRecord): { dir: string; upper: string; cgroup?: ContainerCgroup; running: boolean } {
    const live = this.live.get(rec.id);
    const dir = this.containerDir(rec.id);
    return { dir, upper: join(dir, 'upper'), cgroup: live?.cgroup, running: live !== undefined };
  }

  /** Emits a container event (for the verbs built on the service). */
  emitEvent(action: ContainerEventAction, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    this.emit(action, rec, extra);
  }

  // --- create ----------------------------------------------------------------------------------

  /**
   * `base`: for build steps (agent/build): the image to run is not an image record but a config
   * and layers in the store (its `id` is the config's digest); `p.image` is then only recorded.
   */
  async create(p: CreateContainerParams, base?: BuildBase): Promise<{ Id: string; Name: string }> {
    const op = 'create container';
    const invalid = (m: string) => new BerthError(ErrorCode.InvalidArgument, `${op}: ${m}`, { operation: op });
    const image = base ?? this.images.lookup(p.image, op);
    const imageConfig = base ? base.config : (this.images.config(image as ImageRecord).config ?? {});
    const id = randomBytes(32).toString('hex');

    if (p.userns !== undefined && p.userns !== 'host' && p.userns !== 'auto')
      throw invalid(`invalid userns "${String(p.userns)}": want host or auto`);
    const net = validateNetwork(op, p.networkMode, p.ports);
    // With the host's network a container is named like the host, as Docker does.
    const hostname =
      p.hostname ?? (net.mode === 'host' && /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(osHostname()) ? osHostname() : id.slice(0, 12));
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) throw invalid(`invalid hostname "${hostname}"`);
    const volumeSpecs: { name?: string; destination: string; readOnly: boolean }[] = [];
    for (const b of p.binds ?? []) {
      const vol = parseVolumeBind(b, op);
      if (vol) {
        volumeSpecs.push(vol);
        continue;
      }
      const parsed = parseBind(b);
      if (!existsSync(parsed.source)) throw invalid(`bind source path does not exist: ${parsed.source}`);
    }
    // The image's Volumes that no -v covers get anonymous volumes, as Docker gives them.
    const covered = new Set(
      (p.binds ?? []).map((b) => (parseVolumeBind(b, op) ?? { destination: parseBind(b).target }).destination.replace(/\/+$/, '') || '/'),
    );
    for (const path of Object.keys(imageConfig.Volumes ?? {})) {
      const dest = path.replace(/\/+$/, '') || '/';
      if (dest.startsWith('/') && !covered.has(dest) && !dest.split('/').includes('..'))
        volumeSpecs.push({ destination: dest, readOnly: false });
    }
    const limits = limitsOf({ memoryBytes: p.memory ?? 0, nanoCpus: p.nanoCpus ?? 0, pids: p.pidsLimit ?? 0 });
    try {
      validateLimits(limits, availableParallelism());
    } catch (e) {
      if (e instanceof BerthError) throw invalid(e.message);
      throw e;
    }
    resolveCapabilities({ capAdd: p.capAdd, capDrop: p.capDrop, privileged: p.privileged });
    for (const l of image.layers) {
      if (!this.store.hasLayer(l.chainId))
        throw new BerthError(ErrorCode.NotFound, `${op}: layer ${l.chainId} of image ${image.id} is missing from the store`, {
          operation: op,
        });
    }
    const lowerDirs = image.layers.map((l) => this.store.layerDiffDir(l.chainId)).reverse();
    const proc = resolveProcess(
      imageConfig,
      { cmd: p.cmd, entrypoint: p.entrypoint, env: p.env, workingDir: p.workingDir, user: p.user },
      hostname,
      new RootfsReader(lowerDirs, this.opts.layerFs),
    );

    // The name is checked and taken synchronously from here on, so two creates cannot both get it.
    let name: string;
    if (p.name !== undefined) {
      name = checkName(p.name);
      const other = [...this.records.values()].find((r) => r.name === name);
      if (other) {
        throw new BerthError(
          ErrorCode.Conflict,
          `${op}: the container name "/${name}" is already in use by container ${other.id.slice(0, 12)}; remove it or choose another name`,
          {
            operation: op,
          },
        );
      }
    } else {
      name = generateName((n) => [...this.records.values()].some((r) => r.name === n));
    }

    const binds = (p.binds ?? []).filter((b) => parseVolumeBind(b, op) === undefined).map(parseBind);
    const rec: ContainerRecord = {
      formatVersion: CONTAINER_FORMAT,
      id,
      name,
      createdAt: new Date().toISOString(),
      image: { id: image.id, reference: p.image },
      layers: image.layers.map((l) => l.chainId),
      process: {
        path: proc.args[0],
        args: proc.args.slice(1),
        entrypoint: proc.entrypoint,
        cmd: proc.cmd,
        env: proc.env,
        workingDir: proc.workingDirSpec,
        user: proc.userSpec,
        tty: p.tty === true,
        openStdin: p.openStdin === true,
        stdinOnce: p.openStdin === true && p.stdinOnce === true,
        stopSignal: imageConfig.StopSignal ?? '',
        init: p.init === true,
      },
      hostname,
      labels: { ...(imageConfig.Labels ?? {}), ...(p.labels ?? {}) },
      mounts: { given: [...(p.binds ?? [])], binds, volumes: [] },
      limits: { memoryBytes: p.memory ?? 0, nanoCpus: p.nanoCpus ?? 0, pids: p.pidsLimit ?? 0 },
      security: {
        privileged: p.privileged === true,
        capAdd: [...(p.capAdd ?? [])],
        capDrop: [...(p.capDrop ?? [])],
        userns: p.userns === 'auto' ? 'auto' : 'host',
      },
      autoRemove: p.autoRemove === true,
      network: { mode: net.mode, ports: net.bindings, exposed: Object.keys(exposedPorts(imageConfig.ExposedPorts, net.bindings)) },
      state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false, error: '' },
    };
    // The address first (a full subnet is a Conflict before anything is made); released again
    // below if what follows fails.
    if (net.mode === 'bridge') this.network.allocate(id, op);
    // Volumes: created when missing, and seeded from the image when new.
    const made: string[] = [];
    try {
      rec.mounts.volumes = volumeSpecs.map((v) => {
        const { volume, created } = this.volumes.ensure(v.name, { anonymous: v.name === undefined, operation: op });
        if (created) {
          made.push(volume.record.name);
          this.volumes.seed(volume.record.name, lowerDirs, v.destination);
        }
        return { name: volume.record.name, destination: v.destination, readOnly: v.readOnly, anonymous: v.name === undefined };
      });
    } catch (e) {
      for (const n of made) {
        try {
          this.volumes.remove(n, op);
        } catch {
          /* best effort: a half-made volume is left for prune */
        }
      }
      this.network.release(id);
      throw systemError(op, e);
    }
    this.records.set(id, rec);
    this.leases.set(id, this.store.lease(rec.layers));
    const dir = this.containerDir(id);
    try {
      mkdirp(dir, 0o700);
      for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, d), { mode: 0o755 });
      // In a user namespace the writable layer belongs to the container's root, and the path to
      // its mount point must be traversable by it (0711: no listing; the layers and everything
      // else reach the helper as fds, see idmap_lowers in berth-helper.c).
      if (p.userns === 'auto') {
        for (const d of ['upper', 'work']) chownSync(join(dir, d), USERNS_AUTO.hostId, USERNS_AUTO.hostId);
        for (const d of [this.store.root, this.dir, dir]) chmodSync(d, (statSync(d).mode & 0o7777) | 0o111);
      }
      writeEtcFiles(dir, hostname, false, net.mode);
      this.save(rec);
    } catch (e) {
      this.network.release(id);
      this.records.delete(id);
      this.leases.get(id)?.();
      this.leases.delete(id);
      this.store.discard(dir);
      throw systemError(op, e, { path: dir });
    }
    this.emit('create', rec);
    return { Id: id, Name: name };
  }

  // --- start -----------------------------------------------------------------------------------

  /**
   * Starts the container; resolves once its command runs. `attach` receives every line of this
   * run, from the first.
   */
  async start(ref: string, attach?: (l: LogLine) => void, stream?: StartStream): Promise<StreamHandle | undefined> {
    const op = 'start container';
    const rec = this.find(ref, op);
    const running = this.live.get(rec.id);
    if (running) return stream ? this.streamHandle(rec, running, stream) : undefined;
    if (this.starting.has(rec.id))
      throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is being started`, { operation: op });
    if (this.held.has(rec.id))
      throw new BerthError(
        ErrorCode.Conflict,
        `${op}: files are being copied to or from container ${rec.name}; try again when the copy is done`,
        { operation: op },
      );
    this.starting.add(rec.id);
    try {
      const live = await this.launch(rec, attach, stream);
      return stream ? this.streamHandle(rec, live, stream, true) : undefined;
    } finally {
      this.starting.delete(rec.id);
    }
  }

  /** Attaches `stream` to a running container (already subscribed when `subscribed`). */
  private streamHandle(rec: ContainerRecord, live: Live, stream: StartStream, subscribed = false): StreamHandle {
    if (!subscribed) live.outputs.add(stream.onOutput);
    const stdin = rec.process.openStdin ? live.launched.stdin : null;
    let detached = false;
    return {
      write: (d) => void (stdin && !stdin.destroyed && !stdin.writableEnded && stdin.write(d)),
      end: () => void (stdin && !stdin.destroyed && stdin.end()),
      resize: (r, c) => (rec.process.tty ? live.launched.resize(r, c) : undefined),
      pending: () => stdin?.writableLength ?? 0,
      done: live.done,
      detach: () => {
        if (detached) return;
        detached = true;
        live.outputs.delete(stream.onOutput);
        if (rec.process.stdinOnce && stdin && !stdin.destroyed) stdin.end();
      },
    };
  }

  private async launch(rec: ContainerRecord, attach?: (l: LogLine) => void, stream?: StartStream): Promise<Live> {
    const op = 'start container';
    const dir = this.containerDir(rec.id);
    for (const c of rec.layers) {
      if (!this.store.hasLayer(c))
        throw new BerthError(ErrorCode.NotFound, `${op}: layer ${c} of image ${rec.image.id} is missing from the store`, { operation: op });
    }
    // Written without fsync at create (they cost a disk flush each): after a power loss, write
    // again whichever came back missing or empty.
    writeEtcFiles(dir, rec.hostname, true, rec.network.mode);
    const lowerDirs = rec.layers.map((c) => this.store.layerDiffDir(c)).reverse();
    const upper = join(dir, 'upper');
    let cgroup: ContainerCgroup | undefined;
    let logs: LogWriter | undefined;
    let netUp = false;
    try {
      // The user is looked up at each start, in the container's own files (its upper layer too).
      const user = resolveUser(rec.process.user, new RootfsReader([upper, ...lowerDirs], this.opts.layerFs));
      const layout = this.cgroups();
      const name = `berth/${rec.id}`;
      await this.killLeftovers(rec.id);
      cgroup = ContainerCgroup.create(layout, name, limitsOf(rec.limits), { allowAllDevices: rec.security.privileged });
      logs = new LogWriter(dir);
      if (attach) logs.subscribe(attach);
      // The network before the launch: the process starts inside it (bridge), or in a fresh
      // namespace with only lo (none), or in the host's (host). Undone in the catch below.
      const netc = this.networkOf(rec);
      await this.netTeardowns.get(rec.id); // the last run's veth and namespace are gone first
      netUp = true;
      const { netnsPath } = await this.network.setUp(netc, op);
      const spec: ContainerSpec = {
        id: rec.id,
        rootfs: { lowerDirs, upperDir: upper, workDir: join(dir, 'work'), mountPoint: join(dir, 'rootfs') },
        process: { args: [rec.process.path, ...rec.process.args], env: rec.process.env, cwd: rec.process.workingDir || '/', user },
        hostname: rec.hostname,
        capAdd: rec.security.capAdd,
        capDrop: rec.security.capDrop,
        userNamespace: prepareUserns(dir, rec.security.userns, lowerDirs.length),
        privileged: rec.security.privileged,
        network: netc.mode === 'host' ? 'host' : 'private',
        netns: netnsPath,
        mounts: [
          ...rec.mounts.binds.map((b) => idmapped(b, user)),
          ...rec.mounts.volumes.map((v) => ({ source: this.volumes.dataDir(v.name), target: v.destination, readOnly: v.readOnly })),
        ],
        etcFiles: { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') },
        cgroupProcs: cgroup.procsFiles(),
        monitor: { dir, stdin: rec.process.openStdin },
        ...(rec.process.init ? { init: initPath() } : {}),
        cgroupfs: cgroupFsOf(layout),
      };
      if (rec.process.tty) spec.process.terminal = { rows: stream?.rows || 24, cols: stream?.cols || 80 };
      clearMonitorFiles(dir);
      const launched = await launch(buildLaunchPlan(spec), undefined, { timeoutMs: START_TIMEOUT_MS });
      const live = this.adopt(rec, launched, cgroup, logs, true, stream);
      return live;
    } catch (e) {
      logs?.close();
      if (netUp) await this.network.tearDown(rec.id);
      if (cgroup) await cgroup.destroy().catch(() => undefined);
      rec.state = { ...rec.state, error: (e as Error).message };
      this.save(rec, false);
      throw e;
    }
  }

  /**
   * Makes `launched` (fresh from the helper, or a monitor taken over after an agent restart:
   * `fresh` false) the container's live state: output into the log and to attached clients,
   * the exit handled when it comes. A fresh start records the running state and emits `start`.
   */
  private adopt(
    rec: ContainerRecord,
    launched: LaunchedContainer,
    cgroup: ContainerCgroup,
    logs: LogWriter,
    fresh: boolean,
    stream?: StartStream,
  ): Live {
    const tty = rec.process.tty;
    launched.stdin?.on('error', () => {
      /* the container is gone; its exit tells */
    });
    const outputs = new Set<(s: 'stdout' | 'stderr' | 'tty', d: Buffer) => void>();
    if (stream) outputs.add(stream.onOutput);
    // The log gets text (a decoder per stream keeps characters split across chunks whole); attached
    // clients get the bytes. A Tty's one stream is logged as stdout, as Docker does.
    for (const [pipe, name] of [
      [launched.stdout!, 'stdout'],
      [launched.stderr!, 'stderr'],
    ] as const) {
      const decoder = new StringDecoder('utf8');
      const shown = tty && name === 'stdout' ? 'tty' : name;
      pipe.on('data', (d: Buffer) => {
        logs.write(name, decoder.write(d));
        for (const fn of outputs) {
          try {
            fn(shown, d);
          } catch (e) {
            this.log(`attached output of container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
          }
        }
      });
      pipe.once('end', () => logs.write(name, decoder.end()));
    }
    let resolveDone!: () => void;
    const live: Live = { launched, cgroup, logs, stopping: false, done: new Promise((r) => (resolveDone = r)), outputs };
    this.live.set(rec.id, live);
    if (fresh) {
      rec.state = {
        status: 'running',
        pid: launched.pid,
        exitCode: 0,
        oomKilled: false,
        startedAt: new Date().toISOString(),
        ...(rec.state.finishedAt ? { finishedAt: rec.state.finishedAt } : {}),
        error: '',
      };
      this.save(rec, false);
      for (const v of rec.mounts.volumes)
        this.volumes.emit('mount', v.name, { container: rec.id, destination: v.destination, 'read/write': String(!v.readOnly) });
      this.emit('start', rec);
    }
    void launched.exited
      .then((status) => this.onExit(rec, live, status))
      .catch((e) => this.log(`handling the exit of container ${rec.id.slice(0, 12)}: ${(e as Error)?.stack ?? e}`))
      .finally(resolveDone);
    return live;
  }

  private async onExit(rec: ContainerRecord, live: Live, status: ExitStatus): Promise<void> {
    const { launched, cgroup, logs } = live;
    // The pid namespace died with init; wait (bounded) for the pipes to deliver the last output.
    await Promise.all(
      [launched.stdout, launched.stderr].map(
        (s) =>
          new Promise<void>((r) => {
            if (!s || s.readableEnded || s.destroyed) return r();
            const t = setTimeout(r, DRAIN_MS);
            s.once('close', () => (clearTimeout(t), r()));
          }),
      ),
    );
    let oom = false;
    try {
      oom = cgroup.oomKilled();
    } catch {
      /* the counter is gone: report none */
    }
    try {
      await cgroup.killAll('SIGKILL');
      await cgroup.destroy();
    } catch (e) {
      this.log(`removing the cgroup of container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
    }
    // Its processes are gone: the proxies close and the hosts files are rewritten now; the veth
    // and namespace go after the exit is reported (the next start and rm wait for it), unless the
    // container is removed right away (--rm).
    await this.network.tearDown(rec.id, false, rec.autoRemove ? {} : { deferLinks: (links) => this.trackTeardown(rec.id, links) });
    logs.close();
    this.live.delete(rec.id);
    rec.state = {
      ...rec.state,
      status: 'exited',
      pid: 0,
      exitCode: status.code,
      oomKilled: oom,
      finishedAt: new Date().toISOString(),
      ...(status.lost ? { error: "the container's monitor went away without reporting its exit" } : {}),
    };
    if (this.records.has(rec.id)) this.save(rec, false);
    for (const v of rec.mounts.volumes) this.volumes.emit('unmount', v.name, { container: rec.id });
    if (oom) this.emit('oom', rec);
    this.emit('die', rec, { exitCode: String(status.code) });
    if (live.stopping) this.emit('stop', rec);
    const result: WaitContainerResult = { StatusCode: status.code, OOMKilled: oom, ...(rec.state.error ? { Error: rec.state.error } : {}) };
    const ws = this.waiters.get(rec.id);
    this.waiters.delete(rec.id);
    for (const w of ws ?? []) w(result);
    if (rec.autoRemove && this.records.has(rec.id)) {
      try {
        this.removeRecord(rec, true);
      } catch (e) {
        this.log(`auto-removing container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
      }
    }
  }

  // --- stop, kill, wait ------------------------------------------------------------------------

  async stop(ref: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_S): Promise<void> {
    const op = 'stop container';
    const rec = this.find(ref, op);
    const live = this.live.get(rec.id);
    if (!live) return;
    live.stopping = true;
    const [sig, num] = parseSignal(rec.process.stopSignal || 'SIGTERM', op);
    this.emit('kill', rec, { signal: String(num) });
    live.launched.kill(sig);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      live.done.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, timeoutSeconds) * 1000))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.emit('kill', rec, { signal: String(osConstants.signals.SIGKILL) });
      live.launched.kill('SIGKILL');
      await live.cgroup.killAll('SIGKILL').catch(() => undefined);
      await live.done;
    }
  }

  kill(ref: string, signal = 'SIGKILL'): void {
    const op = 'kill container';
    const rec = this.find(ref, op);
    const [sig, num] = parseSignal(signal, op);
    const live = this.live.get(rec.id);
    if (!live) throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is not running`, { operation: op });
    this.emit('kill', rec, { signal: String(num) });
    live.launched.kill(sig);
  }

  /** Resolves at the exit (see WaitContainerParams.condition); `signal` aborts with Cancelled. */
  wait(ref: string, condition: 'not-running' | 'next-exit' = 'not-running', signal?: AbortSignal): Promise<WaitContainerResult> {
    const op = 'wait container';
    const rec = this.find(ref, op);
    if (condition === 'not-running' && !this.live.has(rec.id) && !this.starting.has(rec.id)) {
      return Promise.resolve({
        StatusCode: rec.state.exitCode,
        OOMKilled: rec.state.oomKilled,
        ...(rec.state.error ? { Error: rec.state.error } : {}),
      });
    }
    return new Promise((resolve, reject) => {
      let set = this.waiters.get(rec.id);
      if (!set) this.waiters.set(rec.id, (set = new Set()));
      const w = (r: WaitContainerResult) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const onAbort = () => {
        set!.delete(w);
        reject(new BerthError(ErrorCode.Cancelled, `${op}: cancelled`, { operation: op }));
      };
      set.add(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  // --- remove ----------------------------------------------------------------------------------

  async remove(ref: string, force = false, volumes = false): Promise<void> {
    const op = 'remove container';
    const rec = this.find(ref, op);
    if (this.held.has(rec.id))
      throw new BerthError(
        ErrorCode.Conflict,
        `${op}: files are being copied to or from container ${rec.name}; try again when the copy is done`,
        { operation: op },
      );
    const live = this.live.get(rec.id);
    if (live || this.starting.has(rec.id)) {
      if (!force || !live) {
        throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is running; stop it first or use --force`, {
          operation: op,
        });
      }
      this.emit('kill', rec, { signal: String(osConstants.signals.SIGKILL) });
      live.launched.kill('SIGKILL');
      await live.cgroup.killAll('SIGKILL').catch(() => undefined);
      await live.done;
    }
    await this.netTeardowns.get(rec.id);
    if (this.records.has(rec.id)) this.removeRecord(rec, volumes);
  }

  /** `volumes`: its anonymous volumes go too (`rm -v`, `--rm`); otherwise they stay, dangling. */
  private removeRecord(rec: ContainerRecord, volumes = false): void {
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

  // --- views (for the presenters), logs ---------------------------------------------------------

  /** The containers (only the running ones unless `all`): running first, then newest first. */
  views(all = false): ContainerView[] {
    const up = (r: ContainerRecord) => r.state.status === 'running';
    const rows = [...this.records.values()].filter((r) => all || up(r));
    rows.sort((a, b) => Number(up(b)) - Number(up(a)) || b.createdAt.localeCompare(a.createdAt));
    return rows.map((r) => this.viewOf(r));
  }

  /** One container, by ID, name or unique ID prefix (NotFound naming `operation` otherwise). */
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

  /**
   * The stored lines. With `follow`, each line (stored, then new) goes to `onLine`, and the promise
   * settles when the container is not running any more or `signal` aborts.
   */
  async logs(
    ref: string,
    opts: { since?: number; tail?: number; follow?: boolean; onLine?: (l: LogLine) => void; signal?: AbortSignal },
  ): Promise<LogLine[]> {
    const rec = this.find(ref, 'logs');
    const dir = this.containerDir(rec.id);
    // Read and subscribe in the same tick: the writer appends synchronously, so nothing is missed.
    const lines = readLogs(dir, { since: opts.since, tail: opts.tail });
    if (!opts.follow || !opts.onLine) return lines;
    const onLine = opts.onLine;
    for (const l of lines) onLine(l);
    const live = this.live.get(rec.id);
    if (!live) return [];
    const unsubscribe = live.logs.subscribe(onLine);
    try {
      await new Promise<void>((resolve) => {
        if (opts.signal?.aborted) return resolve();
        opts.signal?.addEventListener('abort', () => resolve(), { once: true });
        void live.done.then(resolve);
      });
    } finally {
      unsubscribe();
    }
    return [];
  }
}

/**
 * The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, bind-mounted into the
 * container. They can always be made again from the record, so they are written without fsync;
 * with `onlyMissing`, files that exist with content (perhaps edited by the container) are kept.
 */
function writeEtcFiles(dir: string, hostname: string, onlyMissing: boolean, mode: NetworkMode): void {
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
function limitsOf(l: ContainerRecord['limits']): Limits {
  const limits: Limits = {};
  if (l.memoryBytes) limits.memoryBytes = l.memoryBytes;
  if (l.nanoCpus) limits.cpus = l.nanoCpus / 1e9;
  if (l.pids > 0) limits.pidsLimit = l.pids;
  return limits;
}

/**
 * The cgroup filesystems a container sees at /sys/fs/cgroup: cgroup2, or the v1 hierarchies it
 * joins (each with all its co-mounted controllers, as mounting one needs). See ContainerSpec.
 */
function cgroupFsOf(layout: CgroupLayout): ContainerSpec['cgroupfs'] {
  if (layout.mode === 'v2') return { version: 2 };
  const mounts = new Set(V1_JOINED.map((c) => layout.v1[c]).filter((m): m is string => !!m));
  return {
    version: 1,
    hierarchies: [...mounts].map((m) =>
      Object.keys(layout.v1)
        .filter((c) => layout.v1[c] === m)
        .sort(),
    ),
  };
}
