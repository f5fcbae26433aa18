/**
 * Every client's link to the agent: one JSON-RPC connection over the agent's Unix socket. The VS
 * Code extension keeps one alive for the life of the window (reconnecting, with the version
 * handshake and the event subscription); the CLI makes one attempt per command with
 * connectOnce (client/connectOnce.ts: no reconnect, no handshake). Plain TypeScript (no `vscode` import), so the
 * state machine is tested against fake agents on real sockets.
 *
 *            start()                 version + subscribe answered
 *   idle ──────────────▶ connecting ──────────────────────────────▶ connected
 *                          ▲   │ fails                                 │ socket closes
 *     timer (backoff) or   │   ▼                                       ▼
 *     the socket appears ──┴─ disconnected ◀──────────────────────────┘
 *
 * Reconnecting is event-driven where the OS allows: the socket's directory is watched, so an agent
 * that comes back is reached at once; a backoff timer (bounded) covers what the watch cannot see.
 * The agent's state is never polled: changes arrive as `berth/event` notifications.
 *
 * A broken agent is survived, not waited on: a request whose token is cancelled, or whose
 * `timeoutMs` passes, settles at once on this side (the agent is still told, `$/cancelRequest`),
 * so a hung agent cannot hang a caller (the CLI, which bounds that wait itself, asks to wait for the
 * agent's answer to a cancellation: `awaitCancelled`); a malformed message (bad framing, bad JSON, not JSON-RPC
 * 2.0, or more than {@link MAX_UNFRAMED_BYTES} without a complete message) drops the connection
 * and reconnects with the usual backoff, as a crash does. Each case reaches callers as an Error
 * whose message is a sentence (RequestTimeoutError, ConnectionLostError, a Cancelled
 * ResponseError) and the state's `reason`.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import {
  type CancellationToken,
  CancellationTokenSource,
  Emitter,
  ErrorCodes,
  ResponseError,
  type Event,
  type MessageConnection,
  type NotificationType,
  type RequestType,
  type RequestType0,
} from 'vscode-jsonrpc';
import { createMessageConnection, SocketMessageWriter } from 'vscode-jsonrpc/node';
import { isErrno } from '../agent/errors';
import type { BackgroundAgent } from './autostart';
import { CheckedMessageReader, connectSocket, describe } from './transport';

export { MAX_UNFRAMED_BYTES } from './transport';
import {
  API_VERSION,
  ErrorCode,
  EventNotification,
  LogLineNotification,
  OutputNotification,
  PullProgressNotification,
  SubscribeRequest,
  VersionRequest,
  type BerthEvent,
  type LogLineParams,
  type OutputParams,
  type PullProgressParams,
  type VersionResult,
} from '../protocol';
import { WorkspaceProgressNotification, type WorkspaceProgressParams } from '../protocol';
import { BuildProgressNotification, type BuildProgressParams } from '../protocol';
import { ContainerChangedNotification, type ContainerChangedParams } from '../protocol';

export type AgentState =
  | { kind: 'idle' }
  | { kind: 'connecting'; socket: string }
  | {
      kind: 'connected';
      socket: string;
      /** The agent's `berth/version` answer; undefined when the connection was made without the handshake. */
      version?: VersionResult;
    }
  | {
      kind: 'disconnected';
      socket: string;
      /** Why, in English, for the log and tooltips ("connect ENOENT", "the agent closed the connection"). */
      reason: string;
      /** Nothing listens on the socket (ENOENT, ECONNREFUSED): an agent has to be started. */
      noAgent: boolean;
      /** When the next attempt is due (ms since the epoch); undefined once disposed, or without `reconnect`. */
      retryAt?: number;
      /** The error of the last attempt to reach the socket (an errno error such as ENOENT), when there was one. */
      cause?: unknown;
      /** An agent this connection started in the background for this attempt: its log, and why it ended if it did. */
      background?: { log: string; exited?: string };
    }
  | { kind: 'disposed' };

/** What starting an agent in the background returns (client/autostart.ts). */
export type AutostartResult = BackgroundAgent;

