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

/** What happened to an image. */
export type ImageEventAction = 'pull' | 'tag' | 'untag' | 'delete' | 'load' | 'save' | 'push';

/**
 * What happened to a container: create, start, kill (a signal was sent; attribute `signal`), oom
 * (the kernel's OOM killer killed a process of it; sent before `die`), die (its init exited;
 * attribute `exitCode`), stop (after `die`, when the exit was asked for by `container/stop`),
 * destroy (removed). Attributes always carry `name` and `image` (the reference as given).
 */
export type ContainerEventAction = 'create' | 'start' | 'kill' | 'oom' | 'die' | 'stop' | 'destroy' | ContainerEventActionMore;

/**
 * More container events: commit (an image was made from it; attributes `imageID` and, when
 * tagged, `imageRef`), restart (after the `start` of a `container/restart`), listen and unlisten
 * (see {@link ContainerListenEventAction}).
 */
export type ContainerEventActionMore = 'commit' | 'restart' | ContainerListenEventAction;

/**
 * Detected ports of a running workspace container (label `berth.workspace`, bridge network), sent
 * by the agent's port watcher (agent/workspace/ports.ts), which looks at the container's listening
 * TCP sockets about once a second. listen: a process in the container listens on a port that is
 * not published; attributes `workspace` (the folder), `port`, and either `hostIp` and `hostPort`
 * (forwarded there on the host), and `loopbackOnly` "true" when it is bound to the container's
 * loopback (relayed into its network namespace by the runtime helper). unlisten: nothing listens on `port` any more (its
 * forward is closed); attributes `workspace`, `port`. None are sent when the container exits (its
 * `die` means every port is gone). Clients showing forwarded ports refresh `workspace/status`.
 */
export type ContainerListenEventAction = 'listen' | 'unlisten';

interface EventBase {
  /** The image ID, or the container's 64-hex ID. */
  Actor: { ID: string; Attributes: Record<string, string> };
  /** Seconds since the epoch. */
  time: number;
  timeNano: number;
}

/**
 * Something happened in the agent: the events every subscriber receives. Docker's event shape, so
 * the same filters and habits work.
 */
export type BerthEvent =
  | (EventBase & { Type: 'image'; Action: ImageEventAction })
  | (EventBase & { Type: 'container'; Action: ContainerEventAction })
  | (EventBase & { Type: 'volume'; Action: VolumeEventAction });

/**
 * What happened to a volume (Actor.ID is its name; attribute `driver` is "local"): create, mount
 * (a container using it started; attributes `container`, `destination`, `read/write`), unmount
 * (that container exited), destroy (removed).
 */
export type VolumeEventAction = 'create' | 'mount' | 'unmount' | 'destroy';

/** Docker's container states Berth uses. */
export type ContainerStatus = 'created' | 'running' | 'exited';

/** The `State` of a container in {@link ContainerInspect}: Docker's shape. */
export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  /** The container's init in the agent's pid namespace; 0 when not running. */
  Pid: number;
  /** The last exit code (128 + signal when killed by one); 0 before the first exit. */
  ExitCode: number;
  /** True when the kernel's OOM killer killed a process of the container during its last run. */
  OOMKilled: boolean;
  /** RFC 3339; "0001-01-01T00:00:00Z" before the first start / exit, as Docker writes it. */
  StartedAt: string;
  FinishedAt: string;
  /** Why the last start failed, or why the agent marked it exited ("the agent restarted"); "" otherwise. */
  Error: string;
}

/** `container/inspect`'s answer: Docker's container inspect shape (the fields Berth has). */
export interface ContainerInspect {
  /** 64 hex digits. */
  Id: string;
  /** "/name", as Docker writes it. */
  Name: string;
  /** RFC 3339. */
  Created: string;
  /** The program run (argv[0]) and its arguments. */
  Path: string;
  Args: string[];
  State: ContainerState;
  /** The image ID ("sha256:..."). */
  Image: string;
  Config: {
    Hostname: string;
    /** The environment the process gets (image's, merged with the overrides). */
    Env: string[];
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    WorkingDir: string;
    User: string;
    /** The image reference as given to create. */
    Image: string;
    Labels: Record<string, string>;
    StopSignal: string;
    /** `-t`: the container's init gets a pty of its own devpts; its output is one stream (logged as stdout). */
    Tty: boolean;
    /** `-i`: the init's stdin is a pipe the agent keeps open while it runs (else /dev/null). */
    OpenStdin: boolean;
    /** Docker's attach flags as `run`/`create` record them (AttachStdin follows OpenStdin). */
    AttachStdin: boolean;
    AttachStdout: boolean;
    AttachStderr: boolean;
    /** With OpenStdin: stdin is closed when the client attached to it goes away (`run -i` sets it). */
    StdinOnce: boolean;
    /** "80/tcp" -> {}: the image's exposed ports plus every published one (absent in records made before networking). */
    ExposedPorts?: Record<string, Record<string, never>>;
  };
  HostConfig: {
    /** "/host:/ctr[:ro]" as given. */
    Binds: string[];
    /** Bytes; 0 for no limit. */
    Memory: number;
    /** CPUs x 1e9; 0 for no limit. */
    NanoCpus: number;
    /** 0 for no limit. */
    PidsLimit: number;
    Privileged: boolean;
    CapAdd: string[];
    CapDrop: string[];
    /** `--rm`: the agent removes the container when it exits. */
    AutoRemove: boolean;
    /** `--init`: Berth's own init (native/init/berth-init.c) is pid 1 and starts the command. */
    Init?: boolean;
    /** `--userns`: "auto" (a user namespace, container ids 0-65535 = host ids 100000-165535), or absent/"host". */
    UsernsMode?: string;
    /**
     * "bridge" (the default private network), "host" or "none". Records made before networking
     * lack it and behave as "none" (a namespace with only loopback).
     */
    NetworkMode?: 'bridge' | 'host' | 'none';
    /** `-p` as recorded: "80/tcp" -> [{HostIp ("" = 127.0.0.1), HostPort ("" = chosen at start)}]. */
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  };
  /** Host binds, then volumes (`Name`, `Driver` "local"; Source is the volume's _data dir). */
  Mounts: (
    | { Type: 'bind'; Source: string; Destination: string; RW: boolean }
    | { Type: 'volume'; Name: string; Source: string; Destination: string; Driver: 'local'; RW: boolean }
  )[];
  GraphDriver: { Name: 'overlay'; Data: { LowerDir: string; UpperDir: string; WorkDir: string } };
  /**
   * Docker's shape. While a bridge container runs: its address, gateway and MAC (02:42 + the
   * address), SandboxKey (its namespace, /run/netns/berth-<12 hex>) and Ports: every exposed
   * "PORT/PROTO", with the host addresses and ports really listened on (chosen ones included),
   * or null when not published. Otherwise the addresses are "" and Ports is {}. Networks has one
   * entry, keyed by the mode.
   */
  NetworkSettings: {
    Bridge: string;
    SandboxKey: string;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
    Gateway: string;
    IPAddress: string;
    IPPrefixLen: number;
    MacAddress: string;
    Networks: Record<string, { NetworkID: string; Gateway: string; IPAddress: string; IPPrefixLen: number; MacAddress: string }>;
  };
}

/** One row of `container/list`: Docker's container summary, plus the times `ps` words its Status from. */
export interface ContainerSummary {
  Id: string;
  /** ["/name"]. */
  Names: string[];
  /** The image reference as given. */
  Image: string;
  ImageID: string;
  /** The command line, argv joined by spaces. */
  Command: string;
  /** Seconds since the epoch. */
  Created: number;
  State: ContainerStatus;
  ExitCode: number;
  OOMKilled: boolean;
  /** RFC 3339, or "0001-01-01T00:00:00Z". */
  StartedAt: string;
  FinishedAt: string;
  Labels: Record<string, string>;
  /**
   * Docker's: while running, each published port {IP, PrivatePort, PublicPort, Type} and each
   * exposed, unpublished one {PrivatePort, Type}; [] otherwise.
   */
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: 'tcp' | 'udp' }[];
  /**
   * Docker's: its host binds and volumes, as in {@link ContainerInspect}'s Mounts (the Volumes
   * tree shows which containers use a volume from it). Absent from agents that predate it.
   */
  Mounts?: ContainerInspect['Mounts'];
}

