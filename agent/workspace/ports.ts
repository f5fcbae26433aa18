/**
 * Detected ports of workspace containers (issue #5): a port a process in the container starts
 * listening on after the container was created is reachable on the host's 127.0.0.1 without being
 * in forwardPorts or published.
 *
 * Which containers. Those labelled `berth.workspace` (LABEL_WORKSPACE) on the bridge network,
 * while they run: watching starts at the container's `start` event (and, when the watcher starts,
 * for those already running: an agent restarted under them), and stops at its `die` or `destroy`.
 * With `--network host` the container's listeners are the host's already; with `none` nothing can
 * reach them.
 *
 * How listeners are found. The kernel offers no notification when a socket starts listening, so
 * the watcher polls: every {@link POLL_MS} ms, only while a watched container runs (one timer per
 * container, re-armed after each pass so passes never overlap, unref'd, cleared at exit), it reads
 * /proc/<init pid>/net/tcp and /proc/<init pid>/net/tcp6. Those files show the sockets of the
 * network namespace of that process, i.e. the container's; the agent cannot setns() itself (it is
 * multi-threaded), and reading them needs no helper process. Rows in state 0A (TCP_LISTEN) are
 * listeners. The kernel lists listening sockets before the others, so reading stops at the first
 * row in another state, and at {@link MAX_READ} bytes in any case (a container with a huge number
 * of connections costs the agent no more than that per pass). NETLINK_SOCK_DIAG would filter in
 * the kernel but needs a socket opened inside the namespace, i.e. a helper process per pass.
 *
 * What is forwarded. A listener on the wildcard address (0.0.0.0, or :: which also takes IPv4
 * unless the program set IPV6_V6ONLY) or on the container's bridge address is reachable through
 * the bridge: the watcher opens a TCP proxy (../runtime/network/proxy.ts) on 127.0.0.1 with the
 * same port number when it is free, else one the kernel chooses, towards the container's address,
 * and closes it when the listener goes away. Ports below {@link FIRST_UNPRIVILEGED} always get one
 * the kernel chooses: the agent runs as root, and a process in a user's container must not take a
 * privileged port of the host (a resolver or mail port on 127.0.0.1 that happens to be free). Ports the container already publishes (forwardPorts,
 * `-p` in runArgs) are left to their own proxies. A listener bound only to the container's loopback
 * (127.0.0.0/8, ::1, ::ffff:127.x), as dev servers often are, cannot be reached through the
 * bridge: its proxy hands each connection to the runtime helper in `--connect` mode, which enters
 * the container's network namespace alone and relays it to the loopback there (openNetnsProxy).
 * Such ports are also listed in `loopbackPorts` of `workspace/status`.
 * Listeners on other addresses (an IPv6 link-local one) are ignored. At most
 * {@link MAX_DETECTED} ports of a container are forwarded; more are logged once and skipped.
 *
 * Events (protocol: ContainerEventActionMore). `listen` when a listener is forwarded (attributes
 * `workspace`, `port`, `hostIp`, `hostPort`, and `loopbackOnly` "true" for one on the container's
 * loopback); `unlisten` when it goes away (`workspace`, `port`). None are sent when
 * the container exits: its `die` says that every port is gone.
 *
 * Everything read from /proc is the container's doing (how many sockets, which ports): rows that do
 * not parse are skipped, counts are bounded, and nothing in them names a path or a command.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import type { BerthEvent, WorkspacePort } from '../../protocol';
import { BerthError, ErrorCode, isErrno } from '../errors';
import type { ContainerService, ContainerView } from '../runtime/containers/service';
import { openNetnsProxy, openProxy, type Proxy as PortProxy } from '../runtime/network/proxy';
import { LABEL_WORKSPACE } from './labels';

/** Between two passes over a container's listeners. */
export const POLL_MS = 1000;
/** Bytes read of each /proc/<pid>/net/tcp{,6} per pass, at most. */
export const MAX_READ = 1 << 20;
/** Detected ports forwarded per container, at most. */
export const MAX_DETECTED = 256;
/** Container ports below this are forwarded from a port the kernel chooses, never the same number. */
export const FIRST_UNPRIVILEGED = 1024;
/** Where detected ports are forwarded on the host. */
export const FORWARD_HOST_IP = '127.0.0.1';
const OP = 'forward workspace port';

