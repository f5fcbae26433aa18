import { RemoveImageRequest } from '../../protocol';
import { flagBool } from '../args';
import { eachOperand, type Command } from '../context';
import { familiarRef } from '../../client/format';

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
    return eachOperand(io, p.args, async (reference) => {
      const r = await client.request(RemoveImageRequest.type, { reference, force });
      io.stdout(r.Untagged.map((t) => `Untagged: ${familiarRef(t)}\n`).join('') + r.Deleted.map((d) => `Deleted: ${d}\n`).join(''));
    });
  },
};
