/**
 * The agent's JSON-RPC edge: each handler decodes its params, calls the core, and returns its
 * answer. Errors become ResponseErrors with the code and data of the BerthError; anything else is
 * a bug, reported as Internal with the operation named (the stack goes to the agent's log).
 */
import { type CancellationToken, ResponseError, type MessageConnection, type NotificationType } from 'vscode-jsonrpc';
import {
  API_VERSION,
  ContainerLogsRequest,
  CreateContainerRequest,
  InspectContainerRequest,
  KillContainerRequest,
  ListContainersRequest,
  LogLineNotification,
  RemoveContainerRequest,
  StartContainerRequest,
  StopContainerRequest,
  WaitContainerRequest,
  type ContainerInspect,
  type ContainerRefParams,
  type ContainerSummary,
  type CreateContainerParams,
  type KillContainerParams,
  type ListContainersParams,
  type LogLine,
  type LogsParams,
  type RemoveContainerParams,
  type StartContainerParams,
  type StopContainerParams,
  type WaitContainerParams,
  type WaitContainerResult,
  ErrorCode,
  EventNotification,
  ImageHistoryRequest,
  InspectImageRequest,
  ListImagesRequest,
  LoadImagesRequest,
  PullProgressNotification,
  PullRequest,
  RemoveImageRequest,
  SaveImagesRequest,
  SubscribeRequest,
  TagImageRequest,
  VersionRequest,
  type ErrorData,
  type HistoryEntry,
  type ImageInspect,
  type ImageRefParams,
  type ImageSummary,
  type ListImagesParams,
  type LoadParams,
  type Platform,
  type PullParams,
  type PullResult,
  type RemoveImageParams,
  type RemoveImageResult,
  type SaveParams,
  type SubscribeParams,
  type TagParams,
  type VersionResult,
} from '../../protocol';
import { BerthError } from '../errors';
import type { ImageService } from '../image/service';
import type { ContainerService } from '../runtime/containers/service';
import { loadImages } from '../image/load';
import { saveImages } from '../image/save';
import { imageLayers, layerFiles } from '../image/inspectLayers';
import {
  ImageLayersRequest,
  LayerFilesRequest,
  type ImageLayersResult,
  type LayerFilesParams,
  type LayerFilesResult,
} from '../../protocol';
import type { PeerCred } from '../../native';
import { hostPlatform } from '../registry/platform';
import {
  CommitContainerRequest,
  ContainerDiffRequest,
  ContainerStatsRequest,
  ContainerTopRequest,
  PruneContainersRequest,
  PruneImagesRequest,
  RestartContainerRequest,
  type CommitParams,
  type CommitResult,
  type ContainerChange,
  type ContainerStats,
  type PruneImagesParams,
  type PruneResult,
  type StatsParams,
  type TopResult,
} from '../../protocol';
import { containerDiff } from '../runtime/containers/diff';
import { changeFeedOf, containerChanges } from '../runtime/containers/changes';
import {
  ContainerChangedNotification,
  ContainerChangesRequest,
  UnwatchContainerChangesRequest,
  type ContainerChangesParams,
  type ContainerChangesResult,
} from '../../protocol';
import { commitContainer } from '../runtime/containers/commit';
import { containerTop } from '../runtime/containers/top';
import { containerStats } from '../runtime/containers/stats';
import { restartContainer } from '../runtime/containers/restart';
import { pruneContainers, pruneImages } from '../runtime/containers/prune';
import { PushProgressNotification, PushRequest, type PushParams, type PushResult } from '../../protocol';
import { pushImage } from '../registry/push';

import {
  ExecRequest,
  InputNotification,
  MAX_INPUT_CHUNK,
  OutputNotification,
  ResizeNotification,
  type ExecParams,
  type ExecResult,
} from '../../protocol';
import { execInContainer } from '../runtime/containers/exec';
import {
  CreateVolumeRequest,
  InspectVolumeRequest,
  ListVolumesRequest,
  PruneVolumesRequest,
  RemoveVolumeRequest,
  type CreateVolumeParams,
  type PruneVolumesParams,
  type Volume,
  type VolumeRefParams,
} from '../../protocol';
import {
  FsReadDirectoryRequest,
  FsReadFileRequest,
  FsStatRequest,
  type FsDirEntry,
  type FsPathParams,
  type FsReadFileResult,
  type FsStat,
  type FsTarget,
} from '../../protocol';
import { readDirectory, readFile, statPath } from '../runtime/containers/files';
import { BuildImageRequest, BuildProgressNotification, type BuildParams, type BuildResult } from '../../protocol';
import { buildImage } from '../build/builder';
import { BuildCache } from '../build/cache';
import { StoreCheckRequest, type StoreCheckParams, type StoreCheckResult } from '../../protocol';
import { checkStore } from '../store/check';
import { registerArchiveHandlers } from './archive';
import {
  WorkspaceDownRequest,
  WorkspaceProgressNotification,
  WorkspaceStatusRequest,
  WorkspaceUpRequest,
  type WorkspaceDownParams,
  type WorkspaceDownResult,
  type WorkspaceInfo,
  type WorkspaceStatusParams,
  type WorkspaceUpParams,
  type WorkspaceUpResult,
} from '../../protocol';
import { workspaceDown, workspaceStatus, workspaceUp } from '../workspace/service';
import type { WorkspacePortWatcher } from '../workspace/ports';
import { decodeCreate, presentContainer, presentContainerSummary, presentWait } from '../presenters/containers';
import { presentVolume, presentVolumePrune } from '../presenters/volumes';

