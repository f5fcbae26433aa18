/**
 * Files of containers and images: `cp` archives in and out of containers, and Browse Files (read-only).
 */
import { NotificationType } from 'vscode-jsonrpc';
import * as v from 'valibot';
import { params, text, token, bool, opt, request } from './schema';

// --- cp: archives in and out of containers ------------------------------------------------------

/** A path in a container, as `container/archive/stat` and `container/archive/get` report it. */
export interface ContainerPathStat {
  /** Base name ("/" for the root). */
  name: string;
  size: number;
  /** Permission bits (with setuid, setgid, sticky). */
  mode: number;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  /** RFC 3339. */
  mtime: string;
  /** For a symlink, its target as written; '' otherwise. */
  linkTarget: string;
}

export const ContainerPathParams = params({
  container: text(),
  /** Absolute path in the container; symlinks on the way are followed inside the container only. */
  path: text(),
  /** `container/archive/stat` only: follow a symlink at the path itself too (inside the container). */
  follow: opt(bool()),
});
export type ContainerPathParams = v.InferOutput<typeof ContainerPathParams>;

/**
 * `container/archive/stat`. Sent by clients (the CLI's `cp`) to learn what a path in a container
 * is before copying to or from it; works for stopped containers too. The last component is not
 * followed. Errors: NotFound (container or path), InvalidArgument, System.
 */
export const ContainerPathStatRequest = request('container/archive/stat', ContainerPathParams).answers<ContainerPathStat>();

export const GetArchiveParams = params({
  ...ContainerPathParams.entries,
  /** Names the {@link ArchiveDataNotification}s that carry the archive (1 to 256 characters). */
  token: token(),
});
export type GetArchiveParams = v.InferOutput<typeof GetArchiveParams>;

/**
 * `container/archive/get` (`berth cp CONTAINER:SRC DEST`). The agent sends a tar of the path
 * (named from its base name; a symlink as the link; the kernel's filesystems of a running
 * container left out) as {@link ArchiveDataNotification}s with the request's token, in order and
 * paced by the connection, then answers with the path's stat and the archive's size. A client
 * cancels with $/cancelRequest. Errors: NotFound, Cancelled, System.
 */
export const GetArchiveRequest = request('container/archive/get', GetArchiveParams).answers<ContainerPathStat & { bytes: number }>();

export interface ArchiveDataParams {
  token: string;
  /** Archive bytes, base64 (at most 256 KiB decoded). */
  data: string;
}

/** `container/archive/data`. Sent by the agent for a `container/archive/get`, before its answer. */
export namespace ArchiveDataNotification {
  export const method = 'container/archive/data';
  export const type = new NotificationType<ArchiveDataParams>(method);
}

const RENAME = 'must be {from, to}, each a file name';
const fileName = (n: string) => /^[^/\0]{1,255}$/.test(n);
/** `rename` of a put: two file names; `from` is not "." or "..", `to` is not "..". */
const RenameParams = v.pipe(
  v.object({ from: v.string(RENAME), to: v.string(RENAME) }, RENAME),
  v.check((r) => fileName(r.from) && fileName(r.to) && r.to !== '..' && r.from !== '.' && r.from !== '..', RENAME),
);

export const PutArchiveParams = params({
  ...ContainerPathParams.entries,
  /** Names the {@link WriteArchiveRequest}s that carry the archive (1 to 256 characters). */
  token: token(),
  /**
   * Renames the archive's first path component: `cp ./a.txt c:/etc/b.txt` sends `a.txt` into
   * `/etc` renamed to `b.txt`; `to` "." puts a directory's contents into `path` (`cp dir/. c:/x`).
   */
  rename: opt(RenameParams),
  /** Keep the archive's owners (`cp -a`); otherwise what is written belongs to root. */
  copyUIDGID: opt(bool()),
});
export type PutArchiveParams = v.InferOutput<typeof PutArchiveParams>;

/**
 * `container/archive/put` (`berth cp SRC CONTAINER:DEST`). `path` must be a directory in the
 * container (running or stopped). After sending it, the client sends the tar in
 * {@link WriteArchiveRequest}s with the same token, the last with `eof`; the agent extracts as
 * the bytes arrive (entries relative, without "..", no device nodes; nothing is written through a
 * symlink or outside the container's root) and answers with the number of entries written.
 * Errors: NotFound, InvalidArgument (not a directory, hostile entry), InvalidContent (a malformed
 * tar), Conflict (a directory would replace a file or the reverse), System.
 */
export const PutArchiveRequest = request('container/archive/put', PutArchiveParams).answers<{ entries: number }>();

