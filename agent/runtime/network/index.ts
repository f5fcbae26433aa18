/**
 * Container networking: `--network none`, `host` and the default private network ("bridge").
 * Core only: no JSON-RPC; the container service calls these hooks.
 *
 *   create   {@link validateNetwork} checks the mode and the -p specs; {@link NetworkManager.allocate}
 *            gives a bridge container its address (recorded in network/state.json, see ipam.ts).
 *   start    {@link NetworkManager.setUp}, before the helper launches. For a bridge container:
 *            the bridge is made ready (once per agent: link, gateway address, up, ip_forward, the
 *            iptables rules of iptables.ts), the published ports' proxies are bound (a port in use
 *            fails the start here, before anything else exists), then a persistent network
 *            namespace `ip netns add berth-<12 hex of id>` (/run/netns/berth-…) is created and
 *            configured: a veth pair, host side "vb<11 hex>" on the bridge, peer created inside
 *            it as eth0 with Docker's MAC for its address, the address, lo and eth0 up, a
 *            default route via the gateway. The helper then joins that namespace (plan.ts `netns`,
 *            the helper's NETNS record) instead of making one, so the container's first
 *            instruction already sees its network. /etc/hosts of every running bridge container
 *            is rewritten (in place) to list the others.
 *            none: nothing here; the helper makes a fresh namespace with only lo (loopback-up).
 *            host: nothing; the container shares the host's namespace.
 *   exit     {@link NetworkManager.tearDown}: proxies closed, the veth and the namespace deleted,
 *            the others' /etc/hosts rewritten. The address stays the container's.
 *   rm       {@link NetworkManager.release}: the address is free again.
 *   agent start  {@link NetworkManager.init}: allocations of containers that no longer exist are
 *            dropped, leftovers (namespace, veth) of containers that are not running are deleted.
 *            {@link NetworkManager.restore}: for containers found running (their monitor outlived
 *            the previous agent), the proxies are bound again on the same host ports and the
 *            hosts files refreshed; the namespace and veth were never torn down.
 *
 * Why a persistent namespace made by the agent, rather than one the helper creates: it is fully
 * configured before the process exists, it is reachable by name for `ip -n`, and it outlives
 * the agent together with the container (a restarted agent finds it at the same path).
 *
 * Why a user-space proxy for published ports (docker-proxy's way) rather than DNAT: traffic from
 * the host's own loopback to 127.0.0.1:PORT never passes PREROUTING, and DNAT from OUTPUT to a
 * bridge address needs route_localnet, which opens 127/8 to routing host-wide.
 *
 * Name resolution uses /etc/hosts (see etc.ts) rather than an embedded DNS server: it needs no
 * extra process or port inside each namespace, and busybox and glibc read it first.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { BerthError, ErrorCode, isBerthError, isErrno } from '../../errors';
import { formatIPv4, formatSubnet, inSubnet, macFor, overlaps, parseIPv4, type NetworkConfig, type Subnet } from './config';
import { renderBridgeHosts, rewriteInPlace, type NetworkMode } from './etc';
import { must, mustBatch, run, toolPath } from './exec';
import { Ipam } from './ipam';
import { applyRules, buildRules, removeRules } from './iptables';
import { DEFAULT_HOST_IP, parsePortSpecs, type BoundPort, type PortBinding } from './ports';
import { openProxy, type Proxy as PortProxy } from './proxy';

export type { NetworkMode } from './etc';
export { networkConfig, type NetworkConfig } from './config';

/** Where `ip netns add` puts its namespaces. */
export const NETNS_DIR = '/run/netns';

export const netnsName = (id: string) => `berth-${id.slice(0, 12)}`;
export const vethName = (id: string) => `vb${id.slice(0, 11)}`;

/** What the network hooks need to know of a container (from its record). */
export interface NetworkContainer {
  id: string;
  name: string;
  hostname: string;
  mode: NetworkMode;
  ports: PortBinding[];
  /** The container's own /etc/hosts file on the host (bind-mounted; rewritten in place). */
  hostsPath: string;
}

