/**
 * `exec`: a new process in a running container, confined like its init. The policy is here and
 * in buildExecPlan (plan.ts): the user is resolved in the container's own files (upper layer
 * first), the environment is the container's with the exec's entries overriding by name, the
 * working directory is the exec's or the container's; the helper enters the init's namespaces
 * and cgroup (native/helper/launch.c, exec mode) and monitors the process.
 */
import { BerthError, ErrorCode } from '../../errors';
import { launch, type ExitStatus } from '../helper';
import { buildExecPlan } from '../plan';
import { resolveUser, userNamespaceOf } from './config';
import { RootfsReader } from './rootfs';
import type { ContainerService } from './service';

const START_TIMEOUT_MS = 30_000;

export interface ExecOptions {
  cmd: string[];
  /** "NAME=value", overriding the container's by name. */
  env?: string[];
  /** "uid[:gid]" or "name[:group]"; the container's user when absent. */
  user?: string;
  /** Absolute; the container's working directory when absent. */
  workingDir?: string;
  /** A pty of this size (output then arrives as one stream, 'tty'). */
  terminal?: { rows: number; cols: number };
  /** Keep the process's stdin open for {@link ExecSession.write}; /dev/null otherwise. */
  stdin?: boolean;
}

/** A running exec'd process. */
export interface ExecSession {
  /** Its pid in the agent's pid namespace. */
  pid: number;
  exited: Promise<ExitStatus>;
  /** Bytes to its stdin (or the pty); false once the pipe is over its high-water mark. */
  write(data: Buffer): boolean;
  /** Closes its stdin (with a pty: stops forwarding input). */
  end(): void;
  resize(rows: number, cols: number): void;
  /** Input bytes written but not yet taken by the process. */
  pending(): number;
  kill(signal?: NodeJS.Signals): void;
}

/** "A=1" entries of `base` with those of `over` replacing them by name, new ones appended. */
export function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const name = (e: string) => e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('='));
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) out.set(name(e), e);
  return [...out.values()];
}

export async function execInContainer(
  svc: ContainerService,
  ref: string,
  opts: ExecOptions,
  onOutput: (stream: 'stdout' | 'stderr' | 'tty', data: Buffer) => void,
): Promise<ExecSession> {
  const op = 'exec in container';
  const rec = svc.find(ref, op);
  const rt = svc.runtimeOf(rec);
  if (!rt.running || !rt.cgroup || !rec.state.pid) {
    throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is not running`, { operation: op });
  }
  if (!opts.cmd.length || !opts.cmd[0]) throw new BerthError(ErrorCode.InvalidArgument, `${op}: no command to run`, { operation: op });
  for (const e of opts.env ?? [])
    if (!e.includes('=')) throw new BerthError(ErrorCode.InvalidArgument, `${op}: environment entry "${e}" has no "="`, { operation: op });
  const lowerDirs = rec.layers.map((c) => svc.store.layerDiffDir(c)).reverse();
  const user = resolveUser(opts.user ?? rec.process.user, new RootfsReader([rt.upper, ...lowerDirs]));
  const plan = buildExecPlan({
    pid: rec.state.pid,
    process: {
      args: [...opts.cmd],
      env: mergeEnv(rec.process.env, opts.env ?? []),
      cwd: opts.workingDir || rec.process.workingDir || '/',
      user,
      terminal: opts.terminal,
    },
    capAdd: rec.security.capAdd,
    capDrop: rec.security.capDrop,
    privileged: rec.security.privileged,
    userNamespace: userNamespaceOf(rec.security.userns),
    cgroupProcs: rt.cgroup.procsFiles(),
  });
  const p = await launch(plan, [opts.stdin || opts.terminal ? 'pipe' : 'ignore', 'pipe', 'pipe'], {
    timeoutMs: START_TIMEOUT_MS,
    operation: op,
    control: !!opts.terminal,
    sealed: true,
  });
  const outStream = opts.terminal ? 'tty' : 'stdout';
  p.stdout!.on('data', (d: Buffer) => onOutput(outStream, d));
  p.stderr!.on('data', (d: Buffer) => onOutput('stderr', d));
  p.stdin?.on('error', () => {
    /* the process is gone; its exit tells */
  });
  // The exit is reported once the output pipes have delivered their last bytes.
  const drained = Promise.all(
    [p.stdout!, p.stderr!].map((s) => new Promise<void>((r) => (s.readableEnded || s.destroyed ? r() : s.once('close', () => r())))),
  );
  const exited = p.exited.then(async (st) => {
    await Promise.race([drained, new Promise((r) => setTimeout(r, 2000))]);
    p.stdin?.destroy();
    return st;
  });
  return {
    pid: p.pid,
    exited,
    write: (data) => (p.stdin && !p.stdin.destroyed ? p.stdin.write(data) : false),
    end: () => void p.stdin?.end(),
    resize: (rows, cols) => p.resize(rows, cols),
    pending: () => p.stdin?.writableLength ?? 0,
    kill: (signal = 'SIGKILL') => p.kill(signal),
  };
}