export const WriteArchiveParams = params({
  token: token(),
  /** Archive bytes, base64 (at most 1 MiB decoded). */
  data: opt(v.string('must be base64')),
  /** The archive ends here. */
  eof: opt(bool()),
});
export type WriteArchiveParams = v.InferOutput<typeof WriteArchiveParams>;

/**
 * `container/archive/write`. Sent by the client of a `container/archive/put`, chunk by chunk; each
 * is answered once the agent has taken it (so the client's pace follows the extraction). Errors:
 * NotFound (no put with this token on this connection, or it has already failed), InvalidArgument.
 */
export const WriteArchiveRequest = request('container/archive/write', WriteArchiveParams).answers<void>();
// ---------------------------------------------------------------------------------------------
// Browse Files (client -> agent): read-only access to the files of a container or an image,
// served by the agent from the layer directories (agent/runtime/containers/files.ts), so no shell
// and no mount is needed and stopped containers work too. A container's view is its writable
// layer over its image's layers (live while it runs) plus the /etc/hostname, /etc/hosts and
// /etc/resolv.conf the runtime binds in; volumes and host binds are not part of it.
// Paths are absolute inside the rootfs ("/etc/passwd"), at most 4096 bytes, without NUL or ".."
// components. Symlinks are resolved by the agent as paths inside the rootfs (an absolute target
// starts at the rootfs root; ".." stops there; at most 40 links), never on the host.
// Errors carry `data.errno` (ENOENT as NotFound; ENOTDIR, EISDIR, ELOOP, EFBIG, EINVAL as
// InvalidArgument) and `data.path` (inside the rootfs), so clients map them to their own kinds.
// ---------------------------------------------------------------------------------------------

/** Whose files: a container (ID, unique ID prefix or name) or an image (any reference `image/inspect` takes). Exactly one. */
export type FsTarget = { container: string; image?: undefined } | { image: string; container?: undefined };

const TARGET = 'must be {container} or {image}';
/** `target` of the fs/* requests: exactly one of `container` and `image`, a non-empty string. */
const FsTargetParams = v.pipe(
  v.object({ container: opt(text()), image: opt(text()) }, TARGET),
  v.check((t) => (t.container === undefined) !== (t.image === undefined), 'must name exactly one of "container" and "image"'),
  v.transform((t) => t as FsTarget),
);

export const FsPathParams = params({
  target: FsTargetParams,
  /** Absolute, inside the rootfs. */
  path: v.string('must be a string'),
});
export type FsPathParams = v.InferOutput<typeof FsPathParams>;

/** 'symlink' as a type: a link that leads nowhere inside the rootfs (dangling, a loop, through a file). */
export type FsFileType = 'file' | 'dir' | 'symlink' | 'other';

/** What a path is (symlinks followed, inside the rootfs). */
export interface FsStat {
  /** What the path leads to; 'other' for devices, fifos and sockets. */
  type: FsFileType;
  /** The path itself is a symbolic link. */
  symlink: boolean;
  /** The link's target as stored, when `symlink`. */
  linkTarget?: string;
  /** Bytes, for files (0 otherwise). */
  size: number;
  /** Permission bits (with setuid, setgid, sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** The image layer that provides it (0 = base); absent when it is the container's own (its writable layer or a bound /etc file). */
  layer?: number;
}

/** One entry of a directory. */
export interface FsDirEntry {
  name: string;
  /** What it leads to (as {@link FsStat.type}). */
  type: FsFileType;
  symlink: boolean;
}

/**
 * `fs/stat`. Sent by the extension's file system provider (berth-container:, berth-image: URIs).
 * Errors: InvalidArgument (target, path; ENOTDIR on the way), NotFound (the container, the image,
 * or the path: ENOENT), System (a host read failed, or the container changed the file while it
 * was read).
 */
export const FsStatRequest = request('fs/stat', FsPathParams).answers<FsStat>();

/**
 * `fs/readDirectory`. The merged directory (whiteouts and opaque directories applied), sorted by
 * name; at most 100,000 entries (more: InvalidArgument, EFBIG). Errors: as {@link FsStatRequest},
 * and InvalidArgument ENOTDIR when the path is not a directory.
 */
export const FsReadDirectoryRequest = request('fs/readDirectory', FsPathParams).answers<{ entries: FsDirEntry[] }>();

export interface FsReadFileResult {
  /** The file's bytes, base64. */
  data: string;
  /** Bytes (decoded). */
  size: number;
}

/**
 * `fs/readFile`. A regular file's bytes, at most 16 MiB (more: InvalidArgument, EFBIG, said
 * before anything is read). Errors: as {@link FsStatRequest}, and InvalidArgument EISDIR for a
 * directory, EINVAL for a device, fifo or socket (never opened).
 */
export const FsReadFileRequest = request('fs/readFile', FsPathParams).answers<FsReadFileResult>();
