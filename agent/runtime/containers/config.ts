/**
 * Image config + create options -> what the container runs: argv, environment, working directory
 * and user as numbers. Pure apart from the {@link RootfsReader} it is given, so unit tests run it
 * on fake layers without root. Docker's rules throughout:
 *
 * - argv = Entrypoint ++ Cmd. An `entrypoint` override replaces the image's Entrypoint and drops
 *   its Cmd; a `cmd` override replaces the Cmd.
 * - Env: the image's, then the overrides, by name (a later NAME= wins, keeping the first one's
 *   place); PATH defaults to the usual one, HOSTNAME is set, HOME comes from /etc/passwd.
 * - User: "" is root; "name" or "uid" with ":group" or ":gid"; names are looked up in the
 *   container's /etc/passwd and /etc/group; a numeric uid not in /etc/passwd is allowed (gid 0);
 *   supplementary groups are the /etc/group entries naming the user.
 */
import { BerthError, ErrorCode } from '../../errors';
import type { ImageConfigRun } from '../../oci';
import type { IdMapping } from '../spec';
import type { RootfsReader } from './rootfs';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ProcessOverrides {
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home?: string;
}

function invalid(message: string): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, `create container: ${message}`, { operation: 'create container' });
}

/** The argv Docker would run, and the Entrypoint/Cmd it records. */
export function resolveCommand(
  image: ImageConfigRun,
  o: Pick<ProcessOverrides, 'cmd' | 'entrypoint'>,
): { entrypoint: string[] | null; cmd: string[] | null; args: string[] } {
  const entrypoint = o.entrypoint !== undefined ? (o.entrypoint.length ? [...o.entrypoint] : null) : (image.Entrypoint ?? null);
  const cmd = o.cmd !== undefined && o.cmd.length > 0 ? [...o.cmd] : o.entrypoint !== undefined ? null : (image.Cmd ?? null);
  const args = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (args.length === 0 || args[0] === '') throw invalid('no command specified (the image has no Entrypoint or Cmd; give one)');
  return { entrypoint, cmd, args };
}

/** Merges "NAME=value" lists by name: later entries win, in the place of the first. */
export function mergeEnv(...lists: (readonly string[] | undefined)[]): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const list of lists) {
    for (const e of list ?? []) {
      const eq = e.indexOf('=');
      if (eq <= 0) throw invalid(`environment entry "${e}" is not NAME=value`);
      const name = e.slice(0, eq);
      if (!values.has(name)) order.push(name);
      values.set(name, e);
    }
  }
  return order.map((n) => values.get(n)!);
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === '' || f[3] === '') continue;
    out.push({ name: f[0], uid, gid, home: f[5] });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#') || f[2] === '') continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0], gid, members: f[3].split(',').filter(Boolean) });
  }
  return out;
}

const ID_RE = /^[0-9]{1,10}$/;
const MAX_ID = 0xfffffffe;

function numericId(s: string, what: string): number {
  const n = Number(s);
  if (n > MAX_ID) throw invalid(`${what} ${s} is out of range`);
  return n;
}

/** Resolves `user` ("", "app", "1000", "app:staff", "1000:1000") in the rootfs. */
export function resolveUser(user: string, rootfs: RootfsReader): ResolvedUser {
  const [u, g, ...extra] = user.split(':');
  if (extra.length > 0 || (g !== undefined && g === '')) throw invalid(`user "${user}" is not uid[:gid] or name[:group]`);
  let passwd: PasswdEntry[] | undefined;
  let groups: GroupEntry[] | undefined;
  const readPasswd = () => (passwd ??= parsePasswd(rootfs.readFile('/etc/passwd')?.toString('utf8') ?? ''));
  const readGroups = () => (groups ??= parseGroup(rootfs.readFile('/etc/group')?.toString('utf8') ?? ''));

  let uid: number;
  let gid = 0;
  let name: string | undefined;
  let home: string | undefined;
  if (u === '' || u === undefined) {
    uid = 0;
    const e = readPasswd().find((p) => p.uid === 0);
    if (e) ({ name, home, gid } = e);
  } else if (ID_RE.test(u)) {
    uid = numericId(u, 'uid');
    const e = readPasswd().find((p) => p.uid === uid);
    if (e) ({ name, home, gid } = e);
  } else {
    const e = readPasswd().find((p) => p.name === u);
    if (!e) throw invalid(`unable to find user ${u}: no matching entries in the image's /etc/passwd`);
    ({ uid, gid, name, home } = e);
  }
  if (g !== undefined) {
    if (ID_RE.test(g)) gid = numericId(g, 'gid');
    else {
      const e = readGroups().find((x) => x.name === g);
      if (!e) throw invalid(`unable to find group ${g}: no matching entries in the image's /etc/group`);
      gid = e.gid;
    }
  }
  const additionalGids =
    name === undefined
      ? []
      : [
          ...new Set(
            readGroups()
              .filter((x) => x.members.includes(name!) && x.gid !== gid)
              .map((x) => x.gid),
          ),
        ];
  return { uid, gid, additionalGids, home };
}

