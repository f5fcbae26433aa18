/**
 * The runtime benchmarks of issue #6 that bench/start.ts does not cover, each side by side with
 * crun and runc in one run, the tools taking turns. Berth's containers join no network ("none":
 * a namespace with loopback), as the crun and runc bundles have (bench/start.ts measures what the
 * default bridge adds):
 *
 *   1. 50 containers at once: Berth (50 create+start chains sent at once on one socket
 *      connection, then the 50 waits, then the 50 removes) against 50 `crun run` and 50 `runc run`
 *      processes spawned at once, each running `/bin/true` in the busybox rootfs. Timed until the
 *      last one is gone (for Berth: the last remove answered; also reported: the last exit).
 *   2. exec latency: `/bin/true` in a running container (`sleep`): Berth's `container/exec` request
 *      over the socket, the `berth exec` CLI process, `crun exec` (inside the wrapper this host
 *      needs) and `runc exec`, with the wrapper alone and a bare spawn as floors.
 *   3. an overlay with 121 layers (busybox + 120 small layers with whiteouts, hardlinks and
 *      opaque dirs, built here): Berth run of `/bin/true` (create+start+wait+remove) on it against
 *      crun run of the same on an overlay of the same 121 lower directories (Berth's unpacked
 *      layers), mounted inside crun's wrapper just before `exec crun`, plus the mount alone.
 *   4. agent CPU while idle: the agent's utime+stime from /proc/PID/stat over a window with no
 *      container, then with 50 containers running `sleep` (and the 50 monitors' own CPU apart).
 *
 * Berth runs with its store on ext4 (/tmp) and on tmpfs (/dev/shm), two agents (dist/berth.js);
 * the crun/runc bundles are on ext4 (/tmp). Everything is stopped and removed by PID/ID at the end
 * and the runtimes' leftovers (state dirs, cgroups) checked.
 *
 * Usage: node --import tsx bench/runtime.ts [--rounds N] [--parallel N] [--iterations N]
 *   [--layers N] [--idle-seconds N]   (defaults 5, 50, 30, 120, 20)
 * Writes bench/results/runtime-<date>.md and bench/.cache/latest-runtime.md, and prints it.
 */
import { readFileSync, readdirSync, readlinkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  CreateContainerRequest,
  ExecRequest,
  InspectContainerRequest,
  InspectImageRequest,
  ListContainersRequest,
  PullRequest,
  RemoveContainerRequest,
  StartContainerRequest,
  WaitContainerRequest,
  type ContainerInspect,
  type ImageInspect,
} from '../protocol';
import { BUNDLE, REPO, startAgent, type TestAgent } from '../test/support/agent';
import {
  buildImage,
  buildLayer,
  busyboxImage,
  busyboxLayer,
  whiteout,
  opaqueMarker,
  type BuiltLayer,
  type StageEntry,
} from '../test/support/images';
import { pushImage } from '../test/support/push';
import { startRegistry } from '../test/support/registry';
import { registerCleanup, requireTools, runCleanups } from '../test/support/tmp';
import { WRAPPER, bundleConfig, f1, leftovers, makeBundle, median, ms, sh, timedRun } from './common';

