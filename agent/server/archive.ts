/**
 * The edge of `cp`: the `container/archive/*` requests, delegated to runtime/containers/copy.ts.
 * The only state is transport: the byte queue of each `container/archive/put` in flight on the
 * connection (AgentConnection.archivePuts), fed by `container/archive/write`.
 */
import {
  ArchiveDataNotification,
  ContainerPathStatRequest,
  GetArchiveRequest,
  PutArchiveRequest,
  WriteArchiveRequest,
} from '../../protocol';
import { BerthError, ErrorCode } from '../errors';
import { readContainerArchive, statContainerPath, writeContainerArchive } from '../runtime/containers/copy';
import { ByteQueue } from '../oci/byteQueue';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export { ByteQueue } from '../oci/byteQueue';

const MAX_WRITE_CHUNK = 1 << 20;

export function serveArchives(c: AgentConnection): void {
  const containers = c.services.containers;
  const puts = c.archivePuts;
  c.onClose(() => {
    for (const q of puts.values())
      q.fail(new BerthError(ErrorCode.Cancelled, 'copy to container: the client went away', { operation: 'copy to container' }));
  });

  serve(c, ContainerPathStatRequest, (p) => statContainerPath(containers, p.container, p.path, p.follow === true));

  serve(c, GetArchiveRequest, (p, token) =>
    c.withAbort(token, (signal) =>
      readContainerArchive(
        containers,
        p.container,
        p.path,
        (b) => c.rpc.sendNotification(ArchiveDataNotification.type, { token: p.token, data: b.toString('base64') }),
        signal,
      ),
    ),
  );

  serve(c, PutArchiveRequest, async (p) => {
    const op = 'copy to container';
    if (puts.has(p.token))
      throw new BerthError(ErrorCode.Conflict, `${op}: token "${p.token}" is in use on this connection`, { operation: op });
    // Registered before the first await: the writes that follow this request find it.
    const queue = new ByteQueue();
    puts.set(p.token, queue);
    try {
      const entries = await writeContainerArchive(containers, p.container, p.path, queue, {
        rename: p.rename,
        copyUIDGID: p.copyUIDGID === true,
      });
      return { entries };
    } catch (e) {
      queue.fail(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      puts.delete(p.token);
    }
  });

  serve(c, WriteArchiveRequest, async (p) => {
    const op = 'copy to container';
    const queue = puts.get(p.token);
    if (!queue || queue.failed)
      throw new BerthError(ErrorCode.NotFound, `${op}: no copy with token "${p.token}" is in progress on this connection`, {
        operation: op,
      });
    if (p.data !== undefined) {
      const b = Buffer.from(p.data, 'base64');
      if (b.length > MAX_WRITE_CHUNK)
        throw new BerthError(ErrorCode.InvalidArgument, `${op}: a chunk of ${b.length} bytes is over ${MAX_WRITE_CHUNK}`, {
          operation: op,
        });
      if (b.length) await queue.push(b);
    }
    if (p.eof === true) queue.end();
  });
}
