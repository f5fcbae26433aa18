/**
 * Published ports as user-space proxies in the agent (what docker-proxy does): a TCP server or a
 * UDP socket on the host address and port, forwarding to the container's address and port.
 *
 * Contract:
 * - {@link openProxy} resolves once the host socket is bound (host port 0: the kernel chooses,
 *   and {@link Proxy.bound} tells which), or rejects with a Conflict error worded
 *   "start container: port 127.0.0.1:8080/tcp is already in use" (EADDRINUSE), or an
 *   InvalidArgument error when the address is not one of the host's (EADDRNOTAVAIL).
 * - TCP: each accepted connection opens one to the container; bytes are piped both ways with
 *   half-close kept (an HTTP client that shuts down its side still gets the answer); an error or
 *   close on one side ends the other. At most {@link MAX_TCP} connections at once.
 * - UDP: each client address gets its own socket towards the container (so the answers find
 *   their way back); a flow idle for {@link UDP_IDLE_MS} is closed; at most {@link MAX_UDP_FLOWS}
 *   flows, the oldest closed first.
 * - {@link Proxy.close} closes the listener and every connection and flow; idempotent.
 * - {@link openNetnsProxy}: the same for a port the container listens on at its loopback only
 *   (unreachable through the bridge): each connection is handed, as the fd it is, to the runtime
 *   helper in `--connect` mode, which enters only the container's network namespace and relays
 *   it to 127.0.0.1:PORT there (the agent never setns; no bytes pass through Node).
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import { helperPath } from '../../../native';
import { BerthError, ErrorCode } from '../../errors';
import type { BoundPort, Protocol } from './ports';

export const MAX_TCP = 4096;
export const MAX_UDP_FLOWS = 1024;
export const UDP_IDLE_MS = 60_000;
const TCP_LINGER_MS = 30_000;

export interface ProxySpec {
  protocol: Protocol;
  hostIp: string;
  /** 0: chosen by the kernel. */
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

export interface Proxy {
  readonly bound: BoundPort;
  close(): Promise<void>;
}

function bindError(spec: ProxySpec, err: NodeJS.ErrnoException, operation: string): BerthError {
  const where = `${spec.hostIp.includes(':') ? `[${spec.hostIp}]` : spec.hostIp}:${spec.hostPort || '(any)'}/${spec.protocol}`;
  if (err.code === 'EADDRINUSE')
    return new BerthError(ErrorCode.Conflict, `${operation}: port ${where} is already in use`, {
      operation,
      syscall: 'bind',
      errno: err.code,
    });
  if (err.code === 'EADDRNOTAVAIL') {
    return new BerthError(
      ErrorCode.InvalidArgument,
      `${operation}: cannot publish port ${where}: ${spec.hostIp} is not an address of this host`,
      { operation, syscall: 'bind', errno: err.code },
    );
  }
  return new BerthError(ErrorCode.System, `${operation}: publish port ${where}: bind: ${err.code ?? err.message}`, {
    operation,
    syscall: 'bind',
    errno: err.code,
  });
}

export function openProxy(spec: ProxySpec, operation = 'start container'): Promise<Proxy> {
  return spec.protocol === 'tcp' ? openTcp(spec, operation) : openUdp(spec, operation);
}

function openTcp(spec: ProxySpec, operation: string): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const upstream = connect({ host: spec.targetIp, port: spec.targetPort, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    const destroy = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroy);
    upstream.on('error', destroy);
    // One side gone: the other is ended gracefully (what was written still arrives), and
    // destroyed if it then idles.
    const linger = (other: Socket) => {
      if (other.destroyed) return;
      other.end();
      other.setTimeout(TCP_LINGER_MS, () => other.destroy());
    };
    client.on('close', () => (sockets.delete(client), linger(upstream)));
    upstream.on('close', () => (sockets.delete(upstream), linger(client)));
    upstream.once('connect', () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  });
  return listenTcp(server, spec, operation, () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  });
}

/**
 * Binds `server` on the spec's host address (Conflict or InvalidArgument errors as bindError
 * words them) and gives the Proxy: `dropAll` ends the connections in flight when it closes.
 */
function listenTcp(server: Server, spec: ProxySpec, operation: string, dropAll: () => void): Promise<Proxy> {
  server.maxConnections = MAX_TCP;
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(bindError(spec, e as NodeJS.ErrnoException, operation)));
    server.listen({ host: spec.hostIp, port: spec.hostPort, exclusive: true }, () => {
      server.removeAllListeners('error');
      // Once listening, an error is one connection's (ECONNRESET...): the listener stays up.
      server.on('error', () => undefined);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : spec.hostPort;
      let closed: Promise<void> | undefined;
      resolve({
        bound: { protocol: 'tcp', hostIp: spec.hostIp, hostPort: port, containerPort: spec.targetPort },
        close: () =>
          (closed ??= new Promise<void>((r) => {
            server.close(() => r());
            dropAll();
          })),
      });
    });
  });
}

