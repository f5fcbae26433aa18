/**
 * Container cgroups on the real kernel (root): limits written and read back, a real process moved
 * in and counted, an OOM kill reported as such, a pids limit stopping a (bounded) fork loop, freeze,
 * kill, destroy and sweep. Runs on whatever layout the host has (this machine: hybrid).
 *
 * The v2 paths get a real run too: this file re-runs itself inside `unshare -m --propagation
 * private --fork`, mounts cgroup2 over /sys/fs/cgroup in that private mount namespace only (so
 * detection sees a pure-v2 host), and drives a group there. On a hybrid host that cgroup2 tree is
 * the same controller-less hierarchy as /sys/fs/cgroup/unified: memory/cpu/pids cannot be enabled
 * (they are bound to v1), so v2 limits are covered by the fake-fs unit tests only; the core v2
 * files (cgroup.procs, cgroup.events, cgroup.freeze, cgroup.kill, cpu.stat) are tested for real.
 *
 * Every group lives under a per-run prefix and every process is tracked by PID; both are removed
 * in `after`, even when a test fails.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, isBerthError } from '../../agent/errors';
import { type CgroupLayout, ContainerCgroup, detectCgroups, type Limits, realCgroupFs } from '../../agent/runtime/cgroups';
import { stopChild, trackChild } from '../support/tmp';

const MiB = 1024 * 1024;
const PREFIX = `berth-test-${process.pid}`;
const V2_CHILD_ENV = 'BERTH_CGROUPS_V2_CHILD';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves with the child's exit (code, signal), or rejects after `ms`. */
function exited(child: ChildProcess, ms = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${ms} ms`)), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

/** Starts `sh -c script` that waits for a line on stdin first, so it can be put in a cgroup before it works. */
function gated(script: string): { child: ChildProcess; go: () => void; stderr: () => string } {
  const child = spawn('sh', ['-c', `read _go; ${script}`], { stdio: ['pipe', 'ignore', 'pipe'] });
  trackChild(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, go: () => child.stdin!.end('go\n'), stderr: () => err };
}

if (process.env[V2_CHILD_ENV]) {
  void v2Child().then(
    (out) => {
      process.stdout.write(JSON.stringify(out));
      process.exit(0);
    },
    (e: unknown) => {
      process.stdout.write(JSON.stringify({ fatal: String((e as Error)?.stack ?? e) }));
      process.exit(1);
    },
  );
} else {
  describe('cgroups on this host (root, real cgroupfs)', { skip: process.getuid?.() !== 0 ? 'needs root' : undefined }, () => {
    let layout: CgroupLayout;
    const groups: ContainerCgroup[] = [];
    const children: ChildProcess[] = [];

    const create = (name: string, limits: Limits): ContainerCgroup => {
      const cg = ContainerCgroup.create(layout, `${PREFIX}/${name}`, limits);
      groups.push(cg);
      return cg;
    };
    const track = (c: ChildProcess) => {
      children.push(c);
      return c;
    };

    before(() => {
      layout = detectCgroups();
    });

    after(async () => {
      for (const c of children) await stopChild(c, 100);
      for (const g of groups) {
        try {
          await g.killAll('SIGKILL');
        } catch {
          /* gone */
        }
        try {
          await g.destroy();
        } catch {
          /* reported by the sweep below */
        }
      }
      if (!layout) return;
      ContainerCgroup.sweep(layout, PREFIX);
      const roots = [...new Set(Object.values(layout.v1))];
      if (layout.unified) roots.push(layout.unified);
      const left: string[] = [];
      for (const r of roots) {
        for (const p of [`${r}/${PREFIX}-v2/x`, `${r}/${PREFIX}-v2`, `${r}/${PREFIX}`]) {
          if (!existsSync(p)) continue;
          try {
            realCgroupFs.rmdir(p);
          } catch {
            left.push(p);
          }
        }
      }
      assert.deepEqual(left, [], 'no cgroup left behind');
    });

    it('detects the layout (this machine: hybrid, v1 controllers, cgroup2 at /sys/fs/cgroup/unified)', () => {
      const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
      if (/ - cgroup cgroup .*\bmemory\b/.test(mountinfo) && / - cgroup2 /.test(mountinfo)) {
        assert.equal(layout.mode, 'hybrid');
        assert.ok(layout.v1.memory && layout.v1.pids && layout.v1.cpu && layout.unified);
        for (const c of ['memory', 'cpu', 'pids', 'cpuset']) assert.ok(!layout.v2Controllers.includes(c), `${c} is bound to v1`);
      }
      assert.ok(['v1', 'v2', 'hybrid'].includes(layout.mode));
    });

    it('writes the limits, takes a real process, counts it, kills it and is removed', async () => {
      const cg = create('limits', { memoryBytes: 64 * MiB, cpus: 0.5, pidsLimit: 20 });
      const r = (f: string) => readFileSync(f, 'utf8').trim();
      const name = `${PREFIX}/limits`;
      if (layout.mode === 'v2') {
        assert.equal(r(`${layout.unified}/${name}/memory.max`), String(64 * MiB));
        assert.equal(r(`${layout.unified}/${name}/cpu.max`), '50000 100000');
        assert.equal(r(`${layout.unified}/${name}/pids.max`), '20');
      } else {
        assert.equal(r(`${layout.v1.memory}/${name}/memory.limit_in_bytes`), String(64 * MiB));
        assert.equal(r(`${layout.v1.cpu}/${name}/cpu.cfs_quota_us`), '50000');
        assert.equal(r(`${layout.v1.cpu}/${name}/cpu.cfs_period_us`), '100000');
        assert.equal(r(`${layout.v1.pids}/${name}/pids.max`), '20');
        if (layout.v1.cpuset) {
          assert.equal(r(`${layout.v1.cpuset}/${name}/cpuset.cpus`), r(`${layout.v1.cpuset}/cpuset.cpus`));
          assert.equal(r(`${layout.v1.cpuset}/${name}/cpuset.mems`), r(`${layout.v1.cpuset}/cpuset.mems`));
        }
        if (layout.v1.devices) {
          const list = r(`${layout.v1.devices}/${name}/devices.list`);
          assert.ok(list.includes('c 1:3 rwm') && !list.includes('a *:* rwm'), list);
        }
      }

      const child = track(spawn('sleep', ['30'], { stdio: 'ignore' }));
      trackChild(child);
      cg.addProcess(child.pid!);
      const own = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8');
      assert.ok(own.split('\n').filter((l) => l.endsWith(`/${name}`)).length >= cg.procsFiles().length, own);
      assert.deepEqual(cg.pids(), [child.pid]);
      const s = cg.stats();
      assert.equal(s.pids, 1);
      assert.equal(s.memoryLimit, 64 * MiB);
      assert.ok(s.cpuUsageNs >= 0 && s.memoryBytes >= 0);

      await cg.freeze();
      if (layout.v1.freezer) assert.equal(r(`${layout.v1.freezer}/${name}/freezer.state`), 'FROZEN');
      await cg.thaw();

      await cg.killAll('SIGKILL');
      assert.equal((await exited(child)).signal, 'SIGKILL');
      await cg.destroy();
      for (const d of cg.dirs()) assert.ok(!existsSync(d), `${d} removed`);
    });

    it('an OOM kill is reported as such, and a normal exit is not', async () => {
      const cg = create('oom', { memoryBytes: 16 * MiB, memorySwapBytes: 16 * MiB });
      let fired = 0;
      const firedP = new Promise<void>((resolve) => cg.watchOom(() => (fired++, resolve())));
      const hog = gated(`exec python3 -c 'b = b"x" * (64 * 1024 * 1024); print(len(b))'`);
      track(hog.child);
      cg.addProcess(hog.child.pid!);
      hog.go();
      const res = await exited(hog.child);
      assert.equal(res.signal, 'SIGKILL', `expected an OOM kill, got ${JSON.stringify(res)}: ${hog.stderr()}`);
      assert.equal(cg.oomKilled(), true);
      if (layout.mode === 'v2' || layout.mode === 'hybrid') {
        // v2: memory.events; hybrid: the cgroup2 twin's cgroup.events (populated 0) then the v1 counter.
        await Promise.race([firedP, sleep(5000)]);
        assert.equal(fired, 1, 'watchOom fired without polling');
      }
      await cg.destroy();

      const ok = create('no-oom', { memoryBytes: 64 * MiB });
      const small = gated(`exec python3 -c 'b = b"x" * (4 * 1024 * 1024)'`);
      track(small.child);
      ok.addProcess(small.child.pid!);
      small.go();
      assert.deepEqual(await exited(small.child), { code: 0, signal: null }, small.stderr());
      assert.equal(ok.oomKilled(), false);
      await ok.destroy();
    });

    it('a pids limit of 5 stops a bounded fork loop', async () => {
      const cg = create('pids', { pidsLimit: 5 });
      // 10 background sleeps from one shell: the shell + 4 fit, the rest fail to fork.
      const loop = gated('i=0; while [ $i -lt 10 ]; do sleep 20 & i=$((i+1)); done; sleep 20');
      track(loop.child);
      cg.addProcess(loop.child.pid!);
      loop.go();
      const deadline = Date.now() + 5000;
      const forkFailed = /cannot fork|can't fork|resource temporarily unavailable/i;
      while (!forkFailed.test(loop.stderr()) && Date.now() < deadline) await sleep(50);
      assert.match(loop.stderr(), forkFailed, 'the shell reported a failed fork');
      const s = cg.stats();
      assert.ok(s.pids <= 5 && s.pids >= 2, `pids.current ${s.pids}`);
      if (layout.v1.pids) assert.match(readFileSync(`${layout.v1.pids}/${PREFIX}/pids/pids.events`, 'utf8'), /max [1-9]/);
      await cg.killAll('SIGKILL');
      await exited(loop.child);
      await cg.destroy(); // the orphaned sleeps must be gone too (destroy retries while they die)
      for (const d of cg.dirs()) assert.ok(!existsSync(d));
    });

    it('sweep removes leftover empty groups and leaves one with a live process', async () => {
      create('leftover-1', {});
      create('leftover-2', {});
      const busy = create('busy', {});
      const child = track(spawn('sleep', ['30'], { stdio: 'ignore' }));
      trackChild(child);
      busy.addProcess(child.pid!);
      const removed = ContainerCgroup.sweep(layout, PREFIX);
      assert.ok(
        removed.some((d) => d.endsWith(`${PREFIX}/leftover-1`)) && removed.some((d) => d.endsWith(`${PREFIX}/leftover-2`)),
        removed.join(' '),
      );
      assert.ok(!removed.some((d) => d.includes('/busy')));
      for (const d of busy.dirs()) assert.ok(existsSync(d));
      await busy.killAll('SIGKILL');
      await exited(child);
      await busy.destroy();
    });

    it(
      'v2 code paths on a real cgroup2 mount, in a private mount namespace',
      { skip: layout_isV2() ? 'host is pure v2: the tests above already drove v2' : undefined },
      async () => {
        const res = spawnSync('unshare', ['-m', '--propagation', 'private', '--fork', process.execPath, '--import', 'tsx', __filename], {
          env: { ...process.env, [V2_CHILD_ENV]: '1', BERTH_TEST_PREFIX: PREFIX, BERTH_PARENT_MNTNS: readlinkSync('/proc/self/ns/mnt') },
          encoding: 'utf8',
          timeout: 60_000,
        });
        let out: V2ChildReport & { fatal?: string };
        try {
          out = JSON.parse(res.stdout);
        } catch {
          assert.fail(`v2 child: status ${res.status}: ${res.stdout} ${res.stderr}`);
        }
        assert.equal(out.fatal, undefined, out.fatal);
        assert.equal(out.mode, 'v2', 'detection saw the stacked cgroup2 as a pure-v2 host');
        assert.equal(out.unified, '/sys/fs/cgroup');
        assert.ok(out.tracked, 'a real process joined the v2 group');
        assert.equal(out.pids, 1);
        assert.ok(out.frozen && out.thawed, 'cgroup.freeze + cgroup.events');
        assert.equal(out.killedBy, 'SIGKILL', 'cgroup.kill');
        assert.ok(out.destroyed);
        // Honest about what this host cannot do: no v2 memory/cpu/pids here.
        assert.match(out.memoryLimitError, /--memory needs the memory cgroup controller/);
        assert.deepEqual(out.enable, { memory: 'ENOENT', cpu: 'ENOENT', pids: 'ENOENT' });
        console.log(
          `v2 in a private mount namespace: controllers offered: [${out.controllers.join(' ')}]; +memory/+cpu/+pids refused with ENOENT`,
        );
      },
    );
  });
}

function layout_isV2(): boolean {
  try {
    return detectCgroups().mode === 'v2';
  } catch {
    return false;
  }
}

interface V2ChildReport {
  mode: string;
  unified?: string;
  controllers: string[];
  tracked: boolean;
  pids: number;
  frozen: boolean;
  thawed: boolean;
  killedBy: string | null;
  destroyed: boolean;
  memoryLimitError: string;
  enable: Record<string, string>;
}

/**
 * The child side of the v2 test: runs in its own mount namespace (checked), mounts cgroup2 over
 * /sys/fs/cgroup there, and drives a group through the v2 code paths.
 */
async function v2Child(): Promise<V2ChildReport> {
  const parentNs = process.env.BERTH_PARENT_MNTNS;
  const prefix = `${process.env.BERTH_TEST_PREFIX}-v2`;
  // Never mount on the host's table: refuse unless this is a different mount namespace.
  if (!parentNs || readlinkSync('/proc/self/ns/mnt') === parentNs) throw new Error('not in a private mount namespace; refusing to mount');
  const m = spawnSync('mount', ['-t', 'cgroup2', 'cgroup2', '/sys/fs/cgroup'], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`mount cgroup2: ${m.stderr}`);
  const layout = detectCgroups();
  const report: V2ChildReport = {
    mode: layout.mode,
    unified: layout.unified,
    controllers: layout.v2Controllers,
    tracked: false,
    pids: -1,
    frozen: false,
    thawed: false,
    killedBy: null,
    destroyed: false,
    memoryLimitError: '',
    enable: {},
  };
  if (layout.mode !== 'v2') return report;
  try {
    ContainerCgroup.create(layout, `${prefix}/mem`, { memoryBytes: 64 * MiB });
  } catch (e) {
    report.memoryLimitError = isBerthError(e, ErrorCode.System) ? e.message : String(e);
  }
  const cg = ContainerCgroup.create(layout, `${prefix}/x`, {});
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    for (const c of ['memory', 'cpu', 'pids']) {
      try {
        realCgroupFs.writeFile(`${layout.unified}/${prefix}/cgroup.subtree_control`, `+${c}`);
        report.enable[c] = 'enabled';
      } catch (e) {
        report.enable[c] = (e as NodeJS.ErrnoException).code ?? String(e);
      }
    }
    cg.addProcess(child.pid!);
    report.tracked = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').includes(`0::/${prefix}/x`);
    report.pids = cg.stats().pids;
    await cg.freeze();
    report.frozen = readFileSync(`${layout.unified}/${prefix}/x/cgroup.events`, 'utf8').includes('frozen 1');
    await cg.thaw();
    report.thawed = readFileSync(`${layout.unified}/${prefix}/x/cgroup.events`, 'utf8').includes('frozen 0');
    await cg.killAll('SIGKILL');
    report.killedBy = (await exited(child, 5000)).signal;
    await cg.destroy();
    report.destroyed = !existsSync(`${layout.unified}/${prefix}/x`);
  } finally {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
    await cg.destroy().catch(() => undefined);
    try {
      realCgroupFs.rmdir(`${layout.unified}/${prefix}`);
    } catch {
      /* the parent's cleanup reports it */
    }
  }
  return report;
}
