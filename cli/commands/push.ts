/**
 * `berth push NAME[:TAG]`: uploads an image of the store to its registry, printing what Docker
 * prints ("The push refers to repository [...]", a line per layer, "TAG: digest: D size: N").
 */
import { PushProgressNotification, PushRequest } from '../../protocol';
import { flagBool } from '../args';
import type { Command } from '../context';
import { parseName } from '../../client/format';
import { longRequest } from '../longRequest';
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
  label: (item) =>
    item.phase === 'mounted'
      ? `Mounted from ${(item as { from?: string }).from ?? 'another repository'}`
      : (PHASES[item.phase] ?? item.phase),
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
      const r = parseName(ref);
      io.stdout(`The push refers to repository [${r ? `${r.registry}/${r.repository}` : ref}]\n`);
    };
    const renderer = new PullProgressRenderer({ write: io.stdout, isTTY: io.stdoutIsTTY, columns: io.columns, labels: PUSH_LABELS });
    const result = await longRequest(client, io, {
      name: 'push',
      request: PushRequest.type,
      params: (progressToken) => ({ reference: ref, progressToken }),
      progress: PushProgressNotification.type,
      onProgress: (n) => {
        if (quiet) return;
        header();
        renderer.update(n.blob);
      },
      cancelWaitMs: CANCEL_WAIT_MS,
      finish: () => renderer.finish(),
    });
    if (result === 'interrupted') return 130;
    header();
    io.stdout(`${result.tag}: digest: ${result.digest} size: ${result.size}\n`);
    return 0;
  },
};
