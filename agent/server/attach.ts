/**
 * Exec and attached byte streams (see the protocol's exec.ts): `container/exec`, the streamed
 * `container/start`, and the `container/input` and `container/resize` notifications that reach
 * their processes by attach token. The sessions are the connection's (AgentConnection
 * .attachSessions): input naming another connection's token is dropped, and a closing connection
 * kills its exec'd processes and detaches from its attached containers.
 */
import { ErrorCode, ExecRequest, InputNotification, MAX_INPUT_CHUNK, OutputNotification, ResizeNotification } from '../../protocol';
import { BerthError } from '../errors';
import { execInContainer } from '../runtime/containers/exec';
import type { AgentConnection, StreamSession } from './connection';
import { serve, serveNotification } from './serve';

/** The input an attached process may have waiting in the agent before more is dropped. */
const MAX_PENDING_INPUT = 1 << 20;

export function serveAttach(c: AgentConnection): void {
  const sessions = c.attachSessions;
  serveNotification(c, InputNotification, (n) => {
    const s = sessions.get(n.token);
    if (!s) return;
    if (n.data !== undefined && n.data.length > 0) {
      const data = Buffer.from(n.data, 'base64');
      if (data.length > MAX_INPUT_CHUNK || s.pending() > MAX_PENDING_INPUT)
        c.log(`dropping ${data.length} bytes of input for ${n.token}: too much at once`);
      else s.write(data);
    }
    if (n.eof === true) s.end();
  });
  serveNotification(c, ResizeNotification, (n) => sessions.get(n.token)?.resize(n.rows, n.cols));

  serve(c, ExecRequest, async (p, cancel) => {
    const op = 'exec in container';
    const token = p.attachToken;
    claim(c, op, token);
    const rows = p.rows ?? 24;
    const cols = p.cols ?? 80;
    const early = token ? queueUntilRunning(c, token) : undefined;
    try {
      const session = await execInContainer(
        c.services.containers,
        p.container,
        {
          cmd: p.cmd,
          env: p.env,
          user: p.user,
          workingDir: p.workingDir || undefined,
          terminal: p.tty ? { rows, cols } : undefined,
          stdin: p.stdin === true,
        },
        (stream, data) => token && c.notify(OutputNotification.type, { token, stream, data: data.toString('base64') }),
      );
      if (token) early!.handOver(session);
      const kill = () => session.kill('SIGKILL');
      const sub = cancel.onCancellationRequested(kill);
      const unregister = c.onClose(kill);
      try {
        const st = await session.exited;
        if (cancel.isCancellationRequested) throw new BerthError(ErrorCode.Cancelled, `${op}: cancelled`, { operation: op });
        return { ExitCode: st.code };
      } finally {
        sub.dispose();
        unregister();
      }
    } finally {
      if (token) sessions.delete(token);
    }
  });
}

/**
 * A streamed start (StartContainerParams.stream): the token's session lives until the container
 * exits or the connection closes (then the client is detached).
 */
export async function startAttached(c: AgentConnection, container: string, token: string, rows: number, cols: number): Promise<void> {
  claim(c, 'start container', token);
  const early = queueUntilRunning(c, token);
  let handle: Awaited<ReturnType<typeof c.services.containers.start>>;
  try {
    handle = await c.services.containers.start(container, undefined, {
      rows,
      cols,
      onOutput: (stream, data) => c.notify(OutputNotification.type, { token, stream, data: data.toString('base64') }),
    });
  } catch (e) {
    c.attachSessions.delete(token);
    throw e;
  }
  if (!handle) return void c.attachSessions.delete(token);
  const h = handle;
  const session = early.handOver(h);
  const unregister = c.onClose(() => h.detach());
  void h.done.then(() => {
    if (c.attachSessions.get(token) === session) c.attachSessions.delete(token);
    unregister();
  });
}

/** Refuses a token already in use on the connection. */
function claim(c: AgentConnection, op: string, token: string | undefined): void {
  if (token && c.attachSessions.has(token))
    throw new BerthError(ErrorCode.Conflict, `${op}: attach token "${token}" is in use on this connection`, { operation: op });
}

/**
 * Input that arrives while the process starts is queued (bounded by MAX_PENDING_INPUT on the
 * way in) and given to it once it runs; `handOver` does that and makes the process the token's
 * session.
 */
function queueUntilRunning(c: AgentConnection, token: string) {
  const queued: Buffer[] = [];
  let eof = false;
  let size: [number, number] | undefined;
  c.attachSessions.set(token, {
    write: (d) => void queued.push(d),
    end: () => void (eof = true),
    resize: (r, k) => void (size = [r, k]),
    pending: () => queued.reduce((n, b) => n + b.length, 0),
  });
  return {
    handOver(target: StreamSession): StreamSession {
      const session: StreamSession = {
        write: (d) => target.write(d),
        end: () => target.end(),
        resize: (r, k) => target.resize(r, k),
        pending: () => target.pending(),
      };
      c.attachSessions.set(token, session);
      for (const d of queued.splice(0)) target.write(d);
      if (eof) target.end();
      if (size) target.resize(...size);
      return session;
    },
  };
}
