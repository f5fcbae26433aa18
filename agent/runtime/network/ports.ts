/**
 * Published ports: `-p` specs as Docker takes them, and the Docker-shaped records of them.
 *
 * Accepted forms (PROTO is tcp or udp, default tcp; a PORT is 1..65535; ranges A-B expand to one
 * binding per port, at most {@link MAX_BINDINGS} in all):
 *   CPORT[/PROTO]                       a host port chosen by the kernel, on the default address
 *   HPORT:CPORT[/PROTO]                 on the default address
 *   IP:HPORT:CPORT[/PROTO]              on IP (IPv4, or IPv6 in brackets: [::1]:8080:80)
 *   IP::CPORT[/PROTO]                   on IP, host port chosen
 *   HA-HB:CA-CB                         ranges of the same length, paired in order
 *   CA-CB                               a range of container ports, host ports chosen
 * The default address is 127.0.0.1 (see {@link DEFAULT_HOST_IP}): Berth publishes to the host's
 * loopback unless told otherwise, where Docker would listen on every address.
 *
 * Everything else is refused with InvalidArgument naming the spec and what is wrong: a port 0 or
 * above 65535, a protocol other than tcp/udp, a malformed address, ranges of different lengths,
 * two bindings of the same host address, port and protocol.
 */
import { isIP } from 'node:net';
import { BerthError, ErrorCode } from '../../errors';

export type Protocol = 'tcp' | 'udp';

export interface PortBinding {
  containerPort: number;
  protocol: Protocol;
  /** As given; "" for the default address. */
  hostIp: string;
  /** 0: chosen by the kernel when the container starts. */
  hostPort: number;
}

/** A binding as it is while the container runs: the address and port really listened on. */
export interface BoundPort {
  containerPort: number;
  protocol: Protocol;
  hostIp: string;
  hostPort: number;
}

/** Docker's HostConfig.PortBindings: "80/tcp" -> [{HostIp, HostPort}] ("" when not given). */
export type DockerPortBindings = Record<string, { HostIp: string; HostPort: string }[]>;
/** Docker's Config.ExposedPorts: "80/tcp" -> {}. */
export type DockerExposedPorts = Record<string, Record<string, never>>;

export const DEFAULT_HOST_IP = '127.0.0.1';
export const MAX_BINDINGS = 1024;

function bad(spec: string, what: string, operation: string): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, `${operation}: invalid port spec "${spec}": ${what}`, { operation });
}

function parsePort(s: string, spec: string, what: string, operation: string): number {
  if (!/^[0-9]{1,5}$/.test(s)) throw bad(spec, `${what} "${s}" is not a number`, operation);
  const n = Number(s);
  if (n < 1 || n > 65535) throw bad(spec, `${what} ${n} is out of range (1-65535)`, operation);
  return n;
}

/** "80" -> [80, 80], "80-82" -> [80, 82]; "" -> undefined. */
function parseRange(s: string, spec: string, what: string, operation: string): [number, number] | undefined {
  if (s === '') return undefined;
  const dash = s.indexOf('-');
  if (dash < 0) {
    const p = parsePort(s, spec, what, operation);
    return [p, p];
  }
  const a = parsePort(s.slice(0, dash), spec, what, operation);
  const b = parsePort(s.slice(dash + 1), spec, what, operation);
  if (b < a) throw bad(spec, `${what} range ${s} runs backwards`, operation);
  return [a, b];
}

/** Parses one `-p` spec into bindings. Throws InvalidArgument naming `operation`. */
export function parsePortSpec(spec: string, operation = 'create container'): PortBinding[] {
  if (typeof spec !== 'string' || spec.length === 0 || spec.length > 128 || /[\s\0]/.test(spec)) {
    throw bad(String(spec).slice(0, 128), 'want [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]', operation);
  }
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') throw bad(spec, `protocol "${rest.slice(slash + 1)}" is not tcp or udp`, operation);
    protocol = proto;
    rest = rest.slice(0, slash);
  }
  let hostIp = '';
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']:');
    if (close < 0) throw bad(spec, 'an IPv6 address in brackets must be followed by ":HOST_PORT:CONTAINER_PORT"', operation);
    hostIp = rest.slice(1, close);
    if (isIP(hostIp) !== 6) throw bad(spec, `"${hostIp}" is not an IPv6 address`, operation);
    rest = rest.slice(close + 2);
    if (rest.split(':').length !== 2) throw bad(spec, 'want [IPv6]:HOST_PORT:CONTAINER_PORT', operation);
    rest = ':' + rest; // as "IP:HOST:CTR" with the IP taken out
  }
  const parts = rest.split(':');
  let hostPart: string;
  let ctrPart: string;
  if (parts.length === 1) {
    hostPart = '';
    ctrPart = parts[0];
  } else if (parts.length === 2) {
    [hostPart, ctrPart] = parts;
  } else if (parts.length === 3) {
    if (parts[0] !== '' || !hostIp) {
      hostIp = parts[0];
      if (isIP(hostIp) !== 4) throw bad(spec, `"${hostIp}" is not an IPv4 address (write IPv6 in brackets: [::1]:8080:80)`, operation);
    }
    [, hostPart, ctrPart] = parts;
  } else {
    throw bad(spec, 'too many ":" (want [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]; IPv6 in brackets)', operation);
  }
  if (ctrPart === '') throw bad(spec, 'the container port is missing', operation);
  const ctr = parseRange(ctrPart, spec, 'container port', operation)!;
  const host = parseRange(hostPart, spec, 'host port', operation);
  const count = ctr[1] - ctr[0] + 1;
  if (count > MAX_BINDINGS) throw bad(spec, `a range of ${count} ports is more than ${MAX_BINDINGS}`, operation);
  if (host && host[1] - host[0] + 1 !== count) {
    throw bad(spec, `the host range ${hostPart} and the container range ${ctrPart} differ in length`, operation);
  }
  const out: PortBinding[] = [];
  for (let i = 0; i < count; i++) out.push({ containerPort: ctr[0] + i, protocol, hostIp, hostPort: host ? host[0] + i : 0 });
  return out;
}