/** One line a container wrote. */
export interface LogLine {
  /** RFC 3339 with nanoseconds, when the agent read it. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** The line without its newline (a final line without one is kept as is). */
  line: string;
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

export interface PushParams {
  /**
   * The tag to push, "NAME[:TAG]" ("127.0.0.1:5000/team/app:v1"; ":latest" when absent). It must
   * name an image in the store (tag it first); a digest reference is refused.
   */
  reference: string;
  /**
   * When set, the agent sends {@link PushProgressNotification}s carrying this token to the
   * requesting connection.
   */
  progressToken?: string;
}

/** Progress of one layer blob during a push (the config blob is pushed silently, as Docker does). */
export interface PushProgress {
  /** The blob's digest, as the pushed manifest names it. */
  digest: string;
  /**
   * preparing: compressing a layer stored uncompressed (once; the result is kept); waiting: queued;
   * exists: the registry has it, nothing sent; mounted: linked from `from` on the same registry,
   * nothing sent; pushing: bytes are sent; retrying: a failed upload starts over; done: uploaded.
   */
  phase: 'preparing' | 'waiting' | 'exists' | 'mounted' | 'pushing' | 'retrying' | 'done';
  /** Bytes sent so far in the current attempt. */
  current: number;
  /** The blob's size. */
  total: number;
  /** For `mounted`: the repository it was mounted from. */
  from?: string;
  /** Why a retry happens, for `retrying`. */
  message?: string;
}

/** What happened to one blob of a push. */
export interface PushedBlob {
  digest: string;
  size: number;
  /** 'config' for the image config, else 'layer'. */
  kind: 'layer' | 'config';
  /** exists: the registry had it; mounted: linked from `from`; pushed: uploaded. */
  action: 'exists' | 'mounted' | 'pushed';
  from?: string;
}

export interface PushResult {
  /** The normalised reference pushed ("127.0.0.1:5000/team/app:v1"). */
  reference: string;
  tag: string;
  /** Digest of the manifest stored under the tag (Docker prints "TAG: digest: DIGEST size: SIZE"). */
  digest: string;
  /** Bytes of that manifest. */
  size: number;
  /** Layers bottom first, then the config. */
  blobs: PushedBlob[];
}

/**
 * `image/push`. Sent by `berth push` (and the extension) to upload an image of the store to its
 * registry under the reference's tag, with the same credentials and token flow as a pull (scope
 * `repository:NAME:pull,push`). Each blob is checked first (HEAD: skipped when the registry has
 * it), else mounted from another repository of the same registry the store knows it came from
 * (the repositories in the RepoDigests of images holding it), else uploaded in one PUT streamed
 * from the store. Layers stored uncompressed (loaded from docker-save archives) are gzipped once
 * and kept, and the image then carries that manifest, so pushing again sends identical bytes. The
 * image's own manifest is pushed unchanged otherwise (a pulled image keeps its digest). Afterwards
 * the image has `NAME@DIGEST` among its RepoDigests and a `push` event is emitted.
 * Progress: {@link PushProgressNotification} when `progressToken` is given. Cancellable.
 * Errors: InvalidReference (bad or digest reference), NotFound (no image has that tag),
 * RegistryAuth ("push denied to ..."), RegistryUnreachable, RegistryError (the registry's own
 * error code and message, the blob's digest named), DigestMismatch, System, Cancelled.
 */
export namespace PushRequest {
  export const method = 'image/push';
  export const type = new RequestType<PushParams, PushResult, ErrorData>(method);
}

// ---------------------------------------------------------------------------------------------
// The layer inspector (client -> agent). Answered from the per-layer file indexes written at
// unpack (agent/image/layerIndex.ts, agent/image/inspectLayers.ts); no layer tar is read again.
// ---------------------------------------------------------------------------------------------

/** One layer of an image, bottom (0) first. */
export interface InspectedLayer {
  /** Position in the image, 0 = the base layer. */
  index: number;
  /** The layer blob's digest as the manifest names it (compressed). */
  digest: string;
  /** Digest of the uncompressed tar. */
  diffId: string;
  /** The layer's identity on top of its parents (the store's key). */
  chainId: string;
  /** Bytes of regular-file content the layer holds. */
  size: number;
  /** The config history step that made the layer (`empty_layer` steps skipped); "" when unknown. */
  createdBy: string;
  /** RFC 3339, when the history says. */
  created?: string;
  comment?: string;
  /** Index records in the layer (files, dirs, links, whiteouts, opaque markers). */
  entries: number;
  /** Records by what they do to the layers below. */
  added: number;
  changed: number;
  deleted: number;
}

/**
 * A regular file whose bytes are in the image but not in its final tree: a later layer `by`
 * overwrote it ('overwritten'), rewrote the same content, e.g. to chmod or chown it
 * ('identical': same digest), or deleted it or a directory above it ('deleted').
 */
export interface WastedFile {
  path: string;
  size: number;
  /** The layer that wrote the bytes. */
  layer: number;
  /** The later layer that made them dead weight. */
  by: number;
  reason: 'overwritten' | 'identical' | 'deleted';
}

export interface ImageEfficiency {
  /** Bytes of file content over all layers. */
  totalBytes: number;
  /** Bytes of file content in the final tree. */
  mergedBytes: number;
  /** Paths in the final tree. */
  mergedEntries: number;
  /** Bytes of all wasted files (including identical rewrites). */
  wastedBytes: number;
  wastedFiles: number;
  /** The part of `wastedBytes` whose later copy is the same content. */
  identicalBytes: number;
  /** (totalBytes - wastedBytes) / totalBytes; 1 for an empty image. */
  score: number;
  /** The largest wasted files, largest first (at most 200; the totals count all). */
  wasted: WastedFile[];
}

export interface ImageLayersResult {
  layers: InspectedLayer[];
  efficiency: ImageEfficiency;
}

/** `image/layers`. The image's layers with their history and change counts, and its efficiency. Errors: InvalidReference, NotFound, InvalidContent, System. */
export namespace ImageLayersRequest {
  export const method = 'image/layers';
  export const type = new RequestType<ImageRefParams, ImageLayersResult, ErrorData>(method);
}

export interface LayerFilesParams extends ImageRefParams {
  /** The layer: its index (0 = base) or its chain ID, diff ID or blob digest. Ignored when `merged`. */
  layer?: number | string;
  /** List the image's final tree (top-most entry per path, whiteouts and opaque dirs applied) instead. */
  merged?: boolean;
  /** First entry to return (entries are sorted by path); default 0. */
  offset?: number;
  /** Entries per page; default 5000, at most 20000. */
  limit?: number;
}

/** One record of a layer index (paths relative to the root, no leading slash; the root is "."). */
export interface LayerFileEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'whiteout' | 'opaque';
  /** Content bytes of regular files (and hardlinks to them); 0 otherwise. */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** "sha256:<hex>" of a regular file's content. */
  digest?: string;
  linkTarget?: string;
  /** What the record does to the layers below (whiteouts and opaque markers: 'deleted'). */
  change: 'added' | 'changed' | 'deleted';
  /** The layer the record belongs to (in the merged view, the layer that provides the path). */
  layer: number;
}

export interface LayerFilesResult {
  /** The layer listed (the top layer for the merged view). */
  layer: number;
  merged: boolean;
  /** Entries in the whole list; page on with `offset` until `offset + entries.length === total`. */
  total: number;
  offset: number;
  entries: LayerFileEntry[];
}

/** `image/layerFiles`. One page of a layer's records, or of the image's final tree. Errors: InvalidArgument, InvalidReference, NotFound, InvalidContent, System. */
export namespace LayerFilesRequest {
  export const method = 'image/layerFiles';
  export const type = new RequestType<LayerFilesParams, LayerFilesResult, ErrorData>(method);
}

// ---------------------------------------------------------------------------------------------
// Containers (client -> agent). A container is named by its full ID, a unique ID prefix, or its
// name ("web" or "/web"); the agent answers NotFound ("no such container: X") otherwise.
// ---------------------------------------------------------------------------------------------

