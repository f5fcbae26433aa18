/**
 * Shapes several nouns share: platforms, image and container summaries and inspections, log lines.
 * Docker's field names and shapes, so `berth inspect` reads like `docker inspect`.
 */

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

export interface PruneResult {
  /** Container IDs, or image IDs and layer chain IDs, removed. */
  Deleted: string[];
  /** Tags removed (image prune with `all`). */
  Untagged: string[];
  /** Bytes freed on disk. */
  SpaceReclaimed: number;
}
