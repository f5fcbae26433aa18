/**
 * Starting an agent in the background for a client that found none answering (the CLI, the VS Code
 * extension): `<node> <args...> agent`, detached, output appended to <root>/agent.log, with
 * BERTH_ROOT and BERTH_SOCKET set so it serves exactly the store and socket the client uses. The
 * caller decides whether it may (root only: the agent needs root); client/connection.ts waits for
 * the socket to answer.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { agentPaths } from './paths';

/** An agent started in the background (the shape client/connection.ts waits on). */
export interface BackgroundAgent {
  /** The agent's log file. */
  log: string;
  /** Why the process ended, once it has ("exit code 1", "killed by SIGKILL"), else undefined. */
  exited: () => string | undefined;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * `script` is the node arguments that run the `berth` CLI (a bundle path, or `--import tsx
 * cli/main.ts` from source); `extraEnv` is added to the agent's environment.
 */
export function spawnBackgroundAgent(
  script: string[],
  root: string,
  socket: string,
  env: NodeJS.ProcessEnv,
  extraEnv: NodeJS.ProcessEnv = {},
): BackgroundAgent {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const log = join(root, 'agent.log');
  const fd = openSync(log, 'a', 0o600);
  let exit: string | undefined;
  try {
    const child = spawn(process.execPath, [...script, 'agent'], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...env, ...extraEnv, BERTH_ROOT: root, BERTH_SOCKET: socket },
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

/**
 * The extension's way to start one: the `berth` CLI bundle it ships (`script`, dist/berth.js) runs
 * `berth agent` with the state directory agentPaths() names. process.execPath is Node in
 * code-server and Electron in VS Code desktop; ELECTRON_RUN_AS_NODE makes the latter behave as
 * Node (and is ignored by Node).
 */
export function startBundledAgent(script: string, socket: string, env: NodeJS.ProcessEnv = process.env): BackgroundAgent {
  return spawnBackgroundAgent([script], agentPaths(env).root, socket, env, { ELECTRON_RUN_AS_NODE: '1' });
}
