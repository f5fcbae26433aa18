/**
 * Exec and attached byte streams: processes run in containers, and the terminals of attached starts.
 */
import { NotificationType } from 'vscode-jsonrpc';
import * as v from 'valibot';
import { params, text, anyText, token, bool, integer, texts, nonEmptyTexts, opt, request, clientNotification } from './schema';
import { ContainerRefParams } from './containers';

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

export const ExecParams = v.pipe(
  params({
    ...ContainerRefParams.entries,
    /** argv; argv[0] is searched in the container's PATH when it has no "/". */
    cmd: nonEmptyTexts(),
    /** "NAME=value" entries added to the container's environment, overriding by name. */
    env: opt(texts()),
    /** "uid[:gid]" or "name[:group]", looked up in the container's files; default: the container's. */
    user: opt(anyText()),
    /** Absolute; must exist; default: the container's working directory. */
    workingDir: opt(anyText()),
    /**
     * A pty from the container's own /dev/pts, as the process's controlling terminal; output then
     * comes as one stream ('tty'), and input is what a keyboard would type (Ctrl-C is byte 0x03).
     */
    tty: opt(bool()),
    /** Initial window size with `tty` (default 24x80); later changes by {@link ResizeNotification}. */
    rows: opt(integer(1, 65535)),
    cols: opt(integer(1, 65535)),
    /** Keep the process's stdin open for {@link InputNotification}s (else it reads /dev/null). */
    stdin: opt(bool()),
    /**
     * Names this process's stream on the connection; required for output to be sent, for `stdin`
     * and for `tty`. At most 256 characters; must not be in use on the connection.
     */
    attachToken: opt(token()),
  }),
  v.forward(
    v.check((p) => (p.tty !== true && p.stdin !== true) || p.attachToken !== undefined, 'must be given with "tty" or "stdin"'),
    ['attachToken'],
  ),
);
export type ExecParams = v.InferOutput<typeof ExecParams>;

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
export const ExecRequest = request('container/exec', ExecParams).answers<ExecResult>();

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

export const InputParams = params({
  token: text(),
  /** Bytes for the process's stdin (or its pty), base64; at most {@link MAX_INPUT_CHUNK} decoded. */
  data: opt(v.string()),
  /** The client's input ended: the process's stdin is closed (with a pty: input stops). */
  eof: opt(bool()),
});
export type InputParams = v.InferOutput<typeof InputParams>;

/**
 * `container/input`. Sent by a client to the agent, for a process it started on this connection
 * with `stdin` or `tty`. Input for an unknown token, after `eof`, or while the agent still holds
 * more than 1 MiB of this process's input, is dropped (the agent's log says so).
 */
export const InputNotification = clientNotification('container/input', InputParams);

export const ResizeParams = params({
  token: text(),
  /** 1 to 65535. */
  rows: integer(1, 65535),
  cols: integer(1, 65535),
});
export type ResizeParams = v.InferOutput<typeof ResizeParams>;

/**
 * `container/resize`. Sent by a client when its terminal's size changes (SIGWINCH in the CLI,
 * `setDimensions` of a Pseudoterminal), for a `tty` process it started on this connection. The
 * process gets SIGWINCH from the kernel. Ignored for processes without a pty.
 */
export const ResizeNotification = clientNotification('container/resize', ResizeParams);
