/**
 * `berth down [FOLDER]`: stops the folder's workspace container (`workspace/down`); with `--rm`
 * removes it too. Prints the container's name, as `berth stop` does.
 */
import { resolve } from 'node:path';
import { WorkspaceDownRequest } from '../../protocol';
import { flagBool, flagString, UsageError } from '../args';
import type { Command } from '../context';

export const down: Command = {
  name: 'down',
  summary: "Stop a folder's dev container",
  operands: '[FOLDER]',
  minArgs: 0,
  maxArgs: 1,
  flags: [
    { name: 'rm', type: 'boolean', help: 'Remove the container after stopping it' },
    { name: 'time', short: 't', type: 'string', value: 'SECONDS', help: 'Seconds to wait for it to stop before killing it (default 10)' },
  ],
  async run(ctx, p) {
    const folder = resolve(ctx.io.cwd, p.args[0] ?? '.');
    const t = flagString(p, 'time');
    if (t !== undefined && !/^[0-9]{1,6}$/.test(t)) throw new UsageError(`invalid --time "${t}": want a whole number of seconds`);
    const client = await ctx.connect();
    const r = await client.request(WorkspaceDownRequest.type, {
      folder,
      remove: flagBool(p, 'rm'),
      ...(t !== undefined ? { timeout: Number(t) } : {}),
    });
    ctx.io.stdout(`${r.container.Name}\n`);
    return 0;
  },
};
