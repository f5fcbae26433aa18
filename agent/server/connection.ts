/**
 * One client connection and everything it owns: the attach sessions of its exec'd and attached
 * processes, its change watches, its `cp` uploads in flight, its event subscription, and the
 * abort controllers of its long requests (pull, push, build, workspace up, followed logs, waits).
 * The files of agent/server/ keep their per-connection state here, never in closures, and
 * `dispose` (called by agent/main.ts when the connection closes) ends all of it: long requests are
 * aborted (their temp work discarded), watches stopped, attached clients detached, exec'd
 * processes killed, uploads failed.
 */
import type { MessageConnection, CancellationToken, NotificationType } from 'vscode-jsonrpc';
import type { PeerCred } from '../../native';
import type { ImageService } from '../images/service';
import type { ContainerService } from '../runtime/containers/service';
import type { WorkspacePortWatcher } from '../workspace/ports';
import type { ByteQueue } from '../oci/byteQueue';

export interface ConnectionContext {
  /** Who is on the other end (absent over stdio, where the spawner owns the pipes). */
  peer?: PeerCred;
  root: string;
  socket: string;
  log: (msg: string) => void;
}

export interface Services {
  images: ImageService;
  containers: ContainerService;
  /** The agent's watcher of workspace containers' detected ports (agent/workspace/ports.ts). */
  workspacePorts?: WorkspacePortWatcher;
}

/** An attached process's input side (exec, streamed start), by token, on one connection. */
export interface StreamSession {
  write(data: Buffer): void;
  end(): void;
  resize(rows: number, cols: number): void;
  /** Bytes written but not yet taken by the process. */
  pending(): number;
}

export class AgentConnection {
  /** Attached processes' input sides by attach token (exec.ts). */
  readonly attachSessions = new Map<string, StreamSession>();
  /** Change watches by watch token, each the function that stops it (containers.ts). */
  readonly changeWatches = new Map<string, () => void>();
  /** `container/archive/put` byte queues by token, fed by `container/archive/write` (archive.ts). */
  readonly archivePuts = new Map<string, ByteQueue>();
  /** Set once `berth/subscribe` has subscribed this connection to events (events.ts). */
  subscribed = false;
  readonly log: (msg: string) => void;
  private readonly aborts = new Set<AbortController>();
  private readonly closers = new Set<() => void>();
  private disposed = false;

  constructor(
    readonly rpc: MessageConnection,
    readonly services: Services,
    readonly ctx: ConnectionContext,
  ) {
    this.log = ctx.log;
  }

  /** Sends a notification; one to a closed connection is dropped (the client no longer listens). */
  notify<P>(type: NotificationType<P>, params: P): void {
    try {
      void this.rpc.sendNotification(type, params).catch(() => undefined);
    } catch {
      // Any failure here means the connection is closed: nobody is left to tell.
    }
  }

  /**
   * Runs `fn` with a signal aborted when the request is cancelled or the connection closes, so
   * nothing runs on for nobody.
   */
  async withAbort<T>(token: CancellationToken, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    if (this.disposed) abort.abort();
    this.aborts.add(abort);
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      return await fn(abort.signal);
    } finally {
      sub.dispose();
      this.aborts.delete(abort);
    }
  }

  /** Runs `fn` when the connection closes, unless the returned function is called first. */
  onClose(fn: () => void): () => void {
    this.closers.add(fn);
    return () => void this.closers.delete(fn);
  }

  /** Ends everything the connection owns (see the file's header); idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const a of this.aborts) a.abort();
    for (const stop of this.changeWatches.values()) stop();
    this.changeWatches.clear();
    for (const close of [...this.closers]) close();
    this.closers.clear();
  }
}