/** The input an attached process may have waiting in the agent before more is dropped. */
const MAX_PENDING_INPUT = 1 << 20;

/** An attached process's input side, by token, on one connection. */
interface StreamSession {
  write(data: Buffer): void;
  end(): void;
  resize(rows: number, cols: number): void;
  /** Bytes written but not yet taken by the process. */
  pending(): number;
}

declare const BERTH_VERSION: string;

export interface ConnectionContext {
  /** Who is on the other end (absent over stdio, where the spawner owns the pipes). */
  peer?: PeerCred;
  root: string;
  socket: string;
  log: (msg: string) => void;
}

export interface Services {
  images: ImageService;
  containers: ContainerService;
  /** The agent's watcher of workspace containers' detected ports (agent/workspace/ports.ts). */
  workspacePorts?: WorkspacePortWatcher;
}

export function registerHandlers(conn: MessageConnection, services: Services, ctx: ConnectionContext): () => void {
  const { images: svc, containers } = services;
  const disposers: (() => void)[] = [];
  // Pulls in flight on this connection: a client that goes away cancels them, so nothing runs on
  // for nobody and their temp work is discarded.
  const pulls = new Set<AbortController>();
  disposers.push(() => pulls.forEach((p) => p.abort()));

  /**
   * Registers a handler by method name, so that a request without params reaches our own checks
   * (and answers InvalidArgument) instead of the library's generic InvalidParams.
   */
  const on = <P, R>(type: { method: string }, operation: string, fn: (params: P, token: CancellationToken) => Promise<R> | R) => {
    // vscode-jsonrpc calls an untyped handler with (token) when params are absent, (params, token)
    // for an object, and spreads positional params before the token.
    conn.onRequest(type.method, async (...args: unknown[]): Promise<R | ResponseError<ErrorData>> => {
      const token = args[args.length - 1] as CancellationToken;
      const params = args.length === 1 ? {} : args.length === 2 ? args[0] : args.slice(0, -1);
      try {
        if (params === null || typeof params !== 'object' || Array.isArray(params)) {
          throw invalid(operation, 'params must be an object of named fields');
        }
        return await fn(params as P, token);
      } catch (err) {
        return toResponseError(operation, err, ctx.log);
      }
    });
  };
  const notify = <P>(type: NotificationType<P>, params: P) => {
    try {
      void conn.sendNotification(type, params).catch(() => undefined);
    } catch {
      // The connection closed: the client no longer listens.
    }
  };

  conn.onRequest(
    VersionRequest.type,
    (): VersionResult => ({
      Version: typeof BERTH_VERSION !== 'undefined' ? BERTH_VERSION : '0.0.0-dev',
      ApiVersion: API_VERSION,
      Os: process.platform,
      Arch: hostPlatform().architecture,
      Pid: process.pid,
      Root: ctx.root,
      Socket: ctx.socket,
    }),
  );

  let subscribed = false;
  on<SubscribeParams, void>(SubscribeRequest, 'subscribe', (params) => {
    const types = optionalArray(params, 'types', 'subscribe');
    if (subscribed) return;
    subscribed = true;
    disposers.push(
      svc.onEvent((e) => {
        if (!types || types.includes(e.Type)) notify(EventNotification.type, e);
      }),
    );
  });

  on<PullParams, PullResult>(PullRequest, 'pull', async (params, token) => {
    const reference = requireString(params, 'reference', 'pull');
    const platform = optionalPlatform(params);
    const progressToken = optionalString(params, 'progressToken', 'pull');
    const abort = new AbortController();
    pulls.add(abort);
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      return await svc.pull(reference, {
        platform,
        signal: abort.signal,
        onProgress: progressToken
          ? (layer) => notify(PullProgressNotification.type, { token: progressToken, reference, layer })
          : undefined,
      });
    } finally {
      sub.dispose();
      pulls.delete(abort);
    }
  });

  on<ListImagesParams, ImageSummary[]>(ListImagesRequest, 'list images', (params) => {
    if (params.all !== undefined && typeof params.all !== 'boolean') throw invalid('list images', '"all" must be a boolean');
    return svc.list(params.all ?? true);
  });
  on<ImageRefParams, ImageInspect>(InspectImageRequest, 'inspect', (params) => svc.inspect(requireString(params, 'reference', 'inspect')));
  on<ImageRefParams, HistoryEntry[]>(ImageHistoryRequest, 'history', (params) =>
    svc.history(requireString(params, 'reference', 'history')),
  );
  on<TagParams, void>(TagImageRequest, 'tag', (params) =>
    svc.tag(requireString(params, 'source', 'tag'), requireString(params, 'target', 'tag')),
  );
  on<RemoveImageParams, RemoveImageResult>(RemoveImageRequest, 'remove', (params) =>
    svc.remove(requireString(params, 'reference', 'remove'), params.force === true),
  );
  on<SaveParams, { path: string; size: number }>(SaveImagesRequest, 'save', (params) => {
    const refs = params.references;
    if (!Array.isArray(refs) || refs.length === 0 || !refs.every((r) => typeof r === 'string')) {
      throw invalid('save', 'references must be a non-empty array of strings');
    }
    return saveImages(svc, refs, requireAbsolutePath(params, 'save'), ctx.peer);
  });
  on<LoadParams, { images: ImageSummary[]; tags: string[] }>(LoadImagesRequest, 'load', (params) =>
    loadImages(svc, requireAbsolutePath(params, 'load'), ctx.peer),
  );
  on<PushParams, PushResult>(PushRequest, 'push', async (params, token) => {
    const reference = requireString(params, 'reference', 'push');
    const progressToken = optionalString(params, 'progressToken', 'push');
    const abort = new AbortController();
    pulls.add(abort); // a client that goes away cancels its pushes too
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      return await pushImage(svc, reference, {
        signal: abort.signal,
        onProgress: progressToken ? (blob) => notify(PushProgressNotification.type, { token: progressToken, reference, blob }) : undefined,
      });
    } finally {
      sub.dispose();
      pulls.delete(abort);
    }
  });
  on<ImageRefParams, ImageLayersResult>(ImageLayersRequest, 'image layers', (params) =>
    imageLayers(svc, requireString(params, 'reference', 'image layers')),
  );
  on<LayerFilesParams, LayerFilesResult>(LayerFilesRequest, 'layer files', (params) => {
    const op = 'layer files';
    const layer = params.layer;
    if (!params.merged && !(typeof layer === 'string' ? layer.length > 0 : Number.isInteger(layer))) {
      throw invalid(op, '"layer" must be a layer index or digest unless "merged" is true');
    }
    if (params.merged !== undefined && typeof params.merged !== 'boolean') throw invalid(op, '"merged" must be a boolean');
    const offset = optionalNumber(params, 'offset', op, 0);
    const limit = optionalNumber(params, 'limit', op, 1);
    return layerFiles(svc, { reference: requireString(params, 'reference', op), layer, merged: params.merged, offset, limit });
  });

  // --- containers ----------------------------------------------------------------------------
  // Follows and waits in flight on this connection end when it closes.
  const streams = new Set<AbortController>();
  disposers.push(() => streams.forEach((a) => a.abort()));
  const withAbort = async <T>(token: CancellationToken, fn: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const abort = new AbortController();
    streams.add(abort);
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      return await fn(abort.signal);
    } finally {
      sub.dispose();
      streams.delete(abort);
    }
  };

  on<CreateContainerParams, { Id: string; Name: string }>(CreateContainerRequest, 'create container', (params) =>
    containers.create(decodeCreate(createParams(params))),
  );
  on<StartContainerParams, void>(StartContainerRequest, 'start container', (params) => {
    const container = requireString(params, 'container', 'start container');
    const token = optionalString(params, 'attachToken', 'start container');
    if (params.stream !== undefined && params.stream !== null && typeof params.stream !== 'boolean')
      throw invalid('start container', '"stream" must be a boolean');
    if (params.stream === true) return startStreamed(params, container, token);
    const attach = token ? (line: LogLine) => notify(LogLineNotification.type, { token, container, line }) : undefined;
    return containers.start(container, attach).then(() => undefined);
  });
  /** An attached byte-stream start (StartContainerParams.stream): the token's session lives until the exit. */
  const startStreamed = async (params: StartContainerParams, container: string, token: string | undefined): Promise<void> => {
    const op = 'start container';
    if (!token || token.length > 256) throw invalid(op, '"stream" needs an "attachToken" of 1 to 256 characters');
    if (sessions.has(token))
      throw new BerthError(ErrorCode.Conflict, `${op}: attach token "${token}" is in use on this connection`, { operation: op });
    const rows = optionalNumber(params, 'rows', op, 1) ?? 24;
    const cols = optionalNumber(params, 'cols', op, 1) ?? 80;
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows > 65535 || cols > 65535)
      throw invalid(op, '"rows" and "cols" must be whole numbers from 1 to 65535');
    // Input that arrives while the container starts is queued (bounded) and given to it once it runs.
    const queued: Buffer[] = [];
    let queuedEof = false;
    let size: [number, number] | undefined;
    sessions.set(token, {
      write: (d) => void queued.push(d),
      end: () => void (queuedEof = true),
      resize: (r, c) => void (size = [r, c]),
      pending: () => queued.reduce((n, b) => n + b.length, 0),
    });
    let handle;
    try {
      handle = await containers.start(container, undefined, {
        rows,
        cols,
        onOutput: (stream, data) => notify(OutputNotification.type, { token, stream, data: data.toString('base64') }),
      });
    } catch (e) {
      sessions.delete(token);
      throw e;
    }
    if (!handle) return void sessions.delete(token);
    const h = handle;
    const session: StreamSession = {
      write: (d) => h.write(d),
      end: () => h.end(),
      resize: (r, c) => h.resize(r, c),
      pending: () => h.pending(),
    };
    sessions.set(token, session);
    for (const d of queued.splice(0)) h.write(d);
    if (queuedEof) h.end();
    if (size) h.resize(...size);
    const detach = () => h.detach();
    disposers.push(detach);
    void h.done.then(() => {
      if (sessions.get(token) === session) sessions.delete(token);
      const i = disposers.indexOf(detach);
      if (i >= 0) disposers.splice(i, 1);
    });
  };
  on<StopContainerParams, void>(StopContainerRequest, 'stop container', (params) =>
    containers.stop(requireString(params, 'container', 'stop container'), optionalNumber(params, 'timeout', 'stop container', 0)),
  );
  on<KillContainerParams, void>(KillContainerRequest, 'kill container', (params) =>
    containers.kill(requireString(params, 'container', 'kill container'), optionalString(params, 'signal', 'kill container') || undefined),
  );
  on<RemoveContainerParams, void>(RemoveContainerRequest, 'remove container', (params) =>
    containers.remove(requireString(params, 'container', 'remove container'), params.force === true, params.volumes === true),
  );
  on<ListContainersParams, ContainerSummary[]>(ListContainersRequest, 'list containers', (params) =>
    containers.views(params.all === true).map(presentContainerSummary),
  );
  on<ContainerRefParams, ContainerInspect>(InspectContainerRequest, 'inspect container', (params) =>
    presentContainer(containers.view(requireString(params, 'container', 'inspect container'))),
  );
  on<WaitContainerParams, WaitContainerResult>(WaitContainerRequest, 'wait container', (params, token) => {
    const container = requireString(params, 'container', 'wait container');
    const condition = params.condition ?? 'not-running';
    if (condition !== 'not-running' && condition !== 'next-exit')
      throw invalid('wait container', '"condition" must be "not-running" or "next-exit"');
    return withAbort(token, async (signal) => presentWait(await containers.wait(container, condition, signal)));
  });
  on<LogsParams, { lines: LogLine[] }>(ContainerLogsRequest, 'logs', async (params, token) => {
    const container = requireString(params, 'container', 'logs');
    const tail = optionalNumber(params, 'tail', 'logs', 0);
    const since = optionalNumber(params, 'since', 'logs', 0);
    if (params.follow !== true) return { lines: await containers.logs(container, { tail, since }) };
    const t = requireString(params, 'token', 'logs');
    await withAbort(token, (signal) =>
      containers.logs(container, {
        tail,
        since,
        follow: true,
        signal,
        onLine: (line) => notify(LogLineNotification.type, { token: t, container, line }),
      }),
    );
    return { lines: [] };
  });

  // --- containers: writable layer, processes, figures, restart, prune ---------------------------
  on<ContainerRefParams, ContainerChange[]>(ContainerDiffRequest, 'diff container', (params) =>
    containerDiff(containers, requireString(params, 'container', 'diff container')),
  );
  // --- a container's changes in detail, optionally watched (runtime/containers/changes.ts) --------
  const changeWatches = new Map<string, () => void>();
  disposers.push(() => {
    for (const stop of changeWatches.values()) stop();
    changeWatches.clear();
  });
  on<ContainerChangesParams, ContainerChangesResult>(ContainerChangesRequest, 'container changes', (params) => {
    const op = 'container changes';
    const container = requireString(params, 'container', op);
    const token = optionalString(params, 'watchToken', op);
    if (token === undefined) return containerChanges(containers, container);
    if (token.length === 0 || token.length > 256) throw invalid(op, '"watchToken" must be 1 to 256 characters');
    if (changeWatches.has(token))
      throw new BerthError(ErrorCode.Conflict, `${op}: watch token "${token}" is in use on this connection`, { operation: op });
    const w = changeFeedOf(containers).watch(container, (p) => {
      if (p.gone) changeWatches.delete(token);
      notify(ContainerChangedNotification.type, { token, ...p });
    });
    changeWatches.set(token, w.stop);
    return w.result;
  });
  on<{ watchToken: string }, void>(UnwatchContainerChangesRequest, 'unwatch container changes', (params) => {
    const token = requireString(params, 'watchToken', 'unwatch container changes');
    changeWatches.get(token)?.();
    changeWatches.delete(token);
  });
  on<CommitParams, CommitResult>(CommitContainerRequest, 'commit container', (params) => {
    const op = 'commit container';
    if (params.pause !== undefined && params.pause !== null && typeof params.pause !== 'boolean')
      throw invalid(op, '"pause" must be a boolean');
    return commitContainer(containers, {
      container: requireString(params, 'container', op),
      reference: optionalString(params, 'reference', op) || undefined,
      comment: optionalString(params, 'comment', op),
      author: optionalString(params, 'author', op),
      changes: optionalArray(params, 'changes', op),
      pause: params.pause !== false,
    });
  });
  on<ContainerRefParams, TopResult>(ContainerTopRequest, 'top container', (params) =>
    containerTop(containers, requireString(params, 'container', 'top container')),
  );
  on<StatsParams, ContainerStats[]>(ContainerStatsRequest, 'stats', (params) =>
    containerStats(containers, {
      containers: optionalArray(params, 'containers', 'stats'),
      intervalMs: optionalNumber(params, 'intervalMs', 'stats', 0),
    }),
  );
  on<StopContainerParams, void>(RestartContainerRequest, 'restart container', (params) =>
    restartContainer(
      containers,
      requireString(params, 'container', 'restart container'),
      optionalNumber(params, 'timeout', 'restart container', 0),
    ),
  );
  on<Record<string, never>, PruneResult>(PruneContainersRequest, 'prune containers', () => pruneContainers(containers));
  on<PruneImagesParams, PruneResult>(PruneImagesRequest, 'prune images', (params) => {
    if (params.all !== undefined && params.all !== null && typeof params.all !== 'boolean')
      throw invalid('prune images', '"all" must be a boolean');
    return pruneImages(svc, params.all === true);
  });

  // --- exec and attached byte streams (see the protocol's "Exec and attached byte streams") ------
  const sessions = new Map<string, StreamSession>();
  conn.onNotification(InputNotification.type, (n) => {
    const s = typeof n?.token === 'string' ? sessions.get(n.token) : undefined;
    if (!s) return;
    if (typeof n.data === 'string' && n.data.length > 0) {
      const data = Buffer.from(n.data, 'base64');
      if (data.length > MAX_INPUT_CHUNK || s.pending() > MAX_PENDING_INPUT)
        ctx.log(`dropping ${data.length} bytes of input for ${n.token}: too much at once`);
      else s.write(data);
    }
    if (n.eof === true) s.end();
  });
  conn.onNotification(ResizeNotification.type, (n) => {
    const s = typeof n?.token === 'string' ? sessions.get(n.token) : undefined;
    if (s && Number.isInteger(n.rows) && Number.isInteger(n.cols) && n.rows >= 1 && n.cols >= 1 && n.rows <= 65535 && n.cols <= 65535)
      s.resize(n.rows, n.cols);
  });
  on<ExecParams, ExecResult>(ExecRequest, 'exec in container', async (params, cancel) => {
    const op = 'exec in container';
    const container = requireString(params, 'container', op);
    const cmd = optionalArray(params, 'cmd', op);
    if (!cmd?.length || cmd.length > 65536) throw invalid(op, '"cmd" must be a non-empty array of strings');
    const bool = (k: 'tty' | 'stdin') => {
      if (params[k] !== undefined && params[k] !== null && typeof params[k] !== 'boolean') throw invalid(op, `"${k}" must be a boolean`);
      return params[k] === true;
    };
    const tty = bool('tty');
    const stdin = bool('stdin');
    const token = optionalString(params, 'attachToken', op);
    if (token !== undefined && (token.length === 0 || token.length > 256)) throw invalid(op, '"attachToken" must be 1 to 256 characters');
    if ((tty || stdin) && !token) throw invalid(op, '"tty" and "stdin" need an "attachToken"');
    if (token && sessions.has(token))
      throw new BerthError(ErrorCode.Conflict, `${op}: attach token "${token}" is in use on this connection`, { operation: op });
    const rows = optionalNumber(params, 'rows', op, 1) ?? 24;
    const cols = optionalNumber(params, 'cols', op, 1) ?? 80;
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows > 65535 || cols > 65535)
      throw invalid(op, '"rows" and "cols" must be whole numbers from 1 to 65535');
    // Input that arrives while the process starts is queued (bounded) and given to it once it runs.
    const queued: Buffer[] = [];
    let queuedEof = false;
    let size: [number, number] | undefined;
    if (token) {
      sessions.set(token, {
        write: (d) => void queued.push(d),
        end: () => void (queuedEof = true),
        resize: (r, c) => void (size = [r, c]),
        pending: () => queued.reduce((n, b) => n + b.length, 0),
      });
    }
    try {
      const session = await execInContainer(
        containers,
        container,
        {
          cmd,
          env: optionalArray(params, 'env', op),
          user: optionalString(params, 'user', op),
          workingDir: optionalString(params, 'workingDir', op) || undefined,
          terminal: tty ? { rows, cols } : undefined,
          stdin,
        },
        (stream, data) => token && notify(OutputNotification.type, { token, stream, data: data.toString('base64') }),
      );
      if (token) {
        sessions.set(token, {
          write: (d) => void session.write(d),
          end: () => session.end(),
          resize: (r, c) => session.resize(r, c),
          pending: () => session.pending(),
        });
        for (const d of queued.splice(0)) session.write(d);
        if (queuedEof) session.end();
        if (size) session.resize(...size);
      }
      const kill = () => session.kill('SIGKILL');
      const sub = cancel.onCancellationRequested(kill);
      disposers.push(kill);
      try {
        const st = await session.exited;
        if (cancel.isCancellationRequested) throw new BerthError(ErrorCode.Cancelled, `${op}: cancelled`, { operation: op });
        return { ExitCode: st.code };
      } finally {
        sub.dispose();
        disposers.splice(disposers.indexOf(kill), 1);
      }
    } finally {
      if (token) sessions.delete(token);
    }
  });

  // --- volumes ------------------------------------------------------------------------------------
  on<CreateVolumeParams, Volume>(CreateVolumeRequest, 'create volume', (params) => {
    const labels = params.labels;
    if (
      labels !== undefined &&
      labels !== null &&
      (typeof labels !== 'object' || Array.isArray(labels) || !Object.values(labels).every((v) => typeof v === 'string'))
    ) {
      throw invalid('create volume', '"labels" must be an object of strings');
    }
    return presentVolume(containers.volumes.create(optionalString(params, 'name', 'create volume') || undefined, labels ?? undefined));
  });
  on<Record<string, never>, Volume[]>(ListVolumesRequest, 'list volumes', () => containers.volumes.list().map(presentVolume));
  on<VolumeRefParams, Volume>(InspectVolumeRequest, 'inspect volume', (params) =>
    presentVolume(containers.volumes.inspect(requireString(params, 'name', 'inspect volume'))),
  );
  on<VolumeRefParams, void>(RemoveVolumeRequest, 'remove volume', (params) =>
    containers.volumes.remove(requireString(params, 'name', 'remove volume')),
  );
  on<PruneVolumesParams, { VolumesDeleted: string[]; SpaceReclaimed: number }>(PruneVolumesRequest, 'prune volumes', (params) => {
    if (params.all !== undefined && typeof params.all !== 'boolean') throw invalid('prune volumes', '"all" must be a boolean');
    return presentVolumePrune(containers.volumes.prune(params.all === true));
  });

  // --- Browse Files (files.ts checks the path) ------------------------------------------------------
  on<FsPathParams, FsStat>(FsStatRequest, 'stat', (params) => statPath(containers, fsTarget(params, 'stat'), params.path));
  on<FsPathParams, { entries: FsDirEntry[] }>(FsReadDirectoryRequest, 'read directory', (params) => ({
    entries: readDirectory(containers, fsTarget(params, 'read directory'), params.path),
  }));
  on<FsPathParams, FsReadFileResult>(FsReadFileRequest, 'read file', (params) => {
    const data = readFile(containers, fsTarget(params, 'read file'), params.path);
    return { data: data.toString('base64'), size: data.length };
  });

  // --- store verification ---------------------------------------------------------------------------
  on<StoreCheckParams, StoreCheckResult>(StoreCheckRequest, 'check store', (params) => {
    if (params.repair !== undefined && params.repair !== null && typeof params.repair !== 'boolean')
      throw invalid('check store', '"repair" must be a boolean');
    // tmp/ entries named before this process started are an earlier run's leftovers.
    return checkStore(svc.store, { repair: params.repair === true, startedAt: Date.now() - process.uptime() * 1000 });
  });

  disposers.push(registerArchiveHandlers(conn, containers, on, withAbort));
  // --- builds (the builder reads the context as the peer may; see agent/build/) -------------------
  on<BuildParams, BuildResult>(BuildImageRequest, 'build', async (params, token) => {
    const op = 'build';
    const contextDir = requireAbsolute(params, 'contextDir', op);
    const content = params.dockerfileContent;
    if (content !== undefined && content !== null && (typeof content !== 'string' || content.length > 1024 * 1024)) {
      throw invalid(op, '"dockerfileContent" must be a string of at most 1 MiB');
    }
    const args = params.buildArgs;
    if (
      args !== undefined &&
      args !== null &&
      (typeof args !== 'object' || Array.isArray(args) || !Object.values(args).every((v) => typeof v === 'string'))
    ) {
      throw invalid(op, '"buildArgs" must be an object of strings');
    }
    if (params.noCache !== undefined && params.noCache !== null && typeof params.noCache !== 'boolean')
      throw invalid(op, '"noCache" must be a boolean');
    const progressToken = optionalString(params, 'progressToken', op);
    const abort = new AbortController();
    pulls.add(abort);
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      return await buildImage(
        { images: svc, containers, cache: new BuildCache(svc.store, ctx.log), log: ctx.log },
        {
          contextDir,
          dockerfile: optionalString(params, 'dockerfile', op) || undefined,
          dockerfileContent: typeof content === 'string' ? content : undefined,
          tags: optionalArray(params, 'tags', op),
          buildArgs: args ?? undefined,
          target: optionalString(params, 'target', op) || undefined,
          noCache: params.noCache === true,
        },
        {
          peer: ctx.peer,
          signal: abort.signal,
          onProgress: progressToken ? (event) => notify(BuildProgressNotification.type, { token: progressToken, event }) : undefined,
        },
      );
    } finally {
      sub.dispose();
      pulls.delete(abort);
    }
  });

  // --- workspaces (agent/workspace/: devcontainer.json read as the peer may) -----------------------
  const workspaceServices = {
    images: svc,
    containers,
    buildCache: () => new BuildCache(svc.store, ctx.log),
    log: ctx.log,
    ports: services.workspacePorts,
  };
  on<WorkspaceUpParams, WorkspaceUpResult>(WorkspaceUpRequest, 'workspace up', async (params, token) => {
    const op = 'workspace up';
    const folder = requireString(params, 'folder', op);
    for (const k of ['rebuild', 'noCache'] as const) {
      if (params[k] !== undefined && params[k] !== null && typeof params[k] !== 'boolean') throw invalid(op, `"${k}" must be a boolean`);
    }
    const localEnv = params.localEnv;
    if (
      localEnv !== undefined &&
      localEnv !== null &&
      (typeof localEnv !== 'object' ||
        Array.isArray(localEnv) ||
        Object.keys(localEnv).length > 10_000 ||
        !Object.values(localEnv).every((v) => typeof v === 'string' && v.length <= 65536))
    ) {
      throw invalid(op, '"localEnv" must be an object of strings');
    }
    const progressToken = optionalString(params, 'progressToken', op);
    const abort = new AbortController();
    pulls.add(abort);
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      return await workspaceUp(
        workspaceServices,
        { folder, rebuild: params.rebuild === true, noCache: params.noCache === true, localEnv: localEnv ?? undefined },
        {
          peer: ctx.peer,
          signal: abort.signal,
          onEvent: progressToken ? (event) => notify(WorkspaceProgressNotification.type, { token: progressToken, event }) : undefined,
        },
      );
    } finally {
      sub.dispose();
      pulls.delete(abort);
    }
  });
  on<WorkspaceDownParams, WorkspaceDownResult>(WorkspaceDownRequest, 'workspace down', (params) => {
    const op = 'workspace down';
    if (params.remove !== undefined && params.remove !== null && typeof params.remove !== 'boolean')
      throw invalid(op, '"remove" must be a boolean');
    return workspaceDown(workspaceServices, {
      folder: requireString(params, 'folder', op),
      remove: params.remove === true,
      timeout: optionalNumber(params, 'timeout', op, 0),
    });
  });
  on<WorkspaceStatusParams, WorkspaceInfo | null>(WorkspaceStatusRequest, 'workspace status', (params) =>
    workspaceStatus(workspaceServices, { folder: requireString(params, 'folder', 'workspace status') }),
  );

  return () => disposers.forEach((d) => d());
}

