/**
 * Where the agent keeps its state and its socket, as every client computes it (the CLI, the VS Code
 * extension, `berth agent` when it starts one), so they always agree. The agent itself is handed
 * both paths by its caller (`berth agent`, cli/commands/agent.ts) and never reads the environment.
 *
 *   BERTH_ROOT    state directory            default /var/lib/berth
 *   BERTH_SOCKET  the agent's Unix socket    default /run/berth/agent.sock, or $BERTH_ROOT/agent.sock
 *                                            when BERTH_ROOT is set
 *   BERTH_DOCKER_SOCKET  the Docker Engine API's socket   default /run/berth/docker.sock, or
 *                        $BERTH_ROOT/docker.sock when BERTH_ROOT is set; "" turns it off
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

/**
 * The agent's Docker Engine API socket for `env` (see the file's header); undefined when
 * BERTH_DOCKER_SOCKET is set to the empty string (the agent then serves none).
 */
export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const set = env.BERTH_DOCKER_SOCKET;
  if (set !== undefined) return set === '' ? undefined : resolve(set);
  return env.BERTH_ROOT ? join(agentPaths(env).root, 'docker.sock') : '/run/berth/docker.sock';
}
