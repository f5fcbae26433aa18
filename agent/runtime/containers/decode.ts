/**
 * The options of a container as users write them (`berth run`'s flags, devcontainer.json's
 * runArgs and mounts, a front door's create request) decoded into the runtime's create spec
 * (create.ts). Front doors pass their own params here after checking their shape; the workspace
 * service passes what it read from devcontainer.json. Nothing here knows a wire.
 */
import { BerthError, ErrorCode } from '../../errors';
import { validateNetwork } from '../network';
import { parseVolumeBind } from '../volumes';
import { parseBind } from './config';
import type { ContainerCreateSpec } from './create';

/** A container's options in the words of `berth run`: `-v`/`-p` as strings, limits as numbers. */
export interface ContainerOptions
  extends Pick<ContainerCreateSpec, 'image' | 'name' | 'cmd' | 'entrypoint' | 'env' | 'workingDir' | 'user' | 'hostname' | 'labels'> {
  /** `-v` specs: `SRC:DST[:OPTS]`, `NAME:DST`, or `DST` (an anonymous volume). */
  binds?: string[];
  /** Bytes; 0 = no limit. */
  memory?: number;
  /** CPUs in units of 1e-9; 0 = no limit. */
  nanoCpus?: number;
  /** -1 or 0 = no limit. */
  pidsLimit?: number;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  autoRemove?: boolean;
  init?: boolean;
  userns?: 'host' | 'auto';
  tty?: boolean;
  openStdin?: boolean;
  stdinOnce?: boolean;
  /** bridge (default), none, host. */
  networkMode?: string;
  /** `-p` specs. */
  ports?: string[];
}

/**
 * Container options as users write them -> the runtime's create spec: `-v` and `-p` specs parsed,
 * the network mode and userns checked. Throws InvalidArgument (as "create container: ...") for
 * what is malformed; what needs the image or the host is checked by create itself.
 */
export function decodeCreate(p: ContainerOptions): ContainerCreateSpec {
  const op = 'create container';
  if (p.userns !== undefined && p.userns !== 'host' && p.userns !== 'auto')
    throw new BerthError(ErrorCode.InvalidArgument, `${op}: invalid userns "${String(p.userns)}": want host or auto`, { operation: op });
  const net = validateNetwork(op, p.networkMode, p.ports);
  return {
    image: p.image,
    ...(p.name !== undefined ? { name: p.name } : {}),
    ...(p.cmd !== undefined ? { cmd: p.cmd } : {}),
    ...(p.entrypoint !== undefined ? { entrypoint: p.entrypoint } : {}),
    ...(p.env !== undefined ? { env: p.env } : {}),
    ...(p.workingDir !== undefined ? { workingDir: p.workingDir } : {}),
    ...(p.user !== undefined ? { user: p.user } : {}),
    ...(p.hostname !== undefined ? { hostname: p.hostname } : {}),
    labels: { ...(p.labels ?? {}) },
    mounts: (p.binds ?? []).map((given) => {
      const volume = parseVolumeBind(given, op);
      return volume ? { given, volume } : { given, bind: parseBind(given) };
    }),
    limits: { memoryBytes: p.memory ?? 0, nanoCpus: p.nanoCpus ?? 0, pids: p.pidsLimit ?? 0 },
    security: {
      privileged: p.privileged === true,
      capAdd: [...(p.capAdd ?? [])],
      capDrop: [...(p.capDrop ?? [])],
      userns: p.userns ?? 'host',
    },
    init: p.init === true,
    autoRemove: p.autoRemove === true,
    tty: p.tty === true,
    openStdin: p.openStdin === true,
    stdinOnce: p.stdinOnce === true,
    network: { mode: net.mode, ports: net.bindings },
  };
}