const RESULTS = join(__dirname, 'results');
const CACHE = join(__dirname, '.cache');
const argv = process.argv.slice(2);
function intArg(name: string, def: number): number {
  const i = argv.indexOf(name);
  const n = Number(i >= 0 ? argv[i + 1] : def);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} wants a positive integer, got ${n}`);
  return n;
}
const ROUNDS = intArg('--rounds', 5);
const PARALLEL = intArg('--parallel', 50);
const ITERATIONS = intArg('--iterations', 30);
const LAYERS = intArg('--layers', 120);
const IDLE_SECONDS = intArg('--idle-seconds', 20);
const CLK_TCK = Number(sh('getconf', ['CLK_TCK'])) || 100;

function log(msg: string): void {
  process.stderr.write(`[runtime-bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

// ---------------------------------------------------------------------------------------------
// The many-layer image
// ---------------------------------------------------------------------------------------------

/**
 * Layer i (1..n) of the many-layer image: a small file of its own, a hardlink to it, a file that
 * layer i+1 deletes (whiteout), every 10th layer an opaque /data/dir replacing what was there,
 * and every layer rewrites /data/shared (a copy-up of a lower file).
 */
function smallLayerEntries(i: number): StageEntry[] {
  const e: StageEntry[] = [
    { type: 'dir', path: '/data' },
    { type: 'file', path: `/data/l${i}.txt`, content: `layer ${i}\n`.repeat(20) },
    { type: 'hardlink', path: `/data/l${i}.link`, target: `/data/l${i}.txt` },
    { type: 'file', path: `/data/doomed${i}`, content: `deleted by layer ${i + 1}\n` },
    { type: 'file', path: '/data/shared', content: `last written by layer ${i}\n` },
  ];
  if (i > 1) e.push(whiteout(`/data/doomed${i - 1}`));
  if (i % 10 === 0)
    e.push({ type: 'dir', path: '/data/dir' }, opaqueMarker('/data/dir'), { type: 'file', path: `/data/dir/from${i}`, content: 'x' });
  return e;
}

/** A shell test that exits 0 only when the merged view of the n-layer image is right. */
const VIEW_CHECK = (n: number) =>
  `test "$(cat /data/shared)" = "last written by layer ${n}" && test ! -e /data/doomed${n - 1} && test -e /data/doomed${n} && ` +
  `test "$(stat -c %h /data/l1.txt)" = 2 && test "$(ls /data/dir | wc -l)" = ${n >= 10 ? 1 : 0}`;

async function manyLayerImage(n: number) {
  const layers: BuiltLayer[] = [await busyboxLayer()];
  for (let i = 1; i <= n; i++) layers.push(await buildLayer(smallLayerEntries(i), { createdBy: `COPY layer ${i} /data` }));
  return buildImage({ layers, config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] } });
}

// ---------------------------------------------------------------------------------------------
// Berth over the socket
// ---------------------------------------------------------------------------------------------

/** create + wait(next-exit, sent first) + start + the wait's answer + remove of /bin/true. */
async function berthRun(conn: MessageConnection, ref: string): Promise<number> {
  const t0 = performance.now();
  const { Id } = await conn.sendRequest(CreateContainerRequest.type, { networkMode: 'none', image: ref, cmd: ['/bin/true'] });
  const waited = conn.sendRequest(WaitContainerRequest.type, { container: Id, condition: 'next-exit' });
  await conn.sendRequest(StartContainerRequest.type, { container: Id });
  const r = await waited;
  await conn.sendRequest(RemoveContainerRequest.type, { container: Id });
  if (r.StatusCode !== 0) throw new Error(`berth: /bin/true exited with ${r.StatusCode}`);
  return ms(t0);
}

/** `n` runs of /bin/true at once; ms until all exited and until all were removed. */
async function berthParallel(conn: MessageConnection, ref: string, n: number): Promise<{ exited: number; total: number }> {
  const t0 = performance.now();
  const runs = await Promise.all(
    Array.from({ length: n }, async () => {
      const { Id } = await conn.sendRequest(CreateContainerRequest.type, { networkMode: 'none', image: ref, cmd: ['/bin/true'] });
      const waited = conn.sendRequest(WaitContainerRequest.type, { container: Id, condition: 'next-exit' });
      await conn.sendRequest(StartContainerRequest.type, { container: Id });
      return { Id, waited };
    }),
  );
  const results = await Promise.all(runs.map((r) => r.waited));
  const exited = ms(t0);
  await Promise.all(runs.map((r) => conn.sendRequest(RemoveContainerRequest.type, { container: r.Id })));
  const total = ms(t0);
  const bad = results.filter((r) => r.StatusCode !== 0);
  if (bad.length) throw new Error(`berth: ${bad.length} of ${n} containers exited non-zero`);
  return { exited, total };
}

