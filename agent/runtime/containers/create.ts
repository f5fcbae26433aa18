/**
 * `create`: a container's record, writable layer and /etc files from an image and a
 * {@link ContainerCreateSpec}; nothing runs yet. Emits `create`.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { availableParallelism, hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { BerthError, ErrorCode, systemError } from '../../errors';
import { mkdirp } from '../../store/fsutil';
import type { ImageRecord } from '../../store/store';
import { validateLimits } from '../cgroups';
import { resolveCapabilities } from '../plan';
import type { NetworkMode } from '../network';
import { exposedPorts, type PortBinding } from '../network/ports';
import { checkName, resolveProcess, USERNS_AUTO } from './config';
import { generateName } from './names';
import { RootfsReader } from './rootfs';
import { CONTAINER_FORMAT, type ContainerRecord, type HostBind } from './record';
import { type ContainerCore, limitsOf, writeEtcFiles, type BuildBase } from './core';
/** A `-v` of a create, parsed (the text is kept: inspect shows it as given). */
export type MountRequest =
  | { given: string; bind: HostBind }
  | { given: string; volume: { name?: string; destination: string; readOnly: boolean } };

/**
 * What a container is made of, in Berth's words: the request's Docker-shaped parameters decoded
 * and checked for form (agent/presenters/containers.ts, decodeCreate), or built by the agent
 * itself (build steps, workspaces). What needs the image or the host (the hostname rule, bind
 * sources existing, limits against this machine, the user in the image) is checked by create.
 */
export interface ContainerCreateSpec {
  /** The image reference as given (recorded; looked up in the store unless a build's `base`). */
  image: string;
  /** Generated when absent. */
  name?: string;
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  /** Default: the host's on the host network, else the first 12 hex digits of the ID. */
  hostname?: string;
  labels?: Record<string, string>;
  mounts?: MountRequest[];
  /** 0 or absent: no limit. */
  limits?: Partial<ContainerRecord['limits']>;
  security?: Partial<ContainerRecord['security']>;
  init?: boolean;
  autoRemove?: boolean;
  tty?: boolean;
  openStdin?: boolean;
  stdinOnce?: boolean;
  /** Default: the bridge, nothing published. */
  network?: { mode: NetworkMode; ports: PortBinding[] };
}

/**
 * `base`: for build steps (agent/build): the image to run is not an image record but a config
 * and layers in the store (its `id` is the config's digest); `p.image` is then only recorded.
 */
