/**
 * Connecting the CLI to the agent: the socket from agentPaths(), and, for root, starting an agent in
 * the background when none answers.
 */
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  createMessageConnection,
  type CancellationToken,
  type MessageConnection,
  ResponseError,
  ErrorCodes,
  SocketMessageReader,
  SocketMessageWriter,
  type RequestType,
  type RequestType0,
} from 'vscode-jsonrpc/node';
import { isRoot, spawnBackgroundAgent } from '../agent/autostart';
import { agentPaths } from '../agent/config';

export interface ConnectOptions {
  /** The socket; agentPaths() (BERTH_ROOT / BERTH_SOCKET) when absent. */
  socket?: string;
  /** Start an agent in the background when none answers and we are root. Default true. */
  autostart?: boolean;
  /** The environment to read BERTH_ROOT / BERTH_SOCKET from; process.env when absent. */
  env?: NodeJS.ProcessEnv;
}

export interface AgentClient {
  readonly connection: MessageConnection;
  readonly socket: string;
  /** Sends a request; rejects with {@link ConnectionLostError} if the connection drops first. */
  request<P, R>(type: RequestType<P, R, unknown>, params: P, token?: CancellationToken): Promise<R>;
  request0<R>(type: RequestType0<R, unknown>, token?: CancellationToken): Promise<R>;
  /** Resolves when the connection closes (either side). */
  readonly closed: Promise<void>;
  close(): void;
}

/** The agent could not be reached, or went away: printed as one line, exit code 1. */
export class AgentUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentUnreachableError';
  }
}

export class ConnectionLostError extends Error {
  constructor(socket: string) {
    super(`lost the connection to the agent at ${socket}`);
    this.name = 'ConnectionLostError';
  }
}

function connectSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** vscode-jsonrpc's own codes for a broken transport (the agent's codes are all >= 1000). */
const TRANSPORT_ERRORS = new Set<number>([
  ErrorCodes.MessageWriteError,
  ErrorCodes.MessageReadError,
  ErrorCodes.PendingResponseRejected,
  ErrorCodes.ConnectionInactive,
]);

function wrap(socket: Socket, path: string): AgentClient {
  const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
  let lost = false;
  let closedByUs = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  connection.onClose(() => {
    if (!closedByUs) lost = true;
    // Pending requests would wait forever on a closed connection; disposing rejects them.
    connection.dispose();
    resolveClosed();
  });
  socket.on('close', () => {
    if (!closedByUs) lost = true;
    connection.dispose();
    resolveClosed();
  });
  connection.listen();
  const translate = (err: unknown): never => {
    if (lost || (err instanceof ResponseError && TRANSPORT_ERRORS.has(err.code))) throw new ConnectionLostError(path);
    if (err instanceof Error && /connection (is|got) (closed|disposed)/i.test(err.message)) throw new ConnectionLostError(path);
    throw err;
  };
  const send = async <R>(f: () => Promise<R>): Promise<R> => {
    try {
      return await f();
    } catch (err) {
      return translate(err);
    }
  };
  return {
    connection,
    socket: path,
    closed,
    // sendRequest throws synchronously on a closed connection; `send` turns both kinds into one.
    request: (type, params, token) => send(() => connection.sendRequest(type, params, token)),
    request0: (type, token) => send(() => connection.sendRequest(type, token)),
    close() {
      closedByUs = true;
      connection.dispose();
      socket.destroy();
      resolveClosed();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  const fail = (err: unknown, extra = ''): AgentUnreachableError => {
    const e = err as NodeJS.ErrnoException;
    const why = e?.code ?? e?.message ?? String(err);
    const how = e?.code === 'EACCES' ? 'run berth as root, or as the user the agent was started for' : 'start it with `sudo berth agent`';
    return new AgentUnreachableError(`berth: cannot reach the agent at ${socket}: ${why}${extra}; ${how}`);
  };
  try {
    return wrap(await connectSocket(socket), socket);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!autostart || (code !== 'ENOENT' && code !== 'ECONNREFUSED')) throw fail(err);
  }
  const started = spawnBackgroundAgent(selfCommand(), paths.root, socket, env);
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    try {
      return wrap(await connectSocket(socket), socket);
    } catch (err) {
      last = err;
    }
    const exited = started.exited();
    if (exited) throw fail(last, ` (the agent started in the background stopped: ${exited}; see ${started.log})`);
  }
  throw fail(last, ` (an agent started in the background did not answer within 5 s; see ${started.log})`);
}
