/**
 * Connecting a CLI command to the agent (client/connectOnce.ts: one attempt): the socket from
 * agentPaths(), and, for root, an agent started in the background when none answers. What is the
 * CLI's own here: the script that runs `berth agent` and the one-line sentence for a failure.
 */
import { join } from 'node:path';
import { isRoot, spawnBackgroundAgent } from '../client/autostart';
import { type AgentClient, ConnectFailedError, connectOnce } from '../client/connectOnce';
import { agentPaths } from '../client/paths';

export type { AgentClient } from '../client/connectOnce';
export { ConnectionLostError } from '../client/connection';

export interface ConnectOptions {
  /** The socket; agentPaths() (BERTH_ROOT / BERTH_SOCKET) when absent. */
  socket?: string;
  /** Start an agent in the background when none answers and we are root. Default true. */
  autostart?: boolean;
  /** The environment to read BERTH_ROOT / BERTH_SOCKET from; process.env when absent. */
  env?: NodeJS.ProcessEnv;
}

/** The agent could not be reached: printed as one line, exit code 1. */
export class AgentUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentUnreachableError';
  }
}

/** The script to run `berth agent` with: this bundle (dist/berth.js), or cli/main.ts under tsx. */
function selfCommand(): string[] {
  if (__filename.endsWith('.ts')) return ['--import', 'tsx', join(__dirname, 'main.ts')];
  return [__filename];
}

export async function connectAgent(opts: ConnectOptions = {}): Promise<AgentClient> {
  const env = opts.env ?? process.env;
  const paths = agentPaths(env);
  const socket = opts.socket ?? paths.socket;
  const autostart = (opts.autostart ?? true) && !env.BERTH_NO_AUTOSTART && isRoot();
  try {
    return await connectOnce({
      socket,
      autostart: autostart ? () => spawnBackgroundAgent(selfCommand(), paths.root, socket, env) : undefined,
    });
  } catch (err) {
    if (!(err instanceof ConnectFailedError)) throw err;
    const s = err.state;
    const e = s.cause as NodeJS.ErrnoException | undefined;
    const why = e?.code ?? e?.message ?? s.reason;
    const how = e?.code === 'EACCES' ? 'run berth as root, or as the user the agent was started for' : 'start it with `sudo berth agent`';
    const bg = s.background;
    const extra = !bg
      ? ''
      : bg.exited
        ? ` (the agent started in the background stopped: ${bg.exited}; see ${bg.log})`
        : ` (an agent started in the background did not answer within 5 s; see ${bg.log})`;
    throw new AgentUnreachableError(`berth: cannot reach the agent at ${socket}: ${why}${extra}; ${how}`);
  }
}
