import { ResponseError } from 'vscode-jsonrpc/node';
import { RemoveContainerRequest } from '../../protocol';
import { flagBool } from '../args';
import { errorLine, type Command } from '../context';

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
    let failed = false;
    for (const container of p.args) {
      try {
        await client.request(RemoveContainerRequest.type, { container, force, ...(flagBool(p, 'volumes') ? { volumes: true } : {}) });
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