/** Where a listening socket listens, as far as forwarding is concerned. */
export type ListenScope = 'reachable' | 'loopback';

/** The listening TCP ports of a namespace: each port once, reachable winning over loopback. */
export type Listeners = Map<number, ListenScope>;

/** The bytes of a /proc/net/tcp address field: 8 hex digits (IPv4) or 32 (IPv6), words in host order. */
function addressBytes(hex: string, littleEndian: boolean): number[] | undefined {
  if (!/^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32})$/.test(hex)) return undefined;
  const out: number[] = [];
  for (let i = 0; i < hex.length; i += 8) {
    const word = parseInt(hex.slice(i, i + 8), 16);
    const b = [word >>> 24, (word >>> 16) & 255, (word >>> 8) & 255, word & 255];
    out.push(...(littleEndian ? b.reverse() : b));
  }
  return out;
}

/** reachable, loopback, or undefined (another address: ignored) for `bytes` in a namespace whose bridge address is `ownIp`. */
export function classifyAddress(bytes: readonly number[], ownIp: string | undefined): ListenScope | undefined {
  let v4 = bytes;
  if (bytes.length === 16) {
    if (bytes.every((b) => b === 0)) return 'reachable';
    if (bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1) return 'loopback';
    const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
    if (!mapped) return undefined;
    v4 = bytes.slice(12);
  }
  if (v4[0] === 127) return 'loopback';
  if (v4.every((b) => b === 0)) return 'reachable';
  return v4.join('.') === ownIp ? 'reachable' : undefined;
}

/**
 * Adds the listeners of one /proc/<pid>/net/tcp or tcp6 text to `into`. Returns true when a row
 * in another state was seen (the listeners are all listed before it). Malformed rows are skipped.
 */
export function parseProcNetTcp(text: string, ownIp: string | undefined, into: Listeners, littleEndian = endianness() === 'LE'): boolean {
  let pastListeners = false;
  for (const line of text.split('\n')) {
    // "  sl  local_address rem_address   st ..." then rows "   0: 0100007F:1F90 00000000:0000 0A ..."
    const m = /^\s*\d+:\s+([0-9A-Fa-f]+):([0-9A-Fa-f]{4})\s+[0-9A-Fa-f]+:[0-9A-Fa-f]{4}\s+([0-9A-Fa-f]{2})\s/.exec(line);
    if (!m) continue;
    if (m[3].toUpperCase() !== '0A') {
      pastListeners = true;
      continue;
    }
    const port = parseInt(m[2], 16);
    const bytes = addressBytes(m[1], littleEndian);
    if (port < 1 || port > 65535 || !bytes) continue;
    const scope = classifyAddress(bytes, ownIp);
    if (scope === 'reachable' || (scope === 'loopback' && !into.has(port))) into.set(port, scope);
  }
  return pastListeners;
}

/** Reads the start of a /proc file: at most MAX_READ bytes, and no further than the listeners. */
function readListenersFile(path: string, ownIp: string | undefined, into: Listeners): void {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    let text = '';
    let total = 0;
    while (total < MAX_READ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, MAX_READ - total), null);
      if (n === 0) break;
      total += n;
      text += buf.toString('latin1', 0, n);
      // Parse whole lines only; keep the partial last one for the next read.
      const cut = text.lastIndexOf('\n');
      if (cut < 0) continue;
      const done = parseProcNetTcp(text.slice(0, cut + 1), ownIp, into);
      text = text.slice(cut + 1);
      if (done) return;
    }
    parseProcNetTcp(text, ownIp, into);
  } finally {
    closeSync(fd);
  }
}

