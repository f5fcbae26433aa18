/**
 * `berth check [--repair] [--format json]`: the agent verifies its store (protocol `store/check`)
 * and this prints what is wrong, one problem per line (kind, path, what), then a summary.
 * Exit 1 while problems remain (after --repair: those it could not remove), 0 when none.
 */
import { StoreCheckRequest, type StoreCheckResult } from '../../protocol';
import { flagBool, flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { humanSize, toJson } from '../../client/format';

export const check: Command = {
  name: 'check',
  summary: 'Verify the store: blobs, layers, images, tags; --repair removes leftovers',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [
    { name: 'repair', type: 'boolean', help: 'Remove leftovers of interrupted work and corrupt blobs (never anything intact)' },
    { ...FORMAT_FLAG, help: "Output 'json' (the problems and the summary)" },
  ],
  async run(ctx, p) {
    const client = await ctx.connect();
    const res = await client.request(StoreCheckRequest.type, { repair: flagBool(p, 'repair') });
    const remaining = res.problems.filter((x) => !x.repaired).length;
    if (flagString(p, 'format') === 'json') ctx.io.stdout(toJson(res) + '\n');
    else ctx.io.stdout(render(res));
    return remaining > 0 ? 1 : 0;
  },
};

function render(res: StoreCheckResult): string {
  const s = res.summary;
  const lines = res.problems.map(
    (x) => `${x.kind}\t${x.path}\t${x.message}${x.repaired ? ' (removed)' : x.repairable ? ' (--repair removes it)' : ''}\n`,
  );
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  lines.push(
    `Checked ${plural(s.blobs, 'blob')} (${humanSize(s.blobBytes)}), ${plural(s.layers, 'layer')} (${plural(s.files, 'file')}), ` +
      `${plural(s.images, 'image')}, ${plural(s.tags, 'tag')}, ${plural(s.containers, 'container')} in ${(s.durationMs / 1000).toFixed(1)}s.\n`,
  );
  if (s.unreferencedLayers || s.unreferencedBlobs) {
    lines.push(
      `Unused: ${plural(s.unreferencedLayers, 'layer')}, ${plural(s.unreferencedBlobs, 'blob')} (berth image prune reclaims them).\n`,
    );
  }
  const remaining = s.problems - s.repaired;
  lines.push(
    s.problems === 0
      ? 'No problems found.\n'
      : `${plural(s.problems, 'problem')}${s.repaired ? `, ${s.repaired} removed` : ''}${remaining ? `; ${remaining} remaining` : ''}.\n`,
  );
  return lines.join('');
}
