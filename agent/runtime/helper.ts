/**
 * Runs a launch plan through the runtime helper (native/helper/, main.c says which file does what): spawns the helper with the plan on its
 * fd 3 and its status lines on fd 4, and turns what it reports into a LaunchedContainer or a
 * BerthError. The wire format is documented in native/helper/plan.c, the handshake in launch.c; the
 * encoder here is its only writer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { helperPath } from '../../native';
import { BerthError, ErrorCode, unlessErrno } from '../errors';
import type { ExitStatus, LaunchedContainer } from './launched';
import { connectMonitor, leftoverContainer } from './monitor';
import { capabilityMask, type LaunchOp, type LaunchPlan } from './plan';
import type { IdMapping } from './spec';

export type { ExitStatus, LaunchedContainer } from './launched';

/**
 * The helper's record codes, by the names plan.ts and the helper's failure lines use. Twin of
 * native/helper/ops.def, where the C side declares them once; test/unit/runtime-ops.test.ts reads
 * that file and fails when the two differ. The first ten are config records, the rest operations.
 */
export const OP = {
  end: 0,
  namespaces: 1,
  'uid-map': 2,
  'gid-map': 3,
  setgroups: 4,
  cgroup: 5,
  join: 6,
  netns: 7,
  monitor: 8,
  init: 9,
  'mount-private': 10,
  overlay: 11,
  mount: 12,
  bind: 13,
  mknod: 14,
  symlink: 15,
  sethostname: 16,
  'loopback-up': 17,
  'pivot-root': 18,
  mask: 19,
  readonly: 20,
  chdir: 21,
  identity: 22,
  capabilities: 23,
  'no-new-privs': 24,
  'close-fds': 25,
  exec: 26,
  tty: 27,
  hold: 28,
} as const satisfies Record<LaunchOp['op'], number> & Record<string, number>;

type Arg = string | number | bigint;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** The plan in the helper's wire format: "BRTH", version 1, records, END. */
export function encodePlan(plan: LaunchPlan): Buffer {
  const out: Buffer[] = [Buffer.from('BRTH', 'latin1'), u32(1)];
  const rec = (op: (typeof OP)[keyof typeof OP], args: readonly Arg[]): void => {
    out.push(u32(op), u32(args.length));
    for (const a of args) {
      const s = typeof a === 'string' ? a : a.toString(10);
      if (s.includes('\0')) throw new TypeError(`encodePlan: argument of op ${op} contains NUL`);
      const b = Buffer.from(s, 'utf8');
      out.push(u32(b.length), b);
    }
  };
  if (plan.namespaces.length) rec(OP.namespaces, plan.namespaces);
  if (plan.userNamespace) {
    const flat = (m: LaunchPlan['userNamespace'] & object, k: 'uidMap' | 'gidMap') =>
      m[k].flatMap((e) => [e.containerId, e.hostId, e.size]);
    rec(OP['uid-map'], flat(plan.userNamespace, 'uidMap'));
    rec(OP['gid-map'], flat(plan.userNamespace, 'gidMap'));
    rec(OP.setgroups, [plan.userNamespace.setgroups]);
  }
  for (const p of plan.cgroupProcs) rec(OP.cgroup, [p]);
  if (plan.join) rec(OP.join, [plan.join.pid, ...plan.join.namespaces]);
  if (plan.netns) rec(OP.netns, [plan.netns]);
  if (plan.monitor) rec(OP.monitor, [plan.monitor.dir, plan.monitor.stdin ? 1 : 0]);
  if (plan.init) rec(OP.init, [plan.init]);
  const attrs = (a: readonly string[]) => (a.length ? a.join(',') : '-');
  for (const o of plan.ops) {
    const code = OP[o.op];
    switch (o.op) {
      case 'overlay':
        rec(code, [o.target, o.upperDir, o.workDir, attrs(o.options), ...o.lowerDirs]);
        break;
      case 'mount':
        rec(code, [o.fstype, o.target, attrs(o.attrs), ...o.options]);
        break;
      case 'bind': {
        const m = (l: IdMapping[]) => l.map((e) => `${e.containerId}:${e.hostId}:${e.size}`).join(',');
        rec(code, [o.source, o.target, attrs(o.attrs), ...(o.idmap ? [`${m(o.idmap.uidMap)}/${m(o.idmap.gidMap)}`] : [])]);
        break;
      }
      case 'mknod':
        rec(code, [o.path, o.mode, o.major, o.minor]);
        break;
      case 'symlink':
        rec(code, [o.linkTarget, o.path]);
        break;
      case 'sethostname':
        rec(code, [o.hostname]);
        break;
      case 'mask':
      case 'readonly':
      case 'chdir':
        rec(code, [o.path]);
        break;
      case 'identity':
        rec(code, [o.uid, o.gid, o.umask, ...o.additionalGids]);
        break;
      case 'capabilities':
        rec(code, [o.bounding, o.effective, o.permitted, o.inheritable, o.ambient].map(capabilityMask));
        break;
      case 'exec':
        rec(code, [o.path, o.args.length, ...o.args, ...o.env]);
        break;
      case 'tty':
        rec(code, [o.rows, o.cols]);
        break;
      default:
        rec(code, []);
    }
  }
  rec(OP.end, []);
  return Buffer.concat(out);
}