/** The listening TCP ports of the network namespace of process `pid` (IPv4 and IPv6). */
export function readListeners(pid: number, ownIp: string | undefined): Listeners {
  const out: Listeners = new Map();
  readListenersFile(`/proc/${pid}/net/tcp`, ownIp, out);
  try {
    readListenersFile(`/proc/${pid}/net/tcp6`, ownIp, out);
  } catch (e) {
    // A kernel without IPv6 has no tcp6.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return out;
}

/** What the watcher knows of a workspace container's detected ports (see {@link WorkspacePortWatcher.ports}). */
export interface DetectedPorts {
  /** Forwarded to the host, by container port. */
  forwarded: WorkspacePort[];
  /** Of those, the ones listening on the container's loopback only (relayed by the helper). */
  loopback: number[];
}

interface Watch {
  id: string;
  folder: string;
  pid: number;
  ip: string;
  timer?: NodeJS.Timeout;
  stopped: boolean;
  /** The pass in flight (stop waits for it, so no proxy opens after the exit). */
  pass?: Promise<void>;
  forwarded: Map<number, PortProxy>;
  loopback: Set<number>;
  /** Ports whose proxy failed to open for another reason than a taken port: not retried while they listen. */
  failed: Set<number>;
  /** Read errors and the MAX_DETECTED limit are logged once per container run. */
  warned: Set<string>;
}

export interface PortWatcherOptions {
  log?: (msg: string) => void;
  /** Between passes; default {@link POLL_MS}. */
  intervalMs?: number;
}

/** Watches the listeners of running workspace containers and forwards them (see the module comment). */
export class WorkspacePortWatcher {
  private readonly watches = new Map<string, Watch>();
  private readonly log: (msg: string) => void;
  private readonly intervalMs: number;
  private unsubscribe?: () => void;

  constructor(
    private readonly containers: ContainerService,
    opts: PortWatcherOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    this.intervalMs = opts.intervalMs ?? POLL_MS;
  }

  /** Follows container events, and watches the workspace containers running now. Once. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.containers.events.on((e) => this.onEvent(e));
    for (const { record } of this.containers.views(false)) if (record.labels[LABEL_WORKSPACE]) this.watch(record.id);
  }

  private onEvent(e: BerthEvent): void {
    if (e.Type !== 'container') return;
    if (e.Action === 'start') this.watch(e.Actor.ID);
    else if (e.Action === 'die' || e.Action === 'destroy') void this.unwatch(e.Actor.ID);
  }

  /** Starts watching container `id` when it is a running workspace container on the bridge. */
  private watch(id: string): void {
    if (this.watches.has(id)) return;
    let view: ContainerView;
    try {
      view = this.containers.view(id);
    } catch (e) {
      // Removed meanwhile: its record is gone, or its directory while it was read.
      if ((e instanceof BerthError && e.code === ErrorCode.NotFound) || isErrno(e, 'ENOENT')) return;
      throw e;
    }
    const { record, endpoint } = view;
    const folder = record.labels[LABEL_WORKSPACE];
    if (!folder || record.state.status !== 'running' || record.state.pid <= 0 || record.network.mode !== 'bridge' || !endpoint?.ip) return;
    const w: Watch = {
      id,
      folder,
      pid: record.state.pid,
      ip: endpoint.ip,
      stopped: false,
      forwarded: new Map(),
      loopback: new Set(),
      failed: new Set(),
      warned: new Set(),
    };
    this.watches.set(id, w);
    this.schedule(w, 0);
  }

  private schedule(w: Watch, delay: number): void {
    if (w.stopped) return;
    w.timer = setTimeout(() => {
      w.pass = this.pass(w)
        .catch((e) => this.warnOnce(w, 'pass', `${OP}: container ${w.id.slice(0, 12)}: ${(e as Error).message}`))
        .finally(() => {
          w.pass = undefined;
          this.schedule(w, this.intervalMs);
        });
    }, delay);
    w.timer.unref();
  }

  private warnOnce(w: Watch, key: string, msg: string): void {
    if (w.warned.has(key)) return;
    w.warned.add(key);
    this.log(msg);
  }

  /** One look at the container's listeners: proxies opened for new ones, closed for gone ones. */
  private async pass(w: Watch): Promise<void> {
    let found: Listeners;
    try {
      found = readListeners(w.pid, w.ip);
    } catch (e) {
      // The init is gone (ENOENT/ESRCH): the container is exiting and its `die` will stop this.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ESRCH')
        this.warnOnce(
          w,
          'read',
          `${OP}: reading /proc/${w.pid}/net/tcp of container ${w.id.slice(0, 12)}: ${code ?? (e as Error).message}`,
        );
      return;
    }
    const rec = this.containers.tryFind(w.id);
    if (!rec || w.stopped) return;
    const emit = (action: 'listen' | 'unlisten', port: number, extra: Record<string, string> = {}) =>
      this.containers.emitEvent(action, rec, { workspace: w.folder, port: String(port), ...extra });

    // A forward goes when its listener does, or moves between loopback and reachable.
    for (const [port, proxy] of [...w.forwarded]) {
      const scope = found.get(port);
      if (scope !== undefined && (scope === 'loopback') === w.loopback.has(port)) continue;
      w.forwarded.delete(port);
      w.loopback.delete(port);
      await proxy.close();
      if (scope === undefined) emit('unlisten', port);
    }
    for (const port of [...w.failed]) if (!found.has(port)) w.failed.delete(port);

    const published = new Set(
      this.containers.network
        .bound(w.id)
        .filter((b) => b.protocol === 'tcp')
        .map((b) => b.containerPort),
    );
    for (const [port, scope] of [...found].sort((a, b) => a[0] - b[0])) {
      if (published.has(port) || w.forwarded.has(port) || w.failed.has(port)) continue;
      if (w.forwarded.size >= MAX_DETECTED) {
        this.warnOnce(
          w,
          'limit',
          `${OP}: container ${w.id.slice(0, 12)} listens on more than ${MAX_DETECTED} ports; port ${port} and later ones are not forwarded`,
        );
        break;
      }
      const proxy = await this.open(w, port, scope);
      if (!proxy) continue;
      if (w.stopped) {
        await proxy.close();
        return;
      }
      w.forwarded.set(port, proxy);
      if (scope === 'loopback') w.loopback.add(port);
      emit('listen', port, {
        hostIp: proxy.bound.hostIp,
        hostPort: String(proxy.bound.hostPort),
        ...(scope === 'loopback' ? { loopbackOnly: 'true' } : {}),
      });
    }
  }

  /** A proxy for `port` on 127.0.0.1: the same number when free (and not privileged), else one the kernel chooses. */
  private async open(w: Watch, port: number, scope: ListenScope): Promise<PortProxy | undefined> {
    const spec = { protocol: 'tcp' as const, hostIp: FORWARD_HOST_IP, targetIp: w.ip, targetPort: port };
    const openOn = (hostPort: number) =>
      scope === 'loopback'
        ? openNetnsProxy({ hostIp: FORWARD_HOST_IP, hostPort, pid: w.pid, targetPort: port }, OP)
        : openProxy({ ...spec, hostPort }, OP);
    if (port >= FIRST_UNPRIVILEGED) {
      try {
        return await openOn(port);
      } catch (e) {
        if (!(e instanceof BerthError) || e.code !== ErrorCode.Conflict) {
          w.failed.add(port);
          this.log(`${OP}: container ${w.id.slice(0, 12)} port ${port}: ${(e as Error).message}`);
          return undefined;
        }
      }
    }
    try {
      return await openOn(0);
    } catch (e) {
      w.failed.add(port);
      this.log(`${OP}: container ${w.id.slice(0, 12)} port ${port}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Stops watching `id`: timer cleared, the pass in flight awaited, every proxy closed. */
  private async unwatch(id: string): Promise<void> {
    const w = this.watches.get(id);
    if (!w) return;
    this.watches.delete(id);
    w.stopped = true;
    clearTimeout(w.timer);
    await w.pass;
    await Promise.all([...w.forwarded.values()].map((p) => p.close()));
    w.forwarded.clear();
    w.loopback.clear();
  }

  /** The detected ports of container `id` now (none when it is not watched). */
  ports(id: string): DetectedPorts {
    const w = this.watches.get(id);
    if (!w) return { forwarded: [], loopback: [] };
    return {
      forwarded: [...w.forwarded.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([containerPort, p]) => ({ containerPort, hostIp: p.bound.hostIp, hostPort: p.bound.hostPort, detected: true })),
      loopback: [...w.loopback].sort((a, b) => a - b),
    };
  }

  /** Stops every watch and the event subscription (the agent stops). */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await Promise.all([...this.watches.keys()].map((id) => this.unwatch(id)));
  }
}
