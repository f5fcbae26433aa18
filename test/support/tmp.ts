/**
 * Temp directories and a registry of cleanups for the test infrastructure.
 *
 * Everything a test helper creates (temp dirs, child processes, servers) registers a cleanup here.
 * Helpers unregister when they are stopped normally; {@link runCleanups} runs whatever is left
 * (LIFO), and a last-resort `exit` hook kills leftover child processes by PID and removes leftover
 * temp dirs synchronously, so a crashed test does not leak registries or gigabytes in /tmp.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

type Cleanup = () => void | Promise<void>;

const cleanups = new Map<number, Cleanup>();
let nextId = 1;
const liveDirs = new Set<string>();
const livePids = new Set<number>();

/**
 * Registers a cleanup to run from {@link runCleanups}. Returns a function that unregisters it
 * (call that after cleaning up by hand, so the work is not done twice).
 */
export function registerCleanup(fn: Cleanup): () => void {
  const id = nextId++;
  cleanups.set(id, fn);
  return () => {
    cleanups.delete(id);
  };
}

/** Runs every registered cleanup, newest first; collects failures and throws them together. */
export async function runCleanups(): Promise<void> {
  const errors: unknown[] = [];
  const ids = [...cleanups.keys()].reverse();
  for (const id of ids) {
    const fn = cleanups.get(id);
    cleanups.delete(id);
    try {
      await fn?.();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'test cleanups failed');
}

/**
 * Creates a fresh directory /tmp/<prefix>XXXXXX. It is registered for removal; remove it earlier
 * with {@link removeTempDir}.
 */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join('/tmp', prefix));
  liveDirs.add(dir);
  const unregister = registerCleanup(() => removeTempDir(dir));
  dirUnregister.set(dir, unregister);
  return dir;
}

/** The synchronous twin of {@link makeTempDir}, for places that cannot await. */
export function makeTempDirSync(prefix: string): string {
  const dir = mkdtempSync(join('/tmp', prefix));
  liveDirs.add(dir);
  dirUnregister.set(
    dir,
    registerCleanup(() => removeTempDir(dir)),
  );
  return dir;
}

const dirUnregister = new Map<string, () => void>();

/** Removes a temp dir made by {@link makeTempDir} (recursively) and forgets it. */
export async function removeTempDir(dir: string): Promise<void> {
  dirUnregister.get(dir)?.();
  dirUnregister.delete(dir);
  liveDirs.delete(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Remembers a child process so that, should the test process exit without stopping it, the exit
 * hook kills it by PID. Call {@link untrackChild} once it has been stopped.
 */
export function trackChild(child: ChildProcess): void {
  if (child.pid !== undefined) livePids.add(child.pid);
  child.once('exit', () => {
    if (child.pid !== undefined) livePids.delete(child.pid);
  });
}

/** Whether a process `pid` exists (signal 0; a zombie still counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Forgets a child process registered with {@link trackChild}. */
export function untrackChild(child: ChildProcess): void {
  if (child.pid !== undefined) livePids.delete(child.pid);
}

/**
 * Stops a child process by PID: SIGTERM, then SIGKILL after `graceMs`; resolves once it has
 * exited (bounded: gives up waiting 5 s after SIGKILL).
 */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    untrackChild(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const sleep = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  if ((await Promise.race([exited.then(() => 'exited' as const), sleep(graceMs)])) === 'timeout') {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await Promise.race([exited, sleep(5000)]);
  }
  untrackChild(child);
}

// Last resort: the process is exiting with helpers still running (a test threw before cleanup,
// or the runner was interrupted). Synchronous: kill leftover children by PID, remove leftover dirs.
function cleanupSync(): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  livePids.clear();
  liveDirs.clear();
}
process.once('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    cleanupSync();
    process.kill(process.pid, sig); // our handler is gone now: die of the signal as usual
  });
}

// ---------------------------------------------------------------------------------------------
// Running the Debian tools
// ---------------------------------------------------------------------------------------------

/** Options for {@link run}. */
export interface RunOptions {
  /** Bytes written to the child's stdin (stdin is closed after). */
  input?: Buffer | string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kills the child (by PID) after this long; default 120 s. */
  timeoutMs?: number;
}

/**
 * Runs a program to completion and returns its stdout. Rejects with its exit status and stderr
 * when it fails, is killed by the timeout, or does not exist (then naming the setup script).
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    trackChild(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      untrackChild(child);
      reject(e.code === 'ENOENT' ? missingTool(cmd) : e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      untrackChild(child);
      if (code === 0) return resolve(Buffer.concat(out));
      const why = timedOut ? 'timed out' : signal ? `killed by ${signal}` : `exited with ${code}`;
      reject(new Error(`${cmd} ${args.join(' ')} ${why}: ${Buffer.concat(err).toString().trim()}`));
    });
    child.stdin.on('error', () => {
      /* the child may exit before reading all of it; its exit status tells */
    });
    child.stdin.end(opts.input ?? '');
  });
}

function missingTool(cmd: string): Error {
  return new Error(
    `berth tests: "${cmd}" is not installed; run "bash scripts/setup-debian.sh" as root (the integration tests need root and the Debian packages it installs)`,
  );
}

/** podman with a private store in `dir` (never the host's), no systemd, no event log. */
export function podman(dir: string, args: string[]): Promise<Buffer> {
  const base = [
    '--root',
    join(dir, 'root'),
    '--runroot',
    join(dir, 'run'),
    '--storage-driver',
    'vfs',
    '--cgroup-manager',
    'cgroupfs',
    '--events-backend',
    'none',
  ];
  return run('podman', [...base, ...args], {
    timeoutMs: 120_000,
    env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config') },
  });
}

/** The Debian-packaged programs the integration tests stand on. */
export const REQUIRED_TOOLS = [
  'docker-registry',
  'skopeo',
  'umoci',
  'htpasswd',
  'openssl',
  'zstd',
  'gzip',
  'tar',
  'unshare',
  'mount',
  'mknod',
];

/**
 * Throws (never skips) when not root or when one of `tools` is not on PATH, with a message that
 * says to run scripts/setup-debian.sh. Also checks /bin/busybox, the source of every test image.
 */
export function requireTools(tools: string[] = REQUIRED_TOOLS): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'berth integration tests must run as root (they mknod, chown, mount overlays in a private namespace and run umoci unpack)',
    );
  }
  const path = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  const missing = tools.filter((t) => !path.some((d) => d && existsSync(join(d, t))));
  if (!existsSync('/bin/busybox')) missing.push('/bin/busybox (busybox-static)');
  if (missing.length) {
    throw new Error(`berth tests: missing ${missing.join(', ')}; run "bash scripts/setup-debian.sh" as root`);
  }
}