/** A running bridge container's place on the default network ({@link NetworkManager.endpoint}). */
export interface NetworkEndpoint {
  ip: string;
  gateway: string;
  prefixLen: number;
  mac: string;
  bridge: string;
  /** Its network namespace (/run/netns/berth-<12 hex>). */
  sandboxKey: string;
  /** The host addresses and ports its proxies really listen on (chosen ones included). */
  bound: BoundPort[];
}

interface Endpoint {
  c: NetworkContainer;
  ip: string;
  proxies: PortProxy[];
}

/**
 * Checks `--network` and `-p` at create. Modes: "bridge" (also "default" and absent), "host",
 * "none". Published ports need the bridge. Throws InvalidArgument naming `operation`.
 */
export function validateNetwork(
  operation: string,
  networkMode: string | undefined,
  ports: readonly string[] | undefined,
): { mode: NetworkMode; bindings: PortBinding[] } {
  const raw = networkMode ?? 'bridge';
  const mode: NetworkMode | undefined =
    raw === 'bridge' || raw === 'default' ? 'bridge' : raw === 'host' || raw === 'none' ? raw : undefined;
  if (!mode) {
    throw new BerthError(
      ErrorCode.InvalidArgument,
      `${operation}: network "${raw.slice(0, 64)}" is not one of bridge, host, none (user-defined networks are not supported)`,
      { operation },
    );
  }
  const bindings = parsePortSpecs(ports ?? [], operation);
  if (bindings.length && mode !== 'bridge') {
    throw new BerthError(
      ErrorCode.InvalidArgument,
      `${operation}: published ports (-p) need the bridge network; with --network ${mode} there is nothing to publish`,
      { operation },
    );
  }
  return { mode, bindings };
}

/** The routes of this host (`ip -o -4 route show`) that overlap `subnet` on another device. */
export function overlappingRoutes(routeOutput: string, subnet: Subnet, bridge: string): string[] {
  const out: string[] = [];
  for (const line of routeOutput.split('\n')) {
    const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?\s.*\bdev\s+(\S+)/.exec(line.trim());
    if (!m || m[3] === bridge) continue;
    const base = parseIPv4(m[1]);
    if (base === undefined) continue;
    if (overlaps(subnet, { base, prefix: m[2] === undefined ? 32 : Number(m[2]) })) out.push(line.trim());
  }
  return out;
}

export class NetworkManager {
  readonly ipam: Ipam;
  private readonly endpoints = new Map<string, Endpoint>();
  private bridgeReady?: Promise<number>;
  private bridgeUp = false;
  private readonly log: (msg: string) => void;

  /** The bridge's alias ("berth:<root>"): which agent's addresses are on it. */
  private readonly owner: string;

  constructor(
    root: string,
    readonly config: NetworkConfig,
    log?: (msg: string) => void,
  ) {
    this.log = log ?? (() => {});
    this.ipam = new Ipam(root, config.subnet, this.log);
    const tag = `berth:${root}`;
    this.owner = tag.length <= 200 ? tag : `berth:sha256:${createHash('sha256').update(root).digest('hex')}`;
  }

  /** Gives a bridge container its address at create (Conflict when the subnet is full). */
  allocate(id: string, operation = 'create container'): string {
    return this.ipam.allocate(id, operation);
  }

  /**
   * Frees the container's address (rm). A namespace still there (a container that exited while
   * no agent ran, removed before any start) is deleted in the background. Never throws.
   */
  release(id: string): void {
    try {
      this.ipam.release(id);
    } catch (e) {
      this.log(`releasing the address of container ${id.slice(0, 12)}: ${(e as Error).message}`);
    }
    if (!this.endpoints.has(id) && existsSync(`${NETNS_DIR}/${netnsName(id)}`)) void this.deleteLinks(id, 'remove container');
  }