export interface CreateContainerParams {
  /** The image; it must be in the store (the CLI pulls first when it is not). */
  image: string;
  /** Unique; `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. Generated ("brave_turing") when absent. */
  name?: string;
  /** Replaces the image's Cmd. */
  cmd?: string[];
  /** Replaces the image's Entrypoint ([] clears it); either way the image's Cmd is then dropped. */
  entrypoint?: string[];
  /** "NAME=value" entries, overriding the image's by name. */
  env?: string[];
  /** Absolute; must exist in the image. Default: the image's, else "/". */
  workingDir?: string;
  /** "uid[:gid]" or "name[:group]" looked up in the image's /etc/passwd and /etc/group. */
  user?: string;
  /** Default: the first 12 hex digits of the ID. */
  hostname?: string;
  /**
   * "/host:/ctr[:ro|rw]": the host path must exist and be absolute. "name:/ctr[:ro|rw]": the named
   * volume (created when missing, seeded with the image's content at /ctr when new). "/ctr": an
   * anonymous volume. The image's Volumes not covered get anonymous volumes too.
   * Host binds take a comma list of options: `ro`, `rw`, `idmap` (an idmapped mount: the
   * container's user maps to the owner of the host path, read at each start, so what the
   * container creates there belongs to that owner on the host and nothing is chowned) and
   * `idmap=UID:GID` (these container ids map to the owner), e.g. "/home/me/app:/w:rw,idmap".
   */
  binds?: string[];
  labels?: Record<string, string>;
  /** Bytes, at least 6 MiB. */
  memory?: number;
  /** CPUs x 1e9 (`--cpus 0.5` is 500000000). */
  nanoCpus?: number;
  pidsLimit?: number;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** `--rm`: remove the container (and its logs) once it exits. */
  autoRemove?: boolean;
  /**
   * `--init`: pid 1 is Berth's init, which starts the command as its child, forwards signals to
   * it, reaps orphans and exits with the command's status (HostConfig.Init).
   */
  init?: boolean;
  /**
   * `--userns`: "host" (default: the host's user namespace) or "auto": a user namespace where the
   * container's ids 0-65535 are the host's 100000-165535 (the image's layers are idmapped, so its
   * files still belong to the container's root; what it writes belongs to host uid 100000+).
   * Host binds then show host-owned files as nobody. HostConfig.UsernsMode.
   */
  userns?: 'host' | 'auto';
  /** `-t`: a pty for the container's init at each start (Config.Tty). */
  tty?: boolean;
  /** `-i`: keep the init's stdin open for {@link InputNotification}s of an attached start (Config.OpenStdin). */
  openStdin?: boolean;
  /** With `openStdin`: close stdin when the attached client goes away (Config.StdinOnce; `run -i` sets it). */
  stdinOnce?: boolean;
  /**
   * `--network`: "bridge" (default; also "default"): the private network, a bridge with NAT and
   * an address per container, allocated here and kept until rm (Conflict when the subnet is
   * full); "host": the host's network, /etc/hosts and resolv.conf; "none": only loopback.
   * Anything else is InvalidArgument.
   */
  networkMode?: string;
  /**
   * `-p` specs: "CPORT[/tcp|udp]", "HPORT:CPORT", "IP:HPORT:CPORT", "IP::CPORT", "[IPv6]:HPORT:CPORT",
   * equal-length ranges "8000-8001:80-81". Host address default 127.0.0.1; host port default:
   * chosen at each start. Bridge network only. Malformed specs, ports out of 1-65535, other
   * protocols or a host port given twice are InvalidArgument. The ports are bound when the
   * container starts: one in use fails `container/start` with Conflict ("start container: port
   * 127.0.0.1:8080/tcp is already in use") and leaves nothing running.
   */
  ports?: string[];
}

/**
 * `container/create`. Sent by `berth create`/`run` and the extension to make a container from a
 * local image: its record, writable layer and /etc files; nothing runs yet. Emits `create`.
 * Errors: InvalidArgument (bad name, bind, limit, user or workdir missing in the image, network
 * mode, port spec), NotFound (image), Conflict (name in use, the default network's subnet is
 * full), System.
 */
export namespace CreateContainerRequest {
  export const method = 'container/create';
  export const type = new RequestType<CreateContainerParams, { Id: string; Name: string }, ErrorData>(method);
}

export interface ContainerRefParams {
  /** ID, unique ID prefix or name. */
  container: string;
}

export interface StartContainerParams extends ContainerRefParams {
  /**
   * When set, every line the container writes from this start on is sent to this connection as a
   * {@link LogLineNotification} carrying this token, until the container exits (how `berth run`
   * attaches without a race with a fast exit or `--rm`).
   */
  attachToken?: string;
  /**
   * With `attachToken`: attach as a byte stream instead of lines (how `run -i`/`-t` and `start -a`
   * of a Tty or OpenStdin container attach, and the extension's terminals). The output comes as
   * {@link OutputNotification}s carrying the token (stream 'tty' for a Tty container, else
   * 'stdout'/'stderr'), in order, from the first byte of this run (or from now, when the container
   * already runs: then nothing is started and the client is attached); it is still logged, a Tty's
   * as stdout. {@link InputNotification}s with the token feed its stdin (OpenStdin containers only;
   * else dropped) and {@link ResizeNotification}s set its pty's size (Tty only), until it exits.
   * The answer still comes once the command runs; the exit is the answer of a `container/wait`
   * (condition "next-exit") sent before the start. When this connection closes the client is
   * detached, and the container's stdin closed if it is StdinOnce. The token must not be in use
   * on this connection (Conflict).
   */
  stream?: boolean;
  /** With `stream`, for a Tty container that is started: the pty's initial size (default 24x80). */
  rows?: number;
  cols?: number;
}

/**
 * `container/start`. Starts a created or exited container (an exited one keeps its writable layer).
 * Resolves once its command has been exec'd. Emits `start`. Starting a running container does
 * nothing (with `stream`, it attaches). Errors: NotFound, InvalidArgument (command, workdir or
 * user not found in the container; `stream` without `attachToken`), Conflict (the token is in use
 * on this connection; a published host port is in use: "start container: port 127.0.0.1:8080/tcp
 * is already in use"), System (with the failed step's syscall, path and errno; for the network,
 * the `ip`/`iptables` command and the interface). A failed start leaves no namespace, veth,
 * proxy, cgroup or process behind.
 */
export namespace StartContainerRequest {
  export const method = 'container/start';
  export const type = new RequestType<StartContainerParams, void, ErrorData>(method);
}

export interface StopContainerParams extends ContainerRefParams {
  /** Seconds to wait after the stop signal (the image's StopSignal, else SIGTERM) before SIGKILL; default 10. */
  timeout?: number;
}

/**
 * `container/stop`. Sends the stop signal, then SIGKILL to the whole container after `timeout`;
 * resolves once it has exited. Stopping a container that is not running does nothing.
 * Emits `kill`, `die`, `stop`. Errors: NotFound, InvalidArgument.
 */
export namespace StopContainerRequest {
  export const method = 'container/stop';
  export const type = new RequestType<StopContainerParams, void, ErrorData>(method);
}

export interface KillContainerParams extends ContainerRefParams {
  /** "SIGKILL" (default), "KILL", "9", "TERM"... */
  signal?: string;
}

/**
 * `container/kill`. Sends a signal to the container's init. Emits `kill`.
 * Errors: NotFound, InvalidArgument (unknown signal), Conflict (not running).
 */
export namespace KillContainerRequest {
  export const method = 'container/kill';
  export const type = new RequestType<KillContainerParams, void, ErrorData>(method);
}

export interface RemoveContainerParams extends ContainerRefParams {
  /** Kill a running container first. */
  force?: boolean;
  /** `rm -v`: remove its anonymous volumes too (`autoRemove` always does); named ones are kept. */
  volumes?: boolean;
}

/**
 * `container/remove`. Deletes the container: record, writable layer, logs, cgroup. Emits
 * `destroy`. Errors: NotFound, Conflict (running, without `force`), System.
 */
export namespace RemoveContainerRequest {
  export const method = 'container/remove';
  export const type = new RequestType<RemoveContainerParams, void, ErrorData>(method);
}

export interface ListContainersParams {
  /** Include containers that are not running; default false. */
  all?: boolean;
}

/** `container/list`. Running containers first, then newest first. Errors: none. */
export namespace ListContainersRequest {
  export const method = 'container/list';
  export const type = new RequestType<ListContainersParams, ContainerSummary[], ErrorData>(method);
}

/** `container/inspect`. Errors: NotFound, Conflict (an ambiguous ID prefix). */
export namespace InspectContainerRequest {
  export const method = 'container/inspect';
  export const type = new RequestType<ContainerRefParams, ContainerInspect, ErrorData>(method);
}

export interface WaitContainerParams extends ContainerRefParams {
  /**
   * "not-running" (default): answer at once when the container is not running, else at its exit.
   * "next-exit": answer at the next exit, even for a created container (send it before
   * `container/start` to be sure to see a fast exit).
   */
  condition?: 'not-running' | 'next-exit';
}

export interface WaitContainerResult {
  StatusCode: number;
  OOMKilled: boolean;
  /** Why the container ended other than by itself ("the agent restarted"), if it did. */
  Error?: string;
}

/**
 * `container/wait`. Answers with the exit code (also after an `autoRemove` container is gone, when
 * the wait was sent before it exited). Cancellable. Errors: NotFound, Cancelled.
 */
export namespace WaitContainerRequest {
  export const method = 'container/wait';
  export const type = new RequestType<WaitContainerParams, WaitContainerResult, ErrorData>(method);
}

