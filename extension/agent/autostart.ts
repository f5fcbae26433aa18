/**
 * Starting an agent in the background, as the CLI does when none answers (cli/client.ts): the
 * `berth` bundle shipped in the extension (dist/berth.js) runs `berth agent`, detached, its output
 * in <root>/agent.log. Only offered when VS Code runs as root: the agent needs root.
 */
import { spawnBackgroundAgent } from '../../agent/autostart';
import { agentPaths } from '../../agent/config';
import type { AutostartResult } from './connection';

export { isRoot } from '../../agent/autostart';

/**
 * Spawns `<node> <script> agent` for `socket`, with the state directory agentPaths() names.
 * process.execPath is Node in code-server and Electron in VS Code desktop; ELECTRON_RUN_AS_NODE
 * makes the latter behave as Node (and is ignored by Node).
 */
export function startAgentProcess(script: string, socket: string, env: NodeJS.ProcessEnv = process.env): AutostartResult {
  return spawnBackgroundAgent([script], agentPaths(env).root, socket, env, { ELECTRON_RUN_AS_NODE: '1' });
}