export interface AgentConnectionOptions {
  /** The socket to use; asked before every attempt, so a changed setting takes effect. */
  socket: () => string;
  /**
   * Starts an agent when none answers on the first attempt (only offered when allowed: VS Code
   * runs as root and autostart is not switched off). Absent: never start one.
   */
  autostart?: (socket: string) => AutostartResult;
  /** One line for the output channel. */
  log: (line: string) => void;
  /** Backoff between attempts: first wait and cap, in ms. Default 500 and 10,000. */
  backoff?: { initialMs: number; maxMs: number };
  /** How long connecting (socket + version + subscribe) may take before it counts as failed. Default 5,000. */
  connectTimeoutMs?: number;
  /** Try again (backoff timer, socket watch) after a failed attempt or a lost connection. Default true. */
  reconnect?: boolean;
  /** Ask `berth/version` (checking the protocol revision) and `berth/subscribe` once connected. Default true. */
  handshake?: boolean;
}

/** A request made while there is no connection. */
export class NotConnectedError extends Error {
  constructor(readonly state: AgentState) {
    super(state.kind === 'disconnected' ? `not connected to the agent at ${state.socket}: ${state.reason}` : 'not connected to the agent');
    this.name = 'NotConnectedError';
  }
}

/** The connection dropped while a request waited for its answer. */
export class ConnectionLostError extends Error {
  constructor(readonly socket: string) {
    super(`lost the connection to the agent at ${socket}`);
    this.name = 'ConnectionLostError';
  }
}

/** A request got no answer within the time its caller allowed. */
export class RequestTimeoutError extends Error {
  constructor(
    readonly socket: string,
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`the agent at ${socket} did not answer ${method} within ${timeoutMs / 1000} s; it may be stuck (its log says more)`);
    this.name = 'RequestTimeoutError';
  }
}

export interface RequestOptions {
  /** Give up after this many ms (the request is cancelled at the agent too). None by default: pulls, waits and execs take as long as they take. */
  timeoutMs?: number;
  /**
   * When `token` is cancelled, tell the agent and keep waiting for its answer (the CLI, which bounds
   * that wait itself) instead of settling at once. A timeout still settles at once.
   */
  awaitCancelled?: boolean;
}

/** For requests that only read the agent's state (lists, inspect, files): they answer in well under this. */
export const QUICK_REQUEST_TIMEOUT_MS = 30_000;

/** The agent speaks another protocol revision. */
export class IncompatibleAgentError extends Error {
  constructor(readonly version: VersionResult) {
    super(`the agent at ${version.Socket} speaks protocol ${version.ApiVersion}, this extension speaks ${API_VERSION}`);
    this.name = 'IncompatibleAgentError';
  }
}

/** vscode-jsonrpc's own codes for a broken transport (the agent's codes are all >= 1000). */
const TRANSPORT_ERRORS = new Set<number>([
  ErrorCodes.MessageWriteError,
  ErrorCodes.MessageReadError,
  ErrorCodes.PendingResponseRejected,
  ErrorCodes.ConnectionInactive,
]);

const NO_AGENT_CODES = new Set(['ENOENT', 'ECONNREFUSED']);

export class AgentConnection {
  private _state: AgentState = { kind: 'idle' };
  private connection: MessageConnection | undefined;
  private socketHandle: Socket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private delayMs: number;
  private attemptSeq = 0;
  private triedAutostart = false;
  /** Notification handlers by method, installed on every connection made. */
  private readonly notificationHandlers = new Map<string, Set<(params: unknown) => void>>();

  private readonly stateEmitter = new Emitter<AgentState>();
  private readonly eventEmitter = new Emitter<BerthEvent>();
  private readonly progressEmitter = new Emitter<PullProgressParams>();
  private readonly logLineEmitter = new Emitter<LogLineParams>();
  private readonly outputEmitter = new Emitter<OutputParams>();
  private readonly workspaceProgressEmitter = new Emitter<WorkspaceProgressParams>();
  private readonly containerChangedEmitter = new Emitter<ContainerChangedParams>();
  private readonly buildProgressEmitter = new Emitter<BuildProgressParams>();
  /** Fires on every state change. */
  readonly onDidChangeState: Event<AgentState> = this.stateEmitter.event;
  /** `berth/event` notifications from the agent. */
  readonly onEvent: Event<BerthEvent> = this.eventEmitter.event;
  /** `image/pullProgress` notifications (every token: listeners filter their own). */
  readonly onPullProgress: Event<PullProgressParams> = this.progressEmitter.event;
  /** `container/logLine` notifications (every token: listeners filter their own). */
  readonly onLogLine: Event<LogLineParams> = this.logLineEmitter.event;
  /** `container/output` notifications of execs started on this connection (listeners filter their token). */
  readonly onOutput: Event<OutputParams> = this.outputEmitter.event;
  /** `workspace/progress` notifications of `workspace/up` requests (every token: listeners filter their own). */
  readonly onWorkspaceProgress: Event<WorkspaceProgressParams> = this.workspaceProgressEmitter.event;
  /** `container/changed` notifications of watches made on this connection (listeners filter their token). */
  readonly onContainerChanged: Event<ContainerChangedParams> = this.containerChangedEmitter.event;
  /** `image/buildProgress` notifications of `image/build` requests (every token: listeners filter their own). */
  readonly onBuildProgress: Event<BuildProgressParams> = this.buildProgressEmitter.event;

