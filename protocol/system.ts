/**
 * The agent itself: its version and the host it runs on (`berth/version`, `system/info`), and store
 * verification (`store/check`).
 */
import type * as v from 'valibot';
import { params, bool, opt, request, request0 } from './schema';

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
export const VersionRequest = request0('berth/version').answers<VersionResult>();
// ---------------------------------------------------------------------------------------------
// Store verification (client -> agent)
// ---------------------------------------------------------------------------------------------

/** The agent and its host, in the field names of Docker's `GET /info` (a later presenter's source). */
export interface SystemInfoResult {
  /** Berth's version, and the protocol's revision ({@link API_VERSION}). */
  ServerVersion: string;
  ApiVersion: number;
  /** The store root ($BERTH_ROOT). */
  DockerRootDir: string;
  /** How container filesystems are made: "overlay" (overlayfs over the store's layer directories). */
  Driver: 'overlay';
  /** "1" or "2" (a hybrid host, cgroup v1 controllers with a v2 mount, is "1"). */
  CgroupVersion: '1' | '2';
  /** Berth writes the cgroup filesystem itself; no systemd unit per container. */
  CgroupDriver: 'cgroupfs';
  /** uname -r. */
  KernelVersion: string;
  /** PRETTY_NAME of /etc/os-release ("" when it cannot be read). */
  OperatingSystem: string;
  OSType: string;
  /** uname -m ("x86_64", "aarch64"), as Docker reports it. */
  Architecture: string;
  NCPU: number;
  /** Bytes of memory the host has. */
  MemTotal: number;
  Containers: number;
  ContainersRunning: number;
  /** Always 0: Berth has no paused state (a commit freezes a container only while it reads it). */
  ContainersPaused: number;
  /** Created and exited containers. */
  ContainersStopped: number;
  /** Images in the store, tagged or not. */
  Images: number;
  /** The default network: its bridge and IPv4 subnet ("berth0", "10.89.0.0/24"). */
  DefaultNetwork: { Bridge: string; Subnet: string };
  /**
   * Security options in force for every container, as Docker writes them: "name=cgroupns" (each
   * container has its own cgroup namespace); "name=userns" would mean all containers run in a
   * user namespace, which Berth does only when one asks for it (`userns: "auto"`), so it is not
   * listed; no seccomp or AppArmor profile is applied.
   */
  SecurityOptions: string[];
}

/**
 * `system/info`. Sent by `berth info` (and a Docker API front door's `GET /info`) to describe the
 * agent, its store and its host: versions, storage and cgroup drivers, kernel, OS, CPUs, memory,
 * container and image counts, the default network and the security options in force.
 * Errors: System (the cgroup layout or the store cannot be read).
 */
export const SystemInfoRequest = request0('system/info').answers<SystemInfoResult>();

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

export const StoreCheckParams = params({
  /** Remove what is repairable (see {@link StoreProblem.repairable}); default false: only look. */
  repair: opt(bool()),
});
export type StoreCheckParams = v.InferOutput<typeof StoreCheckParams>;

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
export const StoreCheckRequest = request('store/check', StoreCheckParams).answers<StoreCheckResult>();
