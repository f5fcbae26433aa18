/**
 * `container/stats`: `docker stats --no-stream` figures from the containers' cgroups. CPU % needs
 * two readings: every container is sampled, the agent waits `intervalMs` once, samples again and
 * answers. Bounded by construction: no stream, at most 5 s.
 */
import type { ContainerStats, StatsParams } from '../../../protocol';
import { BerthError, ErrorCode } from '../../errors';
import type { CgroupStats, ContainerCgroup } from '../cgroups';
import type { ContainerRecord, ContainerService } from './service';
import { isGoneError } from '../cgroups/fs';

export const DEFAULT_INTERVAL_MS = 1000;
export const MAX_INTERVAL_MS = 5000;

/** CPU percent of one CPU between two readings `ms` apart, rounded to hundredths. */
export function cpuPercent(before: number, after: number, ms: number): number {
  if (ms <= 0 || after < before) return 0;
  return Math.round(((after - before) / (ms * 1e6)) * 100 * 100) / 100;
}

/** `container/stats`. */
export async function containerStats(svc: ContainerService, p: StatsParams): Promise<ContainerStats[]> {
  const op = 'stats';
  const interval = p.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!Number.isFinite(interval) || interval < 0 || interval > MAX_INTERVAL_MS || (interval > 0 && interval < 100)) {
    throw new BerthError(ErrorCode.InvalidArgument, `${op}: "intervalMs" must be 0 or between 100 and ${MAX_INTERVAL_MS}`, {
      operation: op,
    });
  }
  const targets: { rec: ContainerRecord; cgroup: ContainerCgroup }[] = [];
  if (p.containers && p.containers.length > 0) {
    for (const ref of p.containers) {
      const rec = svc.find(ref, op);
      const { cgroup } = svc.runtimeOf(rec);
      if (!cgroup) throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is not running`, { operation: op });
      targets.push({ rec, cgroup });
    }
  } else {
    for (const { record: rec } of svc.views(false)) {
      const { cgroup } = svc.runtimeOf(rec);
      if (cgroup) targets.push({ rec, cgroup });
    }
  }
  const sample = (cg: ContainerCgroup): CgroupStats | undefined => {
    try {
      return cg.stats();
    } catch (e) {
      if (isGoneError(e)) return undefined; // stopped in between
      throw e;
    }
  };
  const first = targets.map((t) => sample(t.cgroup));
  const t0 = performance.now();
  if (interval > 0) await new Promise((r) => setTimeout(r, interval));
  const ms = interval > 0 ? performance.now() - t0 : 0;
  const out: ContainerStats[] = [];
  targets.forEach((t, i) => {
    const a = first[i];
    const b = sample(t.cgroup);
    if (!a || !b || !svc.runtimeOf(t.rec).running) return;
    out.push({
      Id: t.rec.id,
      Name: t.rec.name,
      CPUPercent: interval > 0 ? cpuPercent(a.cpuUsageNs, b.cpuUsageNs, ms) : 0,
      MemUsage: b.memoryBytes,
      MemLimit: b.memoryLimit,
      MemPercent: b.memoryLimit > 0 ? Math.round((b.memoryBytes / b.memoryLimit) * 100 * 100) / 100 : 0,
      Pids: b.pids,
      CpuUsageNs: b.cpuUsageNs,
      Read: new Date().toISOString(),
    });
  });
  return out;
}