  /** The bridge, its address, forwarding and NAT; once per agent (again after a failure). Resolves with the MTU for veths. */
  private ensureBridge(operation: string): Promise<number> {
    // Deleted behind the agent's back (by hand, or a test's cleanup): made again.
    if (this.bridgeUp && !existsSync(`/sys/class/net/${this.config.bridge}`)) {
      this.bridgeReady = undefined;
      this.bridgeUp = false;
    }
    this.bridgeReady ??= this.setUpBridge(operation).then(
      (mtu) => ((this.bridgeUp = true), mtu),
      (e) => {
        this.bridgeReady = undefined;
        throw e;
      },
    );
    return this.bridgeReady;
  }

  private async setUpBridge(op: string): Promise<number> {
    const { bridge, subnet, gateway } = this.config;
    const cidr = `${formatIPv4(gateway)}/${subnet.prefix}`;
    const clash = overlappingRoutes(await must('ip', ['-o', '-4', 'route', 'show'], op), subnet, bridge).map((r) => `the route "${r}"`);
    // A nameserver or gateway of the host reached through a wider route (the default) would be
    // captured by the bridge's route, cutting the host off from it.
    const captured = hostResolvers().find((a) => inSubnet(a, subnet));
    if (captured !== undefined) clash.push(`the nameserver ${formatIPv4(captured)} (/etc/resolv.conf)`);
    if (clash.length) {
      throw new BerthError(
        ErrorCode.Conflict,
        `${op}: the default network's subnet ${formatSubnet(subnet)} overlaps ${clash[0]} of this host; configure another subnet (settings.json "network.subnet" or BERTH_SUBNET)`,
        { operation: op, path: bridge },
      );
    }
    const show = await run('ip', ['-d', '-o', 'link', 'show', 'dev', bridge], op);
    if (show.code !== 0) {
      const add = await run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge'], op);
      // Another agent with the same configuration may have made it a moment ago.
      if (add.code !== 0 && (await run('ip', ['-d', '-o', 'link', 'show', 'dev', bridge], op)).code !== 0) {
        await must('ip', ['link', 'add', 'name', bridge, 'type', 'bridge'], op, bridge);
      }
    } else if (!/\sbridge\s/.test(show.stdout)) {
      throw new BerthError(
        ErrorCode.Conflict,
        `${op}: interface ${bridge} exists and is not a bridge; configure another bridge name (settings.json "network.bridge" or BERTH_BRIDGE)`,
        {
          operation: op,
          path: bridge,
        },
      );
    }
    // Two agents (two stores) handing out addresses on one bridge would collide: the bridge is
    // marked with its agent's store, and another agent's bridge is refused.
    let alias = '';
    try {
      alias = readFileSync(`/sys/class/net/${bridge}/ifalias`, 'utf8').trim();
    } catch (e) {
      // No alias support: nothing to compare.
      if (!isErrno(e, 'ENOENT', 'EINVAL', 'EOPNOTSUPP')) throw e;
    }
    if (alias.startsWith('berth:') && alias !== this.owner) {
      throw new BerthError(
        ErrorCode.Conflict,
        `${op}: bridge ${bridge} is the default network of another Berth agent (${alias.slice(6)}); give this agent another bridge and subnet (settings.json "network", or BERTH_BRIDGE and BERTH_SUBNET), or delete the bridge if that agent is gone (ip link del ${bridge})`,
        { operation: op, path: bridge },
      );
    }
    if (alias !== this.owner) await must('ip', ['link', 'set', 'dev', bridge, 'alias', this.owner], op, bridge);
    const addrs = await must('ip', ['-o', '-4', 'addr', 'show', 'dev', bridge], op, bridge);
    const have = [...addrs.matchAll(/\binet\s+(\S+)/g)].map((m) => m[1]);
    if (!have.includes(cidr)) {
      // A different subnet from an earlier configuration: the bridge gets the current one only.
      if (have.length) await must('ip', ['addr', 'flush', 'dev', bridge], op, bridge);
      await must('ip', ['addr', 'add', cidr, 'dev', bridge], op, bridge);
    }
    await must('ip', ['link', 'set', 'dev', bridge, 'up'], op, bridge);
    try {
      if (readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') writeFileSync('/proc/sys/net/ipv4/ip_forward', '1\n');
    } catch (e) {
      throw new BerthError(
        ErrorCode.System,
        `${op}: enable IPv4 forwarding (/proc/sys/net/ipv4/ip_forward): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        {
          operation: op,
          path: '/proc/sys/net/ipv4/ip_forward',
          errno: (e as NodeJS.ErrnoException).code,
        },
      );
    }
    await applyRules(buildRules(this.config), op);
    return uplinkMtu(await must('ip', ['-o', '-4', 'route', 'show', 'default'], op));
  }

  /**
   * Sets the container's network up before its launch (see the module comment). Resolves with
   * the namespace to join (bridge), or nothing (none: the helper makes one; host: none at all).
   * On failure everything made so far is undone, and the error names what failed.
   */
  async setUp(c: NetworkContainer, op = 'start container'): Promise<{ netnsPath?: string }> {
    if (c.mode !== 'bridge') return {};
    await this.tearDown(c.id, true);
    const mtu = await this.ensureBridge(op);
    const ip = this.ipam.allocate(c.id, op);
    const ns = netnsName(c.id);
    const veth = vethName(c.id);
    const ep: Endpoint = { c, ip, proxies: [] };
    try {
      for (const b of c.ports) {
        ep.proxies.push(
          await openProxy(
            { protocol: b.protocol, hostIp: b.hostIp || DEFAULT_HOST_IP, hostPort: b.hostPort, targetIp: ip, targetPort: b.containerPort },
            op,
          ),
        );
      }
      const { gateway, subnet } = this.config;
      // Two `ip` processes: the host side (namespace, veth pair, bridge port), then the inside.
      await mustBatch(
        [
          ['netns', 'add', ns],
          [
            'link',
            'add',
            'name',
            veth,
            'mtu',
            String(mtu),
            'type',
            'veth',
            'peer',
            'name',
            'eth0',
            'mtu',
            String(mtu),
            'address',
            macFor(parseIPv4(ip)!),
            'netns',
            ns,
          ],
          ['link', 'set', 'dev', veth, 'master', this.config.bridge, 'up'],
        ],
        op,
        veth,
      );
      await mustBatch(
        [
          ['addr', 'add', `${ip}/${subnet.prefix}`, 'dev', 'eth0'],
          ['link', 'set', 'dev', 'lo', 'up'],
          ['link', 'set', 'dev', 'eth0', 'up'],
          ['route', 'add', 'default', 'via', formatIPv4(gateway), 'dev', 'eth0'],
        ],
        op,
        `eth0 of ${ns}`,
        ns,
      );
      const path = `${NETNS_DIR}/${ns}`;
      if (!existsSync(path)) throw new BerthError(ErrorCode.System, `${op}: ip netns add ${ns} left no ${path}`, { operation: op, path });
      this.ipam.setPorts(
        c.id,
        ep.proxies.map((p) => p.bound),
      );
      this.endpoints.set(c.id, ep);
      this.refreshHosts();
      return { netnsPath: path };
    } catch (e) {
      this.endpoints.delete(c.id);
      await Promise.all(ep.proxies.map((p) => p.close()));
      await this.deleteLinks(c.id, op);
      this.ipam.setPorts(c.id, undefined);
      throw e;
    }
  }

  /**
   * Undoes {@link setUp} after the container exited (or its start failed): proxies, veth,
   * namespace. `quiet`: only what exists, and no hosts refresh (a start cleaning up after a
   * crash). Never throws; failures are logged.
   */
  async tearDown(id: string, quiet = false, opts: { deferLinks?: (links: Promise<void>) => void } = {}): Promise<void> {
    const ep = this.endpoints.get(id);
    this.endpoints.delete(id);
    if (ep) await Promise.all(ep.proxies.map((p) => p.close()));
    if (ep || !quiet) {
      try {
        this.ipam.setPorts(id, undefined);
      } catch (e) {
        this.log(`network state of container ${id.slice(0, 12)}: ${(e as Error).message}`);
      }
    }
    if (ep) this.refreshHosts();
    // Deleting the veth and the namespace is the slow part (~20 ms): with `deferLinks` the caller
    // gets it as a promise (and must not set the container up again before it settles).
    if (ep || existsSync(`${NETNS_DIR}/${netnsName(id)}`)) {
      const links = this.deleteLinks(id, 'stop container');
      if (opts.deferLinks) opts.deferLinks(links);
      else await links;
    }
  }

  private async deleteLinks(id: string, op: string): Promise<void> {
    try {
      toolPath('ip', op);
    } catch (e) {
      if (isBerthError(e)) return; // no iproute2: nothing can have been made with it
      throw e;
    }
    const veth = vethName(id);
    const ns = netnsName(id);
    // The veth explicitly: with the namespace alone it would go only when the kernel gets round
    // to destroying the namespace. One `ip -force -batch`: each line runs even if one fails.
    const lines = [`link del dev ${veth}`, ...(existsSync(`${NETNS_DIR}/${ns}`) ? [`netns del ${ns}`] : [])];
    const r = await run('ip', ['-force', '-batch', '-'], op, lines.join('\n') + '\n').catch((e: Error) => ({
      code: 1,
      stderr: e.message,
      stdout: '',
    }));
    const errs = r.stderr.split('\n').filter((l) => l.trim() && !/Cannot find device|does not exist|Command failed -:1/i.test(l));
    if (r.code !== 0 && errs.length) this.log(`${op}: ip ${lines.join('; ')}: ${errs.join('; ')}`);
  }

  /** Rewrites /etc/hosts of every running bridge container: itself, then the others. */
  private refreshHosts(): void {
    const all = [...this.endpoints.values()];
    for (const ep of all) {
      const peers = all.filter((o) => o !== ep).map((o) => ({ ip: o.ip, name: o.c.name, id: o.c.id }));
      try {
        rewriteInPlace(ep.c.hostsPath, renderBridgeHosts({ ip: ep.ip, hostname: ep.c.hostname }, peers));
      } catch (e) {
        this.log(`rewriting /etc/hosts of container ${ep.c.id.slice(0, 12)} (${ep.c.hostsPath}): ${(e as Error).message}`);
      }
    }
  }

  /**
   * At agent start, before serving: drops the addresses of containers that do not exist
   * (`exists`), and deletes the namespace and veth left by containers in `notRunning` (an agent
   * or machine that died while they ran). Never throws.
   */
  async init(exists: (id: string) => boolean, notRunning: readonly string[]): Promise<void> {
    // Containers that are gone (an auto-removed one that exited while no agent ran) may have left
    // a namespace too.
    const stale = new Set(notRunning);
    try {
      for (const id of this.ipam.retain(exists)) {
        stale.add(id);
        this.log(`network: released the address of ${id.slice(0, 12)}, which has no container`);
      }
    } catch (e) {
      this.log(`network state: ${(e as Error).message}`);
    }
    for (const id of stale) {
      if (existsSync(`${NETNS_DIR}/${netnsName(id)}`)) {
        this.log(`network: deleting the leftover namespace ${netnsName(id)}`);
        await this.deleteLinks(id, 'clean up container');
      }
    }
  }

  /**
   * For containers found running when an agent starts (they outlived the previous one): registers
   * their endpoints, binds their proxies again on the host ports recorded when they started, and
   * refreshes every hosts file. A container whose namespace is gone, or a port now taken by
   * someone else, is logged and skipped (the container keeps running). Call once after
   * {@link init}, with every running container (other modes are ignored).
   */
  async restore(running: readonly NetworkContainer[]): Promise<void> {
    for (const c of running) {
      if (c.mode !== 'bridge' || this.endpoints.has(c.id)) continue;
      const ip = this.ipam.address(c.id);
      if (!ip || !existsSync(`${NETNS_DIR}/${netnsName(c.id)}`)) {
        this.log(`network: container ${c.id.slice(0, 12)} runs without its network namespace or address; its ports are not published`);
        continue;
      }
      // The bridge may have been deleted and made again meanwhile: attach the veth again.
      try {
        await this.ensureBridge('restore container');
        await must('ip', ['link', 'set', 'dev', vethName(c.id), 'master', this.config.bridge, 'up'], 'restore container', vethName(c.id));
      } catch (e) {
        this.log(`network: container ${c.id.slice(0, 12)}: ${(e as Error).message}`);
      }
      const ep: Endpoint = { c, ip, proxies: [] };
      for (const b of this.ipam.ports(c.id)) {
        try {
          ep.proxies.push(
            await openProxy(
              { protocol: b.protocol, hostIp: b.hostIp, hostPort: b.hostPort, targetIp: ip, targetPort: b.containerPort },
              'restore container',
            ),
          );
        } catch (e) {
          this.log(`network: container ${c.id.slice(0, 12)}: ${(e as Error).message}`);
        }
      }
      this.endpoints.set(c.id, ep);
    }
    this.refreshHosts();
  }

  /** The host ports a running container's proxies listen on. */
  bound(id: string): BoundPort[] {
    return this.endpoints.get(id)?.proxies.map((p) => p.bound) ?? [];
  }

  /** Closes every proxy (the agent stops; namespaces stay with their running containers). */
  async close(): Promise<void> {
    await Promise.all([...this.endpoints.values()].flatMap((ep) => ep.proxies.map((p) => p.close())));
  }

  /**
   * Where a running bridge container is on the network (its address, gateway, namespace and the
   * host ports its proxies listen on); undefined for one that is not set up (not running, or
   * on the host's network or none). Docker's NetworkSettings are made of it by the presenters.
   */
  endpoint(id: string): NetworkEndpoint | undefined {
    const ep = this.endpoints.get(id);
    if (!ep) return undefined;
    return {
      ip: ep.ip,
      gateway: formatIPv4(this.config.gateway),
      prefixLen: this.config.subnet.prefix,
      mac: macFor(parseIPv4(ep.ip)!),
      bridge: this.config.bridge,
      sandboxKey: `${NETNS_DIR}/${netnsName(id)}`,
      bound: this.bound(id),
    };
  }
}

/** The IPv4 nameservers of the host's /etc/resolv.conf. */
function hostResolvers(): number[] {
  let text = '';
  try {
    text = readFileSync('/etc/resolv.conf', 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
  return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => parseIPv4(m[1])).filter((n): n is number => n !== undefined);
}

/** The MTU for veths: the default route's device's, at most 1500 (1500 without a default route). */
function uplinkMtu(defaultRoutes: string): number {
  const dev = /\bdev\s+(\S+)/.exec(defaultRoutes)?.[1];
  if (!dev || !/^[A-Za-z0-9_.@-]{1,15}$/.test(dev)) return 1500;
  try {
    const mtu = Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8').trim());
    return Number.isInteger(mtu) && mtu >= 576 ? Math.min(mtu, 1500) : 1500;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return 1500; // the device went away
    throw e;
  }
}

/**
 * Removes the default network of `config` from the host: its iptables rules and its bridge. For
 * test agents that stop for good (test/support/agent.ts) and for an operator cleaning up; the
 * agent itself leaves the bridge in place when it stops (containers may outlive it).
 */
export async function removeBridgeNetwork(config: Pick<NetworkConfig, 'bridge' | 'subnet'>, operation = 'remove network'): Promise<void> {
  await removeRules(buildRules(config), operation);
  const del = await run('ip', ['link', 'del', 'dev', config.bridge], operation);
  if (del.code !== 0 && !/Cannot find device|does not exist/i.test(del.stderr)) {
    throw new BerthError(ErrorCode.System, `${operation}: ip link del ${config.bridge}: ${del.stderr.trim()}`, {
      operation,
      path: config.bridge,
    });
  }
}
