import { TagImageRequest } from '../../protocol';
import type { Command } from '../context';

export const tag: Command = {
  name: 'tag',
  summary: 'Point a new tag at an image',
  operands: 'SOURCE TARGET',
  minArgs: 2,
  maxArgs: 2,
  flags: [],
  async run(ctx, p) {
    const client = await ctx.connect();
    await client.request(TagImageRequest.type, { source: p.args[0]!, target: p.args[1]! });
    return 0;
  },
};
