/**
 * The agent process: opens the store, then serves the protocol on a Unix socket (and/or stdio)
 * until SIGINT/SIGTERM, and beside that socket the Docker Engine API on a second one
 * (`dockerSocket`, agent/docker/), under the same access rule.
 *
 * Socket security: the socket and its directory are reachable by root and the agent's owner only
 * (see `listen`), and every peer's uid is read with SO_PEERCRED when it connects. Only root and the owner the agent was started for
 * may use it; anyone else gets PermissionDenied on every request, so the refusal is explained
 * instead of a silently dropped connection.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { ResponseError, createMessageConnection, type MessageConnection } from 'vscode-jsonrpc';
import { SocketMessageWriter, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { FrameGuard } from './server/frameGuard';
import { ErrorCode } from '../protocol';
import { native, type PeerCred } from '../native';
import { BerthError, isErrno, systemError, unlessErrno } from './errors';
import { createDockerApi, type DockerApi } from './docker/server';
import { ImageService } from './images/service';
import { ContainerService } from './runtime/containers/service';
import { NetworkManager, networkConfig } from './runtime/network';
import { RegistryClient } from './registry/client';
import { openConnection } from './server';
import { Store } from './store/store';
import { readAgentSettings } from './settings';
import { WorkspacePortWatcher } from './workspace/ports';

export interface AgentOptions {
  root: string;
  /** The Unix socket to listen on; none when only `stdio` is wanted. */
  socket?: string;
  /** Also (or only) speak the protocol over stdin/stdout. */
  stdio?: boolean;
  /** The non-root uid allowed besides root (the user the agent was started for). */
  ownerUid?: number;
  /**
   * The Docker Engine API's socket (agent/docker/), served next to `socket` with the same access
   * rule; none (undefined or "") turns it off. A failure to bind it is logged; the agent serves on.
   */
  dockerSocket?: string;
}