/** TCP on `hostIp:hostPort` to `targetPort` on the loopback of the network namespace of `pid`. */
export function openNetnsProxy(
  spec: { hostIp: string; hostPort: number; pid: number; targetPort: number },
  operation: string,
): Promise<Proxy> {
  const relays = new Set<ChildProcess>();
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    if (relays.size >= MAX_TCP) return void client.destroy();
    let relay: ChildProcess;
    try {
      // The connection's fd becomes the relay's stdin and stdout; ours is closed right after.
      relay = spawn(helperPath(), ['--connect', String(spec.pid), String(spec.targetPort)], { stdio: [client, client, 'ignore'] });
    } catch {
      // Everything is caught on purpose: a relay that cannot be spawned (EMFILE, EAGAIN...) drops
      // this connection, and must not take the listener (and the agent) down.
      return void client.destroy();
    }
    relays.add(relay);
    relay.on('error', () => relays.delete(relay));
    relay.on('exit', () => relays.delete(relay));
    client.destroy();
  });
  const tcp: ProxySpec = {
    protocol: 'tcp',
    hostIp: spec.hostIp,
    hostPort: spec.hostPort,
    targetIp: '127.0.0.1',
    targetPort: spec.targetPort,
  };
  return listenTcp(server, tcp, operation, () => {
    for (const c of relays) c.kill('SIGKILL'); // our own children, by their handles
    relays.clear();
  });
}

function openUdp(spec: ProxySpec, operation: string): Promise<Proxy> {
  const front = createSocket({ type: isIP(spec.hostIp) === 6 ? 'udp6' : 'udp4' });
  interface Flow {
    sock: UdpSocket;
    timer: NodeJS.Timeout;
  }
  const flows = new Map<string, Flow>();
  const endFlow = (key: string) => {
    const f = flows.get(key);
    if (!f) return;
    flows.delete(key);
    clearTimeout(f.timer);
    f.sock.close();
  };
  const touch = (key: string, f: Flow) => {
    clearTimeout(f.timer);
    f.timer = setTimeout(() => endFlow(key), UDP_IDLE_MS);
    f.timer.unref();
  };
  front.on('message', (msg: Buffer, from: RemoteInfo) => {
    const key = `${from.address}|${from.port}`;
    let f = flows.get(key);
    if (!f) {
      if (flows.size >= MAX_UDP_FLOWS) endFlow(flows.keys().next().value!);
      const sock = createSocket({ type: 'udp4' });
      sock.on('error', () => endFlow(key));
      sock.on('message', (reply: Buffer) => {
        const flow = flows.get(key);
        if (flow) touch(key, flow);
        front.send(reply, from.port, from.address);
      });
      sock.connect(spec.targetPort, spec.targetIp);
      f = { sock, timer: setTimeout(() => endFlow(key), UDP_IDLE_MS) };
      f.timer.unref();
      flows.set(key, f);
    } else {
      touch(key, f);
    }
    const sock = f.sock;
    const send = () => sock.send(msg, (err) => err && endFlow(key));
    // The first datagrams of a flow wait for its connect (an address, no DNS: immediate).
    try {
      sock.remoteAddress();
      send();
    } catch (e) {
      // Not connected yet: send once it is.
      if ((e as { code?: string }).code !== 'ERR_SOCKET_DGRAM_NOT_CONNECTED') throw e;
      sock.once('connect', send);
    }
  });
  return new Promise((resolve, reject) => {
    front.once('error', (e) => {
      front.close();
      reject(bindError(spec, e as NodeJS.ErrnoException, operation));
    });
    front.bind({ address: spec.hostIp, port: spec.hostPort, exclusive: true }, () => {
      front.removeAllListeners('error');
      // Once bound, an error is one datagram's (ICMP unreachable...): the socket stays up.
      front.on('error', () => undefined);
      let closed: Promise<void> | undefined;
      resolve({
        bound: { protocol: 'udp', hostIp: spec.hostIp, hostPort: front.address().port, containerPort: spec.targetPort },
        close: () =>
          (closed ??= new Promise<void>((r) => {
            for (const k of [...flows.keys()]) endFlow(k);
            front.close(() => r());
          })),
      });
    });
  });
}