/** One status line of the helper, parsed. */
export type HelperStatus =
  | { kind: 'started'; pid: number }
  | { kind: 'failed'; step: number; op: string; errno: string; syscall?: string; path?: string; description: string }
  | { kind: 'exited'; code: number }
  | { kind: 'killed'; signal: string };

/** Parses a status line (without its newline); null when it is not one. */
export function parseStatusLine(line: string): HelperStatus | null {
  let m = /^started (\d+)$/.exec(line);
  if (m) return { kind: 'started', pid: Number(m[1]) };
  m = /^exited (\d+)$/.exec(line);
  if (m) return { kind: 'exited', code: Number(m[1]) };
  m = /^killed (SIG[A-Z0-9+-]+)$/.exec(line);
  if (m) return { kind: 'killed', signal: m[1] };
  m = /^failed (\d+) (\S+) (\S+) (\S+) (\S+): ([\s\S]*)$/.exec(line);
  if (m) {
    const path = m[5] === '-' ? undefined : m[5].replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return { kind: 'failed', step: Number(m[1]), op: m[2], errno: m[3], syscall: m[4] === '-' ? undefined : m[4], path, description: m[6] };
  }
  return null;
}

/** Failures that are the caller's input, not the system: a missing command, cwd or bind source. */
function failureCode(f: Extract<HelperStatus, { kind: 'failed' }>): ErrorCode {
  if (f.op === 'plan') return ErrorCode.InvalidArgument;
  if (f.op === 'exec' && ['ENOENT', 'EACCES', 'ENOEXEC', 'ENOTDIR', 'EISDIR'].includes(f.errno)) return ErrorCode.InvalidArgument;
  if (f.op === 'chdir' && ['ENOENT', 'ENOTDIR', 'EACCES'].includes(f.errno)) return ErrorCode.InvalidArgument;
  if (f.op === 'bind' && f.syscall === 'open_tree' && f.errno === 'ENOENT') return ErrorCode.InvalidArgument;
  return ErrorCode.System;
}

function hint(f: Extract<HelperStatus, { kind: 'failed' }>): string {
  if (f.op === 'exec' && f.errno === 'ENOENT') return ' (no such command in the container)';
  if (f.op === 'exec' && f.errno === 'EACCES') return ' (the command is not executable)';
  if (f.op === 'chdir' && f.errno === 'ENOENT') return ' (the working directory does not exist in the container)';
  if (f.op === 'bind' && f.syscall === 'open_tree' && f.errno === 'ENOENT') return ' (the bind source does not exist)';
  return '';
}

/** The BerthError for a "failed" line: `start container: exec "nosuch": ENOENT`. */
export function failureError(f: Extract<HelperStatus, { kind: 'failed' }>, operation = 'start container'): BerthError {
  return new BerthError(failureCode(f), `${operation}: ${f.description}: ${f.errno}${hint(f)}`, {
    operation,
    syscall: f.syscall,
    path: f.path,
    errno: f.errno,
  });
}

/** Where the container's stdin, stdout and stderr come from: a new pipe, ours, nothing, or an fd. */
export type StdioSpec = 'pipe' | 'inherit' | 'ignore' | number;

export interface LaunchOptions {
  /** Gives up (killing the helper, which takes the half-made container with it) after this long. Default 30 s. */
  timeoutMs?: number;
  /** Names the operation in errors ("exec in container"); default "start container". */
  operation?: string;
  /** Open the helper's control fd 5, for {@link LaunchedContainer.resize} (plans with a tty). */
  control?: boolean;
  /**
   * Run the helper from a sealed copy of itself (`--sealed`): for plans that enter a running
   * container (exec), whose processes could otherwise reach the host's helper binary through the
   * child's /proc/PID/exe (see native/helper/sealed.c).
   */
  sealed?: boolean;
}

/**
 * Starts the helper, sends it `plan`, and resolves once the container's command has been exec'd
 * (or rejects with the helper's failure as a BerthError, after the helper has exited).
 *
 * A plan with `monitor` ignores `stdio` and `control`: the helper owns the container's stdio and
 * the result comes from its monitor socket (monitor.ts), so that the container outlives us.
 */
