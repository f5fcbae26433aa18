/**
 * The edge of `cp`: decodes `container/archive/*` requests and delegates to
 * runtime/containers/copy.ts. The only state here is transport: the byte queue of each
 * `container/archive/put` in flight on this connection, fed by `container/archive/write`.
 */
import type { CancellationToken, MessageConnection } from 'vscode-jsonrpc';
import {
  ArchiveDataNotification,
  ContainerPathStatRequest,
  GetArchiveRequest,
  PutArchiveRequest,
  WriteArchiveRequest,
  type ContainerPathParams,
  type ContainerPathStat,
  type GetArchiveParams,
  type PutArchiveParams,
  type WriteArchiveParams,
} from '../../protocol';
import { BerthError, ErrorCode } from '../errors';
import { ByteQueue } from '../oci/byteQueue';
import { readContainerArchive, statContainerPath, writeContainerArchive } from '../runtime/containers/copy';
import type { ContainerService } from '../runtime/containers/service';

const MAX_WRITE_CHUNK = 1 << 20;

type On = <P, R>(type: { method: string }, operation: string, fn: (params: P, token: CancellationToken) => Promise<R> | R) => void;

function str(params: unknown, key: string, operation: string, max = 4096): string {
  const v = (params as Record<string, unknown> | undefined)?.[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw new BerthError(ErrorCode.InvalidArgument, `${operation}: "${key}" must be a string of 1 to ${max} characters`, { operation });
  return v;
}

export function registerArchiveHandlers(
  conn: MessageConnection,
  containers: ContainerService,
  on: On,
  withAbort: <T>(token: CancellationToken, fn: (signal: AbortSignal) => Promise<T>) => Promise<T>,
): () => void {
  const puts = new Map<string, ByteQueue>();

  on<ContainerPathParams, ContainerPathStat>(ContainerPathStatRequest, 'stat in container', (p) =>
    statContainerPath(containers, str(p, 'container', 'stat in container'), str(p, 'path', 'stat in container'), p.follow === true),
  );

  on<GetArchiveParams, ContainerPathStat & { bytes: number }>(GetArchiveRequest, 'copy from container', (p, token) => {
    const op = 'copy from container';
    const container = str(p, 'container', op);
    const path = str(p, 'path', op);
    const t = str(p, 'token', op, 256);
    return withAbort(token, (signal) =>
      readContainerArchive(
        containers,
        container,
        path,
        (b) => conn.sendNotification(ArchiveDataNotification.type, { token: t, data: b.toString('base64') }),
        signal,
      ),
    );
  });

  on<PutArchiveParams, { entries: number }>(PutArchiveRequest, 'copy to container', async (p) => {
    const op = 'copy to container';
    const container = str(p, 'container', op);
    const path = str(p, 'path', op);
    const t = str(p, 'token', op, 256);
    const r = p.rename;
    if (
      r !== undefined &&
      (typeof r !== 'object' ||
        r === null ||
        typeof r.from !== 'string' ||
        typeof r.to !== 'string' ||
        !/^[^/\0]{1,255}$/.test(r.from) ||
        !/^[^/\0]{1,255}$/.test(r.to) ||
        r.to === '..' ||
        ['.', '..'].includes(r.from))
    ) {
      throw new BerthError(ErrorCode.InvalidArgument, `${op}: "rename" must be {from, to}, each a file name`, { operation: op });
    }
    if (puts.has(t)) throw new BerthError(ErrorCode.Conflict, `${op}: token "${t}" is in use on this connection`, { operation: op });
    // Registered before the first await: the writes that follow this request find it.
    const queue = new ByteQueue();
    puts.set(t, queue);
    try {
      const entries = await writeContainerArchive(containers, container, path, queue, { rename: r, copyUIDGID: p.copyUIDGID === true });
      return { entries };
    } catch (e) {
      queue.fail(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      puts.delete(t);
    }
  });

  on<WriteArchiveParams, void>(WriteArchiveRequest, 'copy to container', async (p) => {
    const op = 'copy to container';
    const t = str(p, 'token', op, 256);
    const queue = puts.get(t);
    if (!queue || queue.failed)
      throw new BerthError(ErrorCode.NotFound, `${op}: no copy with token "${t}" is in progress on this connection`, { operation: op });
    if (p.data !== undefined) {
      if (typeof p.data !== 'string') throw new BerthError(ErrorCode.InvalidArgument, `${op}: "data" must be base64`, { operation: op });
      const b = Buffer.from(p.data, 'base64');
      if (b.length > MAX_WRITE_CHUNK)
        throw new BerthError(ErrorCode.InvalidArgument, `${op}: a chunk of ${b.length} bytes is over ${MAX_WRITE_CHUNK}`, {
          operation: op,
        });
      if (b.length) await queue.push(b);
    }
    if (p.eof === true) queue.end();
  });

  return () => {
    for (const q of puts.values())
      q.fail(new BerthError(ErrorCode.Cancelled, 'copy to container: the client went away', { operation: 'copy to container' }));
  };
}
