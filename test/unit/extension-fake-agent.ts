/**
 * A fake Berth agent on a real Unix socket for the extension's unit tests: answers version,
 * subscribe and image/list with vscode-jsonrpc, pushes events on demand, and can misbehave (never
 * answer, speak another protocol revision, go away).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createMessageConnection, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { ResponseError } from 'vscode-jsonrpc';
import {
  API_VERSION,
  ErrorCode,
  EventNotification,
  ListImagesRequest,
  PullProgressNotification,
  PullRequest,
  SubscribeRequest,
  VersionRequest,
  type BerthEvent,
  type ImageSummary,
} from '../../protocol';

export interface FakeAgentOptions {
  /** Never answer `berth/version`. */
  silent?: boolean;
  apiVersion?: number;
}

export class FakeAgent {
  images: ImageSummary[] = [];
  listCalls = 0;
  /** Leave `image/list` unanswered. */
  hangList = false;
  /** Pulls the client cancelled (`$/cancelRequest` arrived). */
  cancelledPulls: string[] = [];
  subscribers = new Set<MessageConnection>();
  private server: Server | undefined;
  private sockets = new Set<Socket>();

  constructor(
    readonly socket: string,
    private readonly opts: FakeAgentOptions = {},
  ) {}

  static dir(): { dir: string; socket: string; remove(): void } {
    const dir = mkdtempSync('/tmp/berth-ext-unit-');
    return { dir, socket: join(dir, 'agent.sock'), remove: () => rmSync(dir, { recursive: true, force: true }) };
  }

  async listen(): Promise<this> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.socket, () => res());
    });
    this.server = server;
    return this;
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    const c = createMessageConnection(new SocketMessageReader(s), new SocketMessageWriter(s));
    c.onRequest(VersionRequest.type, () =>
      this.opts.silent
        ? new Promise<never>(() => {})
        : { Version: 'fake', ApiVersion: this.opts.apiVersion ?? API_VERSION, Os: 'linux', Arch: 'amd64', Pid: process.pid, Root: '/fake', Socket: this.socket },
    );
    c.onRequest(SubscribeRequest.type, () => {
      this.subscribers.add(c);
    });
    c.onRequest(ListImagesRequest.type, () => {
      this.listCalls++;
      return this.hangList ? new Promise<never>(() => {}) : this.images;
    });
    // A pull that reports one layer's progress, then waits until the client cancels it.
    c.onRequest(PullRequest.type, (p, token) => {
      if (p.progressToken) {
        void c.sendNotification(PullProgressNotification.type, {
          token: p.progressToken,
          reference: p.reference,
          layer: { digest: 'sha256:l1', phase: 'downloading', current: 10, total: 100 },
        });
      }
      return new Promise<never>((_, reject) =>
        token.onCancellationRequested(() => {
          this.cancelledPulls.push(p.reference);
          reject(new ResponseError(ErrorCode.Cancelled, `pull ${p.reference}: cancelled`, { operation: 'pull' }));
        }),
      );
    });
    c.onClose(() => this.subscribers.delete(c));
    c.listen();
  }

  emit(e: Partial<BerthEvent> = {}): void {
    const event = { Type: 'image', Action: 'tag', Actor: { ID: 'sha256:x', Attributes: {} }, time: 0, timeNano: 0, ...e } as BerthEvent;
    for (const c of this.subscribers) void c.sendNotification(EventNotification.type, event);
  }

  /** Stops listening, removes the socket and drops every connection (as a killed agent would). */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

/** Resolves when `pred` holds, checking on every state change or event; rejects after `ms`. */
export function until(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}
