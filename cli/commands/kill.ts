import { ResponseError } from 'vscode-jsonrpc/node';
import { KillContainerRequest } from '../../protocol';
import { flagString } from '../args';
import { errorLine, type Command } from '../context';

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
    let failed = false;
    for (const container of p.args) {
      try {
        await client.request(KillContainerRequest.type, { container, signal });
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
