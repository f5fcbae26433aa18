import { EventNotification, SubscribeRequest, type BerthEvent } from '../../protocol';
import { flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { ConnectionLostError } from '../client';
import { compileTemplate } from '../../client/format';

/** Docker's `events` line: "2026-11-22T21:40:00.000000000Z image pull sha256:… (name=…)". */
export function eventLine(e: BerthEvent): string {
  const seconds = Math.floor(e.time);
  // timeNano travels as a JSON number (about 256 ns of precision at today's dates): keep microseconds.
  const nanos = Math.min(999_999_000, Math.max(0, Math.round((e.timeNano - seconds * 1e9) / 1000) * 1000));
  const stamp = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, `.${String(nanos).padStart(9, '0')}Z`);
  const attrs = Object.keys(e.Actor.Attributes)
    .sort()
    .map((k) => `${k}=${e.Actor.Attributes[k]}`)
    .join(', ');
  return `${stamp} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}`;
}

export const events: Command = {
  name: 'events',
  summary: 'Print what happens in the agent, as it happens, until Ctrl-C',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [FORMAT_FLAG],
  async run(ctx, p) {
    const { io } = ctx;
    const format = flagString(p, 'format');
    const render = !format ? eventLine : format === 'json' ? (e: BerthEvent) => JSON.stringify(e) : compileTemplate(format);
    const client = await ctx.connect();
    client.onNotification(EventNotification.type, (e) => io.stdout(render(e) + '\n'));
    let off = (): void => {};
    const interrupted = new Promise<'interrupted'>((r) => (off = io.onInterrupt(() => r('interrupted'))));
    try {
      await client.request(SubscribeRequest.type, {});
      const how = await Promise.race([interrupted, client.closed.then(() => 'closed' as const)]);
      if (how === 'closed') throw new ConnectionLostError(client.socket);
      return 130;
    } finally {
      off();
    }
  },
};
