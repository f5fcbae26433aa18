import { ListContainersRequest, type ContainerSummary } from '../../protocol';
import { flagBool, flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { statusText } from '../../protocol';
import { ellipsis, formatList, relativeAge, table } from '../../client/format';

/** `ps`'s PORTS text: "127.0.0.1:8080->80/tcp, 443/tcp", as Docker words it (ranges not folded). */
export function formatPorts(ports: readonly ContainerSummary['Ports'][number][]): string {
  const sorted = [...ports].sort(
    (a, b) => a.PrivatePort - b.PrivatePort || a.Type.localeCompare(b.Type) || (a.PublicPort ?? 0) - (b.PublicPort ?? 0),
  );
  return sorted
    .map((p) =>
      p.PublicPort
        ? `${p.IP ? `${p.IP.includes(':') ? `[${p.IP}]` : p.IP}:` : ''}${p.PublicPort}->${p.PrivatePort}/${p.Type}`
        : `${p.PrivatePort}/${p.Type}`,
    )
    .join(', ');
}

/** The table's rows, Docker's columns. */
export function containerRows(list: readonly ContainerSummary[], opts: { noTrunc: boolean; now: number }): string[][] {
  return list.map((c) => [
    opts.noTrunc ? c.Id : c.Id.slice(0, 12),
    c.Image,
    JSON.stringify(opts.noTrunc ? c.Command : ellipsis(c.Command, 20)),
    relativeAge(c.Created, opts.now),
    statusText(c, opts.now),
    formatPorts(c.Ports ?? []),
    c.Names.map((n) => n.slice(1)).join(','),
  ]);
}

export const ps: Command = {
  name: 'ps',
  summary: 'List containers (running ones; -a for all)',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', type: 'boolean', help: 'Show all containers, not only running ones' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'Print only container IDs' },
    { name: 'no-trunc', type: 'boolean', help: "Don't truncate output" },
    FORMAT_FLAG,
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const list = await client.request(ListContainersRequest.type, { all: flagBool(p, 'all') });
    const noTrunc = flagBool(p, 'no-trunc');
    const format = flagString(p, 'format');
    if (format) {
      // Templates see the agent's ContainerSummary, plus the table's columns for convenience.
      const items = list.map((c) => ({
        ...c,
        ID: noTrunc ? c.Id : c.Id.slice(0, 12),
        Names: c.Names.map((n) => n.slice(1)).join(','),
        Status: statusText(c, io.now()),
        RunningFor: relativeAge(c.Created, io.now()),
        Ports: formatPorts(c.Ports ?? []),
        CreatedSince: relativeAge(c.Created, io.now()),
      }));
      io.stdout(formatList(format, items, list));
      return 0;
    }
    if (flagBool(p, 'quiet')) {
      io.stdout(list.map((c) => (noTrunc ? c.Id : c.Id.slice(0, 12)) + '\n').join(''));
      return 0;
    }
    io.stdout(
      table(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], containerRows(list, { noTrunc, now: io.now() })),
    );
    return 0;
  },
};
