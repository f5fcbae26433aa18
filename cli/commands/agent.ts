import { agentPaths, dockerSocketPath } from '../../client/paths';
import { flagBool, flagString } from '../args';
import type { Command } from '../context';

/** Whom the agent serves: the user behind sudo, else the caller. */
export function ownerUid(env: NodeJS.ProcessEnv): number | undefined {
  const sudo = env.SUDO_UID !== undefined ? Number(env.SUDO_UID) : NaN;
  if (Number.isInteger(sudo) && sudo >= 0) return sudo;
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

export const agent: Command = {
  name: 'agent',
  summary: 'Run the agent in the foreground (needs root)',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [
    { name: 'stdio', type: 'boolean', help: 'Speak JSON-RPC on stdin/stdout (as well as on --socket, if given)' },
    { name: 'root', type: 'string', value: 'DIR', help: 'State directory (default $BERTH_ROOT or /var/lib/berth)' },
    {
      name: 'socket',
      type: 'string',
      value: 'PATH',
      help: 'Socket to listen on (default $BERTH_SOCKET, <root>/agent.sock, or /run/berth/agent.sock)',
    },
  ],
  async run(ctx, p) {
    const root = flagString(p, 'root');
    const socket = flagString(p, 'socket');
    const stdio = flagBool(p, 'stdio');
    const env = { ...ctx.io.env };
    if (root) env.BERTH_ROOT = root;
    if (socket) env.BERTH_SOCKET = socket;
    const paths = agentPaths(env);
    // Loaded only here, so the other commands never pay for the agent's code.
    const { runAgent } = await import('../../agent/main');
    await runAgent({
      root: paths.root,
      socket: stdio && !socket ? undefined : paths.socket,
      dockerSocket: dockerSocketPath(env),
      stdio,
      ownerUid: ownerUid(ctx.io.env),
    });
    return 0;
  },
};