export async function createContainer(svc: ContainerCore, p: ContainerCreateSpec, base?: BuildBase): Promise<{ Id: string; Name: string }> {
  const op = 'create container';
  const invalid = (m: string) => new BerthError(ErrorCode.InvalidArgument, `${op}: ${m}`, { operation: op });
  const image = base ?? svc.images.lookup(p.image, op);
  const imageConfig = base ? base.config : (svc.images.config(image as ImageRecord).config ?? {});
  const id = randomBytes(32).toString('hex');

  const net = p.network ?? { mode: 'bridge', ports: [] };
  const mounts = p.mounts ?? [];
  const userns = p.security?.userns === 'auto' ? 'auto' : 'host';
  // With the host's network a container is named like the host, as Docker does.
  const hostname =
    p.hostname ?? (net.mode === 'host' && /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(osHostname()) ? osHostname() : id.slice(0, 12));
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) throw invalid(`invalid hostname "${hostname}"`);
  const volumeSpecs: { name?: string; destination: string; readOnly: boolean }[] = [];
  const binds: HostBind[] = [];
  for (const m of mounts) {
    if ('volume' in m) {
      volumeSpecs.push(m.volume);
      continue;
    }
    if (!existsSync(m.bind.source)) throw invalid(`bind source path does not exist: ${m.bind.source}`);
    binds.push(m.bind);
  }
  // The image's Volumes that no -v covers get anonymous volumes, as Docker gives them.
  const covered = new Set(mounts.map((m) => ('volume' in m ? m.volume.destination : m.bind.target).replace(/\/+$/, '') || '/'));
  for (const path of Object.keys(imageConfig.Volumes ?? {})) {
    const dest = path.replace(/\/+$/, '') || '/';
    if (dest.startsWith('/') && !covered.has(dest) && !dest.split('/').includes('..'))
      volumeSpecs.push({ destination: dest, readOnly: false });
  }
  const recLimits = { memoryBytes: p.limits?.memoryBytes ?? 0, nanoCpus: p.limits?.nanoCpus ?? 0, pids: p.limits?.pids ?? 0 };
  try {
    validateLimits(limitsOf(recLimits), availableParallelism());
  } catch (e) {
    if (e instanceof BerthError) throw invalid(e.message);
    throw e;
  }
  const security: ContainerRecord['security'] = {
    privileged: p.security?.privileged === true,
    capAdd: [...(p.security?.capAdd ?? [])],
    capDrop: [...(p.security?.capDrop ?? [])],
    userns,
  };
  resolveCapabilities(security);
  for (const l of image.layers) {
    if (!svc.store.hasLayer(l.chainId))
      throw new BerthError(ErrorCode.NotFound, `${op}: layer ${l.chainId} of image ${image.id} is missing from the store`, {
        operation: op,
      });
  }
  const lowerDirs = image.layers.map((l) => svc.store.layerDiffDir(l.chainId)).reverse();
  const proc = resolveProcess(
    imageConfig,
    { cmd: p.cmd, entrypoint: p.entrypoint, env: p.env, workingDir: p.workingDir, user: p.user },
    hostname,
    new RootfsReader(lowerDirs, svc.opts.layerFs),
  );

  // The name is checked and taken synchronously from here on, so two creates cannot both get it.
  let name: string;
  if (p.name !== undefined) {
    name = checkName(p.name);
    const other = [...svc.records.values()].find((r) => r.name === name);
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
    name = generateName((n) => [...svc.records.values()].some((r) => r.name === n));
  }

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
    mounts: { given: mounts.map((m) => m.given), binds, volumes: [] },
    limits: recLimits,
    security,
    autoRemove: p.autoRemove === true,
    network: { mode: net.mode, ports: [...net.ports], exposed: Object.keys(exposedPorts(imageConfig.ExposedPorts, net.ports)) },
    state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false, error: '' },
  };
  // The address first (a full subnet is a Conflict before anything is made); released again
  // below if what follows fails.
  if (net.mode === 'bridge') svc.network.allocate(id, op);
  // Volumes: created when missing, and seeded from the image when new.
  const made: string[] = [];
  try {
    rec.mounts.volumes = volumeSpecs.map((v) => {
      const { volume, created } = svc.volumes.ensure(v.name, { anonymous: v.name === undefined, operation: op });
      if (created) {
        made.push(volume.record.name);
        svc.volumes.seed(volume.record.name, lowerDirs, v.destination);
      }
      return { name: volume.record.name, destination: v.destination, readOnly: v.readOnly, anonymous: v.name === undefined };
    });
  } catch (e) {
    for (const n of made) {
      try {
        svc.volumes.remove(n, op);
      } catch {
        // Everything is caught on purpose: the create's own error (rethrown below) is the one to
        // report; a half-made volume is left for prune.
      }
    }
    svc.network.release(id);
    throw systemError(op, e);
  }
  svc.records.set(id, rec);
  svc.leases.set(id, svc.store.lease(rec.layers));
  const dir = svc.containerDir(id);
  try {
    mkdirp(dir, 0o700);
    for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, d), { mode: 0o755 });
    // In a user namespace the writable layer belongs to the container's root, and the path to
    // its mount point must be traversable by it (0711: no listing; the layers and everything
    // else reach the helper as fds, see idmap_lowers in native/helper/userns.c).
    if (userns === 'auto') {
      for (const d of ['upper', 'work']) chownSync(join(dir, d), USERNS_AUTO.hostId, USERNS_AUTO.hostId);
      for (const d of [svc.store.root, svc.dir, dir]) chmodSync(d, (statSync(d).mode & 0o7777) | 0o111);
    }
    writeEtcFiles(dir, hostname, false, net.mode);
    svc.save(rec);
  } catch (e) {
    svc.network.release(id);
    svc.records.delete(id);
    svc.leases.get(id)?.();
    svc.leases.delete(id);
    svc.store.discard(dir);
    throw systemError(op, e, { path: dir });
  }
  svc.emit('create', rec);
  return { Id: id, Name: name };
}
