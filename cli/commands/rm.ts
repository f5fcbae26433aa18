import { RemoveContainerRequest } from '../../protocol';
import { flagBool } from '../args';
import { eachOperand, type Command } from '../context';

export const rm: Command = {
  name: 'rm',
  summary: 'Remove containers (their writable layer, logs and cgroup)',
  operands: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [
    { name: 'force', short: 'f', type: 'boolean', help: 'Kill a running container first' },
    { name: 'volumes', short: 'v', type: 'boolean', help: 'Remove its anonymous volumes too' },
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const force = flagBool(p, 'force');
    return eachOperand(io, p.args, async (container) => {
      await client.request(RemoveContainerRequest.type, { container, force, ...(flagBool(p, 'volumes') ? { volumes: true } : {}) });
      io.stdout(`${container}\n`);
    });
  },
};
