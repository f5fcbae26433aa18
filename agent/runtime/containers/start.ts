import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LogLine } from '../../../protocol';
import { BerthError, ErrorCode, systemError } from '../../errors';
import { ContainerCgroup, V1_JOINED, type CgroupLayout } from '../cgroups';
import { initPath } from '../../../native';
import { launch } from '../helper';
import { clearMonitorFiles } from '../monitor';
import { buildLaunchPlan } from '../plan';
import type { BindMountSpec, ContainerSpec } from '../spec';
import { resolveUser, userNamespaceOf } from './config';
import { LogWriter } from './logs';
import { RootfsReader } from './rootfs';
import type { ContainerRecord, HostBind } from './record';
import { type ContainerCore, limitsOf, START_TIMEOUT_MS, writeEtcFiles, type Live, type StartStream, type StreamHandle } from './core';
import { adopt } from './run';
/**
 * The user namespace of a container at start, with the empty `lowers/0..N-1` dirs beside its
 * mount point that the helper attaches the idmapped layers on (native/helper/ops-mount.c, op_overlay).
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

/**
 * Starts the container; resolves once its command runs. `attach` receives every line of this
 * run, from the first.
 */
export async function startContainer(
  svc: ContainerCore,
  ref: string,
  attach?: (l: LogLine) => void,
  stream?: StartStream,
): Promise<StreamHandle | undefined> {
  const op = 'start container';
  const rec = svc.find(ref, op);
  const running = svc.live.get(rec.id);
  if (running) return stream ? streamHandle(rec, running, stream) : undefined;
  if (svc.starting.has(rec.id))
    throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is being started`, { operation: op });
  if (svc.held.has(rec.id))
    throw new BerthError(
      ErrorCode.Conflict,
      `${op}: files are being copied to or from container ${rec.name}; try again when the copy is done`,
      { operation: op },
    );
  svc.starting.add(rec.id);
  try {
    const live = await launchContainer(svc, rec, attach, stream);
    return stream ? streamHandle(rec, live, stream, true) : undefined;
  } finally {
    svc.starting.delete(rec.id);
  }
}

function streamHandle(rec: ContainerRecord, live: Live, stream: StartStream, subscribed = false): StreamHandle {
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

async function launchContainer(
  svc: ContainerCore,
  rec: ContainerRecord,
  attach?: (l: LogLine) => void,
  stream?: StartStream,
): Promise<Live> {
  const op = 'start container';
  const dir = svc.containerDir(rec.id);
  for (const c of rec.layers) {
    if (!svc.store.hasLayer(c))
      throw new BerthError(ErrorCode.NotFound, `${op}: layer ${c} of image ${rec.image.id} is missing from the store`, { operation: op });
  }
  // Written without fsync at create (they cost a disk flush each): after a power loss, write
  // again whichever came back missing or empty.
  writeEtcFiles(dir, rec.hostname, true, rec.network.mode);
  const lowerDirs = rec.layers.map((c) => svc.store.layerDiffDir(c)).reverse();
  const upper = join(dir, 'upper');
  let cgroup: ContainerCgroup | undefined;
  let logs: LogWriter | undefined;
  let netUp = false;
  try {
    // The user is looked up at each start, in the container's own files (its upper layer too).
    const user = resolveUser(rec.process.user, new RootfsReader([upper, ...lowerDirs], svc.opts.layerFs));
    const layout = svc.cgroups();
    const name = `berth/${rec.id}`;
    await svc.killLeftovers(rec.id);
    cgroup = ContainerCgroup.create(layout, name, limitsOf(rec.limits), { allowAllDevices: rec.security.privileged });
    logs = new LogWriter(dir);
    if (attach) logs.subscribe(attach);
    // The network before the launch: the process starts inside it (bridge), or in a fresh
    // namespace with only lo (none), or in the host's (host). Undone in the catch below.
    const netc = svc.networkOf(rec);
    await svc.netTeardowns.get(rec.id); // the last run's veth and namespace are gone first
    netUp = true;
    const { netnsPath } = await svc.network.setUp(netc, op);
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
        ...rec.mounts.volumes.map((v) => ({ source: svc.volumes.dataDir(v.name), target: v.destination, readOnly: v.readOnly })),
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
    const live = adopt(svc, rec, launched, cgroup, logs, true, stream);
    return live;
  } catch (e) {
    logs?.close();
    if (netUp) await svc.network.tearDown(rec.id);
    // The start's own error (rethrown below) is the one to report; a cgroup left is said here.
    if (cgroup)
      await cgroup.destroy().catch((d: Error) => svc.log(`removing the cgroup of container ${rec.id.slice(0, 12)}: ${d.message}`));
    rec.state = { ...rec.state, error: (e as Error).message };
    svc.save(rec, false);
    throw e;
  }
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
