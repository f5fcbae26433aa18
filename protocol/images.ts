/**
 * Images: pull, push, list, inspect, tag, remove, save, load, prune, and the layer inspector.
 */
import { NotificationType } from 'vscode-jsonrpc';
import * as v from 'valibot';
import { params, text, anyText, absolutePath, bool, number, nonEmptyTexts, opt, request } from './schema';
import type { HistoryEntry, ImageInspect, ImageSummary, LayerProgress, PruneResult } from './shared';

/** A platform to pull: `{os, architecture, variant?}`. */
export const PlatformParams = v.object(
  { os: text(), architecture: text(), variant: opt(anyText()) },
  'must be {os, architecture, variant?} strings',
);

export const PullParams = params({
  /** What to pull: "busybox", "127.0.0.1:5000/team/app:v1", "alpine@sha256:..." */
  reference: text(),
  /** Platform to choose from a multi-platform image; the agent's host platform when absent. */
  platform: opt(PlatformParams),
  /**
   * When set, the agent sends {@link PullProgressNotification}s carrying this token to the
   * requesting connection.
   */
  progressToken: opt(anyText()),
});
export type PullParams = v.InferOutput<typeof PullParams>;

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
export const PullRequest = request('image/pull', PullParams).answers<PullResult>();

export const ListImagesParams = params({
  /** Include images no tag points at (dangling); default true. */
  all: opt(bool()),
});
export type ListImagesParams = v.InferOutput<typeof ListImagesParams>;

/** `image/list`. Sent to list stored images, newest first. Errors: none. */
export const ListImagesRequest = request('image/list', ListImagesParams).answers<ImageSummary[]>();

export const ImageRefParams = params({
  /** A tag, a repository@digest, an image ID or a unique prefix of one (at least 4 hex digits). */
  reference: text(),
});
export type ImageRefParams = v.InferOutput<typeof ImageRefParams>;

/** `image/inspect`. Errors: InvalidReference, NotFound. */
export const InspectImageRequest = request('image/inspect', ImageRefParams).answers<ImageInspect>();

export const RemoveImageParams = params({
  ...ImageRefParams.entries,
  /** Remove the image even when several tags point at it (all of them go). */
  force: opt(bool()),
});
export type RemoveImageParams = v.InferOutput<typeof RemoveImageParams>;

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
export const RemoveImageRequest = request('image/remove', RemoveImageParams).answers<RemoveImageResult>();

export const TagParams = params({
  /** An existing image (any form {@link ImageRefParams} accepts). */
  source: text(),
  /** The new tag (a reference without digest). */
  target: text(),
});
export type TagParams = v.InferOutput<typeof TagParams>;

/** `image/tag`. Points a tag at an image, replacing what it pointed at. Emits `tag`. Errors: InvalidReference, NotFound. */
export const TagImageRequest = request('image/tag', TagParams).answers<void>();

/** `image/history`. Each step of the image's build, newest first. Errors: InvalidReference, NotFound. */
export const ImageHistoryRequest = request('image/history', ImageRefParams).answers<HistoryEntry[]>();

export const SaveParams = params({
  /** Images to write; tags are kept in the archive's manifest.json. */
  references: nonEmptyTexts(),
  /**
   * Absolute path of the archive to write on the agent's machine. The agent writes a temporary
   * file beside it and renames it into place, and gives it to the caller's uid and gid.
   */
  path: absolutePath(),
});
export type SaveParams = v.InferOutput<typeof SaveParams>;

/**
 * `image/save`. Writes a `docker save`-format tar (manifest.json, configs and uncompressed layer
 * tars), which `docker load` and `podman load` accept. Emits `save`.
 * Errors: InvalidArgument (relative path), InvalidReference, NotFound, System.
 */
export const SaveImagesRequest = request('image/save', SaveParams).answers<{ path: string; size: number }>();

export const LoadParams = params({
  /** Absolute path of a docker-save or OCI-layout (oci-archive) tar on the agent's machine. */
  path: absolutePath(),
});
export type LoadParams = v.InferOutput<typeof LoadParams>;

/**
 * `image/load`. Imports the images of an archive: every layer verified and unpacked as in a pull.
 * Emits `load`. Errors: InvalidArgument, InvalidArchive, DigestMismatch, HostileLayer,
 * InvalidContent, System.
 */
export const LoadImagesRequest = request('image/load', LoadParams).answers<{ images: ImageSummary[]; tags: string[] }>();

export const PushParams = params({
  /**
   * The tag to push, "NAME[:TAG]" ("127.0.0.1:5000/team/app:v1"; ":latest" when absent). It must
   * name an image in the store (tag it first); a digest reference is refused.
   */
  reference: text(),
  /**
   * When set, the agent sends {@link PushProgressNotification}s carrying this token to the
   * requesting connection.
   */
  progressToken: opt(anyText()),
});
export type PushParams = v.InferOutput<typeof PushParams>;

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
export const PushRequest = request('image/push', PushParams).answers<PushResult>();

// ---------------------------------------------------------------------------------------------
// The layer inspector (client -> agent). Answered from the per-layer file indexes written at
// unpack (agent/oci/layerIndex.ts, agent/images/layers.ts); no layer tar is read again.
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
export const ImageLayersRequest = request('image/layers', ImageRefParams).answers<ImageLayersResult>();

export const LayerFilesParams = v.pipe(
  params({
    ...ImageRefParams.entries,
    /** The layer: its index (0 = base) or its chain ID, diff ID or blob digest. Ignored when `merged`. */
    layer: opt(v.union([v.pipe(v.number(), v.integer(), v.minValue(0)), text()], 'must be a layer index or digest')),
    /** List the image's final tree (top-most entry per path, whiteouts and opaque dirs applied) instead. */
    merged: opt(bool()),
    /** First entry to return (entries are sorted by path); default 0. */
    offset: opt(number(0)),
    /** Entries per page; default 5000, at most 20000. */
    limit: opt(number(1)),
  }),
  v.forward(
    v.check((p) => p.merged === true || p.layer !== undefined, 'must be a layer index or digest unless "merged" is true'),
    ['layer'],
  ),
);
export type LayerFilesParams = v.InferOutput<typeof LayerFilesParams>;

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
export const LayerFilesRequest = request('image/layerFiles', LayerFilesParams).answers<LayerFilesResult>();

export const PruneImagesParams = params({
  /** Remove every image no container uses, not only dangling (untagged) ones. */
  all: opt(bool()),
});
export type PruneImagesParams = v.InferOutput<typeof PruneImagesParams>;

/**
 * `image/prune`. Removes dangling images (no tag points at them; with `all`, also tagged images)
 * that no container uses, and the layers and blobs nothing else needs. Emits `untag` and `delete`.
 * Errors: System.
 */
export const PruneImagesRequest = request('image/prune', PruneImagesParams).answers<PruneResult>();
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
