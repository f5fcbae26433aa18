import { resolve } from 'node:path';
import { LoadImagesRequest } from '../../protocol';
import { flagString } from '../args';
import { CliError, type Command } from '../context';
import { familiarRef } from '../../client/format';

export const load: Command = {
  name: 'load',
  summary: 'Import images from a docker-save or OCI archive',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [{ name: 'input', short: 'i', type: 'string', value: 'FILE', help: 'Read from FILE (required for now)' }],
  async run(ctx, p) {
    const input = flagString(p, 'input');
    if (!input) throw new CliError('berth load: use -i FILE (reading the archive from stdin is not supported yet)', 2);
    const client = await ctx.connect();
    const r = await client.request(LoadImagesRequest.type, { path: resolve(ctx.io.cwd, input) });
    const lines = r.tags.map((t) => `Loaded image: ${familiarRef(t)}\n`);
    for (const img of r.images) {
      if (!img.RepoTags.some((t) => r.tags.includes(t))) lines.push(`Loaded image ID: ${img.Id}\n`);
    }
    ctx.io.stdout(lines.join(''));
    return 0;
  },
};
