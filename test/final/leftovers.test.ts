/**
 * The last check of `npm test`: after every other test file has finished, nothing the tests
 * started is left on the machine: no mount, cgroup, network namespace, bridge, veth, iptables
 * rule, container process, monitor or temporary directory. scripts/test.sh lists this file last;
 * it waits (bounded) until the runner's other test processes are gone before it looks.
 *
 * Only test artifacts count: test stores live in /tmp/berth-*, test bridges are named bt<N>. A
 * real agent's containers (under /var/lib/berth or $BERTH_ROOT) are not the tests' business.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const REAL_ROOTS = [process.env.BERTH_ROOT, '/var/lib/berth'].filter((r): r is string => !!r);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function realContainer(id: string): boolean {
  return REAL_ROOTS.some((r) => existsSync(join(r, 'containers', id)));
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The runner's other test processes (its children, not us), still running. */
function siblings(): number[] {
  return pids().filter((p) => p !== process.pid && Number(read(`/proc/${p}/stat`).split(') ')[1]?.split(' ')[1]) === process.ppid);
}

/** When the runner started, in ms since the epoch (what is older is not this run's). */
function runnerStart(): number {
  const ticks = Number(read(`/proc/${process.ppid}/stat`).split(') ')[1]?.split(' ')[19]);
  const boot = Number(/^btime (\d+)$/m.exec(read('/proc/stat'))?.[1]);
  return Number.isFinite(ticks) && Number.isFinite(boot) ? boot * 1000 + (ticks / 100) * 1000 : Date.now();
}

describe('nothing left behind by the test suite', () => {
  it('once the other test files are done, no test mount, cgroup, namespace, link, rule, process or temp dir remains', async () => {
    // Bounded: the suite's own budget is well under this.
    const end = Date.now() + 45 * 60_000;
    while (siblings().length > 0) {
      if (Date.now() > end) assert.fail(`other test processes still run after 45 minutes: ${siblings().join(' ')}`);
      await sleep(500);
    }
    const since = runnerStart() - 1000;
    const left: string[] = [];

    for (const line of read('/proc/self/mountinfo').split('\n')) {
      if (/\/tmp\/berth-/.test(line)) left.push(`mount: ${line}`);
    }

    for (const top of readdirSync('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', top, 'berth');
      const dirs = existsSync(dir) ? [dir] : top === 'berth' ? [join('/sys/fs/cgroup', 'berth')] : [];
      for (const d of dirs) {
        for (const id of readdirSync(d)) if (/^[0-9a-f]{64}$/.test(id) && !realContainer(id)) left.push(`cgroup: ${join(d, id)}`);
      }
    }

    for (const pid of pids()) {
      const cg = read(`/proc/${pid}/cgroup`);
      const m = /\/berth\/([0-9a-f]{64})/.exec(cg);
      if (m && !realContainer(m[1]))
        left.push(`process ${pid} (${read(`/proc/${pid}/comm`).trim()}) in the cgroup of container ${m[1].slice(0, 12)}`);
      let exe = '';
      try {
        exe = readlinkSync(`/proc/${pid}/exe`);
      } catch {
        continue;
      }
      if (!/berth-(helper|init)/.test(exe)) continue;
      let fds: string[] = [];
      try {
        fds = readdirSync(`/proc/${pid}/fd`).map((f) => {
          try {
            return readlinkSync(`/proc/${pid}/fd/${f}`);
          } catch {
            return '';
          }
        });
      } catch {
        /* gone */
      }
      if (fds.some((f) => f.startsWith('/tmp/berth-')))
        left.push(`process ${pid} (${exe}) holds ${fds.filter((f) => f.startsWith('/tmp/berth-')).join(', ')}`);
    }

    if (existsSync('/run/netns')) {
      for (const ns of readdirSync('/run/netns')) {
        if (!/^berth-[0-9a-f]{12}$/.test(ns)) continue;
        const prefix = ns.slice(6);
        const real = REAL_ROOTS.some(
          (r) => existsSync(join(r, 'containers')) && readdirSync(join(r, 'containers')).some((id) => id.startsWith(prefix)),
        );
        if (!real) left.push(`network namespace: /run/netns/${ns}`);
      }
    }
    for (const link of readdirSync('/sys/class/net')) {
      if (/^bt\d+$/.test(link)) left.push(`test bridge: ${link}`);
      const master = (() => {
        try {
          return readlinkSync(`/sys/class/net/${link}/master`);
        } catch {
          return '';
        }
      })();
      if (/\/bt\d+$/.test(master)) left.push(`veth on a test bridge: ${link}`);
    }
    let rules = '';
    try {
      rules = execFileSync('iptables-save', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      /* no iptables: nothing of ours either */
    }
    for (const r of rules.split('\n')) if (/berth:bt\d+/.test(r)) left.push(`iptables rule: ${r}`);

    for (const d of readdirSync('/tmp')) {
      if (!d.startsWith('berth-')) continue;
      const st = statSync(join('/tmp', d), { throwIfNoEntry: false });
      if (st && st.mtimeMs >= since) left.push(`temporary directory of this run: /tmp/${d}`);
    }

    assert.deepEqual(left, [], `left behind by the tests:\n${left.join('\n')}`);
  });
});