/** Runs the agent; resolves when it stops (signal, or stdin closed in stdio mode). */
export async function runAgent(opts: AgentOptions): Promise<void> {
  const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} berth-agent: ${msg}\n`);
  const store = new Store(opts.root);
  store.init();
  const settings = readAgentSettings(opts.root);
  const registry = new RegistryClient({ insecureRegistries: settings.insecureRegistries });
  const svc = new ImageService(store, registry);
  const network = new NetworkManager(opts.root, networkConfig(settings.network, join(opts.root, 'settings.json')), log);
  const containers = new ContainerService(store, svc, svc.events, { log, network });
  await containers.init();
  // Ports that processes of workspace containers listen on are forwarded while they listen.
  const workspacePorts = new WorkspacePortWatcher(containers, { log });
  workspacePorts.start();
  const connections = new Set<MessageConnection>();

  let server: Server | undefined;
  let docker: { server: Server; api: DockerApi } | undefined;
  let stopResolve!: () => void;
  const stopped = new Promise<void>((r) => (stopResolve = r));
  const stop = (why: string) => {
    log(`stopping (${why})`);
    for (const c of connections) c.dispose();
    void workspacePorts.close();
    if (server) {
      server.close();
      if (opts.socket) rmSocket(opts.socket);
    }
    if (docker && opts.dockerSocket) {
      docker.api.close();
      docker.server.close();
      rmSocket(opts.dockerSocket);
    }
    stopResolve();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  const serve = (conn: MessageConnection, peer: PeerCred | undefined, onClose: () => void) => {
    connections.add(conn);
    const served = openConnection(
      conn,
      { images: svc, containers, workspacePorts },
      { peer, root: opts.root, socket: opts.socket ?? '', log },
    );
    conn.onClose(() => {
      served.dispose();
      connections.delete(conn);
      onClose();
    });
    conn.listen();
  };

  if (opts.socket) {
    server = await listen(opts.socket, opts.root, opts.ownerUid, (socket) => {
      // The guard ends a peer that announces an oversized or malformed message before the
      // reader buffers it (frameGuard.ts); the connection then closes.
      const guard = new FrameGuard();
      guard.on('error', (e) => {
        log(`closing a connection: ${e.message}`);
        socket.destroy();
        guard.destroy();
      });
      socket.pipe(guard);
      socket.on('close', () => guard.destroy()); // an abrupt end too closes the reader, hence the connection
      const conn = createMessageConnection(new StreamMessageReader(guard), new SocketMessageWriter(socket));
      socket.on('error', () => conn.dispose());
      let peer: PeerCred;
      try {
        peer = native().peerCred(socketFd(socket));
      } catch (err) {
        log(`refusing a connection whose peer cannot be identified: ${(err as Error).message}`);
        denyAll(conn, `the agent could not identify the caller (${(err as Error).message})`);
        return;
      }
      if (peer.uid !== 0 && peer.uid !== opts.ownerUid) {
        log(`refusing uid ${peer.uid} (pid ${peer.pid}): only root and uid ${opts.ownerUid ?? 0} may use this agent`);
        denyAll(
          conn,
          `the agent at ${opts.socket} serves root${opts.ownerUid ? ` and uid ${opts.ownerUid}` : ''} only, and you are uid ${peer.uid}`,
        );
        return;
      }
      serve(conn, peer, () => socket.destroy());
    });
    log(`listening on ${opts.socket} (store ${opts.root})`);
    if (opts.dockerSocket) docker = await serveDocker(opts.dockerSocket, opts, { images: svc, containers }, log);
  }

  if (opts.stdio) {
    const conn = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
    serve(conn, undefined, () => stop('stdio closed'));
  }
  await stopped;
}

/**
 * Serves the Docker Engine API (agent/docker/server.ts) on `path`, with the agent socket's access
 * rule: `listen`'s modes, and each peer's uid read with SO_PEERCRED, anyone but root and the owner
 * answered 403 with the reason. Undefined, and the reason logged, when the socket cannot be bound.
 */
async function serveDocker(
  path: string,
  opts: AgentOptions,
  services: { images: ImageService; containers: ContainerService },
  log: (msg: string) => void,
): Promise<{ server: Server; api: DockerApi } | undefined> {
  const api = createDockerApi({ ...services, root: opts.root, log });
  try {
    const server = await listen(path, opts.root, opts.ownerUid, (socket) => {
      let peer: PeerCred;
      try {
        peer = native().peerCred(socketFd(socket));
      } catch (err) {
        log(`docker api: refusing a connection whose peer cannot be identified: ${(err as Error).message}`);
        return api.accept(socket, `the agent could not identify the caller (${(err as Error).message})`);
      }
      if (peer.uid !== 0 && peer.uid !== opts.ownerUid) {
        log(`docker api: refusing uid ${peer.uid} (pid ${peer.pid}): only root and uid ${opts.ownerUid ?? 0} may use this agent`);
        return api.accept(
          socket,
          `permission denied: the Berth agent at ${path} serves root${opts.ownerUid ? ` and uid ${opts.ownerUid}` : ''} only, and you are uid ${peer.uid}`,
        );
      }
      api.accept(socket);
    });
    log(`serving the Docker Engine API on ${path}`);
    return { server, api };
  } catch (err) {
    // Whatever keeps this socket from being bound (a file in the way, another agent, EACCES), the
    // JSON-RPC socket is served on: the failure is said in the log, not fatal.
    log(`not serving the Docker Engine API on ${path}: ${(err as Error).message}`);
    api.close();
    return undefined;
  }
}

/** Answers every request of a refused peer with PermissionDenied and the reason, then closes. */
function denyAll(conn: MessageConnection, why: string): void {
  conn.onRequest((method) => {
    setTimeout(() => conn.dispose(), 100).unref();
    return new ResponseError(ErrorCode.PermissionDenied, `${method}: permission denied: ${why}`, { operation: method });
  });
  conn.listen();
}

function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor');
  return fd;
}

/**
 * Listens on `path`. The socket is 0600 and its directory 0700, both root's, when the agent serves
 * root only. When it also serves a user (`ownerUid`), that user must be able to reach the socket
 * and nobody else: the socket becomes the user's (0600), and so does a dedicated socket directory
 * (0700); when the socket sits in the store root, the root stays root's with mode 0711, so the
 * user can reach the socket without being able to list or change the store.
 */
async function listen(path: string, root: string, ownerUid: number | undefined, onConnection: (s: Socket) => void): Promise<Server> {
  const dir = dirname(path);
  const forUser = ownerUid !== undefined && ownerUid !== 0;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (forUser && resolvePath(dir) === resolvePath(root)) {
      chmodSync(dir, 0o711);
    } else {
      chmodSync(dir, 0o700);
      if (forUser) chownSync(dir, ownerUid, ownerGid(ownerUid));
    }
  } catch (err) {
    throw systemError('create socket directory', err, { path: dir });
  }
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) {
      throw new BerthError(ErrorCode.Conflict, `listen: ${path} exists and is not a socket; move it away`, { operation: 'listen', path });
    }
    if (await answers(path)) {
      throw new BerthError(ErrorCode.Conflict, `listen: another agent already listens on ${path}`, { operation: 'listen', path });
    }
    rmSocket(path);
  }
  // The socket is bound under a temporary name, given its mode and owner, and only then renamed
  // to `path`: no client ever finds it with other permissions than these.
  const bound = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  rmSocket(bound);
  const server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(systemError('listen', err, { path })));
    server.listen(bound, () => resolve());
  });
  try {
    chmodSync(bound, 0o600);
    if (forUser) chownSync(bound, ownerUid, ownerGid(ownerUid));
    renameSync(bound, path);
  } catch (err) {
    server.close();
    rmSocket(bound);
    throw systemError('listen', err, { path });
  }
  return server;
}

/** The owner's primary group: SUDO_GID when sudo started us for that user, else /etc/passwd's. */
function ownerGid(uid: number): number {
  if (process.env.SUDO_UID === String(uid) && /^\d+$/.test(process.env.SUDO_GID ?? '')) return Number(process.env.SUDO_GID);
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && f[2] === String(uid) && /^\d+$/.test(f[3])) return Number(f[3]);
    }
  } catch (e) {
    // No readable passwd file: keep the group.
    if (!isErrno(e, 'ENOENT', 'EACCES')) throw e;
  }
  return -1;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

function rmSocket(path: string): void {
  unlessErrno(['ENOENT'], () => unlinkSync(path)); // already gone
}

export const defaultLogPath = (root: string) => join(root, 'agent.log');
