/**
 * `berth container prune` and `berth image prune` (two-word verbs: cli/main.ts looks a command up
 * by "VERB SUBVERB" first). Without -f they ask "[y/N]" on a terminal, and refuse when stdin is
 * not one.
 */
import { PruneContainersRequest, PruneImagesRequest, type PruneResult } from '../../protocol';
import { flagBool, flagString } from '../args';
import { CliError, FORMAT_FLAG, type CliIO, type Command } from '../context';
import { humanSize, toJson } from '../../client/format';

const FORCE = { name: 'force', short: 'f', type: 'boolean' as const, help: 'Do not prompt for confirmation' };

/** Reads one line from a terminal stdin; resolves to true for y/yes. */
export function confirm(io: CliIO, question: string, stdin: NodeJS.ReadStream = process.stdin): Promise<boolean> {
  if (!stdin.isTTY) {
    throw new CliError('Error: stdin is not a terminal, so the confirmation cannot be asked; use --force (-f) to prune without it');
  }
  io.stderr(`${question} [y/N] `);
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      stdin.off('data', onData);
      stdin.pause();
      resolve(/^\s*y(es)?\s*$/i.test(buf.slice(0, nl)));
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

function report(io: CliIO, res: PruneResult, what: string, format?: string): void {
  if (format === 'json') {
    io.stdout(toJson(res) + '\n');
    return;
  }
  if (res.Untagged.length > 0) io.stdout(`Untagged:\n${res.Untagged.map((u) => `untagged: ${u}\n`).join('')}`);
  if (res.Deleted.length > 0) io.stdout(`Deleted ${what}:\n${res.Deleted.map((d) => `${d}\n`).join('')}\n`);
  io.stdout(`Total reclaimed space: ${humanSize(res.SpaceReclaimed)}\n`);
}

export const containerPrune: Command = {
  name: 'container prune',
  summary: 'Remove all stopped containers',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [FORCE, FORMAT_FLAG],
  async run(ctx, p) {
    if (
      !flagBool(p, 'force') &&
      !(await confirm(ctx.io, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue?'))
    )
      return 0;
    const client = await ctx.connect();
    report(ctx.io, await client.request(PruneContainersRequest.type, {}), 'Containers', flagString(p, 'format'));
    return 0;
  },
};

export const imagePrune: Command = {
  name: 'image prune',
  summary: 'Remove dangling images (-a: every image no container uses)',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [
    FORCE,
    { name: 'all', short: 'a', type: 'boolean', help: 'Remove all images without a container, not only dangling ones' },
    FORMAT_FLAG,
  ],
  async run(ctx, p) {
    const all = flagBool(p, 'all');
    const warning = all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    if (!flagBool(p, 'force') && !(await confirm(ctx.io, `${warning}\nAre you sure you want to continue?`))) return 0;
    const client = await ctx.connect();
    report(ctx.io, await client.request(PruneImagesRequest.type, { all }), 'Images', flagString(p, 'format'));
    return 0;
  },
};
