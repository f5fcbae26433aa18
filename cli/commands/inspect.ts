import { ResponseError } from 'vscode-jsonrpc/node';
import { ErrorCode, InspectImageRequest, type ImageInspect } from '../../protocol';
import { flagString } from '../args';
import { FORMAT_FLAG, errorLine, type Command } from '../context';
import { formatList, toJson } from '../format';

export const inspect: Command = {
  name: 'inspect',
  summary: 'Show the details of images, as JSON',
  operands: 'REF [REF...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [FORMAT_FLAG],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const found: ImageInspect[] = [];
    const errors: string[] = [];
    for (const reference of p.args) {
      try {
        found.push(await client.request(InspectImageRequest.type, { reference }));
      } catch (err) {
        if (!(err instanceof ResponseError)) throw err;
        errors.push(err.code === ErrorCode.NotFound ? `Error: No such image: ${reference}` : errorLine(err));
      }
    }
    const format = flagString(p, 'format');
    io.stdout(format && format !== 'json' ? formatList(format, found) : toJson(found) + '\n');
    for (const e of errors) io.stderr(e + '\n');
    return errors.length ? 1 : 0;
  },
};