export interface LogsParams extends ContainerRefParams {
  /** Only the last N lines (of stdout and stderr together). */
  tail?: number;
  /** Only lines written at or after this time (seconds since the epoch, may be fractional). */
  since?: number;
  /**
   * Keep going: every line, old and new, is sent as a {@link LogLineNotification} carrying
   * `token`, until the container stops running (the answer then comes after its last line) or the
   * request is cancelled. Needs `token`.
   */
  follow?: boolean;
  token?: string;
}

/**
 * `container/logs`. Lines the container wrote to stdout and stderr, oldest first, as stored: a
 * JSON-lines file per container, capped at 10 MiB, with one rotated file before it. Without
 * `follow` they come in the answer; with it, as notifications, and the answer has none.
 * Errors: NotFound, InvalidArgument, Cancelled.
 */
export namespace ContainerLogsRequest {
  export const method = 'container/logs';
  export const type = new RequestType<LogsParams, { lines: LogLine[] }, ErrorData>(method);
}

// ---------------------------------------------------------------------------------------------
// Containers, continued: the writable layer (diff, commit), processes and figures (top, stats),
// restart, and pruning (client -> agent).
// ---------------------------------------------------------------------------------------------

/** One change of a container's filesystem, as `docker diff` reports it. */
export interface ContainerChange {
  /** Absolute path inside the container ("/etc/passwd"). */
  Path: string;
  /** Docker's numbering: 0 modified (the image has the path), 1 added, 2 deleted. */
  Kind: 0 | 1 | 2;
}

/**
 * `container/diff`. Sent by `berth diff` and the extension to list what a container changed in its
 * writable layer (running or not), sorted by path; the parents of a change show as modified.
 * Errors: NotFound (container, or a layer of its image missing), Conflict (ambiguous ID prefix),
 * System (the upper dir or a layer index cannot be read).
 */
export namespace ContainerDiffRequest {
  export const method = 'container/diff';
  export const type = new RequestType<ContainerRefParams, ContainerChange[], ErrorData>(method);
}

/** The image layer holding the version of a path that a container's change shadows (or deletes). */
export interface ShadowedVersion {
  /** The layer's index in the image (0 = base); see {@link ContainerChangesResult.ImageLayers}. */
  Layer: number;
  /** What that layer has at the path (a layer index record type: 'file', 'dir', 'symlink' ...). */
  Type: LayerFileEntry['type'];
  /** Content bytes there (regular files; 0 otherwise). */
  Size: number;
  /** "sha256:<hex>" of that content, for regular files. */
  Digest?: string;
}

/** One change of {@link ContainerChangesRequest}: `container/diff`'s row with what it is and what it hides. */
export interface ContainerFileChange extends ContainerChange {
  /**
   * What the writable layer has at the path: 'file', 'dir', 'symlink', 'other' (a device, fifo
   * or socket), or 'deleted' for Kind 2 (a whiteout, or a path an opaque directory hides).
   */
  Type: 'file' | 'dir' | 'symlink' | 'other' | 'deleted';
  /** Bytes of the container's file (regular files; 0 otherwise, and for deletions). */
  Size: number;
  /** Permission bits of the container's entry (0 for deletions). */
  Mode: number;
  /** Modification time of the container's entry, ms since the epoch (0 for deletions). */
  Mtime: number;
  /** For Kind 0 and 2: the top-most image layer that has the path (what the change hides). */
  Shadows?: ShadowedVersion;
}

/** An image layer as {@link ContainerChangesResult} names it, so changes can refer to it by index. */
export interface ChangesImageLayer {
  index: number;
  /** The layer blob's digest ("" when the image record is gone; the chain ID still names it). */
  digest: string;
  chainId: string;
  /** The history step that made it ("" when unknown). */
  createdBy: string;
}

export interface ContainerChangesParams extends ContainerRefParams {
  /**
   * When set (1 to 256 characters, unique among this connection's watches), the agent also keeps
   * the list current: it sends {@link ContainerChangedNotification}s carrying this token on this
   * connection whenever the list changes, until {@link UnwatchContainerChangesRequest}, the
   * container's removal, or the connection's end.
   */
  watchToken?: string;
}

export interface ContainerChangesResult {
  /** The container's full ID. */
  Id: string;
  Running: boolean;
  /** The image's layers, bottom first. */
  ImageLayers: ChangesImageLayer[];
  /** Sorted by path, as `container/diff`. */
  Changes: ContainerFileChange[];
  /**
   * With `watchToken`: the number of this state; each notification carries the next one. Starts
   * at 0 for every watch.
   */
  Seq: number;
  /**
   * With `watchToken`, how changes are noticed while the container runs: 'inotify' (every
   * directory of the writable layer is watched, so a write shows within ~0.2 s) or 'poll' (the
   * layer has more directories than the agent watches: the list is recomputed every 2 s).
   * Stopped containers cannot change; their list is recomputed at start and exit.
   */
  Watch?: 'inotify' | 'poll';
}

/**
 * `container/changes`. Sent by the extension's layer inspector and Browse Files: what the container
 * changed in its writable layer (running or not), as `container/diff` lists it, with each entry's
 * type, size, mode and mtime, and for changed and deleted paths the image layer holding the
 * version the change hides; optionally kept current (see `watchToken`). The upper directory is
 * read with lstat only (a running container cannot make the agent follow its symlinks).
 * Errors: NotFound (container, or a layer of its image missing), Conflict (ambiguous ID prefix,
 * or a `watchToken` already in use on this connection), InvalidArgument (`watchToken`), System
 * (the upper dir or a layer index cannot be read).
 */
export namespace ContainerChangesRequest {
  export const method = 'container/changes';
  export const type = new RequestType<ContainerChangesParams, ContainerChangesResult, ErrorData>(method);
}

/**
 * `container/unwatchChanges`. Sent by a client that no longer shows a watched container's changes;
 * an unknown token (already ended: the container was removed) is not an error. Errors: InvalidArgument.
 */
export namespace UnwatchContainerChangesRequest {
  export const method = 'container/unwatchChanges';
  export const type = new RequestType<{ watchToken: string }, void, ErrorData>(method);
}

export interface ContainerChangedParams {
  /** The `watchToken` of the `container/changes` request. */
  token: string;
  /** The container's full ID. */
  container: string;
  /** The previous state's Seq + 1 (notifications of one token arrive in order, none skipped). */
  seq: number;
  /** Entries new to the list or whose fields changed (a file written again: new Size, Mtime). */
  changed: ContainerFileChange[];
  /** Paths no longer in the list (a file the container added, then deleted). */
  removed: string[];
  /** The container was removed: the watch has ended (no more notifications for this token). */
  gone?: boolean;
}

/**
 * `container/changed`. Sent by the agent to the connection that watches a container's changes
 * (see {@link ContainerChangesRequest}), at most every ~0.2 s while the container writes, and at
 * its start, exit and removal.
 */
export namespace ContainerChangedNotification {
  export const method = 'container/changed';
  export const type = new NotificationType<ContainerChangedParams>(method);
}

export interface CommitParams extends ContainerRefParams {
  /** The tag to give the new image ("repo", "repo:tag", "host:5000/repo:tag"); untagged when absent. */
  reference?: string;
  /** The history entry's comment (`-m`). */
  comment?: string;
  /** The image's author (`-a`). */
  author?: string;
  /**
   * Dockerfile-like instructions applied to the new image's config (`-c`): CMD, ENTRYPOINT (JSON
   * array or shell form), ENV k=v, LABEL k=v, WORKDIR, USER, EXPOSE port[/proto], STOPSIGNAL.
   */
  changes?: string[];
  /** Freeze a running container while its writable layer is read; default true. */
  pause?: boolean;
}

export interface CommitResult {
  /** The new image's ID ("sha256:..."). */
  Id: string;
  /** The new layer: its blob digest, diffID and size of its files. */
  Layer: { Digest: string; DiffID: string; Size: number };
}

/**
 * `container/commit`. Turns the container's writable layer into a new layer on top of its image's:
 * an OCI gzip layer blob (whiteouts as `.wh.` entries, opaque dirs as `.wh..wh..opq`), a config
 * (the container's Cmd, Entrypoint, Env, WorkingDir, User, Labels, StopSignal, then `changes`; one
 * more history entry and diff_id), an OCI manifest and an image record; tags it when `reference`
 * is given. A running container is frozen (cgroup freezer) while its files are read unless
 * `pause` is false. Emits the container event `commit`, then the image event `tag` when tagged.
 * Errors: NotFound (container, its image or a layer), InvalidReference, InvalidArgument (a bad
 * change), System (freezer, reading the upper dir, disk).
 */
