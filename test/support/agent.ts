/**
 * Starts the real agent (the built bundle, dist/berth.js, as users run it) for a test, on a
 * socket in a fresh BERTH_ROOT, and connects to it over the real socket with the protocol.
 * Also runs the real `berth` CLI against it. Everything is stopped by PID in cleanup.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc';
import { SocketMessageReader, SocketMessageWriter } from 'vscode-jsonrpc/node';
import { makeTempDir, registerCleanup, stopChild, trackChild } from './tmp';
import { netnsName, removeBridgeNetwork, vethName } from '../../agent/runtime/network';
import { buildRules, ruleArgs } from '../../agent/runtime/network/iptables';
import { parseSubnet } from '../../agent/runtime/network/config';

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
  /**
   * Stops the agent (by PID) and removes its default network from the host (bridge, iptables
   * rules, its containers' namespaces and veths). `keepNetwork`: leave it, for an agent started
   * again on the same root (whose stop removes it).
   */
  stop(opts?: { keepNetwork?: boolean }): Promise<void>;
}

const networks = new Map<string, { bridge: string; subnet: string }>();
let networkCounter = 0;

/**
 * The default network of the test agent of `root`: a bridge and a /24 of its own, so agents of
 * concurrent test files (other processes) and of one file never share addresses; the same again
 * for an agent restarted on the same root. Derived from the pid and a counter; a name some
 * interface already has is skipped. Subnets are 10.100.0.0/24 .. 10.227.255.0/24.
 */
export function testNetwork(root: string): { bridge: string; subnet: string } {
  let n = networks.get(root);
  for (let i = 0; !n && i < 64; i++) {
    const key = ((process.pid % 4096) * 8 + networkCounter++) % 32768;
    const bridge = `bt${key}`;
    if (existsSync(`/sys/class/net/${bridge}`)) continue;
    n = { bridge, subnet: `10.${100 + (key >> 8)}.${key & 255}.0/24` };
  }
  if (!n) throw new Error('no free test bridge name');
  networks.set(root, n);
  return n;
}

/** The test networks made and not removed yet, for the last-resort cleanup at exit. */
const liveNetworks = new Map<string, { bridge: string; subnet: string }>();

/**
 * The namespaces and veths of containers on `bridge`: its veths (vb + 11 hex of the id) and the
 * namespaces berth-<12 hex> they lead to; plus those of the container ids under `root`.
 */
function containerLinks(root: string, bridge: string): { veths: string[]; namespaces: string[] } {
  const veths = new Set<string>();
  const prefixes = new Set<string>();
  try {
    for (const d of readdirSync(join(root, 'containers'))) {
      if (!/^[0-9a-f]{64}$/.test(d)) continue;
      veths.add(vethName(d));
      prefixes.add(netnsName(d));
    }
  } catch {
    /* no containers (or the root is gone already) */
  }
  try {
    for (const l of readdirSync(`/sys/class/net/${bridge}/brif`)) {
      if (!/^vb[0-9a-f]{11}$/.test(l)) continue;
      veths.add(l);
      prefixes.add(`berth-${l.slice(2)}`);
    }
  } catch {
    /* no bridge */
  }
  let all: string[] = [];
  try {
    all = readdirSync('/run/netns');
  } catch {
    /* none */
  }
  return { veths: [...veths], namespaces: all.filter((n) => [...prefixes].some((p) => n.startsWith(p))) };
}

/**
 * Removes what a stopped test agent's network left on the host: the namespaces and veths of its
 * containers, its iptables rules and its bridge.
 */
async function removeTestNetwork(root: string, bridge: string, subnet: string): Promise<void> {
  const { veths, namespaces } = containerLinks(root, bridge);
  for (const v of veths) if (existsSync(`/sys/class/net/${v}`)) execFileSync('ip', ['link', 'del', 'dev', v], { stdio: 'ignore' });
  for (const n of namespaces) execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  await removeBridgeNetwork({ bridge, subnet: parseSubnet(subnet, 'test agent') }, 'stop test agent');
  liveNetworks.delete(root);
}

