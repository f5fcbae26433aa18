/**
 * The container record: what `containers/<id>/config.json` holds, in Berth's own words. The
 * runtime reads and writes only this shape; Docker's shapes (inspect, ps) are made from it by the
 * presenters (agent/presenters/containers.ts), so a change to a wire type cannot change the file.
 *
 * Format versions (`formatVersion`):
 *   (absent)  written by agents before issue 11: Docker's `config` (Config) and `hostConfig`
 *             (HostConfig) and `state` (State) objects, `image`/`imageRef`/`layers`/`path`/`args`
 *             at the top. Older records of that format lack fields added later (attach flags,
 *             NetworkMode, PortBindings, ExposedPorts, volumes): {@link migrateContainerRecord}
 *             gives them the values the agent of that time assumed.
 *   1         {@link ContainerRecord}.
 *
 * {@link parseContainerRecord} is the one reader: it returns a record of the current format
 * (migrating an older one in memory, `migrated` true) or throws {@link RecordFormatError}
 * saying what is wrong; the caller (ContainerService.init) rewrites migrated records atomically.
 */
import type { NetworkMode } from '../network/etc';
import { bindingsFromDocker, type PortBinding } from '../network/ports';
import { parseVolumeBind, type VolumeMount } from '../volumes';
import { parseBind } from './config';

export const CONTAINER_FORMAT = 1;

/** Where a container is in its life. */
export type ContainerStatus = 'created' | 'running' | 'exited';

/** The last (or current) run of a container. */
export interface ContainerRunState {
  status: ContainerStatus;
  /** Its init in the agent's pid namespace while running; 0 otherwise. */
  pid: number;
  /** The last exit code (128 + signal when killed by one); 0 before the first exit. */
  exitCode: number;
  /** The OOM killer killed a process of it during the last run. */
  oomKilled: boolean;
  /** RFC 3339; absent before the first start / exit. */
  startedAt?: string;
  finishedAt?: string;
  /** Why the last start failed or why the agent marked it exited; "" otherwise. */
  error: string;
}

/** A host directory bind-mounted into the container (`-v /host:/ctr[:ro][,idmap]`). */
export interface HostBind {
  source: string;
  target: string;
  readOnly: boolean;
  /** An idmapped mount: these container ids (default: the container's user) map to the source's owner. */
  idmap?: { uid?: number; gid?: number };
}

/** One container, as stored. */
export interface ContainerRecord {
  formatVersion: typeof CONTAINER_FORMAT;
  /** 64 hex digits. */
  id: string;
  /** Without the leading "/". */
  name: string;
  /** RFC 3339. */
  createdAt: string;
  /** The image: its ID and the reference as given to create. */
  image: { id: string; reference: string };
  /**
   * The image's layer chain IDs, bottom first (leased from the store while the record exists).
   * At the top level, where `berth check` (agent/store/check.ts) reads them in every format.
   */
  layers: string[];
  /** What runs, resolved at create (the user is looked up again at each start). */
  process: {
    /** argv[0] and the rest. */
    path: string;
    args: string[];
    /** The entrypoint and command argv was made of (for inspect and commit). */
    entrypoint: string[] | null;
    cmd: string[] | null;
    env: string[];
    /** As given or the image's; "" is "/". */
    workingDir: string;
    /** "uid[:gid]" or "name[:group]" as given or the image's; "" is root. */
    user: string;
    /** A pty for the init at each start. */
    tty: boolean;
    /** The init's stdin is a pipe kept open while it runs. */
    openStdin: boolean;
    /** With openStdin: stdin closes when the attached client goes away. */
    stdinOnce: boolean;
    /** The image's stop signal; "" is SIGTERM. */
    stopSignal: string;
    /** Berth's init is pid 1 and starts the command. */
    init: boolean;
  };
  hostname: string;
  labels: Record<string, string>;
  mounts: {
    /** The `-v` specs as the user gave them, in order (host binds and volumes). */
    given: string[];
    /** The host binds among them, parsed. */
    binds: HostBind[];
    /** Named and anonymous volumes (`-v`, and the image's Volumes no `-v` covers). */
    volumes: VolumeMount[];
  };
  /** 0 is no limit. */
  limits: { memoryBytes: number; nanoCpus: number; pids: number };
  security: { privileged: boolean; capAdd: string[]; capDrop: string[]; userns: 'host' | 'auto' };
  /** `--rm`: removed (with its anonymous volumes) once it exits. */
  autoRemove: boolean;
  network: {
    mode: NetworkMode;
    /** `-p`, parsed; a host port 0 is chosen at each start. */
    ports: PortBinding[];
    /** "PORT/PROTO" the container exposes (the image's and every published one); absent in records made before networking. */
    exposed?: string[];
  };
  state: ContainerRunState;
}

