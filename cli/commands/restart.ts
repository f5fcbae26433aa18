import { RestartContainerRequest } from '../../protocol';
import { eachOperand, type Command } from '../context';

export const restart: Command = {
  name: 'restart',
  summary: 'Restart containers: stop (stop signal, then SIGKILL after -t seconds), then start',
  operands: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [{ name: 'time', short: 't', type: 'number', value: 'SECONDS', help: 'Seconds to wait before killing (default 10)' }],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const t = p.flags.time;
    const timeout = typeof t === 'number' ? Math.max(0, t) : undefined;
    return eachOperand(io, p.args, async (container) => {
      await client.request(RestartContainerRequest.type, { container, timeout });
      io.stdout(`${container}\n`);
    });
  },
};
