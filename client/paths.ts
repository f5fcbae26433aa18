/**
 * Where the agent keeps its state and its socket, as every client computes it (the CLI, the VS Code
 * extension, `berth agent` when it starts one), so they always agree. The agent itself is handed
 * both paths by its caller (`berth agent`, cli/commands/agent.ts) and never reads the environment.
 *
 *   BERTH_ROOT    state directory            default /var/lib/berth
 *   BERTH_SOCKET  the agent's Unix socket    default /run/berth/agent.sock, or $BERTH_ROOT/agent.sock
 *                                            when BERTH_ROOT is set
 */
import { join, resolve } from 'node:path';

export interface AgentPaths {
  root: string;
  socket: string;
}

export function agentPaths(env: NodeJS.ProcessEnv = process.env): AgentPaths {
  const root = env.BERTH_ROOT ? resolve(env.BERTH_ROOT) : '/var/lib/berth';
  const socket = env.BERTH_SOCKET ? resolve(env.BERTH_SOCKET) : env.BERTH_ROOT ? join(root, 'agent.sock') : '/run/berth/agent.sock';
  return { root, socket };
}
