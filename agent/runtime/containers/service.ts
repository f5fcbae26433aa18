/**
 * The container service: the core's one front for containers (create, start, stop, kill, wait,
 * remove, list, inspect, logs), beside the image service. It owns the records under
 * `$BERTH_ROOT/containers/<id>/`, knows nothing of JSON-RPC, and reports changes as Docker-shaped
 * events through the agent's {@link EventHub}.
 *
 * On disk, per container:
 *   config.json          the {@link ContainerRecord}, written atomically on every change
 *   upper/ work/         overlayfs's writable layer and work dir (kept across stop/start)
 *   rootfs/              the empty host directory the helper mounts the overlay on, inside the
 *                        container's own mount namespace (it stays empty on the host)
 *   hostname hosts resolv.conf   bind-mounted over the image's /etc files
 *   container.log[.1]    its output (see logs.ts)
 *
 * Running: start creates the cgroup `berth/<id>`, launches the plan through the C helper (which
 * stays as the container's monitor, a child of the agent) and pipes stdout/stderr into the log.
 * When the helper reports the exit, the OOM counter is read, the cgroup emptied and removed, the
 * state recorded, and `oom`/`die`/`stop` emitted; `--rm` containers are then removed.
 *
 * Agent restarts: the helper's status pipe and the container's output pipes lead to the agent
 * that started it, so a new agent cannot take a running container over. At start the agent marks
 * every container recorded as running as exited (Error "the agent restarted"), kills whatever is
 * left in its cgroup and removes the cgroup. Containers do not survive an agent restart yet.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { ContainerEventAction, ContainerInspect, ContainerState, ContainerSummary, CreateContainerParams, LogLine, WaitContainerResult } from '../../../protocol';
import { BerthError, ErrorCode, systemError } from '../../errors';
import type { EventHub } from '../../events';
import type { ImageService } from '../../image/service';
import { mkdirp, writeFileAtomic } from '../../store/fsutil';
import type { Store } from '../../store/store';
import { ContainerCgroup, detectCgroups, validateLimits, type CgroupLayout, type Limits } from '../cgroups';
import { launch, type ExitStatus, type LaunchedContainer } from '../helper';
import { buildLaunchPlan, resolveCapabilities } from '../plan';
import type { ContainerSpec } from '../spec';
import { checkName, parseBind, resolveProcess, resolveUser } from './config';
import { LogWriter, readLogs } from './logs';
import { generateName } from './names';
import { RootfsReader, type LayerFs } from './rootfs';
import { parseVolumeBind, VolumeService, type VolumeMount } from '../volumes';

/** The host binds of a record's Binds (the others are volumes). */
function hostBinds(binds: string[]): ReturnType<typeof parseBind>[] {
  return binds.filter((b) => parseVolumeBind(b, 'start container') === undefined).map(parseBind);
}

/** Config's attach fields for records made before they were recorded. */
const ATTACH_DEFAULTS: Partial<ContainerInspect['Config']> = { Tty: false, OpenStdin: false, AttachStdin: false, AttachStdout: true, AttachStderr: true, StdinOnce: false };

/** Docker's "never" time. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';
/** Exit code recorded for a container the agent lost track of (Docker's for the same case). */
const LOST_EXIT_CODE = 255;
const DEFAULT_STOP_TIMEOUT_S = 10;
const START_TIMEOUT_MS = 30_000;
/** How long to wait for the last output after the helper reported the exit. */
const DRAIN_MS = 2000;

