/**
 * The devcontainer.json lifecycle commands of a workspace container (onCreateCommand,
 * updateContentCommand, postCreateCommand, postStartCommand ...): each run as an exec in the
 * container with the workspace's user, environment and folder, its parts in parallel, output and
 * exits reported as WorkspaceEvents. A failure throws LifecycleCommandFailed and keeps the
 * container for inspection; create-time commands that succeeded are recorded (state.ts) so that
 * "once" means "once successfully".
 */
import type { WorkspaceEvent, WorkspaceLifecycleCommand } from '../../protocol';
import { BerthError, ErrorCode, systemError } from '../errors';
import { execInContainer, type ExecSession } from '../runtime/containers/exec';
import type { ContainerService } from '../runtime/containers/service';
import { type DevcontainerConfig, LIFECYCLE_COMMANDS, type LifecycleName } from './devcontainer';
import { OP_UP, type WorkspaceState, writeState } from './state';

/** What a lifecycle run reports to and is cancelled by (the `up` request's options). */
export interface LifecycleOptions {
  signal?: AbortSignal;
  onEvent?: (e: WorkspaceEvent) => void;
}

/**
 * Runs the create-time commands not yet recorded as done (when `started`, or when an earlier one
 * failed), then postStartCommand when this request started the container. Throws
 * LifecycleCommandFailed at the first failure; the container stays.
 */
export async function runLifecycle(
  containers: ContainerService,
  id: string,
  config: DevcontainerConfig,
  st: WorkspaceState,
  started: boolean,
  ran: WorkspaceLifecycleCommand[],
  opts: LifecycleOptions,
): Promise<void> {
  for (const name of LIFECYCLE_COMMANDS) {
    const cmd = config.lifecycle[name];
    const createTime = name !== 'postStartCommand';
    if (createTime && st.done.includes(name)) continue;
    if (!createTime && !started) continue;
    if (cmd) {
      await runCommand(containers, id, name, cmd.parts, config, st, opts);
      ran.push(name);
    }
    if (createTime) {
      st.done.push(name);
      writeState(containers, id, st);
    }
  }
}

async function runCommand(
  containers: ContainerService,
  id: string,
  name: LifecycleName,
  parts: { name: string; argv: string[] }[],
  config: DevcontainerConfig,
  st: WorkspaceState,
  opts: LifecycleOptions,
): Promise<void> {
  const ev = opts.onEvent;
  const sessions: ExecSession[] = [];
  const kill = () => {
    for (const s of sessions) s.kill('SIGKILL');
  };
  opts.signal?.addEventListener('abort', kill, { once: true });
  try {
    const results = await Promise.all(
      parts.map(async (part) => {
        ev?.({ type: 'command', command: name, part: part.name, argv: part.argv });
        const session = await execInContainer(
          containers,
          id,
          { cmd: part.argv, env: st.remoteEnv, ...(st.remoteUser ? { user: st.remoteUser } : {}), workingDir: config.workspaceFolder },
          (stream, data) =>
            ev?.({
              type: 'output',
              command: name,
              part: part.name,
              stream: stream === 'stderr' ? 'stderr' : 'stdout',
              data: data.toString('base64'),
            }),
        );
        sessions.push(session);
        if (opts.signal?.aborted) session.kill('SIGKILL');
        const { code } = await session.exited;
        ev?.({ type: 'exit', command: name, part: part.name, exitCode: code });
        return { part, code };
      }),
    );
    if (opts.signal?.aborted) throw new BerthError(ErrorCode.Cancelled, `${OP_UP}: cancelled during ${name}`, { operation: OP_UP });
    const failed = results.find((r) => r.code !== 0);
    if (failed) {
      const c = containers.find(id, OP_UP);
      const what = failed.part.name ? `${name} "${failed.part.name}"` : name;
      throw new BerthError(
        ErrorCode.LifecycleCommandFailed,
        `${OP_UP}: ${what} failed with exit code ${failed.code}; the container ${c.name} (${id.slice(0, 12)}) is kept for inspection (berth exec -it ${c.name} sh)`,
        { operation: OP_UP, path: config.file },
      );
    }
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw systemError(`${OP_UP}: ${name}`, e);
  } finally {
    opts.signal?.removeEventListener('abort', kill);
  }
}
