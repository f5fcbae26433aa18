import { KillContainerRequest } from '../../protocol';
import { flagString } from '../args';
import { eachOperand, type Command } from '../context';

export const kill: Command = {
  name: 'kill',
  summary: 'Send a signal to running containers (default SIGKILL)',
  operands: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [{ name: 'signal', short: 's', type: 'string', value: 'SIGNAL', help: 'Signal to send (KILL, TERM, 15...)' }],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const signal = flagString(p, 'signal');
    return eachOperand(io, p.args, async (container) => {
      await client.request(KillContainerRequest.type, { container, signal });
      io.stdout(`${container}\n`);
    });
  },
};