export function launch(
  plan: LaunchPlan,
  stdio: [StdioSpec, StdioSpec, StdioSpec] = ['ignore', 'inherit', 'inherit'],
  opts: LaunchOptions = {},
): Promise<LaunchedContainer> {
  const bytes = encodePlan(plan);
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      // detached: the helper is the container's monitor and outlives the agent's process group.
      const own: [StdioSpec, StdioSpec, StdioSpec] = plan.monitor ? ['ignore', 'ignore', 'ignore'] : stdio;
      child = spawn(helperPath(), opts.sealed ? ['--sealed'] : [], {
        stdio: [...own, 'pipe', 'pipe', ...(opts.control && !plan.monitor ? (['pipe'] as const) : [])],
        detached: true,
      });
    } catch (e) {
      reject(e);
      return;
    }
    const planPipe = child.stdio[3] as Writable;
    const statusPipe = child.stdio[4] as Readable;
    const controlPipe = opts.control ? ((child.stdio as unknown as (Writable | null)[])[5] ?? null) : null;
    controlPipe?.on('error', () => {
      /* the helper is gone: nothing to resize */
    });
    const operation = opts.operation ?? 'start container';
    let settled = false;
    let started: number | undefined;
    let final: ExitStatus | undefined;
    let failure: BerthError | undefined;
    let helperExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let statusEnded = false;
    let resolveExited!: (s: ExitStatus) => void;
    const exited = new Promise<ExitStatus>((r) => (resolveExited = r));

    const timer = setTimeout(() => {
      if (started !== undefined || settled) return;
      failure = new BerthError(ErrorCode.System, `${operation}: the runtime helper did not report within ${opts.timeoutMs ?? 30_000} ms`, {
        operation,
      });
      const pid = child.pid;
      if (pid !== undefined) unlessErrno(['ESRCH'], () => process.kill(pid, 'SIGKILL')); // ESRCH: gone already
    }, opts.timeoutMs ?? 30_000);

    // Both the status stream's end and the helper's exit are needed for the full story.
    const maybeDone = (): void => {
      if (!helperExit || !statusEnded) return;
      clearTimeout(timer);
      if (started === undefined) {
        if (!settled) {
          settled = true;
          const why = helperExit.signal ? `was killed by ${helperExit.signal}` : `exited with ${helperExit.code}`;
          reject(failure ?? new BerthError(ErrorCode.Internal, `${operation}: the runtime helper ${why} without reporting`, { operation }));
        }
        return;
      }
      if (!final) {
        // The helper died without reporting (killed itself): say what we know.
        final = helperExit.signal
          ? { code: 128 + signalNumber(helperExit.signal), signal: helperExit.signal }
          : { code: helperExit.code ?? 125 };
      }
      resolveExited(final);
    };

    let buf = '';
    statusPipe.setEncoding('utf8');
    statusPipe.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const s = parseStatusLine(line);
        if (!s) {
          failure ??= new BerthError(ErrorCode.Internal, `${operation}: the runtime helper said "${line}"`, { operation });
          continue;
        }
        if (s.kind === 'started' && started === undefined && plan.monitor) {
          // The monitor listens before it says "started"; from here on it alone reports.
          started = s.pid;
          clearTimeout(timer);
          settled = true;
          child.unref();
          connectMonitor(plan.monitor.dir, s.pid, child.pid ?? 0).then(resolve, (e: Error) => {
            // It may have exited and given up waiting for us already (the monitor waits 10 s).
            const gone = leftoverContainer(plan.monitor!.dir, s.pid, child.pid ?? 0);
            if (gone) return resolve(gone);
            unlessErrno(['ESRCH'], () => process.kill(s.pid, 'SIGKILL')); // ESRCH: gone already
            reject(
              new BerthError(ErrorCode.System, `${operation}: cannot reach the container's monitor: ${e.message}`, {
                operation,
                path: plan.monitor!.dir,
              }),
            );
          });
        } else if (s.kind === 'started' && started === undefined) {
          started = s.pid;
          clearTimeout(timer);
          settled = true;
          resolve({
            pid: s.pid,
            helperPid: child.pid!,
            exited,
            kill: (signal: NodeJS.Signals | number = 'SIGTERM') => {
              if (final || helperExit) return;
              try {
                process.kill(s.pid, signal);
              } catch (e) {
                if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
              }
            },
            resize: (rows: number, cols: number) => {
              if (!controlPipe || controlPipe.destroyed || final || helperExit) return;
              if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || rows > 65535 || cols > 65535) return;
              controlPipe.write(`resize ${rows} ${cols}\n`);
            },
            stdin: child.stdin,
            stdout: child.stdout,
            stderr: child.stderr,
          });
        } else if (s.kind === 'failed') {
          failure = failureError(s, operation);
        } else if (s.kind === 'exited') {
          final = { code: s.code };
        } else if (s.kind === 'killed') {
          final = { code: 128 + signalNumber(s.signal), signal: s.signal };
        }
      }
    });
    statusPipe.on('error', () => {
      /* the end or the exit tells */
    });
    statusPipe.on('close', () => {
      statusEnded = true;
      maybeDone();
    });
    child.on('exit', (code, signal) => {
      helperExit = { code, signal };
      controlPipe?.destroy();
      maybeDone();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(
          new BerthError(
            ErrorCode.System,
            `${operation}: cannot run the runtime helper: ${e.message}`,
            { operation, path: helperPath() },
            { cause: e },
          ),
        );
      }
    });
    planPipe.on('error', () => {
      /* the helper refused or died: its status line or exit says why */
    });
    planPipe.end(bytes);
  });
}

function signalNumber(name: string): number {
  const n = osConstants.signals[name as NodeJS.Signals];
  return typeof n === 'number' ? n : 0;
}
