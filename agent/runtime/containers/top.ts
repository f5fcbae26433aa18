/**
 * `container/top`: the processes of a running container, read from the host's /proc for every
 * pid in its cgroup, in `docker top`'s default columns (those of `ps -ef`): UID PID PPID C STIME
 * TTY TIME CMD. Pids are host pids, as Docker shows them.
 */
import { readFileSync } from 'node:fs';
import type { TopResult } from '../../../protocol';
import { BerthError, ErrorCode, isErrno, systemError } from '../../errors';
import type { ContainerService } from './service';

export const TOP_TITLES = ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'];
/** USER_HZ: 100 on every Linux architecture Berth runs on. */
const CLK_TCK = 100;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** What /proc/<pid>/stat says, the fields top needs. */
export interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  ttyNr: number;
  /** Clock ticks. */
  utime: number;
  stime: number;
  /** Clock ticks after boot. */
  starttime: number;
}

/** Parses /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`unexpected /proc stat line: ${text.slice(0, 80)}`);
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // f[0] is field 3 (state).
  const n = (field: number) => Number(f[field - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    ppid: n(4),
    ttyNr: n(7),
    utime: n(14),
    stime: n(15),
    starttime: n(22),
  };
}

/** ps's TTY: "pts/N", "ttyN", or "?". */
export function ttyName(ttyNr: number): string {
  if (ttyNr === 0) return '?';
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4 && minor < 64) return `tty${minor}`;
  return '?';
}

/** "HH:MM:SS" of a number of seconds (days folded into hours, as ps -ef does up to 24 h). */
export function cpuTime(seconds: number): string {
  const s = Math.floor(seconds);
  const two = (x: number) => String(x).padStart(2, '0');
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

/** ps's STIME: "HH:MM" for a start today, else "MonDD". */
export function startTime(start: Date, now: Date): string {
  const two = (x: number) => String(x).padStart(2, '0');
  if (start.toDateString() === now.toDateString()) return `${two(start.getHours())}:${two(start.getMinutes())}`;
  return `${MONTHS[start.getMonth()]}${two(start.getDate())}`;
}

function bootTime(): number {
  const m = /^btime\s+(\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
  return m ? Number(m[1]) : 0;
}

function userNames(): Map<number, string> {
  const out = new Map<number, string>();
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && /^\d+$/.test(f[2]) && !out.has(Number(f[2]))) out.set(Number(f[2]), f[0]);
    }
  } catch (e) {
    // No passwd file: numeric uids.
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  return out;
}

/** One row of `docker top`'s table for a host pid; undefined when it exited meanwhile. */
export function processRow(pid: number, ctx: { boot: number; now: Date; users: Map<number, string> }): string[] | undefined {
  let stat: ProcStat;
  let status: string;
  let cmdline: string;
  try {
    stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw e;
  }
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const startSec = ctx.boot + stat.starttime / CLK_TCK;
  const cpuSec = (stat.utime + stat.stime) / CLK_TCK;
  const elapsed = ctx.now.getTime() / 1000 - startSec;
  const c = elapsed > 0 ? Math.min(999, Math.floor((cpuSec / elapsed) * 100)) : 0;
  const args = cmdline.split('\0');
  if (args[args.length - 1] === '') args.pop();
  return [
    ctx.users.get(uid) ?? String(uid),
    String(stat.pid),
    String(stat.ppid),
    String(c),
    startTime(new Date(startSec * 1000), ctx.now),
    ttyName(stat.ttyNr),
    cpuTime(cpuSec),
    args.length > 0 ? args.join(' ') : `[${stat.comm}]`,
  ];
}

/** `container/top`. */
export function containerTop(svc: ContainerService, ref: string): TopResult {
  const op = 'top container';
  const rec = svc.find(ref, op);
  const { cgroup } = svc.runtimeOf(rec);
  if (!cgroup) throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is not running`, { operation: op });
  try {
    const ctx = { boot: bootTime(), now: new Date(), users: userNames() };
    const rows: string[][] = [];
    for (const pid of [...cgroup.pids()].sort((a, b) => a - b)) {
      const row = processRow(pid, ctx);
      if (row) rows.push(row);
    }
    return { Titles: [...TOP_TITLES], Processes: rows };
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw systemError(op, e);
  }
}
