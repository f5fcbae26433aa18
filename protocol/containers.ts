/**
 * Containers: their life cycle, logs, writable layer (diff, changes, commit), processes and
 * figures (top, stats), pruning. Exec and attached byte streams: exec.ts; `cp`: files.ts.
 */
import { NotificationType } from 'vscode-jsonrpc';
import * as v from 'valibot';
import { params, text, anyText, token, bool, number, integer, texts, stringMap, oneOf, opt, request, NoParams } from './schema';
import type { LayerFileEntry } from './images';
import type { ContainerInspect, ContainerSummary, LogLine, PruneResult } from './shared';

// ---------------------------------------------------------------------------------------------
// Containers (client -> agent). A container is named by its full ID, a unique ID prefix, or its
// name ("web" or "/web"); the agent answers NotFound ("no such container: X") otherwise.
// ---------------------------------------------------------------------------------------------

export const CreateContainerParams = params({
  /** The image; it must be in the store (the CLI pulls first when it is not). */
  image: text(),
  /** Unique; `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. Generated ("brave_turing") when absent. */
  name: opt(anyText()),
  /** Replaces the image's Cmd. */
  cmd: opt(texts()),
  /** Replaces the image's Entrypoint ([] clears it); either way the image's Cmd is then dropped. */
  entrypoint: opt(texts()),
  /** "NAME=value" entries, overriding the image's by name. */
  env: opt(texts()),
  /** Absolute; must exist in the image. Default: the image's, else "/". */
  workingDir: opt(anyText()),
  /** "uid[:gid]" or "name[:group]" looked up in the image's /etc/passwd and /etc/group. */
  user: opt(anyText()),
  /** Default: the first 12 hex digits of the ID. */
  hostname: opt(anyText()),
  /**
   * "/host:/ctr[:ro|rw]": the host path must exist and be absolute. "name:/ctr[:ro|rw]": the named
   * volume (created when missing, seeded with the image's content at /ctr when new). "/ctr": an
   * anonymous volume. The image's Volumes not covered get anonymous volumes too.
   * Host binds take a comma list of options: `ro`, `rw`, `idmap` (an idmapped mount: the
   * container's user maps to the owner of the host path, read at each start, so what the
   * container creates there belongs to that owner on the host and nothing is chowned) and
   * `idmap=UID:GID` (these container ids map to the owner), e.g. "/home/me/app:/w:rw,idmap".
   */
  binds: opt(texts()),
  labels: opt(stringMap()),
  /** Bytes, at least 6 MiB. */
  memory: opt(number(0)),
  /** CPUs x 1e9 (`--cpus 0.5` is 500000000). */
  nanoCpus: opt(number(0)),
  pidsLimit: opt(number(-1)),
  capAdd: opt(texts()),
  capDrop: opt(texts()),
  privileged: opt(bool()),
  /** `--rm`: remove the container (and its logs) once it exits. */
  autoRemove: opt(bool()),
  /**
   * `--init`: pid 1 is Berth's init, which starts the command as its child, forwards signals to
   * it, reaps orphans and exits with the command's status (HostConfig.Init).
   */
  init: opt(bool()),
  /**
   * `--userns`: "host" (default: the host's user namespace) or "auto": a user namespace where the
   * container's ids 0-65535 are the host's 100000-165535 (the image's layers are idmapped, so its
   * files still belong to the container's root; what it writes belongs to host uid 100000+).
   * Host binds then show host-owned files as nobody. HostConfig.UsernsMode.
   */
  userns: opt(oneOf(['host', 'auto'])),
  /** `-t`: a pty for the container's init at each start (Config.Tty). */
  tty: opt(bool()),
  /** `-i`: keep the init's stdin open for {@link InputNotification}s of an attached start (Config.OpenStdin). */
  openStdin: opt(bool()),
  /** With `openStdin`: close stdin when the attached client goes away (Config.StdinOnce; `run -i` sets it). */
  stdinOnce: opt(bool()),
  /**
   * `--network`: "bridge" (default; also "default"): the private network, a bridge with NAT and
   * an address per container, allocated here and kept until rm (Conflict when the subnet is
   * full); "host": the host's network, /etc/hosts and resolv.conf; "none": only loopback.
   * Anything else is InvalidArgument.
   */
  networkMode: opt(anyText()),
  /**
   * `-p` specs: "CPORT[/tcp|udp]", "HPORT:CPORT", "IP:HPORT:CPORT", "IP::CPORT", "[IPv6]:HPORT:CPORT",
   * equal-length ranges "8000-8001:80-81". Host address default 127.0.0.1; host port default:
   * chosen at each start. Bridge network only. Malformed specs, ports out of 1-65535, other
   * protocols or a host port given twice are InvalidArgument. The ports are bound when the
   * container starts: one in use fails `container/start` with Conflict ("start container: port
   * 127.0.0.1:8080/tcp is already in use") and leaves nothing running.
   */
  ports: opt(texts()),
});
export type CreateContainerParams = v.InferOutput<typeof CreateContainerParams>;

