import { ContainerStatsRequest, type ContainerStats } from '../../protocol';
import { flagBool, flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { formatList, table } from '../../client/format';

/** A terminal stream stops after this many readings (about an hour). */
const MAX_READINGS = 3600;
const BIN_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in 1024-based units, as `docker stats` prints memory: "1.52MiB". */
export function binarySize(bytes: number): string {
  let v = Math.max(0, bytes);
  let i = 0;
  while (v >= 1024 && i < BIN_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2)}${BIN_UNITS[i]}`;
}

export function statsRows(list: readonly ContainerStats[]): string[][] {
  return list.map((s) => [
    s.Id.slice(0, 12),
    s.Name,
    `${s.CPUPercent.toFixed(2)}%`,
    `${binarySize(s.MemUsage)} / ${binarySize(s.MemLimit)}`,
    `${s.MemPercent.toFixed(2)}%`,
    String(s.Pids),
  ]);
}

export const stats: Command = {
  name: 'stats',
  summary: "Show containers' CPU, memory and pids use (running ones; one reading with --no-stream)",
  operands: '[CONTAINER...]',
  minArgs: 0,
  maxArgs: Infinity,
  flags: [
    { name: 'no-stream', type: 'boolean', help: 'Print one reading and exit (always so when stdout is not a terminal)' },
    FORMAT_FLAG,
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const format = flagString(p, 'format');
    const readings = flagBool(p, 'no-stream') || !io.stdoutIsTTY || format === 'json' ? 1 : MAX_READINGS;
    let stop = false;
    const off = io.onInterrupt(() => (stop = true));
    try {
      for (let n = 0; n < readings && !stop; n++) {
        const list = await client.request(ContainerStatsRequest.type, { containers: p.args, intervalMs: 1000 });
        if (readings > 1) io.stdout('\x1b[2J\x1b[H');
        if (format) {
          const items = list.map((s) => ({
            ...s,
            ID: s.Id.slice(0, 12),
            CPUPerc: `${s.CPUPercent.toFixed(2)}%`,
            MemPerc: `${s.MemPercent.toFixed(2)}%`,
            MemUsageText: `${binarySize(s.MemUsage)} / ${binarySize(s.MemLimit)}`,
            PIDs: s.Pids,
          }));
          io.stdout(formatList(format, items, list));
        } else {
          io.stdout(table(['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS'], statsRows(list)));
        }
        if (readings > 1 && list.length === 0 && p.args.length > 0) break;
      }
    } finally {
      off();
    }
    return 0;
  },
};
