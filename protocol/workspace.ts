/**
 * Workspaces: a folder's dev container (devcontainer.json).
 */
import { NotificationType } from 'vscode-jsonrpc';
import type * as v from 'valibot';
import { params, text, anyText, bool, number, stringMap, opt, request } from './schema';
import type { BuildEvent } from './build';
import type { ContainerStatus, LayerProgress } from './shared';

// ---------------------------------------------------------------------------------------------
// Workspaces (client -> agent): a folder with a devcontainer.json run in a container of its own
// (agent/workspace/). The container is found again by its labels: `berth.workspace` (the folder's
// real path) and `berth.config.hash` (a hash of the parsed configuration, and of the Dockerfile
// for a build). Berth reads the subset of the Dev Container spec listed in
// agent/workspace/devcontainer.ts; other keys are reported as ignored, never fatal.
// ---------------------------------------------------------------------------------------------

export const WorkspaceUpParams = params({
  /**
   * The folder: an absolute path on the agent's machine. Its `.devcontainer/devcontainer.json`
   * (else `.devcontainer.json`) is read on the caller's behalf (it must be able to read both).
   */
  folder: text(),
  /** Build or pull again and recreate the container even when its configuration is unchanged. */
  rebuild: opt(bool()),
  /** With a `build` configuration: run every Dockerfile step, ignoring the build cache. */
  noCache: opt(bool()),
  /** The client's environment, for `${localEnv:NAME}` in the configuration (absent: all empty). */
  localEnv: opt(stringMap()),
  /** When set, the agent sends {@link WorkspaceProgressNotification}s carrying this token. */
  progressToken: opt(anyText()),
});
export type WorkspaceUpParams = v.InferOutput<typeof WorkspaceUpParams>;

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
export const WorkspaceUpRequest = request('workspace/up', WorkspaceUpParams).answers<WorkspaceUpResult>();

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

export const WorkspaceDownParams = params({
  /** The folder (absolute), as given to `workspace/up`. */
  folder: text(),
  /** Remove the container after stopping it (the next up creates a new one). */
  remove: opt(bool()),
  /** Seconds to wait after the stop signal before SIGKILL; default 10. */
  timeout: opt(number(0)),
});
export type WorkspaceDownParams = v.InferOutput<typeof WorkspaceDownParams>;

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
export const WorkspaceDownRequest = request('workspace/down', WorkspaceDownParams).answers<WorkspaceDownResult>();

export const WorkspaceStatusParams = params({
  /** The folder (absolute). */
  folder: text(),
});
export type WorkspaceStatusParams = v.InferOutput<typeof WorkspaceStatusParams>;

/**
 * `workspace/status`. Sent by the extension (the Workspace view, the "Berth workspace" terminal
 * profile) to learn the folder's workspace container and how to work in it, as the last
 * `workspace/up` set it up; `null` when there is none. Its `ports` include those detected while
 * the container runs, and `loopbackPorts` those of them bound to its loopback only (see
 * {@link ContainerListenEventAction}). Reads nothing of the folder and starts nothing.
 * Errors: InvalidArgument (folder).
 */
export const WorkspaceStatusRequest = request('workspace/status', WorkspaceStatusParams).answers<WorkspaceInfo | null>();