/** A required absolute path parameter named `key`. */
function requireAbsolute(params: unknown, key: string, operation: string): string {
  const path = requireString(params, key, operation);
  if (!path.startsWith('/')) throw invalid(operation, `"${key}" must be an absolute path, got "${path}"`);
  return path;
}

/** `target` of the fs/* requests: exactly one of `container` and `image`, a non-empty string. */
function fsTarget(params: FsPathParams, operation: string): FsTarget {
  const t = (params as { target?: unknown }).target as Record<string, unknown> | undefined;
  if (t === null || typeof t !== 'object' || Array.isArray(t)) throw invalid(operation, '"target" must be {container} or {image}');
  const container = t.container === undefined ? undefined : requireString(t, 'container', operation);
  const image = t.image === undefined ? undefined : requireString(t, 'image', operation);
  if ((container === undefined) === (image === undefined))
    throw invalid(operation, '"target" must name exactly one of "container" and "image"');
  return container !== undefined ? { container } : { image: image! };
}

/** Checks the shape of `container/create`'s params (the service checks the values). */
function createParams(p: CreateContainerParams): CreateContainerParams {
  const op = 'create container';
  const strs = (k: keyof CreateContainerParams) => optionalArray(p, k, op);
  const bool = (k: keyof CreateContainerParams) => {
    const v = p[k];
    if (v !== undefined && v !== null && typeof v !== 'boolean') throw invalid(op, `"${k}" must be a boolean`);
    return v === true;
  };
  const labels = p.labels;
  if (
    labels !== undefined &&
    (labels === null || typeof labels !== 'object' || Array.isArray(labels) || !Object.values(labels).every((v) => typeof v === 'string'))
  ) {
    throw invalid(op, '"labels" must be an object of strings');
  }
  return {
    image: requireString(p, 'image', op),
    name: optionalString(p, 'name', op),
    cmd: strs('cmd'),
    entrypoint: strs('entrypoint'),
    env: strs('env'),
    workingDir: optionalString(p, 'workingDir', op) || undefined,
    user: optionalString(p, 'user', op),
    hostname: optionalString(p, 'hostname', op) || undefined,
    binds: strs('binds'),
    labels: labels ?? undefined,
    memory: optionalNumber(p, 'memory', op, 0),
    nanoCpus: optionalNumber(p, 'nanoCpus', op, 0),
    pidsLimit: optionalNumber(p, 'pidsLimit', op, -1),
    capAdd: strs('capAdd'),
    capDrop: strs('capDrop'),
    privileged: bool('privileged'),
    autoRemove: bool('autoRemove'),
    init: bool('init'),
    userns: optionalString(p, 'userns', op) as CreateContainerParams['userns'],
    tty: bool('tty'),
    openStdin: bool('openStdin'),
    stdinOnce: bool('stdinOnce'),
    networkMode: optionalString(p, 'networkMode', op) || undefined,
    ports: strs('ports'),
  };
}

