/**
 * Workspaces: a folder with a devcontainer.json brought up in a container of the runtime, and
 * found again next time (`workspace/up`, `workspace/down`, `workspace/status`; see the protocol).
 *
 * Identity. The container carries the labels
 *   berth.workspace          the folder's real path (one workspace container per folder)
 *   berth.config.hash        configHash() of the configuration (and the Dockerfile of a build)
 *   berth.workspace.config   the devcontainer.json it was made from
 * An `up` with the same hash reuses the container (started when stopped); another hash, or
 * `rebuild`, makes the image first, then removes the old container and creates a new one, so a
 * failed pull or build leaves the old container as it was.
 *
 * Lifecycle state (state.ts). `<container dir>/workspace.json` (removed with the container) holds which of
 * onCreateCommand and postCreateCommand have succeeded, and how to work in the container
 * (workspaceFolder, remoteUser, remoteEnv) for `status`. A create command that failed runs again
 * at the next `up`, so "once" means "once successfully"; postStartCommand runs after each start
 * this module makes (an `up` of a running container starts nothing and runs nothing); the commands
 * run in lifecycle.ts. The file carries a `formatVersion`.
 *
 * Ports. Each forwardPorts entry is published on 127.0.0.1, with the same host port when nothing
 * listens there at create time (checked by binding it), else one the kernel chooses. The mapping
 * is read back from the running container. Ports its processes listen on later are found and
 * forwarded by the agent's WorkspacePortWatcher (ports.ts); `status` and `up` add them.
 *
 * Files of the folder are read on the caller's behalf (checkCallerAccess, as builds do): the
 * configuration, the Dockerfile and the build context; the folder itself must be readable to it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename } from 'node:path';
import type {
  WorkspaceDownResult,
  WorkspaceEvent,
  WorkspaceInfo,
  WorkspaceLifecycleCommand,
  WorkspacePort,
  WorkspaceUpResult,
} from '../../protocol';
import type { PeerCred } from '../../native';
import { BerthError, ErrorCode } from '../errors';
import { checkCallerAccess } from '../images/access';
import type { ImageService } from '../images/service';
import type { ContainerRecord, ContainerService } from '../runtime/containers/service';
import { buildImage } from '../builder/builder';
import type { BuildCache } from '../builder/cache';
import { resolveUser } from '../runtime/containers/config';
import { RootfsReader } from '../runtime/containers/rootfs';
import { configHash, findConfig, parseDevcontainer, readConfigText, resolveRemoteEnv, type DevcontainerConfig } from './devcontainer';
import { LABEL_CONFIG, LABEL_HASH, LABEL_WORKSPACE } from './labels';
import { runLifecycle } from './lifecycle';
import { OP_UP, readState, type WorkspaceState, writeState } from './state';
import type { WorkspacePortWatcher } from './ports';
import { decodeCreate } from '../runtime/containers/decode';

/** Largest Dockerfile read for the hash (the builder has the same limit). */
const MAX_DOCKERFILE = 1024 * 1024;
/**
 * The command of a workspace container (overrideCommand): waits until stopped, and exits at once
 * on SIGTERM (a shell as pid 1 ignores it unless trapped).
 */
export const KEEP_RUNNING = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while sleep 3600 & wait $!; do :; done'];

export interface WorkspaceServices {
  images: ImageService;
  containers: ContainerService;
  /** A build cache for `build` configurations. */
  buildCache: () => BuildCache;
  log?: (msg: string) => void;
  /** The agent's watcher of detected ports (ports.ts), for `ports` and `loopbackPorts`; none: forwardPorts only. */
  ports?: Pick<WorkspacePortWatcher, 'ports'>;
}

export interface UpParams {
  folder: string;
  rebuild?: boolean;
  noCache?: boolean;
  localEnv?: Record<string, string>;
}

export interface UpOptions {
  peer?: PeerCred;
  signal?: AbortSignal;
  onEvent?: (e: WorkspaceEvent) => void;
}

