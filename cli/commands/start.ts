import { InspectContainerRequest, StartContainerRequest } from '../../protocol';
import { requireTTY } from '../attach';
import { flagBool, UsageError } from '../args';
import { eachOperand, type Command } from '../context';
import { startAttached, startStreamed } from '../containers';

export const start: Command = {
  name: 'start',
  summary: 'Start stopped containers',
  operands: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [
    { name: 'attach', short: 'a', type: 'boolean', help: "Print the container's output until it exits, and exit with its code" },
    { name: 'interactive', short: 'i', type: 'boolean', help: "Attach the container's stdin (it must have been created with -i)" },
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    if (flagBool(p, 'attach')) {
      if (p.args.length > 1) throw new UsageError('you cannot attach to more than one container');
      const c = await client.request(InspectContainerRequest.type, { container: p.args[0]! });
      const tty = c.Config.Tty === true;
      const stdin = flagBool(p, 'interactive') && c.Config.OpenStdin === true;
      if (tty && stdin) requireTTY();
      if (tty || stdin) return startStreamed(client, io, c.Id, { tty, stdin });
      return startAttached(client, io, c.Id);
    }
    return eachOperand(io, p.args, async (container) => {
      await client.request(StartContainerRequest.type, { container });
      io.stdout(`${container}\n`);
    });
  },
};
