/**
 * The socket under client/connection.ts: connecting with a time limit, and a stricter JSON-RPC
 * reader (a malformed message or an endless one is an error, which drops the connection).
 */
import { connect, type Socket } from 'node:net';
import { type DataCallback, SocketMessageReader } from 'vscode-jsonrpc/node';

/** Bytes the agent may send without completing a message before the connection counts as broken (a 16 MiB file, base64, fits). */
export const MAX_UNFRAMED_BYTES = 64 * 1024 * 1024;

/**
 * vscode-jsonrpc's socket reader, stricter: every message must be JSON-RPC 2.0 (a request, a
 * notification or a response with a result or a well-formed error), and no more than
 * {@link MAX_UNFRAMED_BYTES} may arrive without completing one; otherwise it reports an error,
 * which drops the connection (see `open`). The library alone ignores such messages and buffers
 * without bound.
 */
export class CheckedMessageReader extends SocketMessageReader {
  private unframed = 0;

  constructor(private readonly socket: Socket) {
    super(socket);
  }

  override listen(callback: DataCallback) {
    const onData = (chunk: Buffer) => {
      this.unframed += chunk.length;
      if (this.unframed > MAX_UNFRAMED_BYTES)
        this.fireError(new Error(`more than ${MAX_UNFRAMED_BYTES / 1024 / 1024} MiB without a complete message`));
    };
    this.socket.on('data', onData);
    const sub = super.listen((message) => {
      this.unframed = 0;
      const problem = jsonRpcProblem(message);
      if (problem) this.fireError(new Error(problem));
      else callback(message);
    });
    return { dispose: () => (this.socket.off('data', onData), sub.dispose()) };
  }
}

/** Why `m` is not a JSON-RPC 2.0 message, or undefined when it is one. */
function jsonRpcProblem(m: unknown): string | undefined {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'not a JSON object';
  const o = m as Record<string, unknown>;
  if (o.jsonrpc !== '2.0') return 'not JSON-RPC 2.0 (no "jsonrpc": "2.0")';
  const idOk = o.id === null || typeof o.id === 'number' || typeof o.id === 'string';
  if ('method' in o) {
    if (typeof o.method !== 'string') return '"method" is not a string';
    if ('id' in o && !idOk) return 'a request with a bad "id"';
    return undefined;
  }
  if (!('id' in o) || !idOk) return 'neither a request, a notification nor a response';
  const hasResult = 'result' in o;
  const hasError = 'error' in o;
  if (hasResult === hasError) return 'a response needs exactly one of "result" and "error"';
  if (hasError) {
    const e = o.error as Record<string, unknown> | null;
    if (e === null || typeof e !== 'object' || typeof e.code !== 'number' || typeof e.message !== 'string')
      return 'an error response without a numeric "code" and a "message"';
  }
  return undefined;
}

export function connectSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connecting to ${path} took longer than ${timeoutMs / 1000} s`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', onError);
      resolve(s);
    });
    const onError = (e: Error) => {
      clearTimeout(timer);
      reject(e);
    };
    s.once('error', onError);
  });
}

/** An error as the state's `reason` words it: "connect ENOENT", or its message. */
export function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code && e.syscall) return `${e.syscall} ${e.code}`;
  return e?.message ?? String(err);
}
