/**
 * The container start benchmark: running `/bin/true` with Berth against `crun run` and `runc run`
 * of the same root filesystem, alternated in one run.
 *
 * Set-up (untimed): the busybox test image (test/support/images.ts) is pushed to a Debian
 * `docker-registry` on 127.0.0.1 and pulled by two real agents (dist/berth.js, test/support/agent.ts):
 * one with its store in /tmp (ext4, where the tests put it), one with its store on tmpfs (/dev/shm).
 * The same layer blob is unpacked by the project's LayerUnpacker into the rootfs of two fresh OCI
 * bundles, one for crun and one for runc, with a config.json written here by hand.
 *
 * Tools, timed by this process (performance.now()):
 *   berth           create (cmd /bin/true, no memory/cpu/pids limits) + wait(next-exit, sent before
 *                   the start) + start + the wait's answer + remove, as JSON-RPC requests over the
 *                   agent's socket, one connection opened beforehand. Each request is also timed.
 *   crun run        `unshare -m --propagation private sh -c 'mount -t tmpfs none
 *                   /sys/fs/cgroup/unified && exec crun run --bundle B ID'`, spawn to exit (crun
 *                   refuses this hybrid-cgroup host otherwise; see /work/shared/ENVIRONMENT.md).
 *                   `run` without -d creates, starts, waits and deletes.
 *   unshare wrapper the same command line with `true` in place of crun: the wrapper's own cost.
 *   runc run        `runc run --bundle B ID`, spawn to exit.
 *   spawn true      `/bin/true` spawned from this process: the floor of any spawn-to-exit row.
 * Then 20 containers at once with each agent: all create+start concurrently, wait all, remove all.
 *
 * Usage: node --import tsx bench/start.ts [--iterations N] [--concurrent N] [--rounds N]
 *   (defaults 30, 20, 5). Writes bench/results/start-<date>.md and prints it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  CreateContainerRequest,
  ListContainersRequest,
  PullRequest,
  RemoveContainerRequest,
  StartContainerRequest,
  WaitContainerRequest,
} from '../protocol';
import { BUNDLE, REPO, startAgent, type TestAgent } from '../test/support/agent';
import { busyboxImage } from '../test/support/images';
import { pushImage } from '../test/support/push';
import { startRegistry } from '../test/support/registry';
import { registerCleanup, requireTools, runCleanups } from '../test/support/tmp';
import { WRAPPER, f1, leftovers, makeBundle, median, ms, sh, timedRun } from './common';

const RESULTS = join(__dirname, 'results');
const argv = process.argv.slice(2);
function intArg(name: string, env: string, def: number): number {
  const i = argv.indexOf(name);
  const n = Number(i >= 0 ? argv[i + 1] : (process.env[env] ?? def));
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} wants a positive integer, got ${n}`);
  return n;
}
const ITERATIONS = intArg('--iterations', 'BENCH_START_ITERATIONS', 30);
const CONCURRENT = intArg('--concurrent', 'BENCH_START_CONCURRENT', 20);
const ROUNDS = intArg('--rounds', 'BENCH_START_ROUNDS', 5);
/**
 * Berth's containers join no network by default here ("none": a namespace with loopback), as
 * the crun and runc bundles (a network namespace, nothing in it); BENCH_START_NETWORK=bridge
 * measures the default private network (veth, address, route) instead.
 */
const NETWORK = process.env.BENCH_START_NETWORK ?? 'none';
if (!['none', 'bridge', 'host'].includes(NETWORK)) throw new Error(`BENCH_START_NETWORK wants none, bridge or host, got ${NETWORK}`);