async function removeAll(conn: MessageConnection): Promise<void> {
  for (const c of await conn.sendRequest(ListContainersRequest.type, { all: true })) {
    await conn.sendRequest(RemoveContainerRequest.type, { container: c.Id, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// /proc readings
// ---------------------------------------------------------------------------------------------

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function statusKiB(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** PIDs of running berth-helper processes (the containers' monitors). */
function helperPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/exe`).endsWith('/berth-helper')) out.push(Number(name));
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

function sumTicks(pids: number[]): number {
  let t = 0;
  for (const p of pids) {
    try {
      t += cpuTicks(p);
    } catch {
      // exited meanwhile
    }
  }
  return t;
}

/** CPU % of the agent (and of `helpers`) over `seconds`, from /proc tick counts. */
async function idleCpu(agentPid: number, helpers: number[], seconds: number): Promise<{ agent: number; helpers: number }> {
  const a0 = cpuTicks(agentPid);
  const h0 = sumTicks(helpers);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wall = ms(t0) / 1000;
  const pct = (ticks: number) => (ticks / CLK_TCK / wall) * 100;
  return { agent: pct(cpuTicks(agentPid) - a0), helpers: pct(sumTicks(helpers) - h0) };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

interface Row {
  label: string;
  xs: number[];
}

function table(rows: Row[], refLabel: string, unit = 'ms'): string[] {
  const ref = median(rows.find((r) => r.label === refLabel)!.xs);
  return [
    `| tool | median ${unit} | min ${unit} | max ${unit} | × ${refLabel.replace(/\*/g, '')} |`,
    '|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${f1(median(r.xs))} | ${f1(Math.min(...r.xs))} | ${f1(Math.max(...r.xs))} | ${(median(r.xs) / ref).toFixed(2)}× |`,
    ),
  ];
}

async function main(): Promise<void> {
  requireTools(['docker-registry', 'crun', 'runc', 'unshare', 'mount', 'tar', 'gzip']);
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run "npm run build"`);
  const startedAt = performance.now();
  const registry = await startRegistry();
  const base = mkdtempSync('/tmp/berth-runtime-bench-');
  // Short store roots: a container's monitor socket path must fit in sun_path (108 bytes).
  const shmRoot = mkdtempSync('/dev/shm/brb-');
  const ext4Root = mkdtempSync('/tmp/brb-');
  const prefix = `brb${process.pid}-`;
  const detached: { runtime: 'crun' | 'runc'; id: string }[] = [];
  const wrapped = (args: string[]) => ['unshare', [...WRAPPER, ...args]] as const;
  const killDetached = async () => {
    for (const d of detached.splice(0)) {
      const [cmd, args] = d.runtime === 'crun' ? wrapped(['crun', 'delete', '-f', d.id]) : (['runc', ['delete', '-f', d.id]] as const);
      await timedRun(cmd, [...args]).catch((e) => log(`cleanup: ${String(e)}`));
    }
  };
  const unregister = registerCleanup(async () => {
    await killDetached();
    rmSync(base, { recursive: true, force: true });
    rmSync(shmRoot, { recursive: true, force: true });
    rmSync(ext4Root, { recursive: true, force: true });
  });
  let linksDir: string | undefined;
  const agents: TestAgent[] = [];
  try {
    // ---------------------------------------------------------------- set-up (untimed)
    const box = await busyboxImage();
    await pushImage(registry, 'bench/box', 'v1', box);
    const boxRef = `${registry.host}/bench/box:v1`;
    log(`building the ${LAYERS + 1}-layer image`);
    const many = await manyLayerImage(LAYERS);
    await pushImage(registry, 'bench/many', 'v1', many);
    const manyRef = `${registry.host}/bench/many:v1`;

    const ext4Agent = await startAgent({ root: ext4Root });
    const tmpfsAgent = await startAgent({ root: shmRoot });
    agents.push(ext4Agent, tmpfsAgent);
    const ext4 = await ext4Agent.connect();
    const tmpfs = await tmpfsAgent.connect();
    for (const c of [ext4, tmpfs]) for (const r of [boxRef, manyRef]) await c.sendRequest(PullRequest.type, { reference: r });
    log(`pulled both images into ${ext4Agent.root} (ext4) and ${tmpfsAgent.root} (tmpfs)`);

    const trueBundle = await makeBundle(base, `${prefix}true`, box.layers[0].bytes);
    const sleepBundle = await makeBundle(base, `${prefix}sleep`, box.layers[0].bytes, ['/bin/sleep', '3600']);

    // The crun bundle for the many-layer overlay: rootfs is an empty mount point; the lower dirs
    // are the ext4 agent's unpacked layers, named through short symlinks so the mount option
    // string (one page at most for mount(2)) holds 121 of them.
    const inspect = (await ext4.sendRequest(InspectImageRequest.type, { reference: manyRef })) as ImageInspect;
    const lowerPaths = inspect.Berth.Layers.map((l) => l.Path);
    if (lowerPaths.length !== LAYERS + 1) throw new Error(`expected ${LAYERS + 1} layers, got ${lowerPaths.length}`);
    const links = mkdtempSync('/tmp/bl');
    linksDir = links;
    for (const [i, p] of lowerPaths.entries()) symlinkSync(p, join(links, String(i)));
    const lowerOpt = lowerPaths
      .map((_, i) => join(links, String(i)))
      .reverse()
      .join(':');
    const overlayBundle = join(base, `${prefix}ovl`);
    mkdirSync(join(overlayBundle, 'rootfs'), { recursive: true });
    writeFileSync(join(overlayBundle, 'config.json'), JSON.stringify(bundleConfig(`${prefix}ovl`), null, 1));
    let ovlSeq = 0;
    /** A fresh upper/work pair (made untimed) and the mount command for it. */
    const overlayMount = () => {
      const d = join(base, `ovl-rw-${++ovlSeq}`);
      mkdirSync(join(d, 'upper'), { recursive: true });
      mkdirSync(join(d, 'work'));
      return `mount -t overlay overlay -o lowerdir=${lowerOpt},upperdir=${d}/upper,workdir=${d}/work ${overlayBundle}/rootfs`;
    };
    if (lowerOpt.length > 3800) throw new Error(`the lowerdir option is ${lowerOpt.length} bytes; too long for mount(2)`);

    // A sanity check of the overlay the peers get: the many-layer view is what Berth shows.
    const berthView = await (async () => {
      const { Id } = await ext4.sendRequest(CreateContainerRequest.type, {
        networkMode: 'none',
        image: manyRef,
        cmd: ['sh', '-c', VIEW_CHECK(LAYERS)],
        name: `${prefix}view`,
      });
      const waited = ext4.sendRequest(WaitContainerRequest.type, { container: Id, condition: 'next-exit' });
      await ext4.sendRequest(StartContainerRequest.type, { container: Id });
      const r = await waited;
      await ext4.sendRequest(RemoveContainerRequest.type, { container: Id });
      return r.StatusCode;
    })();
    if (berthView !== 0) throw new Error(`the many-layer image's merged view is wrong under Berth (check exited ${berthView})`);

    let seq = 0;
    const id = () => `${prefix}${++seq}`;

    // ---------------------------------------------------------------- 1. N at once
    log(`${PARALLEL} at once: ${ROUNDS} rounds after a warm-up`);
    type ParTool = 'berth-ext4' | 'berth-tmpfs' | 'crun' | 'runc';
    const PAR: ParTool[] = ['berth-ext4', 'berth-tmpfs', 'crun', 'runc'];
    const par: Record<ParTool, number[]> = { 'berth-ext4': [], 'berth-tmpfs': [], crun: [], runc: [] };
    const parExited: Record<'berth-ext4' | 'berth-tmpfs', number[]> = { 'berth-ext4': [], 'berth-tmpfs': [] };
    const spawnMany = async (make: () => readonly [string, readonly string[]]) => {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: PARALLEL }, () => {
          const [cmd, args] = make();
          return timedRun(cmd, [...args]);
        }),
      );
      return ms(t0);
    };
    for (let r = 0; r <= ROUNDS; r++) {
      for (const tool of PAR.map((_, k) => PAR[(k + r) % PAR.length])) {
        let t: number;
        if (tool === 'berth-ext4' || tool === 'berth-tmpfs') {
          const res = await berthParallel(tool === 'berth-ext4' ? ext4 : tmpfs, boxRef, PARALLEL);
          if (r > 0) parExited[tool].push(res.exited);
          t = res.total;
        } else if (tool === 'crun') {
          t = await spawnMany(() => wrapped(['crun', 'run', '--bundle', trueBundle, id()]));
        } else {
          t = await spawnMany(() => ['runc', ['run', '--bundle', trueBundle, id()]] as const);
        }
        if (r > 0) par[tool].push(t);
      }
    }

    // ---------------------------------------------------------------- 2. exec latency
    log(`exec latency: ${ITERATIONS} iterations after a warm-up`);
    const { Id: execTarget } = await ext4.sendRequest(CreateContainerRequest.type, {
      networkMode: 'none',
      image: boxRef,
      cmd: ['sleep', '3600'],
      name: `${prefix}exec`,
    });
    await ext4.sendRequest(StartContainerRequest.type, { container: execTarget });
    const crunId = id();
    detached.push({ runtime: 'crun', id: crunId });
    await timedRun('unshare', [...WRAPPER, 'crun', 'run', '-d', '--bundle', sleepBundle, crunId], { detach: true });
    const runcId = id();
    detached.push({ runtime: 'runc', id: runcId });
    await timedRun('runc', ['run', '-d', '--bundle', sleepBundle, runcId], { detach: true });
    type ExecTool = 'berth-request' | 'berth-cli' | 'crun' | 'runc' | 'wrapper' | 'spawn';
    const EXEC: ExecTool[] = ['berth-request', 'berth-cli', 'crun', 'runc', 'wrapper', 'spawn'];
    const exec: Record<ExecTool, number[]> = { 'berth-request': [], 'berth-cli': [], crun: [], runc: [], wrapper: [], spawn: [] };
    const RUN_EXEC: Record<ExecTool, () => Promise<number>> = {
      'berth-request': async () => {
        const t0 = performance.now();
        const r = await ext4.sendRequest(ExecRequest.type, { container: execTarget, cmd: ['/bin/true'] });
        if (r.ExitCode !== 0) throw new Error(`berth exec: exit ${r.ExitCode}`);
        return ms(t0);
      },
      'berth-cli': () => timedRun(process.execPath, [join(REPO, 'bin', 'berth'), 'exec', execTarget, '/bin/true']),
      crun: () => timedRun(...(wrapped(['crun', 'exec', crunId, '/bin/true']) as unknown as [string, string[]])),
      runc: () => timedRun('runc', ['exec', runcId, '/bin/true']),
      wrapper: () => timedRun(...(wrapped(['true']) as unknown as [string, string[]])),
      spawn: () => timedRun('/bin/true', []),
    };
    process.env.BERTH_SOCKET = ext4Agent.socket;
    process.env.BERTH_ROOT = ext4Agent.root;
    process.env.BERTH_NO_AUTOSTART = '1';
    for (let i = 0; i <= ITERATIONS; i++) {
      for (const tool of EXEC.map((_, k) => EXEC[(k + i) % EXEC.length])) {
        const t = await RUN_EXEC[tool]();
        if (i > 0) exec[tool].push(t);
      }
    }
    await ext4.sendRequest(RemoveContainerRequest.type, { container: execTarget, force: true });
    await killDetached();

    // ---------------------------------------------------------------- 3. many-layer overlay
    const OVL_ITER = Math.max(5, Math.floor(ITERATIONS / 2));
    log(`${LAYERS + 1}-layer overlay: ${OVL_ITER} iterations after a warm-up`);
    type OvlTool = 'berth-ext4-many' | 'berth-tmpfs-many' | 'berth-ext4-one' | 'crun-many' | 'crun-one' | 'mount';
    const OVL: OvlTool[] = ['berth-ext4-many', 'berth-tmpfs-many', 'berth-ext4-one', 'crun-many', 'crun-one', 'mount'];
    const ovl: Record<OvlTool, number[]> = {
      'berth-ext4-many': [],
      'berth-tmpfs-many': [],
      'berth-ext4-one': [],
      'crun-many': [],
      'crun-one': [],
      mount: [],
    };
    const RUN_OVL: Record<OvlTool, () => Promise<number>> = {
      'berth-ext4-many': () => berthRun(ext4, manyRef),
      'berth-tmpfs-many': () => berthRun(tmpfs, manyRef),
      'berth-ext4-one': () => berthRun(ext4, boxRef),
      'crun-many': () => {
        const m = overlayMount();
        return timedRun('unshare', [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t tmpfs none /sys/fs/cgroup/unified && ${m} && exec crun run --bundle ${overlayBundle} ${id()}`,
        ]);
      },
      'crun-one': () => timedRun(...(wrapped(['crun', 'run', '--bundle', trueBundle, id()]) as unknown as [string, string[]])),
      mount: () => {
        const m = overlayMount();
        return timedRun('unshare', [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t tmpfs none /sys/fs/cgroup/unified && ${m} && umount ${overlayBundle}/rootfs`,
        ]);
      },
    };
    for (let i = 0; i <= OVL_ITER; i++) {
      for (const tool of OVL.map((_, k) => OVL[(k + i) % OVL.length])) {
        const t = await RUN_OVL[tool]();
        if (i > 0) ovl[tool].push(t);
      }
    }

    // ---------------------------------------------------------------- 4. idle CPU
    log(`idle CPU: ${IDLE_SECONDS} s with no container, then ${IDLE_SECONDS} s with ${PARALLEL} sleeping`);
    const agentPid = ext4Agent.child.pid!;
    const helpersBefore = new Set(helperPids());
    await sleep(2000);
    const idleEmpty = await idleCpu(agentPid, [], IDLE_SECONDS);
    const rssBefore = statusKiB(agentPid, 'VmRSS');
    for (let i = 0; i < PARALLEL; i++) {
      const { Id } = await ext4.sendRequest(CreateContainerRequest.type, {
        networkMode: 'none',
        image: boxRef,
        cmd: ['sleep', '3600'],
        name: `${prefix}idle${i}`,
      });
      await ext4.sendRequest(StartContainerRequest.type, { container: Id });
    }
    const running = (await ext4.sendRequest(ListContainersRequest.type, {})).length;
    // The monitors: the parents of the containers' init processes (other agents' helpers may run on this host).
    const monitors: number[] = [];
    for (const c of await ext4.sendRequest(ListContainersRequest.type, {})) {
      const pid = ((await ext4.sendRequest(InspectContainerRequest.type, { container: c.Id })) as ContainerInspect).State.Pid;
      try {
        const ppid = parentPid(pid);
        if (helpersBefore.has(ppid) || !helperPids().includes(ppid)) continue;
        monitors.push(ppid);
      } catch {
        // exited meanwhile
      }
    }
    await sleep(3000);
    const idleBusy = await idleCpu(agentPid, monitors, IDLE_SECONDS);
    const rssWith = statusKiB(agentPid, 'VmRSS');
    const hwm = statusKiB(agentPid, 'VmHWM');
    await removeAll(ext4);
    await removeAll(tmpfs);

    // Nothing may be left behind.
    for (const c of [ext4, tmpfs]) {
      const left = await c.sendRequest(ListContainersRequest.type, { all: true });
      if (left.length) throw new Error(`${left.length} Berth containers left`);
    }
    const left = leftovers(prefix);
    if (left.length) throw new Error(`crun/runc left ${left.join(', ')}`);

    // ---------------------------------------------------------------- the report
    const cpu = cpus();
    const date = new Date().toISOString().slice(0, 10);
    const parRows: Row[] = [
      { label: `**berth**, ${PARALLEL} create+start+wait+remove at once (store on ext4 /tmp)`, xs: par['berth-ext4'] },
      { label: `**berth**, the same (store on tmpfs /dev/shm)`, xs: par['berth-tmpfs'] },
      { label: `**crun run** ×${PARALLEL} at once (bundle on ext4 /tmp; each in the unshare wrapper)`, xs: par.crun },
      { label: `**runc run** ×${PARALLEL} at once (bundle on ext4 /tmp)`, xs: par.runc },
    ];
    const execRows: Row[] = [
      { label: '**berth** `container/exec` request (socket, one connection)', xs: exec['berth-request'] },
      { label: '**berth exec** CLI process (spawn to exit)', xs: exec['berth-cli'] },
      { label: '**crun exec** (inside the unshare wrapper)', xs: exec.crun },
      { label: '**runc exec**', xs: exec.runc },
      { label: 'unshare wrapper alone', xs: exec.wrapper },
      { label: 'spawn `/bin/true`', xs: exec.spawn },
    ];
    const ovlRows: Row[] = [
      { label: `**berth** run /bin/true, ${LAYERS + 1} layers (store on ext4 /tmp)`, xs: ovl['berth-ext4-many'] },
      { label: `**berth** run /bin/true, ${LAYERS + 1} layers (store on tmpfs /dev/shm)`, xs: ovl['berth-tmpfs-many'] },
      { label: '**berth** run /bin/true, 1 layer (store on ext4 /tmp)', xs: ovl['berth-ext4-one'] },
      { label: `**crun run** /bin/true on an overlay of the same ${LAYERS + 1} lower dirs (mounted in the wrapper)`, xs: ovl['crun-many'] },
      { label: '**crun run** /bin/true, plain rootfs dir (in the wrapper)', xs: ovl['crun-one'] },
      { label: `wrapper + mount + umount of the ${LAYERS + 1}-layer overlay alone`, xs: ovl.mount },
    ];
    const pct = (x: number) => `${x.toFixed(2)}%`;
    const doc = [
      `# Runtime benchmarks, ${date}`,
      '',
      `Generated by \`bench/runtime.ts\`. Times in ms; ratios are of medians; the tools take turns in an order that rotates ` +
        'every round/iteration, after one untimed warm-up, all in one process. Berth rows are timed around JSON-RPC requests ' +
        'over the agent\'s Unix socket (no process spawn) unless they say "CLI process"; crun/runc rows are spawn to exit. ' +
        "crun runs inside `unshare -m --propagation private sh -c 'mount -t tmpfs none /sys/fs/cgroup/unified && exec crun …'` " +
        '(this host has hybrid cgroups, which crun refuses), whose own cost is the "unshare wrapper alone" row. The crun/runc ' +
        "bundles hold the same busybox layer, unpacked by Berth's LayerUnpacker, on ext4 (/tmp).",
      '',
      `## ${PARALLEL} containers at once (/bin/true; ${ROUNDS} rounds)`,
      '',
      ...table(parRows, parRows[2].label),
      '',
      `Berth, when the last of the ${PARALLEL} exits was reported (before the removes): ext4 ${f1(median(parExited['berth-ext4']))} ms, ` +
        `tmpfs ${f1(median(parExited['berth-tmpfs']))} ms (medians).`,
      '',
      `## exec latency (/bin/true in a running \`sleep\` container; ${ITERATIONS} iterations)`,
      '',
      ...table(execRows, execRows[2].label),
      '',
      `crun exec net of the wrapper: ${f1(median(exec.crun) - median(exec.wrapper))} ms; runc exec net of a spawn: ` +
        `${f1(median(exec.runc) - median(exec.spawn))} ms; berth exec CLI net of the request: ${f1(median(exec['berth-cli']) - median(exec['berth-request']))} ms.`,
      '',
      `## overlay with ${LAYERS + 1} layers (${OVL_ITER} iterations)`,
      '',
      `The image: the busybox layer plus ${LAYERS} small layers, each adding a file and a hardlink to it, deleting the previous ` +
        "layer's file (a whiteout), rewriting /data/shared, and every 10th replacing /data/dir (an opaque directory). " +
        `crun gets an overlay of the very directories Berth unpacked (ext4), mounted with \`mount -t overlay\` inside its wrapper ` +
        'right before `exec crun run` (fresh upper and work dirs each time, made untimed).',
      '',
      ...table(ovlRows, ovlRows[3].label),
      '',
      `## agent CPU while idle (ext4 agent, /proc/PID/stat utime+stime, CLK_TCK ${CLK_TCK}, ${IDLE_SECONDS} s windows)`,
      '',
      "| state | agent CPU | the containers' monitors (berth-helper), together |",
      '|---|---:|---:|',
      `| no container | ${pct(idleEmpty.agent)} | – |`,
      `| ${running} containers running \`sleep 3600\` | ${pct(idleBusy.agent)} | ${pct(idleBusy.helpers)} (${monitors.length} processes) |`,
      '',
      `Target: under 0.50% for the agent. Agent RSS: ${(rssBefore / 1024).toFixed(1)} MiB before the ${PARALLEL} containers, ` +
        `${(rssWith / 1024).toFixed(1)} MiB with them; its peak (VmHWM) over the whole run ${(hwm / 1024).toFixed(1)} MiB. ` +
        'The agent\'s peak RSS during the Debian pull is in the pull table ("Berth agent memory").',
      '',
      '## Versions',
      '',
      `- date: ${new Date().toISOString()}`,
      `- berth: ${process.env.BENCH_BERTH_REVISION ?? `git ${sh('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])}${sh('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : ''}`}, dist/berth.js; node ${process.version}`,
      `- ${sh('crun', ['--version']).split('\n')[0]}; ${sh('runc', ['--version']).split('\n')[0]}; ${sh('unshare', ['--version'])}`,
      `- kernel: ${sh('uname', ['-sr'])}; CPU: ${cpu.length} × ${cpu[0]?.model ?? '?'}; RAM ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      `- filesystems: /tmp ${sh('findmnt', ['-no', 'FSTYPE', '-T', '/tmp']).split('\n')[0]}, /dev/shm ${sh('findmnt', ['-no', 'FSTYPE', '-T', '/dev/shm']).split('\n')[0]}; cgroups: hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)`,
      '',
      `Total bench time: ${(ms(startedAt) / 1000).toFixed(0)} s.`,
      '',
    ].join('\n');
    mkdirSync(RESULTS, { recursive: true });
    mkdirSync(CACHE, { recursive: true });
    const file = join(RESULTS, `runtime-${date}.md`);
    writeFileSync(file, doc);
    writeFileSync(join(CACHE, 'latest-runtime.md'), doc);
    process.stdout.write(doc);
    log(`wrote ${relative(REPO, file)}`);
  } catch (e) {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    throw e;
  } finally {
    await killDetached();
    for (const a of agents) {
      const c = await a.connect().catch(() => undefined);
      if (c) await removeAll(c).catch(() => undefined);
      await a.stop();
    }
    await registry.stop();
    rmSync(base, { recursive: true, force: true });
    rmSync(shmRoot, { recursive: true, force: true });
    rmSync(ext4Root, { recursive: true, force: true });
    if (linksDir) rmSync(linksDir, { recursive: true, force: true });
    unregister();
  }
}

main()
  .catch((e) => {
    process.stderr.write(`runtime-bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await runCleanups().catch((e) => process.stderr.write(`runtime-bench: cleanup: ${String(e)}\n`));
  });
