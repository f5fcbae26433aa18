import { ErrorCodes } from 'vscode-jsonrpc/node';
import { isAgentError } from '../../client/errors';
import { ErrorCode, InspectContainerRequest, InspectImageRequest, type ContainerInspect, type ImageInspect } from '../../protocol';
import { flagString } from '../args';
import { FORMAT_FLAG, errorLine, type Command } from '../context';
import { formatList, toJson } from '../../client/format';

export const inspect: Command = {
  name: 'inspect',
  summary: 'Show the details of containers or images, as JSON (containers are looked for first)',
  operands: 'CONTAINER|IMAGE [...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [FORMAT_FLAG],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const found: (ContainerInspect | ImageInspect)[] = [];
    const errors: string[] = [];
    for (const reference of p.args) {
      try {
        // Docker's order: a container by ID, name or ID prefix, else an image.
        try {
          found.push(await client.request(InspectContainerRequest.type, { container: reference }));
          continue;
        } catch (err) {
          // An agent without containers (MethodNotFound) is asked about images only.
          if (!isAgentError(err, ErrorCode.NotFound, ErrorCodes.MethodNotFound)) throw err;
        }
        found.push(await client.request(InspectImageRequest.type, { reference }));
      } catch (err) {
        if (!isAgentError(err)) throw err;
        errors.push(err.code === ErrorCode.NotFound ? `Error: No such object: ${reference}` : errorLine(err));
      }
    }
    const format = flagString(p, 'format');
    io.stdout(format && format !== 'json' ? formatList(format, found) : toJson(found) + '\n');
    for (const e of errors) io.stderr(e + '\n');
    return errors.length ? 1 : 0;
  },
};