const OP_DOWN = 'workspace down';
const OP_STATUS = 'workspace status';

/** Requests per folder run one after the other. */
const locks = new Map<string, Promise<unknown>>();
async function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}

/** The folder's real path; InvalidArgument unless it is an absolute path of a directory. */
export function workspaceFolderPath(folder: string, operation: string): string {
  if (typeof folder !== 'string' || !folder.startsWith('/'))
    throw new BerthError(
      ErrorCode.InvalidArgument,
      `${operation}: the folder must be an absolute path, got "${String(folder).slice(0, 256)}"`,
      { operation },
    );
  let real: string;
  try {
    real = realpathSync(folder);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BerthError(
      code === 'ENOENT' ? ErrorCode.NotFound : ErrorCode.InvalidArgument,
      `${operation}: folder ${folder}: ${code ?? (e as Error).message}`,
      { operation, path: folder, errno: code },
    );
  }
  if (!statSync(real).isDirectory())
    throw new BerthError(ErrorCode.InvalidArgument, `${operation}: ${folder} is not a directory`, { operation, path: folder });
  return real;
}

/** A short name for images and containers: the folder's base name and a hash of its path. */
export function workspaceSlug(folder: string): string {
  const name =
    basename(folder)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'workspace';
  return `${name}-${createHash('sha256').update(folder).digest('hex').slice(0, 8)}`;
}

/** The workspace containers of `folder`, newest first (by creation second, as listings show them). */
function containersOf(svc: ContainerService, folder: string): ContainerRecord[] {
  const created = (r: ContainerRecord) => Math.floor(Date.parse(r.createdAt) / 1000);
  return svc
    .views(true)
    .map((v) => v.record)
    .filter((r) => r.labels[LABEL_WORKSPACE] === folder)
    .sort((a, b) => created(b) - created(a));
}

/** True when nothing listens on 127.0.0.1:port (tcp) right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The forwarded ports as bound now (from the running container's NetworkSettings). */
function boundPorts(svc: ContainerService, id: string, forward: readonly number[]): WorkspacePort[] {
  const { record, running, endpoint } = svc.view(id);
  if (record.state.status !== 'running') return [];
  if (record.network.mode === 'host') return forward.map((p) => ({ containerPort: p, hostIp: '127.0.0.1', hostPort: p }));
  const out: WorkspacePort[] = [];
  if (!running || record.network.mode !== 'bridge') return out;
  for (const p of forward) {
    const b = endpoint?.bound.find((x) => x.containerPort === p && x.protocol === 'tcp');
    if (b) out.push({ containerPort: p, hostIp: b.hostIp || '127.0.0.1', hostPort: b.hostPort });
  }
  return out;
}

function info(svc: ContainerService, id: string, st: WorkspaceState, folder: string, watcher?: WorkspaceServices['ports']): WorkspaceInfo {
  const c = svc.find(id, OP_STATUS);
  const detected = watcher?.ports(c.id);
  return {
    folder,
    configFile: st.configFile,
    configHash: st.configHash,
    container: { Id: c.id, Name: c.name, State: c.state.status },
    image: st.image,
    workspaceFolder: st.workspaceFolder,
    remoteUser: st.remoteUser,
    remoteEnv: st.remoteEnv,
    ports: [...boundPorts(svc, c.id, st.forwardPorts), ...(detected?.forwarded ?? [])],
    ...(detected ? { loopbackPorts: detected.loopback } : {}),
  };
}

