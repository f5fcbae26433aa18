/**
 * `berth volume create|ls|inspect|rm|prune` (two-word verbs, looked up by "VERB SUBVERB" in
 * cli/main.ts): Docker's output shapes; every listing has --format json.
 */
import { isAgentError } from '../../client/errors';
import {
  CreateVolumeRequest,
  InspectVolumeRequest,
  ListVolumesRequest,
  PruneVolumesRequest,
  RemoveVolumeRequest,
  type Volume,
} from '../../protocol';
import { flagBool, flagString, flagStrings } from '../args';
import { eachOperand, errorLine, FORMAT_FLAG, type Command } from '../context';
import { formatList, humanSize, table, toJson } from '../../client/format';
import { confirm } from './prune';

export const volumeCreate: Command = {
  name: 'volume create',
  summary: 'Create a volume (a random name when none is given)',
  operands: '[VOLUME]',
  minArgs: 0,
  maxArgs: 1,
  flags: [{ name: 'label', short: 'l', type: 'strings', value: 'KEY=value', help: 'Set a label' }],
  async run(ctx, p) {
    const labels = Object.fromEntries(
      flagStrings(p, 'label').map((l) => (l.includes('=') ? [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] : [l, ''])),
    );
    const client = await ctx.connect();
    const v = await client.request(CreateVolumeRequest.type, { ...(p.args[0] ? { name: p.args[0] } : {}), labels });
    ctx.io.stdout(`${v.Name}\n`);
    return 0;
  },
};

export const volumeLs: Command = {
  name: 'volume ls',
  summary: 'List volumes',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [{ name: 'quiet', short: 'q', type: 'boolean', help: 'Print only volume names' }, FORMAT_FLAG],
  async run(ctx, p) {
    const client = await ctx.connect();
    const list: Volume[] = await client.request(ListVolumesRequest.type, {});
    const format = flagString(p, 'format');
    if (format) ctx.io.stdout(formatList(format, list));
    else if (flagBool(p, 'quiet')) ctx.io.stdout(list.map((v) => `${v.Name}\n`).join(''));
    else
      ctx.io.stdout(
        table(
          ['DRIVER', 'VOLUME NAME'],
          list.map((v) => [v.Driver, v.Name]),
        ),
      );
    return 0;
  },
};

export const volumeInspect: Command = {
  name: 'volume inspect',
  summary: 'Show volumes in detail (JSON)',
  operands: 'VOLUME [VOLUME...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [FORMAT_FLAG],
  async run(ctx, p) {
    const client = await ctx.connect();
    const out: Volume[] = [];
    let failed = false;
    for (const name of p.args) {
      try {
        out.push(await client.request(InspectVolumeRequest.type, { name }));
      } catch (err) {
        if (!isAgentError(err)) throw err;
        ctx.io.stderr(errorLine(err) + '\n');
        failed = true;
      }
    }
    const format = flagString(p, 'format');
    ctx.io.stdout(format && format !== 'json' ? formatList(format, out) : toJson(out) + '\n');
    return failed ? 1 : 0;
  },
};

export const volumeRm: Command = {
  name: 'volume rm',
  summary: 'Remove volumes no container uses',
  operands: 'VOLUME [VOLUME...]',
  minArgs: 1,
  maxArgs: Infinity,
  flags: [],
  async run(ctx, p) {
    const client = await ctx.connect();
    return eachOperand(ctx.io, p.args, async (name) => {
      await client.request(RemoveVolumeRequest.type, { name });
      ctx.io.stdout(`${name}\n`);
    });
  },
};

export const volumePrune: Command = {
  name: 'volume prune',
  summary: 'Remove anonymous volumes no container uses (-a: named ones too)',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', type: 'boolean', help: 'Remove unused named volumes too' },
    { name: 'force', short: 'f', type: 'boolean', help: 'Do not prompt for confirmation' },
    FORMAT_FLAG,
  ],
  async run(ctx, p) {
    const all = flagBool(p, 'all');
    const what = all ? 'all volumes' : 'all anonymous volumes';
    if (
      !flagBool(p, 'force') &&
      !(await confirm(ctx.io, `WARNING! This will remove ${what} not used by at least one container.\nAre you sure you want to continue?`))
    )
      return 0;
    const client = await ctx.connect();
    const r = await client.request(PruneVolumesRequest.type, { all });
    if (flagString(p, 'format') === 'json') ctx.io.stdout(toJson(r) + '\n');
    else {
      if (r.VolumesDeleted.length) ctx.io.stdout(`Deleted Volumes:\n${r.VolumesDeleted.map((v) => `${v}\n`).join('')}\n`);
      ctx.io.stdout(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
    }
    return 0;
  },
};