/**
 * `container/create`. Sent by `berth create`/`run` and the extension to make a container from a
 * local image: its record, writable layer and /etc files; nothing runs yet. Emits `create`.
 * Errors: InvalidArgument (bad name, bind, limit, user or workdir missing in the image, network
 * mode, port spec), NotFound (image), Conflict (name in use, the default network's subnet is
 * full), System.
 */
export const CreateContainerRequest = request('container/create', CreateContainerParams).answers<{ Id: string; Name: string }>();

export const ContainerRefParams = params({
  /** ID, unique ID prefix or name. */
  container: text(),
});
export type ContainerRefParams = v.InferOutput<typeof ContainerRefParams>;

export const StartContainerParams = v.pipe(
  params({
    ...ContainerRefParams.entries,
    /**
     * When set, every line the container writes from this start on is sent to this connection as a
     * {@link LogLineNotification} carrying this token, until the container exits (how `berth run`
     * attaches without a race with a fast exit or `--rm`).
     */
    attachToken: opt(anyText()),
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
    stream: opt(bool()),
    /** With `stream`, for a Tty container that is started: the pty's initial size (default 24x80). */
    rows: opt(integer(1, 65535)),
    cols: opt(integer(1, 65535)),
  }),
  v.forward(
    v.check((p) => p.stream !== true || (!!p.attachToken && p.attachToken.length <= 256), 'must be 1 to 256 characters with "stream"'),
    ['attachToken'],
  ),
);
export type StartContainerParams = v.InferOutput<typeof StartContainerParams>;

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
export const StartContainerRequest = request('container/start', StartContainerParams).answers<void>();

export const StopContainerParams = params({
  ...ContainerRefParams.entries,
  /** Seconds to wait after the stop signal (the image's StopSignal, else SIGTERM) before SIGKILL; default 10. */
  timeout: opt(number(0)),
});
export type StopContainerParams = v.InferOutput<typeof StopContainerParams>;

/**
 * `container/stop`. Sends the stop signal, then SIGKILL to the whole container after `timeout`;
 * resolves once it has exited. Stopping a container that is not running does nothing.
 * Emits `kill`, `die`, `stop`. Errors: NotFound, InvalidArgument.
 */
export const StopContainerRequest = request('container/stop', StopContainerParams).answers<void>();

export const KillContainerParams = params({
  ...ContainerRefParams.entries,
  /** "SIGKILL" (default), "KILL", "9", "TERM"... */
  signal: opt(anyText()),
});
export type KillContainerParams = v.InferOutput<typeof KillContainerParams>;

/**
 * `container/kill`. Sends a signal to the container's init. Emits `kill`.
 * Errors: NotFound, InvalidArgument (unknown signal), Conflict (not running).
 */
export const KillContainerRequest = request('container/kill', KillContainerParams).answers<void>();

export const RemoveContainerParams = params({
  ...ContainerRefParams.entries,
  /** Kill a running container first. */
  force: opt(bool()),
  /** `rm -v`: remove its anonymous volumes too (`autoRemove` always does); named ones are kept. */
  volumes: opt(bool()),
});
export type RemoveContainerParams = v.InferOutput<typeof RemoveContainerParams>;

/**
 * `container/remove`. Deletes the container: record, writable layer, logs, cgroup. Emits
 * `destroy`. Errors: NotFound, Conflict (running, without `force`), System.
 */
export const RemoveContainerRequest = request('container/remove', RemoveContainerParams).answers<void>();

export const ListContainersParams = params({
  /** Include containers that are not running; default false. */
  all: opt(bool()),
});
export type ListContainersParams = v.InferOutput<typeof ListContainersParams>;

/** `container/list`. Running containers first, then newest first. Errors: none. */
export const ListContainersRequest = request('container/list', ListContainersParams).answers<ContainerSummary[]>();

/** `container/inspect`. Errors: NotFound, Conflict (an ambiguous ID prefix). */
export const InspectContainerRequest = request('container/inspect', ContainerRefParams).answers<ContainerInspect>();

