/**
 * The CLI's use of the connection state machine (client/connection.ts): one attempt, starting an
 * agent in the background when allowed, without the version handshake and without reconnecting;
 * the connection then lives as long as the command.
 */
import type { CancellationToken, NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';
import { AgentConnection, type AgentConnectionOptions, type AgentState, ConnectionLostError } from './connection';

/** What a one-shot client (the CLI) holds: requests, notifications both ways, and the connection's end. */
export interface AgentClient {
  readonly socket: string;
  /** Sends a request; rejects with {@link ConnectionLostError} if the connection drops first. */
  request<P, R>(type: RequestType<P, R, unknown>, params: P, token?: CancellationToken): Promise<R>;
  request0<R>(type: RequestType0<R, unknown>, token?: CancellationToken): Promise<R>;
  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): { dispose(): void };
  /** Sends a notification; dropped once the connection is gone. */
  notify<P>(type: NotificationType<P>, params: P): void;
  /** Resolves when the connection closes (either side). */
  readonly closed: Promise<void>;
  close(): void;
}

/** The one attempt of {@link connectOnce} failed; `state` says why (reason, errno cause, background agent). */
export class ConnectFailedError extends Error {
  constructor(readonly state: Extract<AgentState, { kind: 'disconnected' }>) {
    super(`cannot reach the agent at ${state.socket}: ${state.reason}`);
    this.name = 'ConnectFailedError';
  }
}

/**
 * One attempt to reach the agent on `socket` (starting one through `autostart` when nothing listens
 * there, then waiting ≤ 5 s for it), without the handshake and without reconnecting: what a CLI
 * command needs. Rejects with {@link ConnectFailedError}.
 */
export async function connectOnce(
  opts: Pick<AgentConnectionOptions, 'autostart' | 'connectTimeoutMs'> & { socket: string; log?: (line: string) => void },
): Promise<AgentClient> {
  const socket = opts.socket;
  const conn = new AgentConnection({
    socket: () => socket,
    autostart: opts.autostart,
    connectTimeoutMs: opts.connectTimeoutMs,
    log: opts.log ?? (() => undefined),
    reconnect: false,
    handshake: false,
  });
  const outcome = await new Promise<AgentState>((resolve) => {
    const sub = conn.onDidChangeState((s) => {
      if (s.kind !== 'connected' && s.kind !== 'disconnected') return;
      sub.dispose();
      resolve(s);
    });
    conn.start();
  });
  if (outcome.kind === 'disconnected') {
    conn.dispose();
    throw new ConnectFailedError(outcome);
  }
  let ended!: () => void;
  const closed = new Promise<void>((r) => (ended = r));
  conn.onDidChangeState((s) => {
    if (s.kind !== 'connected') ended();
  });
  // Once the connection is gone a request is "lost", as one in flight when it went.
  const live = () => (conn.state.kind === 'connected' ? undefined : Promise.reject(new ConnectionLostError(socket)));
  return {
    socket,
    request: (type, params, token) => live() ?? conn.request(type, params, token, { awaitCancelled: true }),
    request0: (type, token) => live() ?? conn.request0(type, token, { awaitCancelled: true }),
    onNotification: (type, handler) => conn.onNotification(type, handler),
    notify: (type, params) => conn.notify(type, params),
    closed,
    close: () => conn.dispose(),
  };
}