export namespace CommitContainerRequest {
  export const method = 'container/commit';
  export const type = new RequestType<CommitParams, CommitResult, ErrorData>(method);
}

/** One process of a container (`container/top`). */
export interface ContainerProcess {
  /** The user name (from the host's /etc/passwd), else the uid. */
  UID: string;
  /** Host pid, as `docker top` shows it. */
  PID: number;
  PPID: number;
  /** CPU use over the process's life, percent (ps's C). */
  C: number;
  /** Start time: "HH:MM" today, "MonDD" before. */
  STIME: string;
  /** "?" without a controlling terminal, else "pts/N". */
  TTY: string;
  /** CPU time "HH:MM:SS". */
  TIME: string;
  /** The command line, or "[comm]" when it has none. */
  CMD: string;
}

export interface TopResult {
  /** ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]: Docker's shape. */
  Titles: string[];
  /** One row per process, the fields as strings, in the order of Titles, sorted by pid. */
  Processes: string[][];
}

/**
 * `container/top`. The processes in a running container's cgroup, read from the host's /proc.
 * Errors: NotFound, Conflict (not running), System.
 */
export namespace ContainerTopRequest {
  export const method = 'container/top';
  export const type = new RequestType<ContainerRefParams, TopResult, ErrorData>(method);
}

export interface StatsParams {
  /** Containers to sample; all running ones when absent or empty. */
  containers?: string[];
  /**
   * Milliseconds between the two samples the CPU percentage is computed from (default 1000,
   * between 100 and 5000). 0: one sample, CPUPercent 0.
   */
  intervalMs?: number;
}

/** Figures of one container from its cgroup (`container/stats`), `docker stats`' columns. */
export interface ContainerStats {
  Id: string;
  /** "name" without the slash. */
  Name: string;
  /** CPU use over the interval, percent of one CPU (200 = two CPUs busy), as Docker shows it. */
  CPUPercent: number;
  /** Bytes in use. */
  MemUsage: number;
  /** The limit in bytes (the host's memory when there is none). */
  MemLimit: number;
  MemPercent: number;
  Pids: number;
  /** Cumulative CPU time in nanoseconds at the second sample (for clients that sample themselves). */
  CpuUsageNs: number;
  /** RFC 3339 time of the second sample. */
  Read: string;
}

/**
 * `container/stats`. One reading per container: two samples `intervalMs` apart (all containers
 * sampled together), then the answer; no stream. Containers that stop in between are left out.
 * Errors: NotFound, Conflict (a named container is not running), InvalidArgument, System.
 */
export namespace ContainerStatsRequest {
  export const method = 'container/stats';
  export const type = new RequestType<StatsParams, ContainerStats[], ErrorData>(method);
}

/**
 * `container/restart`. `container/stop` (with its `timeout`), then `container/start`; a container
 * that is not running is just started. Emits what stop and start emit, then `restart`.
 * Errors: those of stop and start.
 */
export namespace RestartContainerRequest {
  export const method = 'container/restart';
  export const type = new RequestType<StopContainerParams, void, ErrorData>(method);
}

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

export interface ContainerPathParams {
  container: string;
  /** Absolute path in the container; symlinks on the way are followed inside the container only. */
  path: string;
  /** `container/archive/stat` only: follow a symlink at the path itself too (inside the container). */
  follow?: boolean;
}

/**
 * `container/archive/stat`. Sent by clients (the CLI's `cp`) to learn what a path in a container
 * is before copying to or from it; works for stopped containers too. The last component is not
 * followed. Errors: NotFound (container or path), InvalidArgument, System.
 */
export namespace ContainerPathStatRequest {
  export const method = 'container/archive/stat';
  export const type = new RequestType<ContainerPathParams, ContainerPathStat, ErrorData>(method);
}

export interface GetArchiveParams extends ContainerPathParams {
  /** Names the {@link ArchiveDataNotification}s that carry the archive (1 to 256 characters). */
  token: string;
}

/**
 * `container/archive/get` (`berth cp CONTAINER:SRC DEST`). The agent sends a tar of the path
 * (named from its base name; a symlink as the link; the kernel's filesystems of a running
 * container left out) as {@link ArchiveDataNotification}s with the request's token, in order and
 * paced by the connection, then answers with the path's stat and the archive's size. A client
 * cancels with $/cancelRequest. Errors: NotFound, Cancelled, System.
 */
export namespace GetArchiveRequest {
  export const method = 'container/archive/get';
  export const type = new RequestType<GetArchiveParams, ContainerPathStat & { bytes: number }, ErrorData>(method);
}

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

export interface PutArchiveParams extends ContainerPathParams {
  /** Names the {@link WriteArchiveRequest}s that carry the archive (1 to 256 characters). */
  token: string;
  /**
   * Renames the archive's first path component: `cp ./a.txt c:/etc/b.txt` sends `a.txt` into
   * `/etc` renamed to `b.txt`; `to` "." puts a directory's contents into `path` (`cp dir/. c:/x`).
   */
  rename?: { from: string; to: string };
  /** Keep the archive's owners (`cp -a`); otherwise what is written belongs to root. */
  copyUIDGID?: boolean;
}

/**
 * `container/archive/put` (`berth cp SRC CONTAINER:DEST`). `path` must be a directory in the
 * container (running or stopped). After sending it, the client sends the tar in
 * {@link WriteArchiveRequest}s with the same token, the last with `eof`; the agent extracts as
 * the bytes arrive (entries relative, without "..", no device nodes; nothing is written through a
 * symlink or outside the container's root) and answers with the number of entries written.
 * Errors: NotFound, InvalidArgument (not a directory, hostile entry), InvalidContent (a malformed
 * tar), Conflict (a directory would replace a file or the reverse), System.
 */
export namespace PutArchiveRequest {
  export const method = 'container/archive/put';
  export const type = new RequestType<PutArchiveParams, { entries: number }, ErrorData>(method);
}

export interface WriteArchiveParams {
  token: string;
  /** Archive bytes, base64 (at most 1 MiB decoded). */
  data?: string;
  /** The archive ends here. */
  eof?: boolean;
}

/**
 * `container/archive/write`. Sent by the client of a `container/archive/put`, chunk by chunk; each
 * is answered once the agent has taken it (so the client's pace follows the extraction). Errors:
 * NotFound (no put with this token on this connection, or it has already failed), InvalidArgument.
 */
export namespace WriteArchiveRequest {
  export const method = 'container/archive/write';
  export const type = new RequestType<WriteArchiveParams, void, ErrorData>(method);
}

export interface PruneResult {
  /** Container IDs, or image IDs and layer chain IDs, removed. */
  Deleted: string[];
  /** Tags removed (image prune with `all`). */
  Untagged: string[];
  /** Bytes freed on disk. */
  SpaceReclaimed: number;
}

/**
 * `container/prune`. Removes every container that is not running (created or exited): record,
 * writable layer, logs. Emits `destroy` for each. Errors: System.
 */
export namespace PruneContainersRequest {
  export const method = 'container/prune';
  export const type = new RequestType<Record<string, never>, PruneResult, ErrorData>(method);
}

export interface PruneImagesParams {
  /** Remove every image no container uses, not only dangling (untagged) ones. */
  all?: boolean;
}

/**
 * `image/prune`. Removes dangling images (no tag points at them; with `all`, also tagged images)
 * that no container uses, and the layers and blobs nothing else needs. Emits `untag` and `delete`.
 * Errors: System.
 */
