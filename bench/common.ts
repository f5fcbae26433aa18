/**
 * Helpers shared by the runtime benchmarks (bench/start.ts, bench/runtime.ts): OCI bundles for
 * crun and runc written to match what a Berth container gets, the crun wrapper this hybrid-cgroup
 * host needs, a spawn-to-exit timer, medians, and a check for what runtimes leave behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LayerUnpacker } from '../agent/store/unpack';
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from '../agent/runtime/plan';
import { trackChild, untrackChild } from '../test/support/tmp';

/** Longest a spawned tool may run before it is killed (by PID) and the benchmark fails. */
export const RUN_TIMEOUT_MS = 30_000;

/**
 * The crun wrapper: crun refuses this hybrid-cgroup host unless the empty cgroup2 mount at
 * /sys/fs/cgroup/unified is hidden, which is done in a private mount namespace (see
 * /work/shared/ENVIRONMENT.md). "$@" is the command run there: `unshare ...WRAPPER crun run ...`.
 */
export const WRAPPER = ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs none /sys/fs/cgroup/unified && exec "$@"', 'sh'];

/** A command's output, or a note that it failed (for version lines). */
export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `(${cmd} failed: ${(e as Error).message.split('\n')[0]})`;
  }
}

export const ms = (t0: number): number => performance.now() - t0;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const f1 = (x: number): string => x.toFixed(1);

/**
 * Spawns cmd and resolves with the ms from spawn to exit; rejects unless it exits 0. With
 * `detach` (a command that leaves a process running, e.g. `crun run -d`) no pipe is kept, since
 * that process would hold it open: the exit alone ends the wait, and stderr is not captured.
 */
export function timedRun(cmd: string, args: string[], opts: { detach?: boolean } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', opts.detach ? 'ignore' : 'pipe'] });
    trackChild(child);
    let took = 0;
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, RUN_TIMEOUT_MS);
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      untrackChild(child);
      if (code === 0) resolve(took);
      else reject(new Error(`${cmd} ${args.join(' ')}: ${signal ?? `exit ${code}`}: ${err.trim()}`));
    };
    child.once('exit', (code, signal) => {
      took = ms(t0);
      if (opts.detach) done(code, signal);
    });
    child.once('error', (e) => (clearTimeout(timer), untrackChild(child), reject(e)));
    if (!opts.detach) child.once('close', done);
  });
}

/**
 * config.json for `args` (default `/bin/true`), written to match what a Berth container gets:
 * namespaces pid, mount, ipc, uts, network and cgroup (Berth makes a cgroup namespace too), /proc,
 * a tmpfs /dev (crun/runc create the default device nodes), /dev/pts, /dev/shm, /dev/mqueue, a
 * read-only /sys, Docker's masked and read-only paths, Docker's default capabilities,
 * no_new_privs, no terminal, no resource limits.
 */
export function bundleConfig(hostname: string, args: string[] = ['/bin/true']): object {
  const caps = DEFAULT_CAPABILITIES.map((c) => `CAP_${c}`);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: ['pid', 'mount', 'ipc', 'uts', 'network', 'cgroup'].map((type) => ({ type })),
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
}

/** A fresh bundle dir under `base`: rootfs/ unpacked from the layer blob, and config.json for `args`. */
export async function makeBundle(base: string, name: string, blob: Buffer, args?: string[]): Promise<string> {
  const dir = join(base, name);
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  const u = new LayerUnpacker(join(dir, 'rootfs'));
  for (let off = 0; off < blob.length; off += 64 * 1024) await u.write(blob.subarray(off, off + 64 * 1024));
  await u.finish();
  writeFileSync(join(dir, 'config.json'), JSON.stringify(bundleConfig(name, args), null, 1));
  return dir;
}

/** Leftovers of a runtime's containers named with `prefix`: its state dir entries and v1 cgroups. */
export function leftovers(prefix: string): string[] {
  const found: string[] = [];
  for (const d of ['/run/crun', '/run/runc']) {
    if (existsSync(d)) for (const n of readdirSync(d)) if (n.startsWith(prefix)) found.push(join(d, n));
  }
  // Without cgroupsPath, runc and crun nest the cgroup under their own (e.g. memory/process_api/…/ID).
  const walk = (d: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const n of names) {
      if (n.startsWith(prefix)) found.push(join(d, n));
      else if (depth < 4) walk(join(d, n), depth + 1);
    }
  };
  for (const ctl of ['memory', 'pids', 'cpu', 'devices', 'freezer', 'unified']) walk(join('/sys/fs/cgroup', ctl), 0);
  return found;
}
