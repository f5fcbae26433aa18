import { ResponseError } from 'vscode-jsonrpc/node';
import { RemoveImageRequest } from '../../protocol';
import { flagBool } from '../args';
import { errorLine, type Command } from '../context';
import { familiarRef } from '../format';

export const rmi: Command = {
  name: 'rmi',
  summary: 'Remove images (tags, and layers nothing else uses)',
  operands: 'REF [REF...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [{ name: 'force', short: 'f', type: 'boolean', help: 'Remove the image even when several tags point at it' }],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const force = flagBool(p, 'force');
    let failed = false;
    for (const reference of p.args) {
      try {
        const r = await client.request(RemoveImageRequest.type, { reference, force });
        io.stdout(r.Untagged.map((t) => `Untagged: ${familiarRef(t)}\n`).join('') + r.Deleted.map((d) => `Deleted: ${d}\n`).join(''));
      } catch (err) {
        if (!(err instanceof ResponseError)) throw err;
        io.stderr(errorLine(err) + '\n');
        failed = true;
      }
    }
    return failed ? 1 : 0;
  },
};
