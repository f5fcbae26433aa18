import { ResponseError } from 'vscode-jsonrpc/node';
import { StartContainerRequest } from '../../protocol';
import { flagBool, UsageError } from '../args';
import { errorLine, type Command } from '../context';
import { startAttached } from '../containers';

export const start: Command = {
  name: 'start',
  summary: 'Start stopped containers',
  operands: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [{ name: 'attach', short: 'a', type: 'boolean', help: "Print the container's output until it exits, and exit with its code" }],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    if (flagBool(p, 'attach')) {
      if (p.args.length > 1) throw new UsageError('you cannot attach to more than one container');
      return startAttached(client, io, p.args[0]!);
    }
    let failed = false;
    for (const container of p.args) {
      try {
        await client.request(StartContainerRequest.type, { container });
        io.stdout(`${container}\n`);
      } catch (err) {
        if (!(err instanceof ResponseError)) throw err;
        io.stderr(errorLine(err) + '\n');
        failed = true;
      }
    }
    return failed ? 1 : 0;
  },
};
