/**
 * The `container/*` requests of a container's life and contents: create, start (a streamed start
 * is attach.ts's), stop, kill, restart, remove, list, inspect, wait, logs, diff, changes (with
 * watches owned by the connection), commit, top, stats, prune.
 */
import {
  CommitContainerRequest,
  ContainerChangedNotification,
  ContainerChangesRequest,
  ContainerDiffRequest,
  ContainerLogsRequest,
  ContainerStatsRequest,
  ContainerTopRequest,
  CreateContainerRequest,
  InspectContainerRequest,
  KillContainerRequest,
  ListContainersRequest,
  LogLineNotification,
  type LogLine,
  PruneContainersRequest,
  RemoveContainerRequest,
  RestartContainerRequest,
  StartContainerRequest,
  StopContainerRequest,
  UnwatchContainerChangesRequest,
  WaitContainerRequest,
} from '../../protocol';
import { BerthError, ErrorCode } from '../errors';
import { presentContainer, presentContainerSummary, presentWait } from '../presenters/containers';
import { decodeCreate } from '../runtime/containers/decode';
import { changeFeedOf, containerChanges } from '../runtime/containers/changes';
import { commitContainer } from '../runtime/containers/commit';
import { containerDiff } from '../runtime/containers/diff';
import { pruneContainers } from '../runtime/containers/prune';
import { restartContainer } from '../runtime/containers/restart';
import { containerStats } from '../runtime/containers/stats';
import { containerTop } from '../runtime/containers/top';
import { startAttached } from './attach';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export function serveContainers(c: AgentConnection): void {
  const containers = c.services.containers;

  serve(c, CreateContainerRequest, (p) =>
    containers.create(
      decodeCreate({
        ...p,
        workingDir: p.workingDir || undefined,
        hostname: p.hostname || undefined,
        networkMode: p.networkMode || undefined,
      }),
    ),
  );
  serve(c, StartContainerRequest, async (p) => {
    if (p.stream === true) return startAttached(c, p.container, p.attachToken!, p.rows ?? 24, p.cols ?? 80);
    const token = p.attachToken;
    const attach = token ? (line: LogLine) => c.notify(LogLineNotification.type, { token, container: p.container, line }) : undefined;
    await containers.start(p.container, attach);
  });
  serve(c, StopContainerRequest, (p) => containers.stop(p.container, p.timeout));
  serve(c, KillContainerRequest, (p) => containers.kill(p.container, p.signal || undefined));
  serve(c, RestartContainerRequest, (p) => restartContainer(containers, p.container, p.timeout));
  serve(c, RemoveContainerRequest, (p) => containers.remove(p.container, p.force === true, p.volumes === true));
  serve(c, ListContainersRequest, (p) => containers.views(p.all === true).map(presentContainerSummary));
  serve(c, InspectContainerRequest, (p) => presentContainer(containers.view(p.container)));
  serve(c, WaitContainerRequest, (p, token) =>
    c.withAbort(token, async (signal) => presentWait(await containers.wait(p.container, p.condition ?? 'not-running', signal))),
  );
  serve(c, ContainerLogsRequest, async (p, token) => {
    const { container, tail, since } = p;
    if (p.follow !== true) return { lines: await containers.logs(container, { tail, since }) };
    const t = p.token!;
    await c.withAbort(token, (signal) =>
      containers.logs(container, {
        tail,
        since,
        follow: true,
        signal,
        onLine: (line) => c.notify(LogLineNotification.type, { token: t, container, line }),
      }),
    );
    return { lines: [] };
  });
  serve(c, PruneContainersRequest, () => pruneContainers(containers));

  // --- the writable layer, processes, figures ------------------------------------------------
  serve(c, ContainerDiffRequest, (p) => containerDiff(containers, p.container));
  serve(c, ContainerChangesRequest, (p) => {
    const token = p.watchToken;
    if (token === undefined) return containerChanges(containers, p.container);
    const op = 'container changes';
    if (c.changeWatches.has(token))
      throw new BerthError(ErrorCode.Conflict, `${op}: watch token "${token}" is in use on this connection`, { operation: op });
    const w = changeFeedOf(containers).watch(p.container, (n) => {
      if (n.gone) c.changeWatches.delete(token);
      c.notify(ContainerChangedNotification.type, { token, ...n });
    });
    c.changeWatches.set(token, w.stop);
    return w.result;
  });
  serve(c, UnwatchContainerChangesRequest, (p) => {
    c.changeWatches.get(p.watchToken)?.();
    c.changeWatches.delete(p.watchToken);
  });
  serve(c, CommitContainerRequest, (p) =>
    commitContainer(containers, {
      container: p.container,
      reference: p.reference || undefined,
      comment: p.comment,
      author: p.author,
      changes: p.changes,
      pause: p.pause !== false,
    }),
  );
  serve(c, ContainerTopRequest, (p) => containerTop(containers, p.container));
  serve(c, ContainerStatsRequest, (p) => containerStats(containers, { containers: p.containers, intervalMs: p.intervalMs }));
}
