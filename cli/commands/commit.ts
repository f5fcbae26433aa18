import { CommitContainerRequest } from '../../protocol';
import { flagString, flagStrings } from '../args';
import type { Command } from '../context';

export const commit: Command = {
  name: 'commit',
  summary: "Create a new image from a container's changes",
  operands: 'CONTAINER [REPOSITORY[:TAG]]',
  minArgs: 1,
  maxArgs: 2,
  flags: [
    { name: 'author', short: 'a', type: 'string', value: 'NAME', help: 'Author (e.g. "Jane Doe <jane@example.com>")' },
    { name: 'message', short: 'm', type: 'string', value: 'TEXT', help: 'Commit message' },
    {
      name: 'change',
      short: 'c',
      type: 'strings',
      value: 'INSTRUCTION',
      help: 'Apply CMD, ENTRYPOINT, ENV, LABEL, WORKDIR, USER, EXPOSE or STOPSIGNAL to the image',
    },
    { name: 'pause', short: 'p', type: 'boolean', help: 'Pause the container during commit (default true; --pause=false not to)' },
  ],
  async run(ctx, p) {
    const client = await ctx.connect();
    const res = await client.request(CommitContainerRequest.type, {
      container: p.args[0]!,
      reference: p.args[1],
      author: flagString(p, 'author'),
      comment: flagString(p, 'message'),
      changes: flagStrings(p, 'change'),
      pause: p.flags.pause !== false,
    });
    ctx.io.stdout(`${res.Id}\n`);
    return 0;
  },
};
