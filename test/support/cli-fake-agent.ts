/**
 * A fake Berth agent for the CLI's tests: a real vscode-jsonrpc server on a real Unix socket in a
 * temporary directory, answering each method with whatever the test supplies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createMessageConnection,
  type CancellationToken,
  type MessageConnection,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
} from 'vscode-jsonrpc/node';

export type FakeHandler = (params: any, ctx: { conn: MessageConnection; token: CancellationToken; socket: Socket }) => unknown;

export interface FakeAgent {
  dir: string;
  socket: string;
  /** Every request received, in order. */
  calls: { method: string; params: unknown }[];
  close(): Promise<void>;
}

export async function startFakeAgent(handlers: Record<string, FakeHandler>): Promise<FakeAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cli-test-'));
  const socket = join(dir, 'agent.sock');
  const calls: FakeAgent['calls'] = [];
  const conns = new Set<MessageConnection>();
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const conn = createMessageConnection(new SocketMessageReader(s), new SocketMessageWriter(s));
    conns.add(conn);
    conn.onClose(() => conns.delete(conn));
    conn.onRequest(async (method: string, params: unknown, token: CancellationToken) => {
      calls.push({ method, params });
      const h = handlers[method];
      if (!h) return new ResponseError(-32601, `fake agent: no handler for ${method}`);
      try {
        return await h(params, { conn, token, socket: s });
      } catch (err) {
        if (err instanceof ResponseError) return err;
        throw err;
      }
    });
    conn.listen();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  return {
    dir,
    socket,
    calls,
    async close() {
      for (const c of conns) c.dispose();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