export namespace PruneImagesRequest {
  export const method = 'image/prune';
  export const type = new RequestType<PruneImagesParams, PruneResult, ErrorData>(method);
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

export interface PushProgressParams {
  /** The `progressToken` of the push request this belongs to. */
  token: string;
  reference: string;
  blob: PushProgress;
}

/**
 * `image/pushProgress`. Sent by the agent to the connection that asked for a push with a progress
 * token, whenever a layer changes phase and at most every 100 ms per layer while bytes are sent.
 */
export namespace PushProgressNotification {
  export const method = 'image/pushProgress';
  export const type = new NotificationType<PushProgressParams>(method);
}

/**
 * `berth/event`. Sent by the agent to every subscribed connection (see {@link SubscribeRequest})
 * after a change to the store completes.
 */
export namespace EventNotification {
  export const method = 'berth/event';
  export const type = new NotificationType<BerthEvent>(method);
}

export interface LogLineParams {
  /** The `token` of `container/logs` or the `attachToken` of `container/start`. */
  token: string;
  /** The container's ID. */
  container: string;
  line: LogLine;
}

/**
 * `container/logLine`. Sent by the agent to the connection that asked for followed logs or an
 * attached start, once per line, in order.
 */
export namespace LogLineNotification {
  export const method = 'container/logLine';
  export const type = new NotificationType<LogLineParams>(method);
}

// ---------------------------------------------------------------------------------------------
// Exec and attached byte streams (terminals). One design for the CLI and the extension's
// terminals (vscode.Pseudoterminal): the client picks a token, unique on its connection; the agent
// sends the process's output as `container/output` notifications carrying it; the client sends
// `container/input` and `container/resize` notifications carrying it; the exit is the answer to
// the request that started the process. Tokens are scoped to the connection that started the
// process: input or resize naming a token of another connection, or an unknown one, is dropped.
// ---------------------------------------------------------------------------------------------

/** Largest `data` of one {@link InputNotification}, decoded (bigger ones are dropped whole). */
export const MAX_INPUT_CHUNK = 65536;

export interface ExecParams extends ContainerRefParams {
  /** argv; argv[0] is searched in the container's PATH when it has no "/". */
  cmd: string[];
  /** "NAME=value" entries added to the container's environment, overriding by name. */
  env?: string[];
  /** "uid[:gid]" or "name[:group]", looked up in the container's files; default: the container's. */
  user?: string;
  /** Absolute; must exist; default: the container's working directory. */
  workingDir?: string;
  /**
   * A pty from the container's own /dev/pts, as the process's controlling terminal; output then
   * comes as one stream ('tty'), and input is what a keyboard would type (Ctrl-C is byte 0x03).
   */
  tty?: boolean;
  /** Initial window size with `tty` (default 24x80); later changes by {@link ResizeNotification}. */
  rows?: number;
  cols?: number;
  /** Keep the process's stdin open for {@link InputNotification}s (else it reads /dev/null). */
  stdin?: boolean;
  /**
   * Names this process's stream on the connection; required for output to be sent, for `stdin`
   * and for `tty`. At most 256 characters; must not be in use on the connection.
   */
  attachToken?: string;
}

export interface ExecResult {
  /** The process's exit code, 128 + N when killed by signal N. */
  ExitCode: number;
}

/**
 * `container/exec`. Sent by `berth exec` and the extension to run a process inside a running
 * container: its mount, uts, ipc, net, pid and cgroup namespaces and its cgroup, its
 * capabilities and no-new-privs, as its user unless `user` says otherwise. Output flows as
 * {@link OutputNotification}s; the answer comes when the process has exited and its last output
 * has been sent. Cancelling the request, or closing the connection, kills the process (the answer
 * is then Cancelled). Errors: NotFound, Conflict (the container is not running, or the token is in
 * use), InvalidArgument (no command, bad env/user/workdir, command or workdir missing in the
 * container), Cancelled, System (a failed step, with its syscall, path and errno).
 */
export namespace ExecRequest {
  export const method = 'container/exec';
  export const type = new RequestType<ExecParams, ExecResult, ErrorData>(method);
}

export interface OutputParams {
  /** The `attachToken` of the exec or attached start this output belongs to. */
  token: string;
  /** 'tty' for a process with a pty (stdout and stderr are one stream then). */
  stream: 'stdout' | 'stderr' | 'tty';
  /** The bytes, base64; chunks arrive in order, as the process wrote them (not split at lines). */
  data: string;
}

/**
 * `container/output`. Sent by the agent to the connection that started an exec (or a streamed
 * attached start) with an attachToken, for each chunk of output, in order, before the answer.
 */
export namespace OutputNotification {
  export const method = 'container/output';
  export const type = new NotificationType<OutputParams>(method);
}

export interface InputParams {
  token: string;
  /** Bytes for the process's stdin (or its pty), base64; at most {@link MAX_INPUT_CHUNK} decoded. */
  data?: string;
  /** The client's input ended: the process's stdin is closed (with a pty: input stops). */
  eof?: boolean;
}

/**
 * `container/input`. Sent by a client to the agent, for a process it started on this connection
 * with `stdin` or `tty`. Input for an unknown token, after `eof`, or while the agent still holds
 * more than 1 MiB of this process's input, is dropped (the agent's log says so).
 */
export namespace InputNotification {
  export const method = 'container/input';
  export const type = new NotificationType<InputParams>(method);
}

export interface ResizeParams {
  token: string;
  /** 1 to 65535. */
  rows: number;
  cols: number;
}

/**
 * `container/resize`. Sent by a client when its terminal's size changes (SIGWINCH in the CLI,
 * `setDimensions` of a Pseudoterminal), for a `tty` process it started on this connection. The
 * process gets SIGWINCH from the kernel. Ignored for processes without a pty.
 */
export namespace ResizeNotification {
  export const method = 'container/resize';
  export const type = new NotificationType<ResizeParams>(method);
}

// ---------------------------------------------------------------------------------------------
// Volumes (client -> agent). Docker's "local" driver: a directory per volume under
// $BERTH_ROOT/volumes/<name>/_data. Names follow `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (InvalidArgument
// otherwise). A volume is in use while any container (running or not) names it.
// ---------------------------------------------------------------------------------------------

/** Docker's volume shape. */
export interface Volume {
  Name: string;
  Driver: 'local';
  /** The host directory containers see. */
  Mountpoint: string;
  /** RFC 3339. */
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: null;
}

export interface CreateVolumeParams {
  /** A random 64-hex name when absent. */
  name?: string;
  labels?: Record<string, string>;
}

/**
 * `volume/create`. Sent by `berth volume create` and the extension. Creating an existing volume
 * answers it unchanged (Docker's behaviour). Emits the volume event `create`.
 * Errors: InvalidArgument (name, labels), System.
 */
export namespace CreateVolumeRequest {
  export const method = 'volume/create';
  export const type = new RequestType<CreateVolumeParams, Volume, ErrorData>(method);
}

/** `volume/list`. Every volume, by name. Errors: none. */
export namespace ListVolumesRequest {
  export const method = 'volume/list';
  export const type = new RequestType<Record<string, never>, Volume[], ErrorData>(method);
}

export interface VolumeRefParams {
  name: string;
}

/** `volume/inspect`. Errors: InvalidArgument, NotFound. */
export namespace InspectVolumeRequest {
  export const method = 'volume/inspect';
  export const type = new RequestType<VolumeRefParams, Volume, ErrorData>(method);
}

/**
 * `volume/remove`. Deletes the volume and its data. Emits `destroy`.
 * Errors: InvalidArgument, NotFound, Conflict (a container uses it), System.
 */
export namespace RemoveVolumeRequest {
  export const method = 'volume/remove';
  export const type = new RequestType<VolumeRefParams, void, ErrorData>(method);
}

export interface PruneVolumesParams {
  /** Named volumes too; without it only anonymous ones go, as in Docker 23+. */
  all?: boolean;
}

/**
 * `volume/prune`. Removes the anonymous volumes no container uses (with `all`, named ones too).
 * Emits `destroy` for each. Errors: InvalidArgument, System.
 */
export namespace PruneVolumesRequest {
  export const method = 'volume/prune';
  export const type = new RequestType<PruneVolumesParams, { VolumesDeleted: string[]; SpaceReclaimed: number }, ErrorData>(method);
}

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

export interface FsPathParams {
  target: FsTarget;
  /** Absolute, inside the rootfs. */
  path: string;
}

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
export namespace FsStatRequest {
  export const method = 'fs/stat';
  export const type = new RequestType<FsPathParams, FsStat, ErrorData>(method);
}

/**
 * `fs/readDirectory`. The merged directory (whiteouts and opaque directories applied), sorted by
 * name; at most 100,000 entries (more: InvalidArgument, EFBIG). Errors: as {@link FsStatRequest},
 * and InvalidArgument ENOTDIR when the path is not a directory.
 */
export namespace FsReadDirectoryRequest {
  export const method = 'fs/readDirectory';
  export const type = new RequestType<FsPathParams, { entries: FsDirEntry[] }, ErrorData>(method);
}

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
export namespace FsReadFileRequest {
  export const method = 'fs/readFile';
  export const type = new RequestType<FsPathParams, FsReadFileResult, ErrorData>(method);
}

// ---------------------------------------------------------------------------------------------
// Store verification (client -> agent)
// ---------------------------------------------------------------------------------------------

/**
 * What kind of problem `store/check` found. Damage (only a new pull, or removing what needs it,
 * mends it): `blob` (unreadable, not a file), `blob-corrupt` (content does not hash to its name),
 * `layer` (record unreadable or inconsistent, parent missing, no diff dir), `layer-index`
 * (missing or corrupt), `layer-content` (an index entry missing from the layer or of another
 * type or size), `image` (record unreadable or inconsistent), `image-blob` (a config, manifest,
 * index or layer blob it needs is missing or corrupt), `image-layer` (an unpacked layer it needs
 * is missing), `ref` (refs.json unreadable, a tag pointing at no image), `container` (record
 * unreadable, a layer it runs on missing). Garbage (nothing trusts it): `temp-leftover` (a temp
 * file of an interrupted write, tmp/ work of an earlier agent run), `partial-layer` (a layer
 * directory without its record), `stray` (an entry Berth never makes there; reported, never removed).
 */
export type StoreProblemKind =
  | 'blob'
  | 'blob-corrupt'
  | 'layer'
  | 'layer-index'
  | 'layer-content'
  | 'image'
  | 'image-blob'
  | 'image-layer'
  | 'ref'
  | 'container'
  | 'temp-leftover'
  | 'partial-layer'
  | 'stray';

/** One problem of the store. */
export interface StoreProblem {
  kind: StoreProblemKind;
  /** The file or directory concerned, as the agent sees it (absolute). */
  path: string;
  /** What is wrong, one sentence. */
  message: string;
  /** `repair` removes it: garbage, and blobs whose content does not match their name. */
  repairable: boolean;
  /** This request's repair removed it. */
  repaired: boolean;
}

/** What `store/check` looked at. */
export interface StoreCheckSummary {
  /** Blob files hashed, and their bytes. */
  blobs: number;
  blobBytes: number;
  /** Layers with a valid record, and the files (regular and hard links) their indexes list, each found in place. */
  layers: number;
  files: number;
  images: number;
  tags: number;
  containers: number;
  /**
   * Complete layers and good blobs no image or container uses. Not problems: a pull killed after
   * committing some layers leaves them, and nothing trusts them more than it should;
   * `berth image prune` reclaims them.
   */
  unreferencedLayers: number;
  unreferencedBlobs: number;
  /** tmp/ entries of operations this agent has in flight (not looked into). */
  inFlight: number;
  /** Problems found, and how many of them this request's repair removed. */
  problems: number;
  repaired: number;
  durationMs: number;
}

export interface StoreCheckParams {
  /** Remove what is repairable (see {@link StoreProblem.repairable}); default false: only look. */
  repair?: boolean;
}

export interface StoreCheckResult {
  problems: StoreProblem[];
  summary: StoreCheckSummary;
}

/**
 * `store/check`. Sent by a client (`berth check`) to verify the store: every blob hashes to its
 * name; every layer's record, parent, diff directory and index agree (each index entry is in the
 * layer with its type and size); every image's blobs and layers exist in chain order; every tag
 * points at an image; every container's layers exist; no leftovers of interrupted work. Holds
 * the store's record lock while it runs (pulls keep downloading, and record their images after
 * it). With `repair`, removes garbage and corrupt blobs, never anything intact. Problems are the
 * answer, not errors. Errors: InvalidArgument.
 */
export namespace StoreCheckRequest {
  export const method = 'store/check';
  export const type = new RequestType<StoreCheckParams, StoreCheckResult, ErrorData>(method);
}

// ---------------------------------------------------------------------------------------------
// Builds (client -> agent): images from Dockerfiles (agent/build/). Steps run in order; each
// filesystem step (RUN, COPY, ADD, WORKDIR making its directory) adds one layer to the store,
// every other instruction one empty-layer history entry; a step whose inputs are unchanged is
// taken from the build cache instead of run.
// ---------------------------------------------------------------------------------------------

export interface BuildParams {
  /**
   * The build context: an absolute path of a directory on the agent's machine. The agent reads it
   * on the caller's behalf: the caller must be able to read it and every file copied from it
   * (PermissionDenied otherwise), and nothing outside it is read (symlinks are followed inside it).
   */
  contextDir: string;
  /**
   * The Dockerfile's path on the agent's machine (absolute, or relative to `contextDir`); default
   * `Dockerfile` in the context. Read on the caller's behalf, as the context is. With
   * `dockerfileContent`, only names the Dockerfile in messages.
   */
  dockerfile?: string;
  /** The Dockerfile's text itself (at most 1 MiB), instead of reading `dockerfile`. */
  dockerfileContent?: string;
  /** Tags for the result ("name", "name:tag", "host:5000/name:tag"). */
  tags?: string[];
  /** Values for ARG instructions; ones no ARG declares are reported as warnings. */
  buildArgs?: Record<string, string>;
  /** Build up to this stage (its `AS` name or index) and make it the result; default the last. */
  target?: string;
  /** Run every step: the cache is not read (what the steps make is still stored in it for later builds). */
  noCache?: boolean;
  /** When set, the agent sends {@link BuildProgressNotification}s carrying this token. */
  progressToken?: string;
}

/** What happens during a build, in order (see {@link BuildProgressNotification}). */
export type BuildEvent =
  /** A step starts: "Step 2/7 : RUN make". `instruction` is as written (continuations joined). */
  | { type: 'step'; step: number; total: number; stage: number; line: number; instruction: string }
  /** The step's result was found in the build cache; nothing runs. */
  | { type: 'cached'; step: number }
  /** A RUN step's container was created (its 64-hex ID) and starts. */
  | { type: 'running'; step: number; container: string }
  /** Output of a RUN step's command, base64, in order, as written (not split at lines). */
  | { type: 'output'; step: number; stream: 'stdout' | 'stderr'; data: string }
  /** A RUN step's container was removed. */
  | { type: 'removed'; step: number; container: string }
  /** The step is done: `id` is the config digest of the image as it stands after the step. */
  | { type: 'result'; step: number; id: string }
  /** Something worth saying that is not a step's result (a base image pulled, a skipped file). */
  | { type: 'message'; step: number; message: string }
  /** A warning (an unused build argument, an ignored `# syntax=` directive). */
  | { type: 'warning'; message: string };

export interface BuildStepResult {
  /** The instruction as written. */
  instruction: string;
  /** Its first line in the Dockerfile. */
  line: number;
  /** Its stage's index. */
  stage: number;
  /**
   * True when the step's result came from the build cache and nothing ran. For FROM: true when
   * the base needed no pull (a stored image, a stage, or scratch).
   */
  cached: boolean;
}

export interface BuildResult {
  /** The image ID ("sha256:..."). */
  Id: string;
  /** The tags it was given, as Docker shows them ("name:tag"). */
  tags: string[];
  /** Every step run, in order (the stages up to the target). */
  steps: BuildStepResult[];
  warnings: string[];
}

/**
 * `image/build`. Sent by `berth build` and the extension to build an image from a Dockerfile and a
 * context directory (see {@link BuildParams}). Stages run in file order up to the target; FROM
 * takes a stored image, else pulls it (`scratch` is no layers). RUN runs in a container of the
 * runtime (the image so far, its Env with the build arguments, WorkingDir, User, SHELL), removed
 * afterwards. COPY/ADD read the context (with `.dockerignore`) or another stage/image
 * (`--from`). Progress: {@link BuildProgressNotification} when `progressToken` is given.
 * Cancellable: cancelling (or closing the connection) stops the build, kills and removes the
 * running step's container, and answers Cancelled; layers already made stay for the cache.
 * Emits the step containers' container events, and `tag` per tag. Errors: InvalidArgument (a
 * Dockerfile error, a missing COPY source, a bad parameter: "Dockerfile:LINE: INSTRUCTION: what",
 * `data.path` the Dockerfile, `data.line`), BuildFailed (a RUN exited non-zero: `data.line`),
 * PermissionDenied (the caller may not read the context or a file in it), NotFound and the pull
 * errors (a base image), InvalidReference (a tag), Cancelled, System.
 */
export namespace BuildImageRequest {
  export const method = 'image/build';
  export const type = new RequestType<BuildParams, BuildResult, ErrorData>(method);
}

export interface BuildProgressParams {
  /** The `progressToken` of the build request this belongs to. */
  token: string;
  event: BuildEvent;
}

/**
 * `image/buildProgress`. Sent by the agent to the connection that asked for a build with a
 * progress token, for each {@link BuildEvent}, in order, before the build's answer.
 */
export namespace BuildProgressNotification {
  export const method = 'image/buildProgress';
  export const type = new NotificationType<BuildProgressParams>(method);
}

// ---------------------------------------------------------------------------------------------
// Workspaces (client -> agent): a folder with a devcontainer.json run in a container of its own
// (agent/workspace/). The container is found again by its labels: `berth.workspace` (the folder's
// real path) and `berth.config.hash` (a hash of the parsed configuration, and of the Dockerfile
// for a build). Berth reads the subset of the Dev Container spec listed in
// agent/workspace/devcontainer.ts; other keys are reported as ignored, never fatal.
// ---------------------------------------------------------------------------------------------

export interface WorkspaceUpParams {
  /**
   * The folder: an absolute path on the agent's machine. Its `.devcontainer/devcontainer.json`
   * (else `.devcontainer.json`) is read on the caller's behalf (it must be able to read both).
   */
  folder: string;
  /** Build or pull again and recreate the container even when its configuration is unchanged. */
  rebuild?: boolean;
  /** With a `build` configuration: run every Dockerfile step, ignoring the build cache. */
  noCache?: boolean;
  /** The client's environment, for `${localEnv:NAME}` in the configuration (absent: all empty). */
  localEnv?: Record<string, string>;
  /** When set, the agent sends {@link WorkspaceProgressNotification}s carrying this token. */
  progressToken?: string;
}

/** A lifecycle command of devcontainer.json that Berth runs. */
export type WorkspaceLifecycleCommand = 'onCreateCommand' | 'postCreateCommand' | 'postStartCommand';

/** A forwarded port: the container's port and where it is reachable on the host. */
export interface WorkspacePort {
  /** The port as `forwardPorts` names it (tcp). */
  containerPort: number;
  /** "127.0.0.1" (or the host's own address with `--network host`). */
  hostIp: string;
  /** The host port: the same number when it was free when the container was created, another otherwise. */
  hostPort: number;
  /**
   * True for a port not in `forwardPorts` that a process in the container started listening on,
   * found and forwarded by the agent (on 127.0.0.1, the same number when it was free when found,
   * another otherwise, and always another for ports below 1024); forwarded only while something
   * listens on it.
   */
  detected?: boolean;
}

/** What happens during `workspace/up`, in order (see {@link WorkspaceProgressNotification}). */
export type WorkspaceEvent =
  /** A step in words: "Pulling 127.0.0.1:5000/dev/box:1", "Creating container berth-ws-proj-1a2b3c4d". */
  | { type: 'message'; message: string }
  /** A layer of the image being pulled. */
  | { type: 'pull'; reference: string; layer: LayerProgress }
  /** An event of the image build (a `build` configuration). */
  | { type: 'build'; event: BuildEvent }
  /**
   * A lifecycle command starts: `part` is the key of the object form ("" for the string and array
   * forms); `argv` what runs (a string form runs as ["/bin/sh", "-c", string]).
   */
  | { type: 'command'; command: WorkspaceLifecycleCommand; part: string; argv: string[] }
  /** Output of a lifecycle command, base64, in order, as written. */
  | { type: 'output'; command: WorkspaceLifecycleCommand; part: string; stream: 'stdout' | 'stderr'; data: string }
  /** A lifecycle command part ended with this exit code. */
  | { type: 'exit'; command: WorkspaceLifecycleCommand; part: string; exitCode: number };

/** The workspace's container and how to work in it (the answer of up and status). */
export interface WorkspaceInfo {
  /** The folder's real path (the `berth.workspace` label). */
  folder: string;
  /** The devcontainer.json used. */
  configFile: string;
  /** The `berth.config.hash` label. */
  configHash: string;
  container: { Id: string; Name: string; State: ContainerStatus };
  /** The image reference the container runs (the configuration's, or the tag a build gave). */
  image: string;
  /** Where the folder is in the container; the working directory of its commands and terminals. */
  workspaceFolder: string;
  /** The user commands and terminals run as (remoteUser, else containerUser); "" for the container's. */
  remoteUser: string;
  /** remoteEnv resolved ("NAME=value"), for commands and terminals. */
  remoteEnv: string[];
  /**
   * The forwarded ports while the container runs (empty while it is stopped): each of
   * `forwardPorts` as bound the last time the container started, then the detected ones
   * (`detected`, see {@link ContainerListenEventAction}) as forwarded now.
   */
  ports: WorkspacePort[];
  /**
   * Of the detected `ports`, those a process listens on at the container's loopback address only
   * (127.0.0.1, ::1): the bridge cannot reach them, so their forward relays each connection into
   * the container's network namespace through the runtime helper. Absent from agents that do not
   * detect ports.
   */
  loopbackPorts?: number[];
}

export interface WorkspaceUpResult extends WorkspaceInfo {
  /**
   * created: there was no container; recreated: the configuration changed (or `rebuild`), the old
   * one was removed; started: the existing one was started; running: it was already running, and
   * nothing was done.
   */
  action: 'created' | 'recreated' | 'started' | 'running';
  /** The lifecycle commands that ran during this request, in order. */
  ran: WorkspaceLifecycleCommand[];
  /** Top-level keys of the configuration Berth does not read (each once). */
  ignored: string[];
}

/**
 * `workspace/up`. Sent by `berth up` and the extension ("Berth: Open Workspace in Container") to
 * bring a folder's dev container up: reads and checks the configuration, then reuses the
 * container labelled with the folder when its configuration hash is unchanged (starting it if it
 * is stopped), else pulls the image when the store lacks it (or builds the Dockerfile, tagged
 * `berth-ws-<name>-<8 hex>:latest`), removes the old container, and creates one: the folder
 * bind-mounted at workspaceFolder (default /workspaces/<basename>), containerEnv, mounts, runArgs
 * (the supported subset), capAdd, privileged, init, each forwarded port published on 127.0.0.1
 * (the same number when free, another when not) and, unless overrideCommand is false, a command
 * that keeps it running until stopped. onCreateCommand and postCreateCommand run once, after the
 * first start (the container's directory records that they succeeded), postStartCommand after
 * every start, as remoteUser with remoteEnv in workspaceFolder; their output is streamed.
 * Requests for the same folder run one after the other. Progress: {@link WorkspaceProgressNotification}
 * when `progressToken` is given. Cancellable (the pull, build or command is stopped; a created
 * container is kept). Emits the events of the pull, build and container it makes.
 * Errors: InvalidArgument (folder; the configuration: a parse error with `data.line` and
 * `data.column`, a wrong type naming the key, an unsupported runArg or mount; `data.path` the
 * file), NotFound (no configuration in the folder; an image the registry lacks), PermissionDenied
 * (the caller may not read the folder or the file), LifecycleCommandFailed (a lifecycle command
 * exited non-zero: the container is kept for inspection and named in the message), Conflict (a
 * forwarded or published port is in use when a stopped container is started again), the pull and
 * build errors, Cancelled, System.
 */
export namespace WorkspaceUpRequest {
  export const method = 'workspace/up';
  export const type = new RequestType<WorkspaceUpParams, WorkspaceUpResult, ErrorData>(method);
}

export interface WorkspaceProgressParams {
  /** The `progressToken` of the `workspace/up` this belongs to. */
  token: string;
  event: WorkspaceEvent;
}

/**
 * `workspace/progress`. Sent by the agent to the connection that asked for a `workspace/up` with
 * a progress token, for each {@link WorkspaceEvent}, in order, before the answer.
 */
export namespace WorkspaceProgressNotification {
  export const method = 'workspace/progress';
  export const type = new NotificationType<WorkspaceProgressParams>(method);
}

export interface WorkspaceDownParams {
  /** The folder (absolute), as given to `workspace/up`. */
  folder: string;
  /** Remove the container after stopping it (the next up creates a new one). */
  remove?: boolean;
  /** Seconds to wait after the stop signal before SIGKILL; default 10. */
  timeout?: number;
}

export interface WorkspaceDownResult {
  container: { Id: string; Name: string };
  /** stopped: it was running and now is not; removed: it is gone; none: it was not running. */
  action: 'stopped' | 'removed' | 'none';
}

/**
 * `workspace/down`. Sent by `berth down` and the extension ("Stop") to stop the folder's
 * workspace container (and remove it with `remove`). Emits the container's events.
 * Errors: InvalidArgument (folder), NotFound (no workspace container for the folder), System.
 */
export namespace WorkspaceDownRequest {
  export const method = 'workspace/down';
  export const type = new RequestType<WorkspaceDownParams, WorkspaceDownResult, ErrorData>(method);
}

export interface WorkspaceStatusParams {
  /** The folder (absolute). */
  folder: string;
}

/**
 * `workspace/status`. Sent by the extension (the Workspace view, the "Berth workspace" terminal
 * profile) to learn the folder's workspace container and how to work in it, as the last
 * `workspace/up` set it up; `null` when there is none. Its `ports` include those detected while
 * the container runs, and `loopbackPorts` those of them bound to its loopback only (see
 * {@link ContainerListenEventAction}). Reads nothing of the folder and starts nothing.
 * Errors: InvalidArgument (folder).
 */
export namespace WorkspaceStatusRequest {
  export const method = 'workspace/status';
  export const type = new RequestType<WorkspaceStatusParams, WorkspaceInfo | null, ErrorData>(method);
}
