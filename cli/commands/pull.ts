import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { PullProgressNotification, PullRequest, type Platform, type PullResult } from '../../protocol';
import { flagBool, flagString, UsageError } from '../args';
import type { Command } from '../context';
import { familiarRef, normalizeRef, parseRef } from '../format';
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

/** How long to wait for the agent to confirm a cancelled pull. */
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
      const r = parseRef(ref);
      if (!r.tag && !r.digest) io.stdout('Using default tag: latest\n');
      io.stdout(`${r.digest ?? r.tag ?? 'latest'}: Pulling from ${r.path}\n`);
    };
    const token = `berth-cli-pull-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const renderer = new PullProgressRenderer({ write: io.stderr, isTTY: io.stderrIsTTY, columns: io.columns });
    const sub = client.connection.onNotification(PullProgressNotification.type, (n) => {
      if (n.token !== token || quiet) return;
      header();
      renderer.update(n.layer);
    });

    const cts = new CancellationTokenSource();
    let wake = (): void => {};
    const interrupted = () => new Promise<'interrupted'>((r) => (wake = () => r('interrupted')));
    const off = io.onInterrupt(() => {
      cts.cancel();
      wake();
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const req = client.request(PullRequest.type, { reference: ref, platform, progressToken: token }, cts.token);
      const settled = req.then(
        () => 'settled' as const,
        () => 'settled' as const,
      );
      const first = await Promise.race([req, interrupted()]);
      if (first === 'interrupted') {
        renderer.finish();
        // Wait (bounded) for the agent to stop and answer, so the store is left consistent.
        const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), CANCEL_WAIT_MS)));
        const how = await Promise.race([settled, timeout, interrupted()]);
        if (how === 'timeout') io.stderr(`berth: the agent did not confirm the cancellation within ${CANCEL_WAIT_MS / 1000} s\n`);
        return 130;
      }
      const result = first as PullResult;
      renderer.finish();
      if (!quiet) {
        header();
        io.stdout(`Digest: ${result.digest}\n`);
        io.stdout(`Status: ${result.upToDate ? 'Image is up to date for' : 'Downloaded newer image for'} ${familiarRef(full)}\n`);
      }
      io.stdout(`${full}\n`);
      return 0;
    } finally {
      renderer.finish();
      if (timer) clearTimeout(timer);
      off();
      sub.dispose();
      cts.dispose();
    }
  },
};
