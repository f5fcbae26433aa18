/**
 * Starting an agent in the background, as the CLI does when none answers (cli/client.ts): the
 * `berth` bundle shipped in the extension (dist/berth.js) runs `berth agent`, detached, its output
 * in <root>/agent.log. Only offered when VS Code runs as root: the agent needs root.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { agentPaths } from '../../agent/config';
import type { AutostartResult } from './connection';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Spawns `<node> <script> agent` for `socket`, with the state directory agentPaths() names.
 * process.execPath is Node in code-server and Electron in VS Code desktop; ELECTRON_RUN_AS_NODE
 * makes the latter behave as Node (and is ignored by Node).
 */
export function startAgentProcess(script: string, socket: string, env: NodeJS.ProcessEnv = process.env): AutostartResult {
  const { root } = agentPaths(env);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const log = join(root, 'agent.log');
  const fd = openSync(log, 'a', 0o600);
  let exit: string | undefined;
  try {
    const child = spawn(process.execPath, [script, 'agent'], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...env, ELECTRON_RUN_AS_NODE: '1', BERTH_ROOT: root, BERTH_SOCKET: socket },
      cwd: '/',
    });
    child.on('error', (e) => (exit = e.message));
    child.on('exit', (code, signal) => (exit = signal ? `killed by ${signal}` : `exit code ${code}`));
    child.unref();
  } finally {
    closeSync(fd);
  }
  return { log, exited: () => exit };
}
