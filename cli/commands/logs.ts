import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { ContainerLogsRequest, LogLineNotification } from '../../protocol';
import { flagBool, flagString, UsageError } from '../args';
import type { Command } from '../context';
import { printLine } from '../containers';

/** `--since`: RFC 3339, seconds since the epoch, or a duration back from now ("10m", "1h30m", "45s"). */
export function parseSince(s: string, now: number): number {
  if (/^[0-9]+(\.[0-9]+)?$/.test(s)) return Number(s);
  const d = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+(?:\.[0-9]+)?)s)?$/.exec(s);
  if (d && s !== '') return (now - ((Number(d[1] ?? 0) * 60 + Number(d[2] ?? 0)) * 60 + Number(d[3] ?? 0)) * 1000) / 1000;
  const t = Date.parse(s);
  if (!Number.isNaN(t)) return t / 1000;
  throw new UsageError(
    `invalid value "${s}" for --since: want a time (2024-01-02T15:04:05Z), seconds since the epoch, or a duration (10m)`,
  );
}

export const logs: Command = {
  name: 'logs',
  summary: "Print a container's output (stdout to stdout, stderr to stderr)",
  operands: 'CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'follow', short: 'f', type: 'boolean', help: 'Keep printing new output until the container stops' },
    { name: 'tail', short: 'n', type: 'string', value: 'N', help: 'Only the last N lines ("all" by default)' },
    { name: 'since', type: 'string', value: 'TIME', help: 'Only lines since a time or duration (10m)' },
    { name: 'timestamps', short: 't', type: 'boolean', help: 'Prefix each line with its time' },
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const container = p.args[0]!;
    const tailFlag = flagString(p, 'tail');
    let tail: number | undefined;
    if (tailFlag !== undefined && tailFlag !== 'all') {
      tail = Number(tailFlag);
      if (!/^[0-9]+$/.test(tailFlag)) throw new UsageError(`invalid value "${tailFlag}" for --tail: want a number or "all"`);
    }
    const sinceFlag = flagString(p, 'since');
    const since = sinceFlag !== undefined ? parseSince(sinceFlag, io.now()) : undefined;
    const timestamps = flagBool(p, 'timestamps');
    const client = await ctx.connect();
    if (!flagBool(p, 'follow')) {
      const r = await client.request(ContainerLogsRequest.type, { container, tail, since });
      for (const l of r.lines) printLine(io, l, timestamps);
      return 0;
    }
    const token = `berth-cli-logs-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const sub = client.onNotification(LogLineNotification.type, (n) => {
      if (n.token === token) printLine(io, n.line, timestamps);
    });
    const cts = new CancellationTokenSource();
    let interrupted = false;
    const off = io.onInterrupt(() => {
      interrupted = true;
      cts.cancel();
    });
    try {
      await client.request(ContainerLogsRequest.type, { container, tail, since, follow: true, token }, cts.token);
      return interrupted ? 130 : 0;
    } catch (err) {
      if (interrupted) return 130;
      throw err;
    } finally {
      off();
      sub.dispose();
      cts.dispose();
    }
  },
};
