import { ListImagesRequest, type ImageSummary } from '../../protocol';
import { flagBool, flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { familiarRepo, formatList, humanSize, relativeAge, shortId, splitRepoTag, table } from '../../client/format';

/** The table's rows: one per tag, like Docker; untagged images show <none>. */
export function imageRows(images: readonly ImageSummary[], opts: { digests: boolean; noTrunc: boolean; now: number }): string[][] {
  const rows: string[][] = [];
  for (const img of images) {
    const id = opts.noTrunc ? img.Id : shortId(img.Id);
    const tail = [id, relativeAge(img.Created, opts.now), humanSize(img.Size)];
    const digestOf = (repo: string) => {
      const d = img.RepoDigests.find((rd) => rd.slice(0, rd.indexOf('@')) === repo);
      return d ? d.slice(d.indexOf('@') + 1) : '<none>';
    };
    const named: [string, string, string][] = img.RepoTags.map((t) => {
      const [repo, tag] = splitRepoTag(t);
      return [familiarRepo(repo), tag, digestOf(repo)];
    });
    if (named.length === 0) {
      for (const rd of img.RepoDigests) named.push([familiarRepo(rd.slice(0, rd.indexOf('@'))), '<none>', rd.slice(rd.indexOf('@') + 1)]);
    }
    if (named.length === 0) named.push(['<none>', '<none>', '<none>']);
    for (const [repo, tag, digest] of named) rows.push(opts.digests ? [repo, tag, digest, ...tail] : [repo, tag, ...tail]);
  }
  return rows;
}

export const images: Command = {
  name: 'images',
  summary: 'List stored images',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'boolean',
      help: 'Show all images (dangling ones show anyway, as in Docker; Berth keeps no intermediate images)',
    },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'Print only image IDs' },
    { name: 'digests', type: 'boolean', help: 'Show digests' },
    { name: 'no-trunc', type: 'boolean', help: "Don't truncate output" },
    FORMAT_FLAG,
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const client = await ctx.connect();
    const list = await client.request(ListImagesRequest.type, { all: true });
    const noTrunc = flagBool(p, 'no-trunc');
    const format = flagString(p, 'format');
    if (format) {
      // Templates see the agent's ImageSummary, plus the table's columns for convenience.
      const items = list.map((img) => {
        const [repo, tag] = img.RepoTags[0] ? splitRepoTag(img.RepoTags[0]) : ['<none>', '<none>'];
        return {
          ...img,
          ID: noTrunc ? img.Id : shortId(img.Id),
          Repository: familiarRepo(repo),
          Tag: tag,
          CreatedSince: relativeAge(img.Created, io.now()),
        };
      });
      io.stdout(formatList(format, items, list));
      return 0;
    }
    if (flagBool(p, 'quiet')) {
      const ids = [...new Set(list.map((i) => (noTrunc ? i.Id : shortId(i.Id))))];
      io.stdout(ids.map((i) => i + '\n').join(''));
      return 0;
    }
    const digests = flagBool(p, 'digests');
    const headers = digests
      ? ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE']
      : ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'];
    io.stdout(table(headers, imageRows(list, { digests, noTrunc, now: io.now() })));
    return 0;
  },
};