/** A record that cannot be read as any known format; `reason` says what is wrong. */
export class RecordFormatError extends Error {}

/** Docker's "never" time, as the records before format 1 wrote it. */
const LEGACY_ZERO_TIME = '0001-01-01T00:00:00Z';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function need<T>(ok: boolean, value: unknown, what: string): T {
  if (!ok) throw new RecordFormatError(`${what} is missing or malformed`);
  return value as T;
}

const str = (o: Json, k: string, what = k): string => need<string>(typeof o[k] === 'string', o[k], what);
const strOr = (o: Json, k: string, dflt: string): string => (typeof o[k] === 'string' ? (o[k] as string) : dflt);
const bool = (o: Json, k: string, dflt: boolean): boolean => (typeof o[k] === 'boolean' ? (o[k] as boolean) : dflt);
const num = (o: Json, k: string, dflt: number): number => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : dflt);
const strings = (v: unknown, what: string): string[] =>
  need<string[]>(Array.isArray(v) && v.every((s) => typeof s === 'string'), v, what).slice();
const stringsOrNull = (v: unknown, what: string): string[] | null => (v === null || v === undefined ? null : strings(v, what));
const labelsOf = (v: unknown, what: string): Record<string, string> =>
  v === undefined || v === null
    ? {}
    : { ...need<Record<string, string>>(isObject(v) && Object.values(v).every((s) => typeof s === 'string'), v, what) };

/**
 * Reads `raw` (config.json parsed) as a record of the current format. Throws RecordFormatError
 * for a record that is malformed or of a format this agent does not know (a newer agent's).
 */
export function parseContainerRecord(raw: unknown): { record: ContainerRecord; migrated: boolean } {
  if (!isObject(raw)) throw new RecordFormatError('the record is not a JSON object');
  const version = raw.formatVersion;
  if (version === undefined) return { record: migrateContainerRecord(raw), migrated: true };
  if (version !== CONTAINER_FORMAT)
    throw new RecordFormatError(`format version ${JSON.stringify(version)} is not one this agent knows (it knows ${CONTAINER_FORMAT})`);
  checkCurrent(raw);
  return { record: raw as unknown as ContainerRecord, migrated: false };
}

/** The fields every current record must have (the file is the agent's own; this guards against damage). */
function checkCurrent(r: Json): void {
  for (const k of ['id', 'name', 'createdAt', 'hostname'] as const) str(r, k);
  for (const k of ['image', 'process', 'mounts', 'limits', 'security', 'network', 'state'] as const) need(isObject(r[k]), r[k], k);
  strings(r.layers, 'layers');
  strings((r.process as Json).args, 'process.args');
  strings((r.process as Json).env, 'process.env');
  str(r.state as Json, 'status', 'state.status');
}

