/**
 * What the Docker API's route files share (agent/docker/server.ts dispatches to them): the context
 * they serve from, the request and reply shapes, the client-error type, the announced versions
 * and the bounds on input.
 */
import type { ImageService } from '../images/service';
import type { ContainerService } from '../runtime/containers/service';

/** The API version announced (the docker CLI 29 refuses less than 1.44) and the oldest accepted. */
export const API_VERSION = '1.44';
export const MIN_API_VERSION = '1.24';

/** Bytes of a request line and headers together. */
export const HEAD_LIMIT = 16 * 1024;
/** Bytes of a request body. */
export const BODY_LIMIT = 1024 * 1024;

export interface DockerContext {
  images: ImageService;
  containers: ContainerService;
  /** The store root. */
  root: string;
  log: (msg: string) => void;
}

/** A request as the routes see it: the method, the decoded path segments, the query. */
export interface DockerRequest {
  method: string;
  /** Decoded segments after the version prefix: `/containers/abc/json` -> ["containers", "abc", "json"]. */
  segments: string[];
  query: URLSearchParams;
}

/** What a route answers: JSON (`body` serialised), or text, with extra headers. */
export interface DockerReply {
  status?: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

/**
 * One route: `path` is a pattern of segments, where "*" is one segment and a final "**" one or
 * more (image names have slashes: `/images/127.0.0.1:5000/a/b:v1/json`); the handler gets the
 * segments the wildcards matched.
 */
export interface Route {
  methods: readonly string[];
  path: readonly string[];
  handle(ctx: DockerContext, req: DockerRequest, params: string[]): DockerReply | Promise<DockerReply>;
}

/** A client error with Docker's status (400 unless said). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** At most 200 characters of client input, for messages. */
export function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}
