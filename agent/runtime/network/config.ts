/**
 * The default network's configuration: the bridge's name and the private IPv4 subnet containers get
 * addresses from, and the arithmetic on addresses the rest of the network module uses.
 *
 * Sources, later ones winning:
 *   defaults                         bridge "berth0", subnet 10.89.0.0/24
 *   $BERTH_ROOT/settings.json        {"network": {"bridge": "berth0", "subnet": "10.89.0.0/24"}}
 *   environment                      BERTH_BRIDGE, BERTH_SUBNET
 *
 * Contract:
 * - The bridge name is a Linux interface name (1..15 characters of [A-Za-z0-9_.-], starting with a
 *   letter), so it can be passed to `ip`/`iptables` as one argument and never reads as an option.
 * - The subnet is IPv4 CIDR inside RFC 1918 space (10/8, 172.16/12, 192.168/16), prefix /8../28,
 *   written with its network address (10.89.0.0/24, not 10.89.0.7/24). The gateway is the first
 *   host address (.1), held by the bridge; containers get the addresses after it; the broadcast
 *   address is never handed out.
 * - Anything else is an InvalidArgument error naming the source (the file's path, or the variable)
 *   and what is wrong; the agent refuses to start containers on the default network with it.
 */
import { BerthError, ErrorCode } from '../../errors';

export const DEFAULT_BRIDGE = 'berth0';
export const DEFAULT_SUBNET = '10.89.0.0/24';

/** An IPv4 subnet as numbers (addresses as unsigned 32-bit integers). */
export interface Subnet {
  /** The network address. */
  base: number;
  prefix: number;
}

export interface NetworkConfig {
  bridge: string;
  subnet: Subnet;
  /** The bridge's address, base + 1. */
  gateway: number;
}

/** What settings.json's "network" object may hold (validated by {@link networkConfig}). */
export interface NetworkSettingsInput {
  bridge?: unknown;
  subnet?: unknown;
}

const BRIDGE_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;

function invalid(source: string, what: string): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, `network settings: ${what} (from ${source})`, { operation: 'network settings' });
}

/** "10.1.2.3" -> 0x0a010203; undefined when it is not four decimal octets. */
export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x, i) => x > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith('0')))) return undefined;
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function inSubnet(ip: number, s: Subnet): boolean {
  return (ip & mask(s.prefix)) >>> 0 === s.base;
}

export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

/** Two subnets overlap when one contains the other's network address. */
export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) >>> 0 === (b.base & mask(p)) >>> 0;
}

/** The addresses containers may get: after the gateway, before the broadcast address. */
export function hostRange(s: Subnet): { first: number; last: number } {
  const size = 2 ** (32 - s.prefix);
  return { first: s.base + 2, last: s.base + size - 2 };
}

const PRIVATE: Subnet[] = [
  { base: 0x0a000000, prefix: 8 },
  { base: 0xac100000, prefix: 12 },
  { base: 0xc0a80000, prefix: 16 },
];

/** Parses and checks a subnet (see the module comment); throws InvalidArgument naming `source`. */
export function parseSubnet(raw: unknown, source: string): Subnet {
  if (typeof raw !== 'string') throw invalid(source, 'the subnet must be a string like "10.89.0.0/24"');
  const m = /^([0-9.]{7,15})\/(\d{1,2})$/.exec(raw.trim());
  const base = m ? parseIPv4(m[1]) : undefined;
  if (!m || base === undefined) throw invalid(source, `subnet "${raw}" is not IPv4 CIDR like "10.89.0.0/24"`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 28) throw invalid(source, `subnet "${raw}": the prefix must be /8 to /28`);
  if ((base & mask(prefix)) >>> 0 !== base) {
    throw invalid(source, `subnet "${raw}" has host bits set; its network address is ${formatIPv4((base & mask(prefix)) >>> 0)}/${prefix}`);
  }
  const s = { base, prefix };
  if (!PRIVATE.some((p) => prefix >= p.prefix && inSubnet(base, p))) {
    throw invalid(source, `subnet "${raw}" is not private address space (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)`);
  }
  return s;
}

export function parseBridge(raw: unknown, source: string): string {
  if (typeof raw !== 'string' || !BRIDGE_RE.test(raw)) {
    throw invalid(
      source,
      `bridge name ${JSON.stringify(raw)} is not an interface name (1 to 15 letters, digits, "_", "." or "-", starting with a letter)`,
    );
  }
  return raw;
}

/**
 * The configuration from settings.json's "network" object (`settingsPath` names it in errors) and
 * the environment. Throws InvalidArgument.
 */
export function networkConfig(
  fromFile: NetworkSettingsInput | undefined,
  settingsPath: string,
  env: NodeJS.ProcessEnv = process.env,
): NetworkConfig {
  let bridge = DEFAULT_BRIDGE;
  let subnet = parseSubnet(DEFAULT_SUBNET, 'the default');
  if (fromFile !== undefined) {
    if (fromFile === null || typeof fromFile !== 'object' || Array.isArray(fromFile))
      throw invalid(settingsPath, '"network" must be an object');
    for (const k of Object.keys(fromFile)) if (k !== 'bridge' && k !== 'subnet') throw invalid(settingsPath, `unknown key "network.${k}"`);
    if (fromFile.bridge !== undefined) bridge = parseBridge(fromFile.bridge, settingsPath);
    if (fromFile.subnet !== undefined) subnet = parseSubnet(fromFile.subnet, settingsPath);
  }
  if (env.BERTH_BRIDGE) bridge = parseBridge(env.BERTH_BRIDGE, 'BERTH_BRIDGE');
  if (env.BERTH_SUBNET) subnet = parseSubnet(env.BERTH_SUBNET, 'BERTH_SUBNET');
  return { bridge, subnet, gateway: subnet.base + 1 };
}

/** Docker's MAC scheme: 02:42 followed by the four octets of the IPv4 address. */
export function macFor(ip: number): string {
  return ['02', '42', ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((o) => o.toString(16).padStart(2, '0'))].join(':');
}