/** A record written before format 1 (Docker's Config/HostConfig/State inside) -> format 1. */
export function migrateContainerRecord(old: Json): ContainerRecord {
  const config = need<Json>(isObject(old.config), old.config, 'config');
  const host = need<Json>(isObject(old.hostConfig), old.hostConfig, 'hostConfig');
  const state = need<Json>(isObject(old.state), old.state, 'state');
  const given = old.hostConfig && host.Binds !== undefined && host.Binds !== null ? strings(host.Binds, 'hostConfig.Binds') : [];
  let binds: HostBind[];
  let ports: PortBinding[];
  try {
    binds = given.filter((b) => parseVolumeBind(b, 'migrate container') === undefined).map(parseBind);
    ports = bindingsFromDocker(host.PortBindings as never, 'migrate container');
  } catch (e) {
    throw new RecordFormatError((e as Error).message);
  }
  const mode = host.NetworkMode ?? 'none';
  if (mode !== 'bridge' && mode !== 'host' && mode !== 'none')
    throw new RecordFormatError(`hostConfig.NetworkMode ${JSON.stringify(mode)} is not bridge, host or none`);
  const status = str(state, 'Status', 'state.Status');
  if (status !== 'created' && status !== 'running' && status !== 'exited')
    throw new RecordFormatError(`state.Status ${JSON.stringify(status)} is not created, running or exited`);
  const time = (k: string) => {
    const t = strOr(state, k, LEGACY_ZERO_TIME);
    return t === LEGACY_ZERO_TIME ? {} : { [k === 'StartedAt' ? 'startedAt' : 'finishedAt']: t };
  };
  const volumes = old.volumes === undefined ? [] : need<Json[]>(Array.isArray(old.volumes), old.volumes, 'volumes');
  const openStdin = bool(config, 'OpenStdin', false);
  const userns = host.UsernsMode === 'auto' ? 'auto' : 'host';
  return {
    formatVersion: CONTAINER_FORMAT,
    id: need<string>(typeof old.id === 'string' && /^[0-9a-f]{64}$/.test(old.id), old.id, 'id'),
    name: str(old, 'name'),
    createdAt: str(old, 'created'),
    image: { id: str(old, 'image'), reference: str(old, 'imageRef') },
    layers: strings(old.layers, 'layers'),
    process: {
      path: str(old, 'path'),
      args: strings(old.args, 'args'),
      entrypoint: stringsOrNull(config.Entrypoint, 'config.Entrypoint'),
      cmd: stringsOrNull(config.Cmd, 'config.Cmd'),
      env: config.Env === undefined || config.Env === null ? [] : strings(config.Env, 'config.Env'),
      workingDir: strOr(config, 'WorkingDir', ''),
      user: strOr(config, 'User', ''),
      tty: bool(config, 'Tty', false),
      openStdin,
      stdinOnce: bool(config, 'StdinOnce', false),
      stopSignal: strOr(config, 'StopSignal', ''),
      init: host.Init === true,
    },
    hostname: str(config, 'Hostname', 'config.Hostname'),
    labels: labelsOf(config.Labels, 'config.Labels'),
    mounts: {
      given,
      binds,
      volumes: volumes.map((v, i) => {
        const what = `volumes[${i}]`;
        need(isObject(v), v, what);
        return {
          name: str(v, 'name', `${what}.name`),
          destination: str(v, 'destination', `${what}.destination`),
          readOnly: bool(v, 'readOnly', false),
          anonymous: bool(v, 'anonymous', false),
        };
      }),
    },
    limits: { memoryBytes: num(host, 'Memory', 0), nanoCpus: num(host, 'NanoCpus', 0), pids: num(host, 'PidsLimit', 0) },
    security: {
      privileged: bool(host, 'Privileged', false),
      capAdd: host.CapAdd === undefined || host.CapAdd === null ? [] : strings(host.CapAdd, 'hostConfig.CapAdd'),
      capDrop: host.CapDrop === undefined || host.CapDrop === null ? [] : strings(host.CapDrop, 'hostConfig.CapDrop'),
      userns,
    },
    autoRemove: bool(host, 'AutoRemove', false),
    network: {
      mode,
      ports,
      ...(isObject(config.ExposedPorts) ? { exposed: Object.keys(config.ExposedPorts) } : {}),
    },
    state: {
      status,
      pid: num(state, 'Pid', 0),
      exitCode: num(state, 'ExitCode', 0),
      oomKilled: bool(state, 'OOMKilled', false),
      ...time('StartedAt'),
      ...time('FinishedAt'),
      error: strOr(state, 'Error', ''),
    },
  };
}
