/**
 * The one contract between the Berth agent and every client (the `berth` CLI, the VS Code
 * extension, tests). Each request and notification is declared here once, with who sends it, when,
 * and which errors it answers with; nothing else re-declares a method name or a payload shape.
 *
 * Transport: JSON-RPC 2.0 (vscode-jsonrpc framing: Content-Length headers) over the agent's Unix
 * socket (default /run/berth/agent.sock) or over stdio when a client spawns `berth agent --stdio`.
 * Errors: a JSON-RPC error with a code from {@link ErrorCode} and {@link ErrorData} as data.
 * Params are checked against the request's schema before anything runs: a mismatch answers
 * InvalidArgument naming the method and the field ("container/create: params.memory: \"memory\"
 * must be a number of at least 0"); an optional field may be absent or null, unknown fields are
 * ignored.
 * Cancellation: the standard `$/cancelRequest`; long requests (pull) stop and answer Cancelled.
 *
 * Layout: one file per noun (images, containers, exec, files, volumes, build, workspace, events,
 * system), each holding its requests' param schemas (schema.ts: the params' types are inferred
 * from them), request and notification types, result types and who sends what when; shapes
 * several nouns share are in shared.ts, error codes in errors.ts. Adding a request is one entry in
 * its noun's file and one handler in agent/server/.
 *
 * Objects users script against keep Docker's field names and shapes (Id, RepoTags, Config.Env,
 * RootFS.Layers ...), so `berth inspect` output reads like `docker inspect`'s.
 */
export * from './errors';
export { type ClientNotification, MAX_STRING, NoParams, type ParamsSchema, type Request, type Request0 } from './schema';
export * from './shared';
export * from './events';
export * from './system';
export * from './images';
export * from './containers';
export * from './exec';
export * from './files';
export * from './volumes';
export * from './build';
export * from './workspace';
export * from './wording';

/** The protocol revision; bumped on any incompatible change. */
export const API_VERSION = 1;