/** The same, synchronously and best effort: for a test process that exits without its cleanups. */
function removeTestNetworksSync(): void {
  const quiet = (cmd: string, args: string[]) => {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  for (const [root, { bridge, subnet }] of liveNetworks) {
    const { veths, namespaces } = containerLinks(root, bridge);
    for (const v of veths) quiet('ip', ['link', 'del', 'dev', v]);
    for (const n of namespaces) quiet('ip', ['netns', 'del', n]);
    for (const r of buildRules({ bridge, subnet: parseSubnet(subnet, 'test agent') })) {
      for (let i = 0; i < 8 && quiet('iptables', ruleArgs(r, 'delete')); i++);
    }
    quiet('ip', ['link', 'del', 'dev', bridge]);
  }
  liveNetworks.clear();
}
process.once('exit', removeTestNetworksSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, removeTestNetworksSync);

function requireBundle(): void {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run "npm run build" (npm test does it first)`);
}

/**
 * Starts an agent; `root` reuses a state directory (to test restarts). `socket`: listen there
 * instead of `<root>/agent.sock`. `launcher`: argv the agent's own command line is appended to
 * (e.g. unshare(1) and a shell that mounts a tmpfs on the root in the agent's own namespace and
 * then execs "$@"); it must exec the agent in the end, so the child's pid is the agent's.
 */
export async function startAgent(
  opts: { root?: string; env?: NodeJS.ProcessEnv; socket?: string; launcher?: string[] } = {},
): Promise<TestAgent> {
  requireBundle();
  const root = opts.root ?? (await makeTempDir('berth-root-'));
  const socket = opts.socket ?? join(root, 'agent.sock');
  const net = testNetwork(root);
  const env = { ...process.env, BERTH_BRIDGE: net.bridge, BERTH_SUBNET: net.subnet, ...opts.env, BERTH_ROOT: root, BERTH_SOCKET: socket };
  const agentArgv = [process.execPath, '--enable-source-maps', BUNDLE, 'agent'];
  const argv = opts.launcher?.length ? [...opts.launcher, ...agentArgv] : agentArgv;
  liveNetworks.set(root, { bridge: env.BERTH_BRIDGE!, subnet: env.BERTH_SUBNET! });
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const connections = new Set<MessageConnection>();
  const stop = async (keepNetwork = false) => {
    for (const c of connections) c.dispose();
    await stopChild(child);
    if (!keepNetwork) await removeTestNetwork(root, env.BERTH_BRIDGE!, env.BERTH_SUBNET!);
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
    async stop(o?: { keepNetwork?: boolean }) {
      unregister();
      await stop(o?.keepNetwork === true);
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
  return runChild(cmd, args, { env }, input, timeoutMs);
}

/**
 * The runner behind {@link runWithInput} and {@link berthAs}: `input` undefined leaves stdin
 * closed (/dev/null) instead of a pipe.
 */
function runChild(
  cmd: string,
  args: string[],
  opts: Pick<SpawnOptions, 'env' | 'uid' | 'gid' | 'cwd'>,
  input: string | ((write: (s: string) => void, out: () => string) => Promise<void>) | undefined,
  timeoutMs: number,
): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { ...opts, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
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
    if (input === undefined) return;
    child.stdin!.on('error', () => undefined);
    if (typeof input === 'string') child.stdin!.end(input);
    else
      void input(
        (s) => child.stdin!.write(s),
        () => stdout,
      ).then(() => child.stdin!.end());
  });
}

/** Runs `berth ARGS...` (bin/berth, as installed) to completion, bounded by `timeoutMs`. */
export function berth(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CliResult> {
  requireBundle();
  return runWithInput(process.execPath, [join(REPO, 'bin', 'berth'), ...args], env, '', timeoutMs);
}

/**
 * Runs `berth ARGS...` as `uid` (group `uid` too, cwd /, stdin closed), bounded by `timeoutMs`:
 * for what the agent does for a caller that is not root.
 */
export function berthAs(uid: number, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliResult> {
  requireBundle();
  return runChild(process.execPath, [join(REPO, 'bin', 'berth'), ...args], { env, uid, gid: uid, cwd: '/' }, undefined, timeoutMs);
}
