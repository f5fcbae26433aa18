import { ImageHistoryRequest } from '../../protocol';
import { flagBool, flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { ellipsis, formatList, humanSize, relativeAge, shortId, table } from '../../client/format';

export const history: Command = {
  name: 'history',
  summary: 'Show the build steps of an image',
  operands: 'REF',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'no-trunc', type: 'boolean', help: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'Print only image IDs' },
    FORMAT_FLAG,
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const steps = await client.request(ImageHistoryRequest.type, { reference: p.args[0]! });
    const noTrunc = flagBool(p, 'no-trunc');
    const id = (s: string) => (noTrunc || s === '<missing>' ? s : shortId(s));
    const format = flagString(p, 'format');
    if (format) {
      io.stdout(
        formatList(
          format,
          steps.map((s) => ({ ...s, ID: id(s.Id), CreatedSince: relativeAge(s.Created, io.now()) })),
          steps,
        ),
      );
      return 0;
    }
    if (flagBool(p, 'quiet')) {
      io.stdout(steps.map((s) => id(s.Id) + '\n').join(''));
      return 0;
    }
    const rows = steps.map((s) => [
      id(s.Id),
      relativeAge(s.Created, io.now()),
      noTrunc ? s.CreatedBy : ellipsis(s.CreatedBy.replace(/\s+/g, ' '), 45),
      humanSize(s.Size),
      s.Comment,
    ]);
    io.stdout(table(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], rows));
    return 0;
  },
};
