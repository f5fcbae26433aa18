import { PullProgressNotification, PullRequest, type Platform } from '../../protocol';
import { flagBool, flagString, UsageError } from '../args';
import type { Command } from '../context';
import { familiarRef, normalizeRef, parseName } from '../../client/format';
import { longRequest } from '../longRequest';
import { PullProgressRenderer } from '../progress';

/** "linux/arm64/v8" -> { os, architecture, variant }. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new UsageError(`invalid platform "${s}": want os/arch or os/arch/variant (linux/arm64/v8)`);
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** How long to wait for the agent to confirm a cancelled pull (the store is left consistent). */
const CANCEL_WAIT_MS = 5000;

export const pull: Command = {
  name: 'pull',
  summary: 'Download an image from a registry',
  operands: 'REF',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'platform', type: 'string', value: 'os/arch[/variant]', help: 'Platform to pull from a multi-platform image' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'Print only the image reference' },
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const ref = p.args[0]!;
    const platformFlag = flagString(p, 'platform');
    const platform = platformFlag ? parsePlatform(platformFlag) : undefined;
    const quiet = flagBool(p, 'quiet');
    const full = normalizeRef(ref);
    const client = await ctx.connect();

    // The header waits for the agent's first sign of work (progress, or the answer), so a pull
    // the agent refuses (bad reference, unreachable registry) prints only its one error line.
    let headerShown = quiet;
    const header = () => {
      if (headerShown) return;
      headerShown = true;
      // The agent answered, so it parsed the reference: parseName agrees (the same parser).
      const r = parseName(ref);
      if (!r?.tag && !r?.digest) io.stdout('Using default tag: latest\n');
      io.stdout(`${r?.digest ?? r?.tag ?? 'latest'}: Pulling from ${r?.repository ?? ref}\n`);
    };
    const renderer = new PullProgressRenderer({ write: io.stderr, isTTY: io.stderrIsTTY, columns: io.columns });
    const result = await longRequest(client, io, {
      name: 'pull',
      request: PullRequest.type,
      params: (progressToken) => ({ reference: ref, platform, progressToken }),
      progress: PullProgressNotification.type,
      onProgress: (n) => {
        if (quiet) return;
        header();
        renderer.update(n.layer);
      },
      cancelWaitMs: CANCEL_WAIT_MS,
      finish: () => renderer.finish(),
    });
    if (result === 'interrupted') return 130;
    if (!quiet) {
      header();
      io.stdout(`Digest: ${result.digest}\n`);
      io.stdout(`Status: ${result.upToDate ? 'Image is up to date for' : 'Downloaded newer image for'} ${familiarRef(full)}\n`);
    }
    io.stdout(`${full}\n`);
    return 0;
  },
};
