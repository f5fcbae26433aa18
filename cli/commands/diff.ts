import { ContainerDiffRequest } from '../../protocol';
import { flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { formatList } from '../../client/format';

const KIND = ['C', 'A', 'D'] as const;

export const diff: Command = {
  name: 'diff',
  summary: "Show a container's changes to its image's files: A added, C changed, D deleted",
  operands: 'CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  flags: [FORMAT_FLAG],
  async run(ctx, p) {
    const client = await ctx.connect();
    const changes = await client.request(ContainerDiffRequest.type, { container: p.args[0]! });
    const format = flagString(p, 'format');
    if (format) {
      ctx.io.stdout(
        formatList(
          format,
          changes.map((c) => ({ ...c, KindName: KIND[c.Kind] })),
          changes,
        ),
      );
      return 0;
    }
    ctx.io.stdout(changes.map((c) => `${KIND[c.Kind]} ${c.Path}\n`).join(''));
    return 0;
  },
};
