import { WaitContainerRequest } from '../../protocol';
import { eachOperand, type Command } from '../context';

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
    return eachOperand(io, p.args, async (container) => {
      const r = await client.request(WaitContainerRequest.type, { container });
      io.stdout(`${r.StatusCode}\n`);
    });
  },
};
