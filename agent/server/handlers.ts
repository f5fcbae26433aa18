/**
 * The agent's JSON-RPC edge: each handler decodes its params, calls the core, and returns its
 * answer. Errors become ResponseErrors with the code and data of the BerthError; anything else is
 * a bug, reported as Internal with the operation named (the stack goes to the agent's log).
 */
import { CancellationToken, ResponseError, type MessageConnection } from 'vscode-jsonrpc';
import {
  API_VERSION,
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
  type Platform,
  type VersionResult,
} from '../../protocol';
import { BerthError } from '../errors';
import type { ImageService } from '../image/service';
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

export function registerHandlers(conn: MessageConnection, svc: ImageService, ctx: ConnectionContext): () => void {
  const disposers: (() => void)[] = [];
  const handle = <P, R>(operation: string, fn: (params: P, token: CancellationToken) => Promise<R> | R) => {
    return async (params: P, token: CancellationToken): Promise<R | ResponseError<ErrorData>> => {
      try {
        return await fn(params, token);
      } catch (err) {
        return toResponseError(operation, err, ctx.log);
      }
    };
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
  conn.onRequest(
    SubscribeRequest.type,
    handle('subscribe', (params) => {
      const types = optionalArray(params, 'types', 'subscribe');
      if (subscribed) return;
      subscribed = true;
      disposers.push(
        svc.onEvent((e) => {
          if (!types || types.includes(e.Type)) void conn.sendNotification(EventNotification.type, e).catch(() => undefined);
        }),
      );
    }),
  );

  conn.onRequest(
    PullRequest.type,
    handle('pull', async (params, token) => {
      const reference = requireString(params, 'reference', 'pull');
      const platform = optionalPlatform(params);
      const progressToken = optionalString(params, 'progressToken', 'pull');
      const abort = new AbortController();
      const sub = token.onCancellationRequested(() => abort.abort());
      try {
        return await svc.pull(reference, {
          platform,
          signal: abort.signal,
          onProgress: progressToken
            ? (layer) => void conn.sendNotification(PullProgressNotification.type, { token: progressToken, reference, layer }).catch(() => undefined)
            : undefined,
        });
      } finally {
        sub.dispose();
      }
    }),
  );

  conn.onRequest(
    ListImagesRequest.type,
    handle('list images', (params) => svc.list(params?.all ?? true)),
  );
  conn.onRequest(
    InspectImageRequest.type,
    handle('inspect', (params) => svc.inspect(requireString(params, 'reference', 'inspect'))),
  );
  conn.onRequest(
    ImageHistoryRequest.type,
    handle('history', (params) => svc.history(requireString(params, 'reference', 'history'))),
  );
  conn.onRequest(
    TagImageRequest.type,
    handle('tag', (params) => svc.tag(requireString(params, 'source', 'tag'), requireString(params, 'target', 'tag'))),
  );
  conn.onRequest(
    RemoveImageRequest.type,
    handle('remove', (params) => svc.remove(requireString(params, 'reference', 'remove'), params.force === true)),
  );
  conn.onRequest(
    SaveImagesRequest.type,
    handle('save', (params) => {
      const refs = params?.references;
      if (!Array.isArray(refs) || refs.length === 0 || !refs.every((r) => typeof r === 'string')) {
        throw invalid('save', 'references must be a non-empty array of strings');
      }
      return saveImages(svc, refs, requireAbsolutePath(params, 'save'), ctx.peer);
    }),
  );
  conn.onRequest(
    LoadImagesRequest.type,
    handle('load', (params) => loadImages(svc, requireAbsolutePath(params, 'load'))),
  );

  return () => disposers.forEach((d) => d());
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
