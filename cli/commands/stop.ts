import type { RequestType } from 'vscode-jsonrpc';
import { StopContainerRequest, type StopContainerParams } from '../../protocol';
import { eachOperand, type Command } from '../context';

/** A verb that stops containers with `-t` seconds of grace: stop, restart. */
export function stopVerb(name: string, summary: string, type: RequestType<StopContainerParams, void, unknown>): Command {
  return {
    name,
    summary,
    operands: 'CONTAINER [CONTAINER...]',
    minArgs: 1,
    maxArgs: Infinity,
    flags: [{ name: 'time', short: 't', type: 'number', value: 'SECONDS', help: 'Seconds to wait before killing (default 10)' }],
    async run(ctx, p) {
      const { io } = ctx;
      const client = await ctx.connect();
      const t = p.flags.time;
      const timeout = typeof t === 'number' ? Math.max(0, t) : undefined;
      return eachOperand(io, p.args, async (container) => {
        await client.request(type, { container, timeout });
        io.stdout(`${container}\n`);
      });
    },
  };
}

export const stop = stopVerb(
  'stop',
  "Stop running containers: the image's stop signal (else SIGTERM), then SIGKILL",
  StopContainerRequest.type,
);
