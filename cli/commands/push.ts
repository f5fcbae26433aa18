/**
 * `berth push NAME[:TAG]`: uploads an image of the store to its registry, printing what Docker
 * prints ("The push refers to repository [...]", a line per layer, "TAG: digest: D size: N").
 */
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { PushProgressNotification, PushRequest, type PushResult } from '../../protocol';
import { flagBool } from '../args';
import type { Command } from '../context';
import { parseRef } from '../format';
import { PullProgressRenderer, type PhaseLabels } from '../progress';

/** How long to wait for the agent to confirm a cancelled push. */
const CANCEL_WAIT_MS = 5000;

const PHASES: Record<string, string> = {
  preparing: 'Preparing',
  waiting: 'Waiting',
  exists: 'Layer already exists',
  pushing: 'Pushing',
  retrying: 'Retrying',
  done: 'Pushed',
};

/** Push phases as Docker words them ("Mounted from team/base"). */
export const PUSH_LABELS: PhaseLabels = {
  label: (item) => (item.phase === 'mounted' ? `Mounted from ${(item as { from?: string }).from ?? 'another repository'}` : (PHASES[item.phase] ?? item.phase)),
  barPhases: ['pushing'],
};

export const push: Command = {
  name: 'push',
  summary: 'Upload an image to a registry',
  operands: 'NAME[:TAG]',
  minArgs: 1,
  maxArgs: 1,
  flags: [{ name: 'quiet', short: 'q', type: 'boolean', help: 'Print only the pushed digest line' }],
  async run(ctx, p) {
    const { io } = ctx;
    const ref = p.args[0]!;
    const quiet = flagBool(p, 'quiet');
    const client = await ctx.connect();

    // The header waits for the agent's first sign of work, so a refused push prints one error line.
    let headerShown = quiet;
    const header = () => {
      if (headerShown) return;
      headerShown = true;
      const r = parseRef(ref);
      io.stdout(`The push refers to repository [${r.domain}/${r.path}]\n`);
    };
    const token = `berth-cli-push-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const renderer = new PullProgressRenderer({ write: io.stdout, isTTY: io.stdoutIsTTY, columns: io.columns, labels: PUSH_LABELS });
    const sub = client.connection.onNotification(PushProgressNotification.type, (n) => {
      if (n.token !== token || quiet) return;
      header();
      renderer.update(n.blob);
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
      const req = client.request(PushRequest.type, { reference: ref, progressToken: token }, cts.token);
      const settled = req.then(
        () => 'settled' as const,
        () => 'settled' as const,
      );
      const first = await Promise.race([req, interrupted()]);
      if (first === 'interrupted') {
        renderer.finish();
        const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), CANCEL_WAIT_MS)));
        const how = await Promise.race([settled, timeout, interrupted()]);
        if (how === 'timeout') io.stderr(`berth: the agent did not confirm the cancellation within ${CANCEL_WAIT_MS / 1000} s\n`);
        return 130;
      }
      const result = first as PushResult;
      renderer.finish();
      header();
      io.stdout(`${result.tag}: digest: ${result.digest} size: ${result.size}\n`);
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
