/**
 * Address allocation for the default network, recorded in `$BERTH_ROOT/network/state.json`:
 *
 *   { "formatVersion": 1, "next": "10.89.0.7",
 *     "containers": { "<64 hex id>": { "ip": "10.89.0.2", "ports": [BoundPort...] } } }
 *
 * Agents before issue 11 wrote `"version": 1` instead of `formatVersion` (the same fields
 * otherwise): such a file is read and rewritten in the current format when the network starts.
 * A file of a format version this agent does not know is reported and treated as unreadable.
 *
 * Contract:
 * - {@link Ipam.allocate} gives a container an address of the configured subnet that no other
 *   container has, or the one it already has when that is still in the subnet (a container keeps
 *   its address across stop/start and agent restarts, until {@link Ipam.release} at rm). Addresses
 *   are handed out round-robin from `next`, so a just-released one is the last to come back.
 * - A full subnet is a Conflict error that says how many containers hold addresses.
 * - `ports` are the host ports a running container's proxies listen on (chosen ports included),
 *   so an agent that starts while the container runs can listen on the same ones again.
 * - Every change is written atomically before the call returns. The file is parsed defensively:
 *   entries that are not a 64-hex id with an IPv4 address are dropped (and logged), an unreadable
 *   file is replaced by an empty one; the state cannot be trusted more than what it describes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode } from '../../errors';
import { mkdirp, writeFileAtomic } from '../../store/fsutil';
import { formatIPv4, formatSubnet, hostRange, inSubnet, parseIPv4, type Subnet } from './config';
import type { BoundPort } from './ports';

interface Entry {
  ip: string;
  ports?: BoundPort[];
}

export const NETWORK_STATE_FORMAT = 1;

interface StateFile {
  formatVersion: typeof NETWORK_STATE_FORMAT;
  next?: string;
  containers: Record<string, Entry>;
}

const ID_RE = /^[0-9a-f]{64}$/;

function validPorts(v: unknown): BoundPort[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const ok = v.every(
    (p) =>
      p &&
      Number.isInteger(p.containerPort) &&
      p.containerPort >= 1 &&
      p.containerPort <= 65535 &&
      Number.isInteger(p.hostPort) &&
      p.hostPort >= 1 &&
      p.hostPort <= 65535 &&
      (p.protocol === 'tcp' || p.protocol === 'udp') &&
      typeof p.hostIp === 'string' &&
      p.hostIp.length <= 64,
  );
  return ok
    ? (v as BoundPort[]).map((p) => ({ containerPort: p.containerPort, protocol: p.protocol, hostIp: p.hostIp, hostPort: p.hostPort }))
    : undefined;
}

export class Ipam {
  readonly path: string;
  private state: StateFile = { formatVersion: NETWORK_STATE_FORMAT, containers: {} };

  constructor(
    root: string,
    private readonly subnet: Subnet,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.path = join(root, 'network', 'state.json');
    this.load();
  }

  private load(): void {
    if (!existsSync(this.path)) return;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (e) {
      this.log(`network state ${this.path} is unreadable (${(e as Error).message}); starting from an empty one`);
      return;
    }
    const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
    if (version !== undefined && version !== NETWORK_STATE_FORMAT) {
      this.log(
        `network state ${this.path} has format version ${JSON.stringify(version)}, which this agent does not know (it knows ${NETWORK_STATE_FORMAT}); starting from an empty one`,
      );
      return;
    }
    const containers = (raw as { containers?: unknown } | null)?.containers;
    if (containers && typeof containers === 'object' && !Array.isArray(containers)) {
      for (const [id, e] of Object.entries(containers as Record<string, unknown>)) {
        const ip = (e as { ip?: unknown } | null)?.ip;
        if (!ID_RE.test(id) || typeof ip !== 'string' || parseIPv4(ip) === undefined) {
          this.log(`network state: dropping the malformed entry for "${id.slice(0, 80)}"`);
          continue;
        }
        const ports = validPorts((e as { ports?: unknown }).ports);
        this.state.containers[id] = { ip, ...(ports ? { ports } : {}) };
      }
    }
    const next = (raw as { next?: unknown }).next;
    if (typeof next === 'string' && parseIPv4(next) !== undefined) this.state.next = next;
    if (version === undefined) this.save(); // the format before 1: rewritten in this one
  }

  private save(): void {
    mkdirp(join(this.path, '..'), 0o700);
    writeFileAtomic(this.path, JSON.stringify(this.state, null, 1), 0o600);
  }

  /** The container's address, if it has one in the current subnet. */
  address(id: string): string | undefined {
    const ip = this.state.containers[id]?.ip;
    const n = ip === undefined ? undefined : parseIPv4(ip);
    return n !== undefined && inSubnet(n, this.subnet) ? ip : undefined;
  }

  /** Gives `id` an address (see the module comment); throws Conflict when the subnet is full. */
  allocate(id: string, operation: string): string {
    const have = this.address(id);
    if (have) return have;
    const taken = new Set<number>();
    for (const [other, e] of Object.entries(this.state.containers)) if (other !== id) taken.add(parseIPv4(e.ip)!);
    const { first, last } = hostRange(this.subnet);
    const size = last - first + 1;
    const n0 = this.state.next ? parseIPv4(this.state.next)! : first;
    const start = n0 >= first && n0 <= last ? n0 : first;
    for (let i = 0; i < size; i++) {
      const n = first + ((start - first + i) % size);
      if (taken.has(n)) continue;
      const ip = formatIPv4(n);
      this.state.containers[id] = { ip };
      this.state.next = formatIPv4(n === last ? first : n + 1);
      this.save();
      return ip;
    }
    const held = [...taken].filter((n) => n >= first && n <= last).length;
    throw new BerthError(
      ErrorCode.Conflict,
      `${operation}: no free address in the default network's subnet ${formatSubnet(this.subnet)} (${held} containers hold its ${size} addresses); remove containers or configure a larger subnet`,
      { operation },
    );
  }

  /** Records the ports a running container listens on; undefined clears them (it stopped). */
  setPorts(id: string, ports: BoundPort[] | undefined): void {
    const e = this.state.containers[id];
    if (!e) return;
    if (ports?.length) e.ports = ports;
    else if (!e.ports) return;
    else delete e.ports;
    this.save();
  }

  ports(id: string): BoundPort[] {
    return this.state.containers[id]?.ports ?? [];
  }

  /** Frees the container's address (rm). */
  release(id: string): void {
    if (!this.state.containers[id]) return;
    delete this.state.containers[id];
    this.save();
  }

  /** Drops the entries of containers not in `known` (a create that died before its record). */
  retain(known: (id: string) => boolean): string[] {
    const dropped = Object.keys(this.state.containers).filter((id) => !known(id));
    for (const id of dropped) delete this.state.containers[id];
    if (dropped.length) this.save();
    return dropped;
  }

  /** Every container with an address (for tests and `init`). */
  ids(): string[] {
    return Object.keys(this.state.containers);
  }
}
