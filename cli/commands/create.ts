import type { Command } from '../context';
import { CREATE_FLAGS, createParams, createPulling } from '../containers';

export const create: Command = {
  name: 'create',
  summary: 'Create a container without starting it',
  operands: 'IMAGE [COMMAND] [ARG...]',
  minArgs: 1,
  maxArgs: Infinity,
  stopAtOperand: true,
  flags: CREATE_FLAGS,
  async run(ctx, p) {
    const client = await ctx.connect();
    const { Id } = await createPulling(client, ctx.io, createParams(p, ctx.io));
    ctx.io.stdout(`${Id}\n`);
    return 0;
  },
};