export const WaitContainerParams = params({
  ...ContainerRefParams.entries,
  /**
   * "not-running" (default): answer at once when the container is not running, else at its exit.
   * "next-exit": answer at the next exit, even for a created container (send it before
   * `container/start` to be sure to see a fast exit).
   */
  condition: opt(oneOf(['not-running', 'next-exit'])),
});
export type WaitContainerParams = v.InferOutput<typeof WaitContainerParams>;

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
export const WaitContainerRequest = request('container/wait', WaitContainerParams).answers<WaitContainerResult>();

export const LogsParams = v.pipe(
  params({
    ...ContainerRefParams.entries,
    /** Only the last N lines (of stdout and stderr together). */
    tail: opt(number(0)),
    /** Only lines written at or after this time (seconds since the epoch, may be fractional). */
    since: opt(number(0)),
    /**
     * Keep going: every line, old and new, is sent as a {@link LogLineNotification} carrying
     * `token`, until the container stops running (the answer then comes after its last line) or the
     * request is cancelled. Needs `token`.
     */
    follow: opt(bool()),
    token: opt(anyText()),
  }),
  v.forward(
    v.check((p) => p.follow !== true || !!p.token, 'must be a non-empty string with "follow"'),
    ['token'],
  ),
);
export type LogsParams = v.InferOutput<typeof LogsParams>;

/**
 * `container/logs`. Lines the container wrote to stdout and stderr, oldest first, as stored: a
 * JSON-lines file per container, capped at 10 MiB, with one rotated file before it. Without
 * `follow` they come in the answer; with it, as notifications, and the answer has none.
 * Errors: NotFound, InvalidArgument, Cancelled.
 */
export const ContainerLogsRequest = request('container/logs', LogsParams).answers<{ lines: LogLine[] }>();

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
export const ContainerDiffRequest = request('container/diff', ContainerRefParams).answers<ContainerChange[]>();

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

export const ContainerChangesParams = params({
  ...ContainerRefParams.entries,
  /**
   * When set (1 to 256 characters, unique among this connection's watches), the agent also keeps
   * the list current: it sends {@link ContainerChangedNotification}s carrying this token on this
   * connection whenever the list changes, until {@link UnwatchContainerChangesRequest}, the
   * container's removal, or the connection's end.
   */
  watchToken: opt(token()),
});
export type ContainerChangesParams = v.InferOutput<typeof ContainerChangesParams>;

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
export const ContainerChangesRequest = request('container/changes', ContainerChangesParams).answers<ContainerChangesResult>();

/**
 * `container/unwatchChanges`. Sent by a client that no longer shows a watched container's changes;
 * an unknown token (already ended: the container was removed) is not an error. Errors: InvalidArgument.
 */
export const UnwatchContainerChangesRequest = request('container/unwatchChanges', params({ watchToken: text() })).answers<void>();

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

export const CommitParams = params({
  ...ContainerRefParams.entries,
  /** The tag to give the new image ("repo", "repo:tag", "host:5000/repo:tag"); untagged when absent. */
  reference: opt(anyText()),
  /** The history entry's comment (`-m`). */
  comment: opt(anyText()),
  /** The image's author (`-a`). */
  author: opt(anyText()),
  /**
   * Dockerfile-like instructions applied to the new image's config (`-c`): CMD, ENTRYPOINT (JSON
   * array or shell form), ENV k=v, LABEL k=v, WORKDIR, USER, EXPOSE port[/proto], STOPSIGNAL.
   */
  changes: opt(texts()),
  /** Freeze a running container while its writable layer is read; default true. */
  pause: opt(bool()),
});
export type CommitParams = v.InferOutput<typeof CommitParams>;

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
export const CommitContainerRequest = request('container/commit', CommitParams).answers<CommitResult>();

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
export const ContainerTopRequest = request('container/top', ContainerRefParams).answers<TopResult>();

export const StatsParams = params({
  /** Containers to sample; all running ones when absent or empty. */
  containers: opt(texts()),
  /**
   * Milliseconds between the two samples the CPU percentage is computed from (default 1000,
   * between 100 and 5000). 0: one sample, CPUPercent 0.
   */
  intervalMs: opt(number(0)),
});
export type StatsParams = v.InferOutput<typeof StatsParams>;

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
export const ContainerStatsRequest = request('container/stats', StatsParams).answers<ContainerStats[]>();

/**
 * `container/restart`. `container/stop` (with its `timeout`), then `container/start`; a container
 * that is not running is just started. Emits what stop and start emit, then `restart`.
 * Errors: those of stop and start.
 */
export const RestartContainerRequest = request('container/restart', StopContainerParams).answers<void>();

/**
 * `container/prune`. Removes every container that is not running (created or exited): record,
 * writable layer, logs. Emits `destroy` for each. Errors: System.
 */
export const PruneContainersRequest = request('container/prune', NoParams).answers<PruneResult>();

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