/** Reads and checks the folder's configuration as `peer` may. */
export function loadConfig(
  folder: string,
  peer: PeerCred | undefined,
  localEnv: Record<string, string> | undefined,
  operation = OP_UP,
): { config: DevcontainerConfig; hash: string } {
  checkCallerAccess(operation, folder, 'read', peer);
  const file = findConfig(folder, operation, existsSync);
  checkCallerAccess(operation, file, 'read', peer);
  const config = parseDevcontainer(readConfigText(file, operation), file, folder, operation, { localEnv });
  let dockerfile: Buffer | undefined;
  if (config.build) {
    checkCallerAccess(operation, config.build.dockerfile, 'read', peer);
    try {
      const st = statSync(config.build.dockerfile);
      if (!st.isFile())
        throw new BerthError(
          ErrorCode.InvalidArgument,
          `${operation}: ${config.file}: "build.dockerfile" ${config.build.dockerfile} is not a file`,
          { operation, path: config.build.dockerfile },
        );
      if (st.size > MAX_DOCKERFILE)
        throw new BerthError(
          ErrorCode.InvalidArgument,
          `${operation}: the Dockerfile ${config.build.dockerfile} is larger than ${MAX_DOCKERFILE} bytes`,
          { operation, path: config.build.dockerfile },
        );
      dockerfile = readFileSync(config.build.dockerfile);
    } catch (e) {
      if (e instanceof BerthError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new BerthError(
        code === 'ENOENT' ? ErrorCode.NotFound : ErrorCode.System,
        `${operation}: ${config.file}: the Dockerfile ${config.build.dockerfile} cannot be read: ${code ?? (e as Error).message}`,
        {
          operation,
          path: config.build.dockerfile,
          errno: code,
        },
      );
    }
  }
  return { config, hash: configHash(config, dockerfile) };
}

/** `workspace/up` (see the protocol and the module comment). */
export function workspaceUp(svc: WorkspaceServices, params: UpParams, opts: UpOptions = {}): Promise<WorkspaceUpResult> {
  const folder = workspaceFolderPath(params.folder, OP_UP);
  return serialized(folder, () => up(svc, folder, params, opts));
}

async function up(svc: WorkspaceServices, folder: string, params: UpParams, opts: UpOptions): Promise<WorkspaceUpResult> {
  const { containers } = svc;
  const say = (message: string) => opts.onEvent?.({ type: 'message', message });
  const cancelled = () => {
    if (opts.signal?.aborted) throw new BerthError(ErrorCode.Cancelled, `${OP_UP}: cancelled`, { operation: OP_UP });
  };
  const { config, hash } = loadConfig(folder, opts.peer, params.localEnv);
  const existing = containersOf(containers, folder);
  const current = existing.find((c) => c.labels[LABEL_HASH] === hash && readState(containers, c.id));

  // Reuse: the same configuration, and no rebuild asked for.
  if (current && !params.rebuild) {
    const st = readState(containers, current.id)!;
    let action: WorkspaceUpResult['action'] = 'running';
    const ran: WorkspaceLifecycleCommand[] = [];
    if (current.state.status !== 'running') {
      say(`Starting container ${current.name}`);
      await startContainer(containers, current.id);
      action = 'started';
    }
    st.remoteEnv = resolveRemoteEnv(config.remoteEnv, containers.find(current.id, OP_UP).process.env);
    await runLifecycle(containers, current.id, config, st, action === 'started', ran, opts);
    return { ...info(containers, current.id, st, folder, svc.ports), action, ran, ignored: config.ignored };
  }

  // A new container: the image first, so a failed pull or build leaves the old container as it was.
  const image = await prepareImage(svc, folder, config, params, opts);
  cancelled();
  for (const old of existing) {
    say(`Removing container ${old.name} (${params.rebuild ? 'rebuild' : 'the configuration changed'})`);
    await containers.remove(old.id, true);
  }
  const name = config.run.name ?? `berth-ws-${workspaceSlug(folder)}`;
  const networkMode = config.run.networkMode;
  const ports = [...config.run.ports];
  if (config.forwardPorts.length > 0 && networkMode === 'none') {
    throw new BerthError(
      ErrorCode.InvalidArgument,
      `${OP_UP}: ${config.file}: "forwardPorts" cannot be reached with --network none in "runArgs"`,
      { operation: OP_UP, path: config.file },
    );
  }
  if (networkMode !== 'host') {
    const published = new Set(
      ports
        .map((p) => /([0-9]+)(\/tcp)?$/.exec(p)?.[1])
        .filter(Boolean)
        .map(Number),
    );
    for (const p of config.forwardPorts) {
      if (published.has(p)) continue;
      ports.push((await portFree(p)) ? `127.0.0.1:${p}:${p}` : `127.0.0.1::${p}`);
    }
  }
  say(`Creating container ${name}`);
  const { Id } = await containers.create(
    decodeCreate({
      image,
      name,
      ...(config.overrideCommand ? { entrypoint: KEEP_RUNNING } : {}),
      env: [...Object.entries(config.containerEnv).map(([k, v]) => `${k}=${v}`), ...config.run.env],
      ...(config.containerUser ? { user: config.containerUser } : config.run.user ? { user: config.run.user } : {}),
      ...(config.run.hostname ? { hostname: config.run.hostname } : {}),
      binds: [idmappedWorkspaceMount(svc, image, config), ...config.mounts, ...config.run.binds],
      labels: { ...config.run.labels, [LABEL_WORKSPACE]: folder, [LABEL_HASH]: hash, [LABEL_CONFIG]: config.file },
      ...(config.run.memory ? { memory: config.run.memory } : {}),
      ...(config.run.nanoCpus ? { nanoCpus: config.run.nanoCpus } : {}),
      ...(config.run.pidsLimit !== undefined ? { pidsLimit: config.run.pidsLimit } : {}),
      capAdd: [...config.capAdd, ...config.run.capAdd],
      capDrop: config.run.capDrop,
      privileged: config.privileged || config.run.privileged === true,
      init: config.init || config.run.init === true,
      ...(networkMode ? { networkMode } : {}),
      ports,
    }),
  );
  const st: WorkspaceState = {
    configHash: hash,
    configFile: config.file,
    image,
    workspaceFolder: config.workspaceFolder,
    remoteUser: config.remoteUser ?? config.containerUser ?? config.run.user ?? '',
    remoteEnv: [],
    forwardPorts: config.forwardPorts,
    done: [],
  };
  writeState(containers, Id, st);
  say(`Starting container ${name}`);
  await startContainer(containers, Id);
  st.remoteEnv = resolveRemoteEnv(config.remoteEnv, containers.find(Id, OP_UP).process.env);
  writeState(containers, Id, st);
  const ran: WorkspaceLifecycleCommand[] = [];
  await runLifecycle(containers, Id, config, st, true, ran, opts);
  return {
    ...info(containers, Id, st, folder, svc.ports),
    action: existing.length ? 'recreated' : 'created',
    ran,
    ignored: config.ignored,
  };
}

/**
 * The workspace mount as an idmapped bind (runtime: `/host:/ctr:idmap[=UID:GID]`): the user who
 * works in the folder (remoteUser when it differs from the container's user, looked up in the
 * image's /etc/passwd; else the container's user) is mapped to the owner of the host folder, so
 * what the commands and terminals create there belongs to that owner, and nothing is chowned. A
 * volume as workspaceMount is left as it is.
 */
function idmappedWorkspaceMount(svc: WorkspaceServices, image: string, config: DevcontainerConfig): string {
  const bind = config.workspaceMount;
  if (!bind.startsWith('/')) return bind;
  let option = 'idmap';
  const containerUser = config.containerUser ?? config.run.user;
  if (config.remoteUser && config.remoteUser !== containerUser) {
    const rec = svc.images.lookup(image, OP_UP);
    const reader = new RootfsReader(rec.layers.map((l) => svc.images.store.layerDiffDir(l.chainId)).reverse());
    let u: ReturnType<typeof resolveUser>;
    try {
      u = resolveUser(config.remoteUser, reader);
    } catch (e) {
      throw new BerthError(
        ErrorCode.InvalidArgument,
        `${OP_UP}: ${config.file}: "remoteUser" ${config.remoteUser}: ${(e as Error).message.replace(/^create container: /, '')}`,
        {
          operation: OP_UP,
          path: config.file,
        },
      );
    }
    option = `idmap=${u.uid}:${u.gid}`;
  }
  const parts = bind.split(':');
  return parts.length > 2 ? `${bind},${option}` : `${bind}:${option}`;
}

/** Starts the container; a port in use is explained in the workspace's terms. */
async function startContainer(containers: ContainerService, id: string): Promise<void> {
  try {
    await containers.start(id);
  } catch (e) {
    if (e instanceof BerthError && e.code === ErrorCode.Conflict && /already in use/.test(e.message)) {
      throw new BerthError(
        ErrorCode.Conflict,
        `${OP_UP}: ${e.message.replace(/^start container: /, '')}; free it, or run up with --rebuild to forward another port`,
        { ...e.data, operation: OP_UP },
      );
    }
    throw e;
  }
}

/** The image reference to create from: pulled when the store lacks it, or built. */
async function prepareImage(
  svc: WorkspaceServices,
  folder: string,
  config: DevcontainerConfig,
  params: UpParams,
  opts: UpOptions,
): Promise<string> {
  const say = (message: string) => opts.onEvent?.({ type: 'message', message });
  if (config.image !== undefined) {
    const ref = config.image;
    let have = false;
    try {
      svc.images.lookup(ref, OP_UP);
      have = true;
    } catch (e) {
      if (!(e instanceof BerthError) || e.code !== ErrorCode.NotFound) throw e;
    }
    if (!have) {
      say(`Pulling ${ref}`);
      await svc.images.pull(ref, { signal: opts.signal, onProgress: (layer) => opts.onEvent?.({ type: 'pull', reference: ref, layer }) });
    }
    return ref;
  }
  const b = config.build!;
  const tag = `berth-ws-${workspaceSlug(folder)}:latest`;
  say(`Building ${tag} from ${b.dockerfile}`);
  await buildImage(
    { images: svc.images, containers: svc.containers, cache: svc.buildCache(), log: svc.log },
    {
      contextDir: b.context,
      dockerfile: b.dockerfile,
      tags: [tag],
      buildArgs: b.args,
      ...(b.target ? { target: b.target } : {}),
      noCache: params.noCache === true,
    },
    { peer: opts.peer, signal: opts.signal, onProgress: (event) => opts.onEvent?.({ type: 'build', event }) },
  );
  return tag;
}

/** `workspace/down`: stops the folder's workspace container (and removes it with `remove`). */
export function workspaceDown(
  svc: WorkspaceServices,
  params: { folder: string; remove?: boolean; timeout?: number },
): Promise<WorkspaceDownResult> {
  const folder = workspaceFolderPath(params.folder, OP_DOWN);
  return serialized(folder, async () => {
    const list = containersOf(svc.containers, folder);
    if (list.length === 0)
      throw new BerthError(ErrorCode.NotFound, `${OP_DOWN}: no workspace container for ${folder}`, { operation: OP_DOWN, path: folder });
    const c = list[0];
    const was = c.state.status === 'running';
    if (was) await svc.containers.stop(c.id, params.timeout);
    if (params.remove) await svc.containers.remove(c.id, true);
    return { container: { Id: c.id, Name: c.name }, action: params.remove ? 'removed' : was ? 'stopped' : 'none' };
  });
}

/** `workspace/status`: the folder's workspace container as the last up left it, or null. */
export function workspaceStatus(svc: WorkspaceServices, params: { folder: string }): WorkspaceInfo | null {
  const folder = workspaceFolderPath(params.folder, OP_STATUS);
  for (const c of containersOf(svc.containers, folder)) {
    const st = readState(svc.containers, c.id);
    if (st) return info(svc.containers, c.id, st, folder, svc.ports);
  }
  return null;
}
