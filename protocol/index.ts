/**
 * The one contract between the Berth agent and every client (the `berth` CLI, the VS Code
 * extension, tests). Each request and notification is declared here once, with who sends it, when,
 * and which errors it answers with; nothing else re-declares a method name or a payload shape.
 *
 * Transport: JSON-RPC 2.0 (vscode-jsonrpc framing: Content-Length headers) over the agent's Unix
 * socket (default /run/berth/agent.sock) or over stdio when a client spawns `berth agent --stdio`.
 * Errors: a JSON-RPC error with a code from {@link ErrorCode} and {@link ErrorData} as data.
 * Cancellation: the standard `$/cancelRequest`; long requests (pull) stop and answer Cancelled.
 *
 * Objects users script against keep Docker's field names and shapes (Id, RepoTags, Config.Env,
 * RootFS.Layers ...), so `berth inspect` output reads like `docker inspect`'s.
 */
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { ErrorData } from './errors';

export * from './errors';

/** The protocol revision; bumped on any incompatible change. */
export const API_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Shared shapes
// ---------------------------------------------------------------------------------------------

/** A platform as OCI image indexes name it. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One row of `image/list`: Docker's `ImageSummary` shape. */
export interface ImageSummary {
  /** The image ID: the digest of its config ("sha256:..."). */
  Id: string;
  /** Tags that point at it, normalised ("docker.io/library/busybox:latest"). */
  RepoTags: string[];
  /** "repository@sha256:..." of the manifest it was pulled by. */
  RepoDigests: string[];
  /** Creation time from the image config, seconds since the epoch (0 when absent). */
  Created: number;
  /** Bytes of its unpacked layers. */
  Size: number;
  /** Number of layers. */
  Layers: number;
  Labels: Record<string, string>;
}

/** The part of an image config that says how to run it (Docker's `Config`). */
export interface ImageRunConfig {
  User: string;
  Env: string[];
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  WorkingDir: string;
  ExposedPorts: Record<string, Record<string, never>>;
  Volumes: Record<string, Record<string, never>>;
  Labels: Record<string, string>;
  StopSignal: string;
}

/** `image/inspect`'s answer: Docker's image inspect shape, plus Berth's own store facts. */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  /** RFC 3339 creation time from the config, "" when absent. */
  Created: string;
  Author: string;
  Architecture: string;
  Os: string;
  Variant?: string;
  Size: number;
  Config: ImageRunConfig;
  RootFS: { Type: 'layers'; Layers: string[] };
  Metadata: { LastTagTime: string };
  /** Store details: which manifest, and where each layer is unpacked. */
  Berth: {
    ManifestDigest: string;
    ManifestMediaType: string;
    Layers: LayerSummary[];
  };
}

/** One layer of an image as stored. */
export interface LayerSummary {
  /** Digest of the blob as the registry served it (compressed). */
  Digest: string;
  /** sha256 of the uncompressed tar (the config's diff_id). */
  DiffID: string;
  /** The chain ID: identity of this layer on top of its parents; names its directory. */
  ChainID: string;
  /** Compressed size in bytes. */
  CompressedSize: number;
  /** Bytes of the files it holds once unpacked. */
  Size: number;
  /** The overlay lower directory holding its files. */
  Path: string;
}

/** One row of `image/history`: Docker's history shape. */
export interface HistoryEntry {
  /** The image ID for the top row, "<missing>" for the others, as Docker prints. */
  Id: string;
  /** Seconds since the epoch. */
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  /** Bytes the step added (0 for empty layers). */
  Size: number;
  Comment: string;
  /** True when the step made no layer (ENV, CMD ...). */
  EmptyLayer: boolean;
}

