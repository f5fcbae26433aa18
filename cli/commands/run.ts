import { StartContainerRequest } from '../../protocol';
import { flagBool } from '../args';
import type { Command } from '../context';
import { requireTTY } from '../attach';
import { CREATE_FLAGS, createParams, createPulling, startAttached, startStreamed } from '../containers';

export const run: Command = {
  name: 'run',
  summary: 'Create and start a container (pulling its image when it is not local)',
  operands: 'IMAGE [COMMAND] [ARG...]',
  minArgs: 1,
  maxArgs: Infinity,
  stopAtOperand: true,
  flags: [{ name: 'detach', short: 'd', type: 'boolean', help: 'Run in the background and print the container ID' }, ...CREATE_FLAGS],
  async run(ctx, p) {
    const params = createParams(p, ctx.io);
    const tty = params.tty === true;
    const stdin = params.openStdin === true;
    const detach = flagBool(p, 'detach');
    if (tty && stdin && !detach) requireTTY();
    const client = await ctx.connect();
    const { Id } = await createPulling(client, ctx.io, params);
    if (detach) {
      await client.request(StartContainerRequest.type, { container: Id });
      ctx.io.stdout(`${Id}\n`);
      return 0;
    }
    if (tty || stdin) return startStreamed(client, ctx.io, Id, { tty, stdin });
    return startAttached(client, ctx.io, Id);
  },
};