  constructor(private readonly opts: AgentConnectionOptions) {
    this.delayMs = this.backoff.initialMs;
    this.onNotification(EventNotification.type, (e) => this.eventEmitter.fire(e));
    this.onNotification(PullProgressNotification.type, (p) => this.progressEmitter.fire(p));
    this.onNotification(LogLineNotification.type, (l) => this.logLineEmitter.fire(l));
    this.onNotification(OutputNotification.type, (o) => this.outputEmitter.fire(o));
    this.onNotification(WorkspaceProgressNotification.type, (w) => this.workspaceProgressEmitter.fire(w));
    this.onNotification(ContainerChangedNotification.type, (c) => this.containerChangedEmitter.fire(c));
    this.onNotification(BuildProgressNotification.type, (b) => this.buildProgressEmitter.fire(b));
  }

  /**
   * Calls `handler` with every `type` notification the agent sends, on this connection and the ones
   * made after a reconnect, until the returned handle is disposed.
   */
  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): { dispose(): void } {
    let set = this.notificationHandlers.get(type.method);
    if (!set) this.notificationHandlers.set(type.method, (set = new Set()));
    const h = handler as (params: unknown) => void;
    set.add(h);
    return { dispose: () => void set.delete(h) };
  }

  get state(): AgentState {
    return this._state;
  }

  private get backoff() {
    return this.opts.backoff ?? { initialMs: 500, maxMs: 10_000 };
  }

  /** Starts connecting (once). */
  start(): void {
    if (this._state.kind === 'idle') void this.attempt();
  }

  /** Drops any connection or pending retry and tries again now, with a fresh backoff. */
  reconnect(): void {
    if (this._state.kind === 'disposed') return;
    this.delayMs = this.backoff.initialMs;
    this.closeConnection();
    void this.attempt();
  }

  async request<P, R>(type: RequestType<P, R, unknown>, params: P, token?: CancellationToken, opts?: RequestOptions): Promise<R> {
    return this.send(type.method, (c, t) => c.sendRequest(type, params, t), token, opts);
  }

  async request0<R>(type: RequestType0<R, unknown>, token?: CancellationToken, opts?: RequestOptions): Promise<R> {
    return this.send(type.method, (c, t) => c.sendRequest(type, t), token, opts);
  }

  /**
   * Sends a notification (`container/input`, `container/resize`). Without a connection it is
   * dropped, as the agent drops input for a process that went with a lost connection.
   */
  notify<P>(type: NotificationType<P>, params: P): void {
    const c = this.connection;
    if (!c || this._state.kind !== 'connected') return;
    // A write to a connection that is closing fails; the notification is dropped as documented.
    void c.sendNotification(type, params).catch(() => undefined);
  }

  dispose(): void {
    this.attemptSeq++;
    this.clearRetry();
    this.stopWatching();
    this.closeConnection();
    this.setState({ kind: 'disposed' });
    this.stateEmitter.dispose();
    this.eventEmitter.dispose();
    this.progressEmitter.dispose();
    this.logLineEmitter.dispose();
    this.outputEmitter.dispose();
    this.workspaceProgressEmitter.dispose();
    this.containerChangedEmitter.dispose();
    this.buildProgressEmitter.dispose();
  }

  /**
   * Sends one request. Cancelling `token`, or `timeoutMs` passing, rejects at once (Cancelled, or
   * RequestTimeoutError) and tells the agent; vscode-jsonrpc alone would wait for the agent's
   * answer, which a hung agent never sends.
   */
  private async send<R>(
    method: string,
    f: (c: MessageConnection, token: CancellationToken) => Promise<R>,
    token?: CancellationToken,
    opts?: RequestOptions,
  ): Promise<R> {
    const c = this.connection;
    if (!c || this._state.kind !== 'connected') throw new NotConnectedError(this._state);
    const socket = this._state.socket;
    const source = new CancellationTokenSource();
    const subscriptions: { dispose(): unknown }[] = [];
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const settledHere = new Promise<never>((_, reject) => {
      subscriptions.push(
        source.token.onCancellationRequested(() => {
          if (timedOut) reject(new RequestTimeoutError(socket, method, opts!.timeoutMs!));
          else if (!opts?.awaitCancelled) reject(new ResponseError(ErrorCode.Cancelled, `${method}: cancelled`, { operation: method }));
        }),
      );
    });
    if (token) {
      if (token.isCancellationRequested) source.cancel();
      else subscriptions.push(token.onCancellationRequested(() => source.cancel()));
    }
    if (opts?.timeoutMs && opts.timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        source.cancel();
      }, opts.timeoutMs);
    }
    try {
      return await Promise.race([f(c, source.token), settledHere]);
    } catch (err) {
      if (err instanceof RequestTimeoutError) {
        this.opts.log(err.message);
        throw err;
      }
      if (this.connection !== c) throw new ConnectionLostError(socket);
      if (err instanceof ResponseError && TRANSPORT_ERRORS.has(err.code)) throw new ConnectionLostError(socket);
      if (err instanceof Error && /connection (is|got) (closed|disposed)/i.test(err.message)) throw new ConnectionLostError(socket);
      throw err;
    } finally {
      clearTimeout(timer);
      for (const s of subscriptions) s.dispose();
      source.dispose();
    }
  }

  /** A newer attempt (or dispose) has replaced attempt `seq`. */
  private superseded(seq: number): boolean {
    return seq !== this.attemptSeq || this._state.kind === 'disposed';
  }

  private setState(s: AgentState): void {
    if (this._state.kind === 'disposed') return;
    this._state = s;
    this.stateEmitter.fire(s);
  }

  private async attempt(): Promise<void> {
    if (this._state.kind === 'disposed') return;
    this.clearRetry();
    const seq = ++this.attemptSeq;
    const socket = this.opts.socket();
    this.setState({ kind: 'connecting', socket });
    try {
      const { connection, handle, version } = await this.open(socket);
      if (this.superseded(seq)) {
        connection.dispose();
        handle.destroy();
        return;
      }
      this.connection = connection;
      this.socketHandle = handle;
      this.delayMs = this.backoff.initialMs;
      this.stopWatching();
      if (version)
        this.opts.log(`connected to the agent at ${socket} (version ${version.Version}, pid ${version.Pid}, root ${version.Root})`);
      else this.opts.log(`connected to the agent at ${socket}`);
      this.setState({ kind: 'connected', socket, version });
    } catch (err) {
      if (this.superseded(seq)) return;
      const code = (err as NodeJS.ErrnoException).code;
      const noAgent = code !== undefined && NO_AGENT_CODES.has(code);
      if (noAgent && !this.triedAutostart && this.opts.autostart) {
        this.triedAutostart = true;
        await this.autostart(socket, seq);
        return;
      }
      this.fail(socket, describe(err), noAgent, { cause: err });
    }
  }

  /** Starts an agent, then waits (≤ 5 s) for its socket to answer; the watch usually sees it first. */
  private async autostart(socket: string, seq: number): Promise<void> {
    let started: AutostartResult;
    try {
      started = this.opts.autostart!(socket);
    } catch (err) {
      // Whatever spawning threw (EACCES on the log, EAGAIN...) is this attempt's failure.
      this.fail(socket, `could not start an agent: ${describe(err)}`, true, { cause: err });
      return;
    }
    this.opts.log(`no agent answered on ${socket}; started one in the background (log: ${started.log})`);
    const deadline = Date.now() + 5000;
    let last: unknown;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      if (this.superseded(seq)) return;
      try {
        const s = await connectSocket(socket, 1000);
        s.destroy();
        void this.attempt();
        return;
      } catch (err) {
        last = err;
      }
      const exited = started.exited();
      if (exited) {
        this.fail(socket, `the agent started in the background stopped (${exited}); see ${started.log}`, true, {
          cause: last,
          background: { log: started.log, exited },
        });
        return;
      }
    }
    this.fail(socket, `an agent started in the background did not answer within 5 s (${describe(last)}); see ${started.log}`, true, {
      cause: last,
      background: { log: started.log },
    });
  }

  private fail(
    socket: string,
    reason: string,
    noAgent: boolean,
    extra: Pick<Extract<AgentState, { kind: 'disconnected' }>, 'cause' | 'background'> = {},
  ): void {
    if (this.opts.reconnect === false) {
      this.opts.log(`cannot reach the agent at ${socket}: ${reason}`);
      this.setState({ kind: 'disconnected', socket, reason, noAgent, ...extra });
      return;
    }
    const wait = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
    this.opts.log(`cannot reach the agent at ${socket}: ${reason}; next attempt in ${(wait / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => void this.attempt(), wait);
    this.watchSocket(socket);
    this.setState({ kind: 'disconnected', socket, reason, noAgent, retryAt: Date.now() + wait, ...extra });
  }

  /** Socket, version check, subscription (the last two unless `handshake` is false): all within connectTimeoutMs. */
  private async open(socket: string): Promise<{ connection: MessageConnection; handle: Socket; version?: VersionResult }> {
    const timeoutMs = this.opts.connectTimeoutMs ?? 5000;
    const handle = await connectSocket(socket, timeoutMs);
    const reader = new CheckedMessageReader(handle);
    const connection = createMessageConnection(reader, new SocketMessageWriter(handle));
    // A malformed message leaves the stream unreadable: before the handshake it fails the attempt,
    // after it the connection is dropped and made again.
    let malformed!: (e: Error) => void;
    const broken = new Promise<never>((_, reject) => (malformed = reject));
    // Raced only during the handshake; a rejection outside it must not count as unhandled.
    broken.catch(() => undefined);
    connection.onError(([err, written]) => {
      const what = err?.message?.split('\n')[0] ?? String(err);
      // vscode-jsonrpc reports read errors without a message, write errors with the one it wrote.
      const reason = written === undefined ? `the agent sent a malformed message (${what})` : `writing to the agent failed (${what})`;
      if (this.connection === connection) this.lost(connection, reason);
      else malformed(new Error(reason));
    });
    connection.onNotification((method, params) => {
      for (const h of this.notificationHandlers.get(method) ?? []) h(params);
    });
    const lost = () => this.lost(connection);
    connection.onClose(lost);
    handle.on('close', lost);
    connection.listen();
    if (this.opts.handshake === false) return { connection, handle };
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the agent did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      const closed = new Promise<never>((_, reject) => {
        handle.once('close', () => reject(new Error('the agent closed the connection')));
      });
      const version = await Promise.race([connection.sendRequest(VersionRequest.type), timeout, closed, broken]);
      if (version === null || typeof version !== 'object' || typeof version.ApiVersion !== 'number')
        throw new Error('the agent answered berth/version with something that is not a version');
      if (version.ApiVersion !== API_VERSION) throw new IncompatibleAgentError(version);
      await Promise.race([connection.sendRequest(SubscribeRequest.type, {}), timeout, closed, broken]);
      return { connection, handle, version };
    } catch (err) {
      connection.dispose();
      handle.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private lost(connection: MessageConnection, reason = 'the agent closed the connection'): void {
    if (this.connection !== connection) return;
    const socket = this._state.kind === 'connected' ? this._state.socket : this.opts.socket();
    this.closeConnection();
    this.opts.log(`lost the connection to the agent at ${socket}: ${reason}`);
    // Reconnect soon: an agent that restarts is usually back within a second.
    this.delayMs = this.backoff.initialMs;
    this.fail(socket, reason, false);
  }

  private closeConnection(): void {
    const c = this.connection;
    const h = this.socketHandle;
    this.connection = undefined;
    this.socketHandle = undefined;
    // Disposing rejects the requests still waiting for an answer.
    c?.dispose();
    h?.destroy();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Watches the socket's directory: when the socket is (re)created, try at once. */
  private watchSocket(socket: string): void {
    if (this.watcher) return;
    const name = basename(socket);
    try {
      this.watcher = watch(dirname(socket), { persistent: false }, (_kind, file) => {
        if (file !== null && file.toString() !== name) return;
        if (this._state.kind !== 'disconnected') return;
        // Let the agent finish listen() after bind() created the file.
        this.clearRetry();
        this.retryTimer = setTimeout(() => void this.attempt(), 50);
      });
      this.watcher.on('error', () => this.stopWatching());
    } catch (e) {
      // The directory does not exist (yet), cannot be read, or inotify is out of watches: the timer covers it.
      if (!isErrno(e, 'ENOENT', 'ENOTDIR', 'EACCES', 'ENOSPC', 'EMFILE')) throw e;
      this.watcher = undefined;
    }
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}
