/**
 * `cp` for containers: stat, read (a tar of a path) and write (a tar extracted into a directory)
 * inside a container's filesystem, running or not, without a shell or any program in it.
 *
 * The container's root is reached as /proc/PID/root: of its init while it runs (so its volumes,
 * binds and everything it changed are there), or, when it is stopped, of a *holder*: the helper
 * assembles the container's filesystem exactly as at start (overlay, /etc files, binds, volumes)
 * in a private mount namespace, pivots into it and sleeps (plan op `hold`), running nothing from
 * the image; it is killed when the copy is done. Nothing is ever mounted on the host. All paths
 * are resolved inside that root by agent/oci/tree.ts (openat2 RESOLVE_IN_ROOT).
 *
 * Written files belong to root (the agent), or keep the archive's owners with `copyUIDGID`
 * (`cp -a`), as in Docker.
 */
import { closeSync, openSync } from 'node:fs';
import { BerthError, ErrorCode, systemError } from '../../errors';
import { extractTree, packTree, statInRoot, type ExtractOptions, type PathStat } from '../../oci/tree';
import { launch } from '../helper';
import { buildHoldPlan } from '../plan';
import type { ContainerService } from './service';

const O_PATH = 0o10000000;
const O_DIRECTORY = 0o200000;

/** Runs `fn` with an fd of the container's root (see the module comment). */
async function withRoot<T>(svc: ContainerService, ref: string, operation: string, fn: (rootFd: number) => Promise<T>): Promise<T> {
  const rec = svc.find(ref, operation);
  const fs = svc.filesystemOf(rec);
  if (fs.pid !== undefined) {
    let rootFd: number;
    try {
      rootFd = openSync(`/proc/${fs.pid}/root`, O_PATH | O_DIRECTORY);
    } catch (e) {
      throw systemError(operation, e, { path: `/proc/${fs.pid}/root` });
    }
    try {
      return await fn(rootFd);
    } finally {
      closeSync(rootFd);
    }
  }
  if (svc.held.has(rec.id))
    throw new BerthError(ErrorCode.Conflict, `${operation}: another copy to or from container ${rec.name} is in progress`, { operation });
  svc.held.add(rec.id);
  try {
    const holder = await launch(buildHoldPlan(fs.spec), ['ignore', 'ignore', 'ignore'], { operation });
    try {
      const rootFd = openSync(`/proc/${holder.pid}/root`, O_PATH | O_DIRECTORY);
      try {
        return await fn(rootFd);
      } finally {
        closeSync(rootFd);
      }
    } finally {
      holder.kill('SIGKILL');
      await holder.exited;
    }
  } finally {
    svc.held.delete(rec.id);
  }
}

/** lstat of `path` in the container (stat with `follow`). NotFound when there is nothing. */
export function statContainerPath(svc: ContainerService, ref: string, path: string, follow = false): Promise<PathStat> {
  const op = 'stat in container';
  return withRoot(svc, ref, op, async (root) => statInRoot(root, path, op, follow));
}

/**
 * A tar of `path` in the container, chunk by chunk to `onChunk` (awaited: the consumer sets the
 * pace). Resolves with the path's stat once the whole archive has been handed over.
 */
export function readContainerArchive(
  svc: ContainerService,
  ref: string,
  path: string,
  onChunk: (b: Buffer) => Promise<void>,
  signal?: AbortSignal,
): Promise<PathStat & { bytes: number }> {
  const op = 'copy from container';
  return withRoot(svc, ref, op, async (root) => {
    const stat = statInRoot(root, path, op);
    let bytes = 0;
    for await (const chunk of packTree(root, path, op)) {
      if (signal?.aborted) throw new BerthError(ErrorCode.Cancelled, `${op}: cancelled`, { operation: op });
      bytes += chunk.length;
      await onChunk(chunk);
    }
    return { ...stat, bytes };
  });
}

/**
 * Extracts the tar from `source` into the directory `path` of the container (it must exist).
 * `rename` and `copyUIDGID` as in {@link ExtractOptions}; resolves with the number of entries.
 */
export function writeContainerArchive(
  svc: ContainerService,
  ref: string,
  path: string,
  source: AsyncIterable<Buffer>,
  opts: { rename?: ExtractOptions['rename']; copyUIDGID?: boolean } = {},
): Promise<number> {
  const op = 'copy to container';
  return withRoot(svc, ref, op, async (root) => {
    const st = statInRoot(root, path, op);
    if (st.kind === 'symlink') {
      // Resolved in the container: the destination is where the link leads, inside the root.
    } else if (st.kind !== 'dir') {
      throw new BerthError(ErrorCode.InvalidArgument, `${op}: ${path} is not a directory`, { operation: op, path });
    }
    return extractTree(root, path, source, op, { rename: opts.rename, owner: opts.copyUIDGID ? 'archive' : undefined });
  });
}
