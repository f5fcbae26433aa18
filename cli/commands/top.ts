import { ContainerTopRequest } from '../../protocol';
import { flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { formatList, table } from '../../client/format';

export const top: Command = {
  name: 'top',
  summary: 'Show the processes of a running container (host pids)',
  operands: 'CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  flags: [FORMAT_FLAG],
  async run(ctx, p) {
    const client = await ctx.connect();
    const res = await client.request(ContainerTopRequest.type, { container: p.args[0]! });
    const format = flagString(p, 'format');
    if (format) {
      const items = res.Processes.map((row) => Object.fromEntries(res.Titles.map((t, i) => [t, row[i]])));
      ctx.io.stdout(formatList(format, items, format === 'json' ? res : items));
      return 0;
    }
    ctx.io.stdout(table(res.Titles, res.Processes));
    return 0;
  },
};
