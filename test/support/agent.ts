/**
 * Starts the real agent (the built bundle, dist/berth.js, as users run it) for a test, on a
 * socket in a fresh BERTH_ROOT, and connects to it over the real socket with the protocol.
 * Also runs the real `berth` CLI against it. Everything is stopped by PID in cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc';
import { SocketMessageReader, SocketMessageWriter } from 'vscode-jsonrpc/node';
import { makeTempDir, registerCleanup, stopChild, trackChild } from './tmp';

export const REPO = resolve(__dirname, '..', '..');
export const BUNDLE = join(REPO, 'dist', 'berth.js');

export interface TestAgent {
  root: string;
  socket: string;
  child: ChildProcess;
  /** Everything the agent wrote on stderr so far. */
  log(): string;
  /** A new protocol connection over the socket (closed in cleanup). */
  connect(): Promise<MessageConnection>;
  /** Environment for a CLI talking to this agent. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

function requireBundle(): void {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run "npm run build" (npm test does it first)`);
}

/** Starts an agent; `root` reuses a state directory (to test restarts). */
export async function startAgent(opts: { root?: string; env?: NodeJS.ProcessEnv } = {}): Promise<TestAgent> {
  requireBundle();
  const root = opts.root ?? (await makeTempDir('berth-root-'));
  const socket = join(root, 'agent.sock');
  const env = { ...process.env, ...opts.env, BERTH_ROOT: root, BERTH_SOCKET: socket };
  const child = spawn(process.execPath, ['--enable-source-maps', BUNDLE, 'agent'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const connections = new Set<MessageConnection>();
  const stop = async () => {
    for (const c of connections) c.dispose();
    await stopChild(child);
  };
  const unregister = registerCleanup(stop);
  // Wait (bounded) until the socket answers.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the agent exited with ${child.exitCode}: ${stderr}`);
    if (await answers(socket)) break;
    if (i >= 100) {
      await stop();
      throw new Error(`the agent did not listen on ${socket} within 10 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    root,
    socket,
    child,
    env,
    log: () => stderr,
    async connect() {
      const s = createConnection(socket);
      await new Promise<void>((res, rej) => {
        s.once('connect', () => res());
        s.once('error', rej);
      });
      const conn = createMessageConnection(new SocketMessageReader(s), new SocketMessageWriter(s));
      // A closed socket fails the requests still waiting for an answer.
      conn.onClose(() => {
        s.destroy();
        conn.dispose();
      });
      connections.add(conn);
      conn.listen();
      return conn;
    },
    async stop() {
      unregister();
      await stop();
    },
  };
}

function answers(path: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion, bounded by `timeoutMs` (then SIGKILL by PID). `input` is written
 * to its stdin, then EOF; or a function that writes as the output arrives (terminal dialogues).
 */
export function runWithInput(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input: string | ((write: (s: string) => void, out: () => string) => Promise<void>),
  timeoutMs = 30_000,
): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin!.on('error', () => undefined);
    if (typeof input === 'string') child.stdin!.end(input);
    else void input((s) => child.stdin!.write(s), () => stdout).then(() => child.stdin!.end());
  });
}

/** Runs `berth ARGS...` (bin/berth, as installed) to completion, bounded by `timeoutMs`. */
export function berth(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CliResult> {
  requireBundle();
  return runWithInput(process.execPath, [join(REPO, 'bin', 'berth'), ...args], env, '', timeoutMs);
}