/** Progress of one layer during a pull. */
export interface LayerProgress {
  /** The layer blob's digest. */
  digest: string;
  /**
   * waiting: queued; exists: already in the store, nothing to do; downloading: bytes arrive
   * (download, verify and unpack run in one pass); retrying: a connection dropped, resuming;
   * finishing: hardlinks across layers and the file index; done: stored.
   */
  phase: 'waiting' | 'exists' | 'downloading' | 'retrying' | 'finishing' | 'done';
  /** Bytes received so far (compressed). */
  current: number;
  /** Compressed size from the manifest. */
  total: number;
  /** Why a retry happens, for `retrying`. */
  message?: string;
}

/**
 * Something happened in the agent: the events every subscriber receives. Docker's event shape, so
 * the same filters and habits work.
 */
export interface BerthEvent {
  Type: 'image';
  /** pull, tag, untag, delete, load, save. */
  Action: 'pull' | 'tag' | 'untag' | 'delete' | 'load' | 'save';
  Actor: { ID: string; Attributes: Record<string, string> };
  /** Seconds since the epoch. */
  time: number;
  timeNano: number;
}

// ---------------------------------------------------------------------------------------------
// Requests (client -> agent)
// ---------------------------------------------------------------------------------------------

export interface VersionResult {
  Version: string;
  ApiVersion: number;
  Os: string;
  Arch: string;
  /** The agent's process ID. */
  Pid: number;
  /** The state directory ($BERTH_ROOT). */
  Root: string;
  /** The socket it listens on, or "" when it only speaks over stdio. */
  Socket: string;
}

/**
 * `berth/version`. Sent by any client right after connecting, to learn whom it talks to.
 * Errors: none.
 */
export namespace VersionRequest {
  export const method = 'berth/version';
  export const type = new RequestType0<VersionResult, ErrorData>(method);
}

export interface SubscribeParams {
  /** Event types to receive; all when absent. */
  types?: BerthEvent['Type'][];
}

/**
 * `berth/subscribe`. Sent by a client that wants live events (the extension on connect, `berth
 * events`). From then on the agent sends {@link EventNotification} on this connection until it
 * closes. Errors: InvalidArgument.
 */
export namespace SubscribeRequest {
  export const method = 'berth/subscribe';
  export const type = new RequestType<SubscribeParams, void, ErrorData>(method);
}

export interface PullParams {
  /** What to pull: "busybox", "127.0.0.1:5000/team/app:v1", "alpine@sha256:..." */
  reference: string;
  /** Platform to choose from a multi-platform image; the agent's host platform when absent. */
  platform?: Platform;
  /**
   * When set, the agent sends {@link PullProgressNotification}s carrying this token to the
   * requesting connection.
   */
  progressToken?: string;
}

export interface PullResult {
  image: ImageSummary;
  /** The manifest digest the tag resolved to. */
  digest: string;
  /** True when the store already had exactly this image and nothing was downloaded. */
  upToDate: boolean;
}

/**
 * `image/pull`. Sent by a client to fetch an image from its registry into the store (Docker's
 * semantics: the tag is re-resolved at the registry; blobs and layers already stored are reused).
 * Progress: {@link PullProgressNotification} when `progressToken` is given. Cancellable.
 * Errors: InvalidReference, RegistryUnreachable, RegistryAuth, ManifestUnknown,
 * UnsupportedManifest, NoMatchingPlatform, DigestMismatch, RegistryError, HostileLayer,
 * InvalidContent, System (e.g. ENOSPC), Cancelled.
 */
export namespace PullRequest {
  export const method = 'image/pull';
  export const type = new RequestType<PullParams, PullResult, ErrorData>(method);
}

export interface ListImagesParams {
  /** Include images no tag points at (dangling); default true. */
  all?: boolean;
}

/** `image/list`. Sent to list stored images, newest first. Errors: none. */
export namespace ListImagesRequest {
  export const method = 'image/list';
  export const type = new RequestType<ListImagesParams, ImageSummary[], ErrorData>(method);
}

export interface ImageRefParams {
  /** A tag, a repository@digest, an image ID or a unique prefix of one (at least 4 hex digits). */
  reference: string;
}

