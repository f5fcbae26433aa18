/**
 * The agent's JSON-RPC edge: each handler decodes its params, calls the core, and returns its
 * answer. Errors become ResponseErrors with the code and data of the BerthError; anything else is
 * a bug, reported as Internal with the operation named (the stack goes to the agent's log).
 */
import { CancellationToken, ResponseError, type MessageConnection, type NotificationType } from 'vscode-jsonrpc';
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
import type { PeerCred } from '../../native';
import { hostPlatform } from '../registry/platform';

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
        onProgress: progressToken ? (layer) => notify(PullProgressNotification.type, { token: progressToken, reference, layer }) : undefined,
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
  on<ImageRefParams, HistoryEntry[]>(ImageHistoryRequest, 'history', (params) => svc.history(requireString(params, 'reference', 'history')));
  on<TagParams, void>(TagImageRequest, 'tag', (params) => svc.tag(requireString(params, 'source', 'tag'), requireString(params, 'target', 'tag')));
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
    containers.create(createParams(params)),
  );
  on<StartContainerParams, void>(StartContainerRequest, 'start container', (params) => {
    const container = requireString(params, 'container', 'start container');
    const token = optionalString(params, 'attachToken', 'start container');
    const attach = token ? (line: LogLine) => notify(LogLineNotification.type, { token, container, line }) : undefined;
    return containers.start(container, attach);
  });
  on<StopContainerParams, void>(StopContainerRequest, 'stop container', (params) =>
    containers.stop(requireString(params, 'container', 'stop container'), optionalNumber(params, 'timeout', 'stop container', 0)),
  );
  on<KillContainerParams, void>(KillContainerRequest, 'kill container', (params) =>
    containers.kill(requireString(params, 'container', 'kill container'), optionalString(params, 'signal', 'kill container') || undefined),
  );
  on<RemoveContainerParams, void>(RemoveContainerRequest, 'remove container', (params) =>
    containers.remove(requireString(params, 'container', 'remove container'), params.force === true),
  );
  on<ListContainersParams, ContainerSummary[]>(ListContainersRequest, 'list containers', (params) => containers.list(params.all === true));
  on<ContainerRefParams, ContainerInspect>(InspectContainerRequest, 'inspect container', (params) =>
    containers.inspect(requireString(params, 'container', 'inspect container')),
  );
  on<WaitContainerParams, WaitContainerResult>(WaitContainerRequest, 'wait container', (params, token) => {
    const container = requireString(params, 'container', 'wait container');
    const condition = params.condition ?? 'not-running';
    if (condition !== 'not-running' && condition !== 'next-exit') throw invalid('wait container', '"condition" must be "not-running" or "next-exit"');
    return withAbort(token, (signal) => containers.wait(container, condition, signal));
  });
  on<LogsParams, { lines: LogLine[] }>(ContainerLogsRequest, 'logs', async (params, token) => {
    const container = requireString(params, 'container', 'logs');
    const tail = optionalNumber(params, 'tail', 'logs', 0);
    const since = optionalNumber(params, 'since', 'logs', 0);
    if (params.follow !== true) return { lines: await containers.logs(container, { tail, since }) };
    const t = requireString(params, 'token', 'logs');
    await withAbort(token, (signal) =>
      containers.logs(container, { tail, since, follow: true, signal, onLine: (line) => notify(LogLineNotification.type, { token: t, container, line }) }),
    );
    return { lines: [] };
  });

  return () => disposers.forEach((d) => d());
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
  if (labels !== undefined && (labels === null || typeof labels !== 'object' || Array.isArray(labels) || !Object.values(labels).every((v) => typeof v === 'string'))) {
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
  if (typeof p !== 'object' || typeof p.os !== 'string' || typeof p.architecture !== 'string' || (p.variant !== undefined && typeof p.variant !== 'string')) {
    throw invalid('pull', '"platform" must be {os, architecture, variant?} strings');
  }
  return { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant as string } : {}) };
}

function requireAbsolutePath(params: unknown, operation: string): string {
  const path = requireString(params, 'path', operation);
  if (!path.startsWith('/')) throw invalid(operation, `"path" must be absolute, got "${path}"`);
  return path;
}