/** What `config.json` holds. */
export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** Image ID and the reference as given. */
  image: string;
  imageRef: string;
  /** The image's layer chain IDs, bottom first (as in its image record). */
  layers: string[];
  path: string;
  args: string[];
  config: ContainerInspect['Config'];
  hostConfig: ContainerInspect['HostConfig'];
  state: ContainerState;
  /** Named and anonymous volumes it mounts (absent in records made before volumes). */
  volumes?: VolumeMount[];
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

  constructor(
    readonly store: Store,
    readonly images: ImageService,
    readonly events: EventHub,
    private readonly opts: ContainerServiceOptions = {},
  ) {
    this.dir = join(store.root, 'containers');
    this.layout = opts.cgroups;
    this.log = opts.log ?? (() => {});
    images.imageUsers = (imageId) => [...this.records.values()].filter((r) => r.image === imageId).map((r) => r.name);
    this.volumes = new VolumeService(store.root, events, opts.layerFs);
    this.volumes.usedBy = (name) => [...this.records.values()].filter((r) => r.volumes?.some((v) => v.name === name)).map((r) => r.name);
  }

  /**
   * Loads the records; containers recorded as running are marked exited and what is left of them
   * killed (see the module comment). Call once, before serving.
   */
  async init(): Promise<void> {
    mkdirp(this.dir);
    for (const id of readdirSync(this.dir)) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const path = join(this.dir, id, 'config.json');
      let rec: ContainerRecord;
      try {
        rec = JSON.parse(readFileSync(path, 'utf8')) as ContainerRecord;
      } catch (e) {
        // A create that died before its record was written: nothing refers to the directory.
        this.log(`removing container directory ${id} without a readable record (${(e as Error).message})`);
        this.store.discard(join(this.dir, id));
        continue;
      }
      this.records.set(rec.id, rec);
      this.leases.set(rec.id, this.store.lease(rec.layers));
      if (rec.state.Status === 'running') {
        this.log(`container ${rec.name} (${id.slice(0, 12)}) was running when the agent stopped: killing what is left of it`);
        await this.killLeftovers(rec.id);
        rec.state = { ...rec.state, Status: 'exited', Running: false, Pid: 0, ExitCode: LOST_EXIT_CODE, FinishedAt: new Date().toISOString(), Error: 'the agent restarted' };
        this.save(rec);
      } else {
        await this.killLeftovers(rec.id);
      }
    }
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

  private save(rec: ContainerRecord): void {
    writeFileAtomic(join(this.containerDir(rec.id), 'config.json'), JSON.stringify(rec, null, 1), 0o600);
  }

  private emit(action: ContainerEventAction, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    this.events.emit('container', action, rec.id, { name: rec.name, image: rec.imageRef, ...extra });
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
        throw new BerthError(ErrorCode.Conflict, `${operation}: "${ref}" matches ${matches.length} containers; give more of the ID`, { operation });
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

  async create(p: CreateContainerParams): Promise<{ Id: string; Name: string }> {
    const op = 'create container';
    const invalid = (m: string) => new BerthError(ErrorCode.InvalidArgument, `${op}: ${m}`, { operation: op });
    const image = this.images.lookup(p.image, op);
    const imageConfig = this.images.config(image).config ?? {};
    const id = randomBytes(32).toString('hex');

    const hostname = p.hostname ?? id.slice(0, 12);
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
    const covered = new Set((p.binds ?? []).map((b) => (parseVolumeBind(b, op) ?? { destination: parseBind(b).target }).destination.replace(/\/+$/, '') || '/'));
    for (const path of Object.keys(imageConfig.Volumes ?? {})) {
      const dest = path.replace(/\/+$/, '') || '/';
      if (dest.startsWith('/') && !covered.has(dest) && !dest.split('/').includes('..')) volumeSpecs.push({ destination: dest, readOnly: false });
    }
    const limits = this.limitsOf(p);
    try {
      validateLimits(limits, availableParallelism());
    } catch (e) {
      if (e instanceof BerthError) throw invalid(e.message);
      throw e;
    }
    resolveCapabilities({ capAdd: p.capAdd, capDrop: p.capDrop, privileged: p.privileged });
    for (const l of image.layers) {
      if (!this.store.hasLayer(l.chainId)) throw new BerthError(ErrorCode.NotFound, `${op}: layer ${l.chainId} of image ${image.id} is missing from the store`, { operation: op });
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
        throw new BerthError(ErrorCode.Conflict, `${op}: the container name "/${name}" is already in use by container ${other.id.slice(0, 12)}; remove it or choose another name`, {
          operation: op,
        });
      }
    } else {
      name = generateName((n) => [...this.records.values()].some((r) => r.name === n));
    }

    const rec: ContainerRecord = {
      id,
      name,
      created: new Date().toISOString(),
      image: image.id,
      imageRef: p.image,
      layers: image.layers.map((l) => l.chainId),
      path: proc.args[0],
      args: proc.args.slice(1),
      config: {
        Hostname: hostname,
        Env: proc.env,
        Cmd: proc.cmd,
        Entrypoint: proc.entrypoint,
        WorkingDir: proc.workingDirSpec,
        User: proc.userSpec,
        Image: p.image,
        Labels: { ...(imageConfig.Labels ?? {}), ...(p.labels ?? {}) },
        StopSignal: imageConfig.StopSignal ?? '',
        Tty: p.tty === true,
        OpenStdin: p.openStdin === true,
        AttachStdin: p.openStdin === true,
        AttachStdout: true,
        AttachStderr: true,
        StdinOnce: p.openStdin === true && p.stdinOnce === true,
      },
      hostConfig: {
        Binds: [...(p.binds ?? [])],
        Memory: p.memory ?? 0,
        NanoCpus: p.nanoCpus ?? 0,
        PidsLimit: p.pidsLimit ?? 0,
        Privileged: p.privileged === true,
        CapAdd: [...(p.capAdd ?? [])],
        CapDrop: [...(p.capDrop ?? [])],
        AutoRemove: p.autoRemove === true,
      },
      state: { Status: 'created', Running: false, Pid: 0, ExitCode: 0, OOMKilled: false, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, Error: '' },
    };
    // Volumes: created when missing, and seeded from the image when new.
    const made: string[] = [];
    try {
      rec.volumes = volumeSpecs.map((v) => {
        const { volume, created } = this.volumes.ensure(v.name, { anonymous: v.name === undefined, operation: op });
        if (created) {
          made.push(volume.Name);
          this.volumes.seed(volume.Name, lowerDirs, v.destination);
        }
        return { name: volume.Name, destination: v.destination, readOnly: v.readOnly, anonymous: v.name === undefined };
      });
    } catch (e) {
      for (const n of made) {
        try {
          this.volumes.remove(n, op);
        } catch {
          /* best effort: a half-made volume is left for prune */
        }
      }
      throw systemError(op, e);
    }
    this.records.set(id, rec);
    this.leases.set(id, this.store.lease(rec.layers));
    const dir = this.containerDir(id);
    try {
      mkdirp(dir, 0o700);
      for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, d), { mode: 0o755 });
      writeEtcFiles(dir, hostname, false);
      this.save(rec);
    } catch (e) {
      this.records.delete(id);
      this.leases.get(id)?.();
      this.leases.delete(id);
      this.store.discard(dir);
      throw systemError(op, e, { path: dir });
    }
    this.emit('create', rec);
    return { Id: id, Name: name };
  }

  private limitsOf(p: Pick<CreateContainerParams, 'memory' | 'nanoCpus' | 'pidsLimit'>): Limits {
    const limits: Limits = {};
    if (p.memory) limits.memoryBytes = p.memory;
    if (p.nanoCpus) limits.cpus = p.nanoCpus / 1e9;
    if (p.pidsLimit && p.pidsLimit > 0) limits.pidsLimit = p.pidsLimit;
    return limits;
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
    if (this.starting.has(rec.id)) throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is being started`, { operation: op });
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
    const stdin = rec.config.OpenStdin ? live.launched.stdin : null;
    let detached = false;
    return {
      write: (d) => void (stdin && !stdin.destroyed && !stdin.writableEnded && stdin.write(d)),
      end: () => void (stdin && !stdin.destroyed && stdin.end()),
      resize: (r, c) => (rec.config.Tty ? live.launched.resize(r, c) : undefined),
      pending: () => stdin?.writableLength ?? 0,
      done: live.done,
      detach: () => {
        if (detached) return;
        detached = true;
        live.outputs.delete(stream.onOutput);
        if (rec.config.StdinOnce && stdin && !stdin.destroyed) stdin.end();
      },
    };
  }

  private async launch(rec: ContainerRecord, attach?: (l: LogLine) => void, stream?: StartStream): Promise<Live> {
    const op = 'start container';
    const dir = this.containerDir(rec.id);
    for (const c of rec.layers) {
      if (!this.store.hasLayer(c)) throw new BerthError(ErrorCode.NotFound, `${op}: layer ${c} of image ${rec.image} is missing from the store`, { operation: op });
    }
    // Written without fsync at create (they cost a disk flush each): after a power loss, write
    // again whichever came back missing or empty.
    writeEtcFiles(dir, rec.config.Hostname, true);
    const lowerDirs = rec.layers.map((c) => this.store.layerDiffDir(c)).reverse();
    const upper = join(dir, 'upper');
    let cgroup: ContainerCgroup | undefined;
    let logs: LogWriter | undefined;
    try {
      // The user is looked up at each start, in the container's own files (its upper layer too).
      const user = resolveUser(rec.config.User, new RootfsReader([upper, ...lowerDirs], this.opts.layerFs));
      const layout = this.cgroups();
      const name = `berth/${rec.id}`;
      await this.killLeftovers(rec.id);
      cgroup = ContainerCgroup.create(layout, name, this.limitsOf({ memory: rec.hostConfig.Memory, nanoCpus: rec.hostConfig.NanoCpus, pidsLimit: rec.hostConfig.PidsLimit }), {
        allowAllDevices: rec.hostConfig.Privileged,
      });
      logs = new LogWriter(dir);
      if (attach) logs.subscribe(attach);
      const spec: ContainerSpec = {
        id: rec.id,
        rootfs: { lowerDirs, upperDir: upper, workDir: join(dir, 'work'), mountPoint: join(dir, 'rootfs') },
        process: { args: [rec.path, ...rec.args], env: rec.config.Env, cwd: rec.config.WorkingDir || '/', user },
        hostname: rec.config.Hostname,
        capAdd: rec.hostConfig.CapAdd,
        capDrop: rec.hostConfig.CapDrop,
        privileged: rec.hostConfig.Privileged,
        mounts: [
          ...hostBinds(rec.hostConfig.Binds),
          ...(rec.volumes ?? []).map((v) => ({ source: this.volumes.dataDir(v.name), target: v.destination, readOnly: v.readOnly })),
        ],
        etcFiles: { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') },
        cgroupProcs: cgroup.procsFiles(),
      };
      const tty = rec.config.Tty === true;
      if (tty) spec.process.terminal = { rows: stream?.rows || 24, cols: stream?.cols || 80 };
      const launched = await launch(buildLaunchPlan(spec), [rec.config.OpenStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], { timeoutMs: START_TIMEOUT_MS, control: tty });
      launched.stdin?.on('error', () => {
        /* the container is gone; its exit tells */
      });
      const writer = logs;
      const outputs = new Set<(s: 'stdout' | 'stderr' | 'tty', d: Buffer) => void>();
      if (stream) outputs.add(stream.onOutput);
      // The log gets text (a decoder per stream keeps characters split across chunks whole); attached
      // clients get the bytes. A Tty's one stream is logged as stdout, as Docker does.
      for (const [pipe, name] of [[launched.stdout!, 'stdout'], [launched.stderr!, 'stderr']] as const) {
        const decoder = new StringDecoder('utf8');
        const shown = tty && name === 'stdout' ? 'tty' : name;
        pipe.on('data', (d: Buffer) => {
          writer.write(name, decoder.write(d));
          for (const fn of outputs) {
            try {
              fn(shown, d);
            } catch (e) {
              this.log(`attached output of container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
            }
          }
        });
        pipe.once('end', () => writer.write(name, decoder.end()));
      }
      let resolveDone!: () => void;
      const live: Live = { launched, cgroup, logs, stopping: false, done: new Promise((r) => (resolveDone = r)), outputs };
      this.live.set(rec.id, live);
      rec.state = { Status: 'running', Running: true, Pid: launched.pid, ExitCode: 0, OOMKilled: false, StartedAt: new Date().toISOString(), FinishedAt: rec.state.FinishedAt, Error: '' };
      this.save(rec);
      for (const v of rec.volumes ?? []) this.volumes.emit('mount', v.name, { container: rec.id, destination: v.destination, 'read/write': String(!v.readOnly) });
      this.emit('start', rec);
      void launched.exited
        .then((status) => this.onExit(rec, live, status))
        .catch((e) => this.log(`handling the exit of container ${rec.id.slice(0, 12)}: ${(e as Error)?.stack ?? e}`))
        .finally(resolveDone);
      return live;
    } catch (e) {
      logs?.close();
      if (cgroup) await cgroup.destroy().catch(() => undefined);
      rec.state = { ...rec.state, Error: (e as Error).message };
      this.save(rec);
      throw e;
    }
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
    logs.close();
    this.live.delete(rec.id);
    rec.state = { ...rec.state, Status: 'exited', Running: false, Pid: 0, ExitCode: status.code, OOMKilled: oom, FinishedAt: new Date().toISOString() };
    if (this.records.has(rec.id)) this.save(rec);
    for (const v of rec.volumes ?? []) this.volumes.emit('unmount', v.name, { container: rec.id });
    if (oom) this.emit('oom', rec);
    this.emit('die', rec, { exitCode: String(status.code) });
    if (live.stopping) this.emit('stop', rec);
    const result: WaitContainerResult = { StatusCode: status.code, OOMKilled: oom, ...(rec.state.Error ? { Error: rec.state.Error } : {}) };
    const ws = this.waiters.get(rec.id);
    this.waiters.delete(rec.id);
    for (const w of ws ?? []) w(result);
    if (rec.hostConfig.AutoRemove && this.records.has(rec.id)) {
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
    const [sig, num] = parseSignal(rec.config.StopSignal || 'SIGTERM', op);
    this.emit('kill', rec, { signal: String(num) });
    live.launched.kill(sig);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([live.done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, timeoutSeconds) * 1000)))]);
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
      return Promise.resolve({ StatusCode: rec.state.ExitCode, OOMKilled: rec.state.OOMKilled, ...(rec.state.Error ? { Error: rec.state.Error } : {}) });
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
    const live = this.live.get(rec.id);
    if (live || this.starting.has(rec.id)) {
      if (!force || !live) {
        throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is running; stop it first or use --force`, { operation: op });
      }
      this.emit('kill', rec, { signal: String(osConstants.signals.SIGKILL) });
      live.launched.kill('SIGKILL');
      await live.cgroup.killAll('SIGKILL').catch(() => undefined);
      await live.done;
    }
    if (this.records.has(rec.id)) this.removeRecord(rec, volumes);
  }

  /** `volumes`: its anonymous volumes go too (`rm -v`, `--rm`); otherwise they stay, dangling. */
  private removeRecord(rec: ContainerRecord, volumes = false): void {
    this.records.delete(rec.id);
    this.store.discard(this.containerDir(rec.id));
    this.leases.get(rec.id)?.();
    this.leases.delete(rec.id);
    this.emit('destroy', rec);
    if (!volumes) return;
    for (const v of rec.volumes ?? []) {
      if (!v.anonymous) continue;
      try {
        this.volumes.remove(v.name);
      } catch (e) {
        this.log(`removing anonymous volume ${v.name} of container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
      }
    }
  }

  // --- list, inspect, logs ---------------------------------------------------------------------

  list(all = false): ContainerSummary[] {
    const rows = [...this.records.values()].filter((r) => all || r.state.Running);
    rows.sort((a, b) => Number(b.state.Running) - Number(a.state.Running) || b.created.localeCompare(a.created));
    return rows.map((r) => ({
      Id: r.id,
      Names: [`/${r.name}`],
      Image: r.imageRef,
      ImageID: r.image,
      Command: [r.path, ...r.args].join(' '),
      Created: Math.floor(Date.parse(r.created) / 1000),
      State: r.state.Status,
      ExitCode: r.state.ExitCode,
      OOMKilled: r.state.OOMKilled,
      StartedAt: r.state.StartedAt,
      FinishedAt: r.state.FinishedAt,
      Labels: r.config.Labels,
    }));
  }

  inspect(ref: string): ContainerInspect {
    const r = this.find(ref, 'inspect container');
    const dir = this.containerDir(r.id);
    return {
      Id: r.id,
      Name: `/${r.name}`,
      Created: r.created,
      Path: r.path,
      Args: r.args,
      State: { ...r.state },
      Image: r.image,
      // Records written before these fields existed lack them.
      Config: { ...ATTACH_DEFAULTS, ...r.config },
      HostConfig: { ...r.hostConfig },
      Mounts: [
        ...hostBinds(r.hostConfig.Binds).map((m) => ({ Type: 'bind' as const, Source: m.source, Destination: m.target, RW: !m.readOnly })),
        ...(r.volumes ?? []).map((v) => ({ Type: 'volume' as const, Name: v.name, Source: this.volumes.dataDir(v.name), Destination: v.destination, Driver: 'local' as const, RW: !v.readOnly })),
      ],
      GraphDriver: {
        Name: 'overlay',
        Data: {
          LowerDir: r.layers
            .map((c) => this.store.layerDiffDir(c))
            .reverse()
            .join(':'),
          UpperDir: join(dir, 'upper'),
          WorkDir: join(dir, 'work'),
        },
      },
    };
  }

  /**
   * The stored lines. With `follow`, each line (stored, then new) goes to `onLine`, and the promise
   * settles when the container is not running any more or `signal` aborts.
   */
  async logs(ref: string, opts: { since?: number; tail?: number; follow?: boolean; onLine?: (l: LogLine) => void; signal?: AbortSignal }): Promise<LogLine[]> {
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
function writeEtcFiles(dir: string, hostname: string, onlyMissing: boolean): void {
  const files: [string, () => string][] = [
    ['hostname', () => `${hostname}\n`],
    ['hosts', () => `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t${hostname}\n`],
    ['resolv.conf', hostResolvConf],
  ];
  for (const [name, content] of files) {
    const path = join(dir, name);
    if (onlyMissing && existsSync(path) && statSync(path).size > 0) continue;
    writeFileAtomic(path, content(), 0o644, { durable: false });
  }
}

/** The host's resolv.conf for the container (a private network has only loopback for now). */
function hostResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}
