import { resolve } from 'node:path';
import { SaveImagesRequest } from '../../protocol';
import { flagString } from '../args';
import { CliError, type Command } from '../context';

export const save: Command = {
  name: 'save',
  summary: 'Write images to a docker-save tar archive',
  operands: 'REF [REF...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [{ name: 'output', short: 'o', type: 'string', value: 'FILE', help: 'Write to FILE (required for now)' }],
  async run(ctx, p) {
    const out = flagString(p, 'output');
    if (!out) {
      if (ctx.io.stdoutIsTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag', 2);
      throw new CliError('berth save: use -o FILE (writing the archive to stdout is not supported yet)', 2);
    }
    const client = await ctx.connect();
    await client.request(SaveImagesRequest.type, { references: p.args, path: resolve(ctx.io.cwd, out) });
    return 0;
  },
};
