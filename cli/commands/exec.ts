import { ExecRequest, type ExecParams } from '../../protocol';
import { flagBool, flagString, UsageError } from '../args';
import { attached, newAttachToken, requireTTY, terminalSize } from '../attach';
import { collectEnv } from '../containers';
import type { Command } from '../context';

export const exec: Command = {
  name: 'exec',
  summary: 'Run a command in a running container',
  operands: 'CONTAINER COMMAND [ARG...]',
  minArgs: 2,
  maxArgs: Infinity,
  stopAtOperand: true,
  flags: [
    { name: 'interactive', short: 'i', type: 'boolean', help: 'Keep stdin open and pass it to the command' },
    { name: 'tty', short: 't', type: 'boolean', help: "Allocate a terminal (from the container's /dev/pts)" },
    { name: 'env', short: 'e', type: 'strings', value: 'NAME=value', help: 'Set an environment variable (NAME alone takes it from here)' },
    { name: 'env-file', type: 'strings', value: 'FILE', help: 'Read environment variables from a file' },
    { name: 'user', short: 'u', type: 'string', value: 'USER[:GROUP]', help: 'User name or uid, and group name or gid' },
    { name: 'workdir', short: 'w', type: 'string', value: 'DIR', help: 'Working directory inside the container' },
  ],
  async run(ctx, p) {
    const [container, ...cmd] = p.args as [string, ...string[]];
    const tty = flagBool(p, 'tty');
    const stdin = flagBool(p, 'interactive');
    if (tty && stdin) requireTTY();
    const workdir = flagString(p, 'workdir');
    if (workdir !== undefined && !workdir.startsWith('/'))
      throw new UsageError(`the working directory "${workdir}" is not an absolute path`);
    const token = newAttachToken();
    const params: ExecParams = { container, cmd, stdin, tty, attachToken: token, ...(tty ? terminalSize() : {}) };
    const env = collectEnv(p, ctx.io);
    if (env.length) params.env = env;
    const user = flagString(p, 'user');
    if (user !== undefined) params.user = user;
    if (workdir) params.workingDir = workdir;
    const client = await ctx.connect();
    return attached(client, token, { tty, stdin }, async () => (await client.request(ExecRequest.type, params)).ExitCode);
  },
};