function log(msg: string): void {
  process.stderr.write(`[start-bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Berth over the socket
// ---------------------------------------------------------------------------------------------

interface BerthPhases {
  create: number;
  start: number;
  /** From the start's answer to the wait's answer (the exit, as the agent reports it). */
  exit: number;
  remove: number;
  total: number;
}

async function berthOnce(conn: MessageConnection, ref: string): Promise<BerthPhases> {
  const t0 = performance.now();
  const { Id } = await conn.sendRequest(CreateContainerRequest.type, { image: ref, cmd: ['/bin/true'], networkMode: NETWORK });
  const t1 = performance.now();
  const waited = conn.sendRequest(WaitContainerRequest.type, { container: Id, condition: 'next-exit' });
  await conn.sendRequest(StartContainerRequest.type, { container: Id });
  const t2 = performance.now();
  const r = await waited;
  const t3 = performance.now();
  await conn.sendRequest(RemoveContainerRequest.type, { container: Id });
  const t4 = performance.now();
  if (r.StatusCode !== 0) throw new Error(`berth: /bin/true exited with ${r.StatusCode}${r.Error ? ` (${r.Error})` : ''}`);
  return { create: t1 - t0, start: t2 - t1, exit: t3 - t2, remove: t4 - t3, total: t4 - t0 };
}

interface ConcurrentRound {
  /** When the last start answered, the last exit was reported, the last remove answered (ms from the first request). */
  started: number;
  exited: number;
  total: number;
}

async function berthConcurrent(conn: MessageConnection, ref: string, n: number): Promise<ConcurrentRound> {
  const t0 = performance.now();
  const runs = await Promise.all(
    Array.from({ length: n }, async () => {
      const { Id } = await conn.sendRequest(CreateContainerRequest.type, { image: ref, cmd: ['/bin/true'], networkMode: NETWORK });
      const waited = conn.sendRequest(WaitContainerRequest.type, { container: Id, condition: 'next-exit' });
      await conn.sendRequest(StartContainerRequest.type, { container: Id });
      return { Id, waited };
    }),
  );
  const started = ms(t0);
  const results = await Promise.all(runs.map((r) => r.waited));
  const exited = ms(t0);
  await Promise.all(runs.map((r) => conn.sendRequest(RemoveContainerRequest.type, { container: r.Id })));
  const total = ms(t0);
  const bad = results.filter((r) => r.StatusCode !== 0);
  if (bad.length) throw new Error(`berth: ${bad.length} of ${n} concurrent containers exited non-zero: ${JSON.stringify(bad[0])}`);
  return { started, exited, total };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

type Tool = 'berth-ext4' | 'berth-tmpfs' | 'crun' | 'wrapper' | 'runc' | 'spawn';
const TOOLS: Tool[] = ['berth-ext4', 'berth-tmpfs', 'crun', 'wrapper', 'runc', 'spawn'];
const LABEL: Record<Tool, string> = {
  'berth-ext4': '**berth** create+start+wait+remove (socket; store on ext4 /tmp)',
  'berth-tmpfs': '**berth** create+start+wait+remove (socket; store on tmpfs /dev/shm)',
  crun: '**crun run** (inside the unshare wrapper)',
  wrapper: 'unshare wrapper alone (`exec true` in place of crun)',
  runc: '**runc run**',
  spawn: 'spawn `/bin/true` (floor of a spawned row)',
};

async function main(): Promise<void> {
  requireTools(['docker-registry', 'crun', 'runc', 'unshare', 'mount', 'tar', 'gzip']);
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run "npm run build"`);
  const startedAt = performance.now();
  const registry = await startRegistry();
  const base = mkdtempSync('/tmp/berth-start-bench-');
  const shmRoot = mkdtempSync('/dev/shm/berth-start-bench-');
  const unregister = registerCleanup(() => {
    rmSync(base, { recursive: true, force: true });
    rmSync(shmRoot, { recursive: true, force: true });
  });
  const agents: TestAgent[] = [];
  try {
    const img = await busyboxImage();
    await pushImage(registry, 'bench/box', 'v1', img);
    const ref = `${registry.host}/bench/box:v1`;

    const ext4Agent = await startAgent();
    agents.push(ext4Agent);
    const tmpfsAgent = await startAgent({ root: shmRoot });
    agents.push(tmpfsAgent);
    const conns = { 'berth-ext4': await ext4Agent.connect(), 'berth-tmpfs': await tmpfsAgent.connect() };
    for (const c of Object.values(conns)) await c.sendRequest(PullRequest.type, { reference: ref });
    log(`pulled ${ref} into ${ext4Agent.root} (ext4) and ${tmpfsAgent.root} (tmpfs)`);

    const prefix = `bsb${process.pid}-`;
    const crunBundle = await makeBundle(base, `${prefix}crun`, img.layers[0].bytes);
    const runcBundle = await makeBundle(base, `${prefix}runc`, img.layers[0].bytes);
    log(`bundles in ${base}`);

    let seq = 0;
    const phases: Record<'berth-ext4' | 'berth-tmpfs', BerthPhases[]> = { 'berth-ext4': [], 'berth-tmpfs': [] };
    const RUN: Record<Tool, () => Promise<number>> = {
      'berth-ext4': async () => {
        const p = await berthOnce(conns['berth-ext4'], ref);
        phases['berth-ext4'].push(p);
        return p.total;
      },
      'berth-tmpfs': async () => {
        const p = await berthOnce(conns['berth-tmpfs'], ref);
        phases['berth-tmpfs'].push(p);
        return p.total;
      },
      crun: () => timedRun('unshare', [...WRAPPER, 'crun', 'run', '--bundle', crunBundle, `${prefix}${++seq}`]),
      wrapper: () => timedRun('unshare', [...WRAPPER, 'true']),
      runc: () => timedRun('runc', ['run', '--bundle', runcBundle, `${prefix}${++seq}`]),
      spawn: () => timedRun('/bin/true', []),
    };

    const samples: Record<Tool, number[]> = { 'berth-ext4': [], 'berth-tmpfs': [], crun: [], wrapper: [], runc: [], spawn: [] };
    // Iteration 0 is the warm-up; then the tools take turns, the order rotating each iteration.
    for (let i = 0; i <= ITERATIONS; i++) {
      const order = TOOLS.map((_, k) => TOOLS[(k + i) % TOOLS.length]);
      for (const tool of order) {
        const t = await RUN[tool]();
        if (i > 0) samples[tool].push(t);
      }
      if (i === 0) {
        for (const k of ['berth-ext4', 'berth-tmpfs'] as const) phases[k].length = 0;
        log('warm-up done');
      } else if (i % 10 === 0) log(`iteration ${i}/${ITERATIONS}`);
    }

    // Concurrent starts: one warm-up round per agent, then ROUNDS rounds, agents alternating.
    const concurrent: Record<'berth-ext4' | 'berth-tmpfs', ConcurrentRound[]> = { 'berth-ext4': [], 'berth-tmpfs': [] };
    for (let r = 0; r <= ROUNDS; r++) {
      for (const k of r % 2 ? (['berth-tmpfs', 'berth-ext4'] as const) : (['berth-ext4', 'berth-tmpfs'] as const)) {
        const round = await berthConcurrent(conns[k], ref, CONCURRENT);
        if (r > 0) concurrent[k].push(round);
      }
    }
    log(`${CONCURRENT} at once: ${ROUNDS} rounds per agent done`);

    // Nothing may be left behind.
    for (const [k, c] of Object.entries(conns)) {
      const left = await c.sendRequest(ListContainersRequest.type, { all: true });
      if (left.length) throw new Error(`${k}: ${left.length} containers left`);
    }
    const left = leftovers(prefix);
    if (left.length) throw new Error(`crun/runc left ${left.join(', ')}`);

    // ------------------------------------------------------------------ the report
    const crunMedian = median(samples.crun);
    const rows = TOOLS.map((t) => {
      const xs = samples[t];
      return `| ${LABEL[t]} | ${f1(median(xs))} | ${f1(Math.min(...xs))} | ${f1(Math.max(...xs))} | ${(median(xs) / crunMedian).toFixed(2)}× |`;
    });
    const phaseRows = (['berth-ext4', 'berth-tmpfs'] as const).map((k) => {
      const p = phases[k];
      const m = (f: keyof BerthPhases) => f1(median(p.map((x) => x[f])));
      return `| ${k === 'berth-ext4' ? 'ext4 /tmp' : 'tmpfs /dev/shm'} | ${m('create')} | ${m('start')} | ${m('exit')} | ${m('remove')} | ${m('total')} |`;
    });
    const concRows = (['berth-ext4', 'berth-tmpfs'] as const).map((k) => {
      const c = concurrent[k];
      const col = (f: keyof ConcurrentRound) => f1(median(c.map((x) => x[f])));
      const tot = c.map((x) => x.total);
      return (
        `| ${k === 'berth-ext4' ? 'ext4 /tmp' : 'tmpfs /dev/shm'} | ${col('started')} | ${col('exited')} | ${col('total')} | ` +
        `${f1(Math.min(...tot))} | ${f1(Math.max(...tot))} | ${f1(median(tot) / CONCURRENT)} |`
      );
    });
    const cpu = cpus();
    const date = new Date().toISOString().slice(0, 10);
    const doc = [
      `# Container start benchmark, ${date}`,
      '',
      `Generated by \`bench/start.ts\`: ${ITERATIONS} timed iterations per row after one warm-up, the rows taking turns in ` +
        'an order that rotates each iteration, all in one process. Times in ms, ratios are of medians. ' +
        "Berth rows: timed by the benchmark process around JSON-RPC requests over the agent's Unix socket " +
        `(\`container/create\` with cmd \`/bin/true\`, network \`${NETWORK}\`, no memory/cpu/pids limits, \`container/wait\` next-exit sent before ` +
        '`container/start`, then `container/remove`), so they include the JSON-RPC round trips but no process spawn. ' +
        'crun/runc rows: spawn to exit of `crun run`/`runc run` (create, start, wait, delete) of an OCI bundle whose rootfs is ' +
        "the same busybox layer, unpacked by Berth's LayerUnpacker; crun runs inside `unshare -m --propagation private sh -c " +
        "'mount -t tmpfs none /sys/fs/cgroup/unified && exec crun …'` (this host has hybrid cgroups), whose own cost is the " +
        '"unshare wrapper alone" row.',
      '',
      '| tool | median ms | min ms | max ms | × crun |',
      '|---|---:|---:|---:|---:|',
      ...rows,
      '',
      `crun net of the wrapper (difference of medians): ${f1(crunMedian - median(samples.wrapper))} ms. ` +
        `runc net of a bare spawn: ${f1(median(samples.runc) - median(samples.spawn))} ms.`,
      '',
      '## Berth, per request (medians, ms)',
      '',
      "| store | create | start (until exec'd) | start answer → exit reported | remove | total |",
      '|---|---:|---:|---:|---:|---:|',
      ...phaseRows,
      '',
      `## ${CONCURRENT} containers at once (Berth, ${ROUNDS} rounds after a warm-up, ms)`,
      '',
      `All ${CONCURRENT} create+start chains sent concurrently on one connection, then all waits, then all removes. ` +
        'Times from the first request: when the last start answered, the last exit was reported, the last remove answered.',
      '',
      '| store | all started (median) | all exited (median) | all removed: median | min | max | per container |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...concRows,
      '',
      '## Versions',
      '',
      `- date: ${new Date().toISOString()}`,
      `- berth: git ${sh('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])}${sh('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : ''}, dist/berth.js; node ${process.version}`,
      `- ${sh('crun', ['--version']).split('\n')[0]}; ${sh('runc', ['--version']).split('\n')[0]}; ${sh('unshare', ['--version'])}`,
      `- kernel: ${sh('uname', ['-sr'])}; CPU: ${cpu.length} × ${cpu[0]?.model ?? '?'}; RAM ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      `- cgroups: hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)`,
      '',
      `Total bench time: ${(ms(startedAt) / 1000).toFixed(0)} s.`,
      '',
    ].join('\n');
    mkdirSync(RESULTS, { recursive: true });
    const file = join(RESULTS, `start-${date}.md`);
    writeFileSync(file, doc);
    // run.sh appends this copy to bench/results/latest.md after the pull benchmark.
    mkdirSync(join(__dirname, '.cache'), { recursive: true });
    writeFileSync(join(__dirname, '.cache', 'latest-start.md'), doc);
    process.stdout.write(doc);
    log(`wrote ${relative(REPO, file)}`);
  } finally {
    for (const a of agents) await a.stop();
    await registry.stop();
    rmSync(base, { recursive: true, force: true });
    rmSync(shmRoot, { recursive: true, force: true });
    unregister();
  }
}

main()
  .catch((e) => {
    process.stderr.write(`start-bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await runCleanups().catch((e) => process.stderr.write(`start-bench: cleanup: ${String(e)}\n`));
  });
