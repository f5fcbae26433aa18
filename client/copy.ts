/**
 * The host side of copying files to and from a container (`berth cp`): packing a host path into a
 * tar stream and extracting a tar stream into a host directory, with the caller's own permissions
 * (the agent never touches the user's files). Extraction is confined to the destination
 * directory: it is opened once (O_PATH) and used as the root of every path in the archive, so a
 * hostile container's links or `..` cannot lead the copy anywhere else on the host.
 *
 * The tar code is the agent's own ground floor (agent/oci/tree.ts and agent/oci/byteQueue.ts), a
 * leaf library that imports nothing else of the agent: one implementation on both sides of `cp`.
 */
import { closeSync, constants as C, openSync } from 'node:fs';
import { posix } from 'node:path';
import { extractTree, packTree, type ExtractOptions } from '../agent/oci/tree';
import { ByteQueue } from '../agent/oci/byteQueue';

export { ByteQueue };

const O_PATH = 0o10000000;

/** How the archive's first path component is renamed on extraction (`cp SRC DEST` naming DEST). */
export type Rename = ExtractOptions['rename'];

/** A host directory opened as the root of an extraction. */
export interface Destination {
  /** Extracts `source` (a tar stream) under the directory; nothing lands outside it. Resolves with the entries written. */
  extract(source: AsyncIterable<Buffer>, rename?: Rename): Promise<number>;
  close(): void;
}

/**
 * Opens `dir` (absolute) to extract into. Throws the errno error of the open (ENOENT, ENOTDIR,
 * EACCES) for the caller to word, before anything has been asked of the agent.
 */
export function openDestination(dir: string): Destination {
  const fd = openSync(dir, O_PATH | C.O_DIRECTORY);
  return {
    extract: (source, rename) => extractTree(fd, '/', source, 'copy from container', { rename }),
    close: () => closeSync(fd),
  };
}

/**
 * `path` (absolute, already resolved by the caller) and what is under it as a tar stream whose top
 * entry is the path's base name. The parent directory is opened at once (its errno error thrown
 * here) and closed when the stream ends or is abandoned.
 */
export function packPath(path: string): AsyncIterable<Buffer> {
  const base = posix.basename(path) || '.';
  const parentFd = openSync(posix.dirname(path), O_PATH | C.O_DIRECTORY);
  return (async function* () {
    try {
      yield* packTree(parentFd, `/${base}`, 'copy to container');
    } finally {
      closeSync(parentFd);
    }
  })();
}
