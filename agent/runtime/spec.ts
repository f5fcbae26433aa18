/**
 * What the agent knows about a container when it starts one: everything already decided and
 * resolved on the host (layer dirs, the user as numbers, the per-container /etc files). Turned
 * into a {@link LaunchPlan} by buildLaunchPlan (plan.ts), which the helper executes.
 */

/** One line of a uid_map or gid_map: `size` ids from `containerId` map to `hostId` upwards. */
export interface IdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

/** A host path bind-mounted into the container (`-v /host:/ctr[:ro]`). */
export interface BindMountSpec {
  /** Absolute host path; must exist. */
  source: string;
  /** Absolute path inside the container; resolved inside the rootfs, created if missing. */
  target: string;
  readOnly?: boolean;
  /**
   * An idmapped mount (`-v SRC:DST:idmap`): files owned by `hostId` show as `containerId`, and
   * what the container's `containerId` creates belongs to `hostId` on the host. Ids outside the
   * maps show as nobody and cannot create files. Not recursive; not with a user namespace.
   */
  idmap?: { uidMap: IdMapping[]; gidMap: IdMapping[] };
}

export interface ContainerSpec {
  /** The container's id, for messages. */
  id: string;
  rootfs: {
    /** The image's layer dirs in overlay form, topmost first. */
    lowerDirs: string[];
    /** The container's writable layer and overlayfs's work dir (same filesystem). */
    upperDir: string;
    workDir: string;
    /**
     * An empty host directory the overlay is attached to before pivot_root. The mount exists only
     * in the container's own mount namespace; on the host the directory stays empty.
     */
    mountPoint: string;
  };
  process: {
    /** argv; args[0] is the program, searched in the container's PATH when it has no "/". */
    args: string[];
    /** "NAME=value" strings, exactly as the process sees them. */
    env: string[];
    /** Absolute working directory; it must exist in the rootfs. */
    cwd: string;
    /** Numeric ids (names are looked up in the image's /etc/passwd before this point). */
    user: { uid: number; gid: number; additionalGids?: number[] };
    /** Default 0o022. */
    umask?: number;
    /** A pty of the container's own devpts as the controlling terminal and fds 0-2, this size. */
    terminal?: { rows: number; cols: number };
  };
  hostname: string;
  /** Capability names, "CAP_" optional, any case; "ALL" as Docker takes it. */
  capAdd?: string[];
  capDrop?: string[];
  /** All capabilities, /sys read-write, no masked or read-only paths. */
  privileged?: boolean;
  /** Default true (Docker's default is false; Berth sets it unless told otherwise). */
  noNewPrivileges?: boolean;
  /**
   * Raise the process's capabilities as ambient ones when the user is not root, so they survive
   * the exec (Docker does not: a non-root user starts with no effective capabilities).
   */
  ambientCapabilities?: boolean;
  /** A user namespace with these maps (`--userns`). */
  userNamespace?: { uidMap: IdMapping[]; gidMap: IdMapping[]; denySetgroups?: boolean };
  /** "private" (default): a new network namespace with only loopback, up. "host": the host's. */
  network?: 'private' | 'host';
  /**
   * With network "private": join this persistent network namespace (an nsfs file such as
   * /run/netns/berth-<12 hex>, made and configured by runtime/network before the launch) instead
   * of creating a new one; it already has its interfaces, addresses and routes.
   */
  netns?: string;
  mounts?: BindMountSpec[];
  /** Per-container files bind-mounted over the image's. */
  etcFiles?: { hosts?: string; hostname?: string; resolvConf?: string };
  /** cgroup.procs files the container's init is written to before it runs anything. */
  cgroupProcs?: string[];
  /**
   * The cgroup filesystems mounted at /sys/fs/cgroup (read-only unless privileged), as Docker
   * mounts them, so the container reads its own limits: the cgroup2 tree, or a tmpfs holding one
   * mount per v1 hierarchy (each the list of its co-mounted controllers, e.g. ["cpu", "cpuacct"]).
   * The container's cgroup namespace makes its own groups their roots. Not mounted with a user
   * namespace.
   */
  cgroupfs?: { version: 2 } | { version: 1; hierarchies: string[][] };
  /**
   * The container's directory on the host: its monitor outlives the agent and serves its stdio
   * on `monitor.sock` there (monitor.ts). Without it the container's stdio are the agent's pipes.
   */
  monitor?: { dir: string; stdin: boolean };
  /** `--init`: the host path of berth-init, run as pid 1 from a sealed copy; the command is its child. */
  init?: string;
}

/**
 * What `exec` knows: the running container's init, how the container was confined (the same
 * fields as its {@link ContainerSpec}), and the new process. Turned into a plan by buildExecPlan.
 */
export interface ExecSpec
  extends Pick<
    ContainerSpec,
    'capAdd' | 'capDrop' | 'privileged' | 'noNewPrivileges' | 'ambientCapabilities' | 'userNamespace' | 'network' | 'cgroupProcs'
  > {
  /** The container's init in the agent's pid namespace; its namespaces are entered. */
  pid: number;
  process: ContainerSpec['process'];
}
