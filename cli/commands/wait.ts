import { ResponseError } from 'vscode-jsonrpc/node';
import { WaitContainerRequest } from '../../protocol';
import { errorLine, type Command } from '../context';

export const wait: Command = {
  name: 'wait',
  summary: 'Wait until containers stop, then print their exit codes',
  operands: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    let failed = false;
    for (const container of p.args) {
      try {
        const r = await client.request(WaitContainerRequest.type, { container });
        io.stdout(`${r.StatusCode}\n`);
      } catch (err) {
        if (!(err instanceof ResponseError)) throw err;
        io.stderr(errorLine(err) + '\n');
        failed = true;
      }
    }
    return failed ? 1 : 0;
  },
};