function optionalNumber(params: unknown, key: string, operation: string, min: number): number | undefined {
  const v = (params as Record<string, unknown> | null)?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw invalid(operation, `"${key}" must be a number of at least ${min}`);
  return v;
}

export function toResponseError(operation: string, err: unknown, log: (msg: string) => void): ResponseError<ErrorData> {
  if (err instanceof BerthError) return new ResponseError(err.code, err.message, err.data);
  log(`internal error during ${operation}: ${(err as Error)?.stack ?? String(err)}`);
  return new ResponseError(ErrorCode.Internal, `${operation}: internal error: ${(err as Error)?.message ?? String(err)}`, { operation });
}

function invalid(operation: string, what: string): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, `${operation}: ${what}`, { operation });
}

function requireString(params: unknown, key: string, operation: string): string {
  const v = (params as Record<string, unknown> | null)?.[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw invalid(operation, `"${key}" must be a non-empty string`);
  return v;
}

function optionalString(params: unknown, key: string, operation: string): string | undefined {
  const v = (params as Record<string, unknown> | null)?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > 4096) throw invalid(operation, `"${key}" must be a string`);
  return v;
}

function optionalArray(params: unknown, key: string, operation: string): string[] | undefined {
  const v = (params as Record<string, unknown> | null)?.[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(operation, `"${key}" must be an array of strings`);
  return v as string[];
}

function optionalPlatform(params: unknown): Platform | undefined {
  const p = (params as Record<string, unknown> | null)?.platform as Record<string, unknown> | undefined;
  if (p === undefined || p === null) return undefined;
  if (
    typeof p !== 'object' ||
    typeof p.os !== 'string' ||
    typeof p.architecture !== 'string' ||
    (p.variant !== undefined && typeof p.variant !== 'string')
  ) {
    throw invalid('pull', '"platform" must be {os, architecture, variant?} strings');
  }
  return { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant as string } : {}) };
}

function requireAbsolutePath(params: unknown, operation: string): string {
  const path = requireString(params, 'path', operation);
  if (!path.startsWith('/')) throw invalid(operation, `"path" must be absolute, got "${path}"`);
  return path;
}