/** `image/inspect`. Errors: InvalidReference, NotFound. */
export namespace InspectImageRequest {
  export const method = 'image/inspect';
  export const type = new RequestType<ImageRefParams, ImageInspect, ErrorData>(method);
}

export interface RemoveImageParams extends ImageRefParams {
  /** Remove the image even when several tags point at it (all of them go). */
  force?: boolean;
}

export interface RemoveImageResult {
  /** Tags removed. */
  Untagged: string[];
  /** Image IDs and layer chain IDs deleted from disk. */
  Deleted: string[];
}

/**
 * `image/remove`. Removing a tag removes only the tag while other tags still point at the image;
 * removing by ID needs `force` when several tags point at it. Layers no other image uses are
 * deleted. Emits `untag` and `delete` events. Errors: InvalidReference, NotFound, Conflict.
 */
export namespace RemoveImageRequest {
  export const method = 'image/remove';
  export const type = new RequestType<RemoveImageParams, RemoveImageResult, ErrorData>(method);
}

export interface TagParams {
  /** An existing image (any form {@link ImageRefParams} accepts). */
  source: string;
  /** The new tag (a reference without digest). */
  target: string;
}

/** `image/tag`. Points a tag at an image, replacing what it pointed at. Emits `tag`. Errors: InvalidReference, NotFound. */
export namespace TagImageRequest {
  export const method = 'image/tag';
  export const type = new RequestType<TagParams, void, ErrorData>(method);
}

/** `image/history`. Each step of the image's build, newest first. Errors: InvalidReference, NotFound. */
export namespace ImageHistoryRequest {
  export const method = 'image/history';
  export const type = new RequestType<ImageRefParams, HistoryEntry[], ErrorData>(method);
}

export interface SaveParams {
  /** Images to write; tags are kept in the archive's manifest.json. */
  references: string[];
  /**
   * Absolute path of the archive to write on the agent's machine. The agent writes a temporary
   * file beside it and renames it into place, and gives it to the caller's uid and gid.
   */
  path: string;
}

/**
 * `image/save`. Writes a `docker save`-format tar (manifest.json, configs and uncompressed layer
 * tars), which `docker load` and `podman load` accept. Emits `save`.
 * Errors: InvalidArgument (relative path), InvalidReference, NotFound, System.
 */
export namespace SaveImagesRequest {
  export const method = 'image/save';
  export const type = new RequestType<SaveParams, { path: string; size: number }, ErrorData>(method);
}

export interface LoadParams {
  /** Absolute path of a docker-save or OCI-layout (oci-archive) tar on the agent's machine. */
  path: string;
}

/**
 * `image/load`. Imports the images of an archive: every layer verified and unpacked as in a pull.
 * Emits `load`. Errors: InvalidArgument, InvalidArchive, DigestMismatch, HostileLayer,
 * InvalidContent, System.
 */
export namespace LoadImagesRequest {
  export const method = 'image/load';
  export const type = new RequestType<LoadParams, { images: ImageSummary[]; tags: string[] }, ErrorData>(method);
}

// ---------------------------------------------------------------------------------------------
// Notifications (agent -> client)
// ---------------------------------------------------------------------------------------------

export interface PullProgressParams {
  /** The `progressToken` of the pull request this belongs to. */
  token: string;
  reference: string;
  layer: LayerProgress;
}

/**
 * `image/pullProgress`. Sent by the agent to the connection that asked for a pull with a progress
 * token, whenever a layer changes phase and at most every 100 ms per layer while bytes arrive.
 */
export namespace PullProgressNotification {
  export const method = 'image/pullProgress';
  export const type = new NotificationType<PullProgressParams>(method);
}

/**
 * `berth/event`. Sent by the agent to every subscribed connection (see {@link SubscribeRequest})
 * after a change to the store completes.
 */
export namespace EventNotification {
  export const method = 'berth/event';
  export const type = new NotificationType<BerthEvent>(method);
}
