/**
 * The container service: the core's one front for containers (create, start, stop, kill, wait,
 * remove, list, inspect, logs), beside the image service. It owns the records under
 * `$BERTH_ROOT/containers/<id>/`, knows nothing of JSON-RPC or Docker's shapes (the presenters in
 * agent/presenters/ make those from {@link ContainerView}s), and reports changes as events through
 * the agent's {@link EventHub}.
 *
 * On disk, per container:
 *   config.json          the {@link ContainerRecord} (record.ts), written atomically on every change;
 *                        records of an older format are migrated and rewritten by init
 *   upper/ work/         overlayfs's writable layer and work dir (kept across stop/start)
 *   rootfs/              the empty host directory the helper mounts the overlay on, inside the
 *                        container's own mount namespace (it stays empty on the host)
 *   hostname hosts resolv.conf   bind-mounted over the image's /etc files (by network mode;
 *                        a bridge container's hosts is rewritten in place as others start
 *                        and stop: runtime/network)
 *   container.log[.1]    its output (see logs.ts)
 *
 * Running: start creates the cgroup `berth/<id>` and launches the plan through the C helper,
 * which stays as the container's monitor in its own session (not tied to the agent) and serves
 * the container's stdio, signals and exit on `<dir>/monitor.sock` (runtime/monitor.ts). The agent
 * connects there and writes the output into the log. When the monitor reports the exit, the OOM
 * counter is read, the cgroup emptied and removed, the state recorded, and `oom`/`die`/`stop`
 * emitted; `--rm` containers are then removed.
 *
 * Agent restarts: containers keep running without an agent; their monitors keep (up to 64 MiB
 * of) their output. A new agent, in {@link ContainerService.init}, connects to the monitor of
 * every container recorded as running and takes it over as if it had started it (the kept output
 * reaches the log first). A container that exited meanwhile left `exit` and `spill` files: its
 * output and exit are recorded as they would have been. Only a container whose monitor is gone
 * without a trace (killed, or a reboot) is marked exited with 255 ("its monitor went away"), and
 * what is left in its cgroup is killed. The overlay mount lives in the container's own mount
 * namespace, so a reboot leaves no mount to repair: the next start mounts afresh.
 *
 * The code: this class is the thin owner; its state and shared operations are in core.ts, each
 * verb in a file of its own: load.ts (init: records loaded, migrated, running ones taken over),
 * create.ts, start.ts, run.ts (output and exit of a running container), stop.ts (stop, kill,
 * wait), remove.ts; the other verbs (exec, cp, diff, commit, top, stats, prune, changes) are
 * built on it in the files named after them.
 */
import type { LogLine } from '../../../protocol';
import { readLogs } from './logs';
import { ContainerCore, DEFAULT_STOP_TIMEOUT_S, type ExitResult, type BuildBase, type StartStream, type StreamHandle } from './core';
import { createContainer, type ContainerCreateSpec } from './create';
import { loadContainers } from './load';
import { startContainer } from './start';
import { killContainer, stopContainer, waitContainer } from './stop';
import { removeContainer } from './remove';

export type { ContainerRecord } from './record';
export type { ContainerCreateSpec } from './create';
export {
  parseSignal,
  type BuildBase,
  type ExitResult,
  type ContainerView,
  type StartStream,
  type StreamHandle,
  type ContainerServiceOptions,
} from './core';

export class ContainerService extends ContainerCore {
  /**
   * Loads the records, migrating those of an older format (rewritten atomically in the current
   * one: record.ts); containers recorded as running are taken over or marked exited (see the
   * module comment). Volumes are migrated first. A record that cannot be read or migrated is
   * logged, listed in {@link unreadable} and left on disk untouched. Call once, before serving.
   */
  init(): Promise<void> {
    return loadContainers(this);
  }

  /**
   * `base`: for build steps (agent/build): the image to run is not an image record but a config
   * and layers in the store (its `id` is the config's digest); `p.image` is then only recorded.
   */
  create(spec: ContainerCreateSpec, base?: BuildBase): Promise<{ Id: string; Name: string }> {
    return createContainer(this, spec, base);
  }

  /**
   * Starts the container; resolves once its command runs. `attach` receives every line of this
   * run, from the first.
   */
  start(ref: string, attach?: (l: LogLine) => void, stream?: StartStream): Promise<StreamHandle | undefined> {
    return startContainer(this, ref, attach, stream);
  }

  stop(ref: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_S): Promise<void> {
    return stopContainer(this, ref, timeoutSeconds);
  }

  kill(ref: string, signal = 'SIGKILL'): void {
    killContainer(this, ref, signal);
  }

  wait(ref: string, condition: 'not-running' | 'next-exit' = 'not-running', signal?: AbortSignal): Promise<ExitResult> {
    return waitContainer(this, ref, condition, signal);
  }

  /** `volumes`: its anonymous volumes go too (`rm -v`). */
  remove(ref: string, force = false, volumes = false): Promise<void> {
    return removeContainer(this, ref, force, volumes);
  }

  /**
   * The stored lines. With `follow`, each line (stored, then new) goes to `onLine`, and the promise
   * settles when the container is not running any more or `signal` aborts.
   */
  async logs(
    ref: string,
    opts: { since?: number; tail?: number; follow?: boolean; onLine?: (l: LogLine) => void; signal?: AbortSignal },
  ): Promise<LogLine[]> {
    const rec = this.find(ref, 'logs');
    const dir = this.containerDir(rec.id);
    // Read and subscribe in the same tick: the writer appends synchronously, so nothing is missed.
    const lines = readLogs(dir, { since: opts.since, tail: opts.tail });
    if (!opts.follow || !opts.onLine) return lines;
    const onLine = opts.onLine;
    for (const l of lines) onLine(l);
    const live = this.live.get(rec.id);
    if (!live) return [];
    const unsubscribe = live.logs.subscribe(onLine);
    try {
      await new Promise<void>((resolve) => {
        if (opts.signal?.aborted) return resolve();
        opts.signal?.addEventListener('abort', () => resolve(), { once: true });
        void live.done.then(resolve);
      });
    } finally {
      unsubscribe();
    }
    return [];
  }
}
