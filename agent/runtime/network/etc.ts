/**
 * The /etc/hosts and /etc/resolv.conf a container gets, by network mode. Pure renderers plus the
 * in-place rewrite the bind mounts need.
 *
 * - bridge: localhost lines, the container's own address with its hostname, then every other
 *   running container of the default network as "IP name shortid" (name resolution between
 *   containers, the way Docker's links wrote it). resolv.conf is the host's without loopback
 *   nameservers (127.0.0.0/8, ::1: in the container's namespace they would be the container
 *   itself); when none is left, Docker's fallbacks 8.8.8.8 and 8.8.4.4.
 * - none: localhost lines and "127.0.0.1 hostname"; resolv.conf as for bridge.
 * - host: the host's /etc/hosts and /etc/resolv.conf as they are (the container shares the
 *   host's network, so the host's resolvers are reachable).
 *
 * Hosts files are bind-mounted, which pins their inode: {@link rewriteInPlace} truncates and
 * writes the same file, never renames a new one over it (a rename would leave the container
 * looking at the old inode for good).
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync, constants as fsConstants } from 'node:fs';
import { isErrno } from '../../errors';
import { isIP } from 'node:net';

export type NetworkMode = 'bridge' | 'host' | 'none';

export interface HostsPeer {
  ip: string;
  name: string;
  id: string;
}

const LOCALHOST = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';

/** A name that can be a hosts-file token (no whitespace, no comment sign, not empty). */
function token(s: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/.test(s);
}

/** /etc/hosts of a bridge container at `ip` with `hostname`, knowing `peers` (others running). */
export function renderBridgeHosts(self: { ip: string; hostname: string }, peers: readonly HostsPeer[]): string {
  let out = LOCALHOST + `${self.ip}\t${self.hostname}\n`;
  const sorted = [...peers].sort((a, b) => a.name.localeCompare(b.name));
  for (const p of sorted) {
    if (isIP(p.ip) !== 4) continue;
    const names = [p.name, p.id.slice(0, 12)].filter(token);
    if (names.length) out += `${p.ip}\t${names.join(' ')}\n`;
  }
  return out;
}

export function renderNoneHosts(hostname: string): string {
  return LOCALHOST + `127.0.0.1\t${hostname}\n`;
}

/** The host's resolv.conf without loopback nameservers; Docker's public fallbacks when none is left. */
export function filterResolvConf(text: string): string {
  const lines = text.split('\n');
  const kept: string[] = [];
  let servers = 0;
  for (const line of lines) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) {
      const addr = m[1].replace(/%.*$/, '');
      if (/^127\./.test(addr) || addr === '::1' || addr === '0:0:0:0:0:0:0:1') continue;
      servers++;
    }
    kept.push(line);
  }
  let out = kept.join('\n').replace(/\n*$/, '\n');
  if (out === '\n') out = '';
  if (servers === 0) out += 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n';
  return out;
}

function readHost(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return ''; // the host has no such file
    throw e;
  }
}

/** The resolv.conf a container in `mode` gets, from the host's (`hostFile` for tests). */
export function resolvConfFor(mode: NetworkMode, hostFile = '/etc/resolv.conf'): string {
  const text = readHost(hostFile);
  return mode === 'host' ? text : filterResolvConf(text);
}

/** The /etc/hosts a container gets when it is created (bridge: rewritten with its address at start). */
export function initialHosts(mode: NetworkMode, hostname: string, hostFile = '/etc/hosts'): string {
  return mode === 'host' ? readHost(hostFile) : renderNoneHosts(hostname);
}

/**
 * Replaces the content of `path` keeping its inode (truncate, then write at 0). Does not follow
 * a symlink at `path`, and does not create the file.
 */
export function rewriteInPlace(path: string, content: string): void {
  const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_NOFOLLOW);
  try {
    ftruncateSync(fd, 0);
    const buf = Buffer.from(content, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, off);
  } finally {
    closeSync(fd);
  }
}