export interface ResolvedProcess {
  entrypoint: string[] | null;
  cmd: string[] | null;
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  /** The user as recorded in Config.User (the override or the image's). */
  userSpec: string;
  workingDirSpec: string;
}

/** Everything about the process, resolved against the rootfs. Throws InvalidArgument. */
export function resolveProcess(image: ImageConfigRun, o: ProcessOverrides, hostname: string, rootfs: RootfsReader): ResolvedProcess {
  const { entrypoint, cmd, args } = resolveCommand(image, o);
  const userSpec = o.user ?? image.User ?? '';
  const user = resolveUser(userSpec, rootfs);
  const workingDirSpec = o.workingDir || image.WorkingDir || '';
  const cwd = workingDirSpec || '/';
  if (!cwd.startsWith('/')) throw invalid(`the working directory "${cwd}" is not an absolute path`);
  if (!rootfs.isDirectory(cwd)) throw invalid(`the working directory "${cwd}" does not exist in the image`);
  const base = [DEFAULT_PATH, `HOSTNAME=${hostname}`, ...(user.home ? [`HOME=${user.home}`] : ['HOME=/'])];
  // The image's and the user's entries win over the defaults; the defaults keep their place.
  const env = mergeEnv(base, image.Env, o.env);
  return { entrypoint, cmd, args, env, cwd, user, userSpec, workingDirSpec };
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Docker's container name rule. Throws InvalidArgument. */
export function checkName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_RE.test(n) || n.length > 253)
    throw invalid(`invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters`);
  return n;
}

/** "/host:/ctr[:ro|rw]" -> parts. The host path's existence is checked by the caller. */
/** `--userns auto`: container ids 0..65535 are these host ids (as Podman and /etc/subuid use). */
export const USERNS_AUTO = { hostId: 100000, size: 65536 };

/** The user namespace of a container's HostConfig.UsernsMode: maps for "auto", else none. */
export function userNamespaceOf(mode: string | undefined): { uidMap: IdMapping[]; gidMap: IdMapping[] } | undefined {
  if (mode !== 'auto') return undefined;
  const m = [{ containerId: 0, hostId: USERNS_AUTO.hostId, size: USERNS_AUTO.size }];
  return { uidMap: m, gidMap: m.map((x) => ({ ...x })) };
}

/**
 * `/host:/ctr[:OPTIONS]`, OPTIONS a comma list of `ro`, `rw` and `idmap[=UID:GID]`: an idmapped
 * mount that maps the container's user (or UID:GID) to the owner of the host path, so that what
 * the container creates there belongs to that owner on the host (nothing is chowned).
 */
export function parseBind(bind: string): { source: string; target: string; readOnly: boolean; idmap?: { uid?: number; gid?: number } } {
  const parts = bind.split(':');
  if (parts.length < 2 || parts.length > 4)
    throw invalid(`invalid bind "${bind}": want /host/path:/container/path[:ro|rw][,idmap[=UID:GID]]`);
  const [source, target] = parts;
  // "idmap=1000:1000" holds a ":" of its own.
  const options = parts.slice(2).join(':');
  if (!source.startsWith('/')) throw invalid(`invalid bind "${bind}": the host path must be absolute (or give a volume name)`);
  if (!target.startsWith('/')) throw invalid(`invalid bind "${bind}": the container path must be absolute`);
  if (target.split('/').includes('..')) throw invalid(`invalid bind "${bind}": the container path contains ".."`);
  let readOnly = false;
  let idmap: { uid?: number; gid?: number } | undefined;
  for (const o of options ? options.split(',') : []) {
    if (o === 'ro' || o === 'rw') readOnly = o === 'ro';
    else if (o === 'idmap') idmap = {};
    else if (/^idmap=\d{1,10}:\d{1,10}$/.test(o)) {
      const [uid, gid] = o.slice(6).split(':').map(Number);
      if (uid > 0xfffffffe || gid > 0xfffffffe) throw invalid(`invalid bind "${bind}": idmap ids are out of range`);
      idmap = { uid, gid };
    } else throw invalid(`invalid bind "${bind}": unknown option "${o}" (ro, rw, idmap, idmap=UID:GID)`);
  }
  return { source, target, readOnly, ...(idmap ? { idmap } : {}) };
}
