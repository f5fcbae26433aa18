/**
 * The agent runs as root but reads and writes archives on behalf of its caller (`image/save`,
 * `image/load`). A caller other than root may only name files it could reach itself, else anyone
 * the agent serves could replace or read any file on the machine.
 *
 * Judged from mode bits against the caller's uid, gid and supplementary groups (from
 * /proc/<pid>/status): every directory on the way must be searchable; for a write, the target
 * directory writable and its sticky bit honoured; for a read, the file readable. ACLs are not
 * consulted, so this errs on the side of refusing. A caller that swaps a directory for a symlink
 * between this check and the open could still race it; the open itself happens as root.
 */
import { lstatSync, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PeerCred } from '../../native';
import { BerthError, ErrorCode, isErrno, unlessErrno } from '../errors';

/** Errnos of a path that is not there (or cannot be, for its ancestors): the open that follows reports them. */
const MISSING = ['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG'];

const statOrMissing = (p: string): Stats | undefined => unlessErrno(MISSING, () => statSync(p));

/** The caller's primary and supplementary groups (from /proc/<pid>/status). */
export function callerGroups(peer: PeerCred): Set<number> {
  const groups = new Set<number>([peer.gid]);
  try {
    const line = /^Groups:[ \t]*(.*)$/m.exec(readFileSync(`/proc/${peer.pid}/status`, 'utf8'))?.[1] ?? '';
    for (const g of line.split(/\s+/).filter(Boolean)) groups.add(Number(g));
  } catch (e) {
    // The caller is gone or /proc is unreadable: judge by its primary group alone.
    if (!isErrno(e, 'ENOENT', 'ESRCH', 'EACCES')) throw e;
  }
  return groups;
}

/** True when the mode bits of `st` grant `want` (4 read, 2 write, 1 search; or-ed) to the caller. */
export function modeAllows(st: Pick<Stats, 'uid' | 'gid' | 'mode'>, peer: PeerCred, groups: Set<number>, want: number): boolean {
  const bits = st.uid === peer.uid ? (st.mode >> 6) & 7 : groups.has(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & want) === want;
}

export function checkCallerAccess(operation: string, path: string, mode: 'read' | 'write', peer: PeerCred | undefined): void {
  if (!peer || peer.uid === 0) return;
  const groups = callerGroups(peer);
  const allows = (st: Stats, want: number): boolean => modeAllows(st, peer, groups, want);
  const deny = (why: string): never => {
    throw new BerthError(ErrorCode.PermissionDenied, `${operation}: permission denied: uid ${peer.uid} may not ${mode} ${path} (${why})`, {
      operation,
      path,
    });
  };
  const dir = dirname(path);
  let cur = '/';
  for (const part of ['', ...dir.split('/').filter(Boolean)]) {
    if (part) cur = join(cur, part);
    // A missing path (or one that is not a directory) is left to the open that follows to report.
    const st = statOrMissing(cur);
    if (!st?.isDirectory()) return;
    if (!allows(st, 1)) deny(`${cur} is not searchable for it`);
  }
  if (mode === 'read') {
    const st = statOrMissing(path);
    if (!st) return;
    if (!allows(st, 4)) deny('the file is not readable for it');
    return;
  }
  const st = statOrMissing(dir);
  if (!st) return;
  if (!allows(st, 2)) deny(`${dir} is not writable for it`);
  if (st.mode & 0o1000) {
    const target = unlessErrno(MISSING, () => lstatSync(path));
    if (target && target.uid !== peer.uid && st.uid !== peer.uid) deny(`${dir} is sticky and the file belongs to uid ${target.uid}`);
  }
}