/** Parses every spec; refuses duplicates of the same host address, port and protocol. */
export function parsePortSpecs(specs: readonly string[], operation = 'create container'): PortBinding[] {
  const all = specs.flatMap((s) => parsePortSpec(s, operation));
  if (all.length > MAX_BINDINGS)
    throw new BerthError(ErrorCode.InvalidArgument, `${operation}: ${all.length} published ports is more than ${MAX_BINDINGS}`, {
      operation,
    });
  const seen = new Set<string>();
  for (const b of all) {
    if (!b.hostPort) continue;
    const key = `${b.hostIp || DEFAULT_HOST_IP}:${b.hostPort}/${b.protocol}`;
    if (seen.has(key)) throw new BerthError(ErrorCode.InvalidArgument, `${operation}: host port ${key} is published twice`, { operation });
    seen.add(key);
  }
  return all;
}

export const portKey = (p: { containerPort: number; protocol: Protocol }) => `${p.containerPort}/${p.protocol}`;

/** Docker's HostConfig.PortBindings of `bindings`. */
export function dockerPortBindings(bindings: readonly PortBinding[]): DockerPortBindings {
  const out: DockerPortBindings = {};
  for (const b of bindings) (out[portKey(b)] ??= []).push({ HostIp: b.hostIp, HostPort: b.hostPort ? String(b.hostPort) : '' });
  return out;
}

/**
 * The bindings back from a record's HostConfig.PortBindings (the record is the agent's own file,
 * but it is parsed as strictly as a user's spec: a bad entry is an InvalidArgument error).
 */
export function bindingsFromDocker(pb: DockerPortBindings | undefined, operation = 'start container'): PortBinding[] {
  const out: PortBinding[] = [];
  for (const [key, list] of Object.entries(pb ?? {})) {
    const m = /^([0-9]{1,5})\/(tcp|udp)$/.exec(key);
    if (!m || !Array.isArray(list))
      throw new BerthError(ErrorCode.InvalidArgument, `${operation}: recorded port binding "${key}" is not PORT/tcp or PORT/udp`, {
        operation,
      });
    for (const e of list) {
      const ip = typeof e?.HostIp === 'string' ? e.HostIp : '';
      const hp = typeof e?.HostPort === 'string' ? e.HostPort : '';
      const spec = `${ip.includes(':') ? `[${ip}]` : ip}${ip ? ':' : ''}${hp}${ip || hp ? ':' : ''}${m[1]}/${m[2]}`;
      out.push(...parsePortSpec(spec, operation));
    }
  }
  return out;
}

/** Config.ExposedPorts: the image's, plus every published container port. */
export function exposedPorts(image: DockerExposedPorts | undefined, bindings: readonly PortBinding[]): DockerExposedPorts {
  const out: DockerExposedPorts = {};
  for (const k of Object.keys(image ?? {})) {
    // The image's keys are "PORT", "PORT/tcp" or "PORT/udp"; others (hostile or odd) are dropped.
    const m = /^([0-9]{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(k);
    if (m && Number(m[1]) >= 1 && Number(m[1]) <= 65535) out[`${Number(m[1])}/${(m[2] ?? 'tcp').toLowerCase()}`] = {};
  }
  for (const b of bindings) out[portKey(b)] = {};
  return out;
}

/** Docker's NetworkSettings.Ports: every exposed port, with its bindings or null. */
export function dockerPorts(
  exposed: DockerExposedPorts | undefined,
  bound: readonly BoundPort[],
): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const k of Object.keys(exposed ?? {})) out[k] = null;
  for (const b of bound) (out[portKey(b)] ??= [])!.push({ HostIp: b.hostIp, HostPort: String(b.hostPort) });
  return out;
}
