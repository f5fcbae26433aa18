/**
 * Error codes the agent returns on the wire, and the structured data that comes with them.
 *
 * Every failed request is a JSON-RPC error whose `code` is one of {@link ErrorCode} (all outside
 * JSON-RPC's reserved -32768..-32000 range) and whose `data` is an {@link ErrorData}. The `message`
 * is one sentence a person can act on; it names the operation and, where there is one, the path or
 * the image reference ("pull docker.io/library/busybox:latest: registry answered 401 ...").
 *
 * This file has no dependencies, so the agent's core modules can raise these codes without knowing
 * anything about JSON-RPC.
 */
export enum ErrorCode {
  /** A request's parameters are missing or malformed. */
  InvalidArgument = 1000,
  /** An image reference does not parse (`data.reference` holds it). */
  InvalidReference = 1001,
  /** The named image, layer or file is not in the local store. */
  NotFound = 1002,
  /** The operation conflicts with the store's state (e.g. removing an image other tags still need). */
  Conflict = 1003,
  /** The registry could not be reached (DNS, TCP, TLS), after retries. */
  RegistryUnreachable = 1100,
  /** The registry refused the credentials, or demanded some and none were configured. */
  RegistryAuth = 1101,
  /** The registry does not know the repository, tag or digest. */
  ManifestUnknown = 1102,
  /** The manifest's type is one Berth does not pull (Docker schema 1, unknown media types). */
  UnsupportedManifest = 1103,
  /** A multi-platform image has no entry for the requested platform (`data.platform`). */
  NoMatchingPlatform = 1104,
  /** Downloaded bytes do not hash to the digest that named them; nothing was stored. */
  DigestMismatch = 1105,
  /** The registry kept failing (5xx, 429, truncated bodies) after the allowed retries. */
  RegistryError = 1106,
  /** A layer tried to write outside its own directory (`data.entry` names the tar entry). */
  HostileLayer = 1200,
  /** A layer, manifest or config is malformed (bad tar header, bad JSON, limits exceeded). */
  InvalidContent = 1201,
  /** A file given to `image/load` is not a docker-save or OCI-layout archive. */
  InvalidArchive = 1202,
  /** A system call failed (`data.syscall`, `data.path`, `data.errno`). */
  System = 1300,
  /** The client cancelled the request; the store was left consistent. */
  Cancelled = 1400,
  /** The caller is not allowed to use this agent (wrong uid on the socket). */
  PermissionDenied = 1401,
  /** A bug in Berth: the message says what was being done. */
  Internal = 1500,
  /** A build step failed: a RUN exited non-zero (`data.line` names the Dockerfile line). */
  BuildFailed = 1600,
  /**
   * A devcontainer.json lifecycle command (onCreateCommand, postCreateCommand, postStartCommand)
   * exited non-zero; the workspace container is kept for inspection and named in the message.
   */
  LifecycleCommandFailed = 1700,
}

/** Structured details of a failure; every field is optional except `operation`. */
export interface ErrorData {
  /** What was being done, in a few words: "pull", "unpack layer", "save". */
  operation: string;
  /** A filesystem path involved, as the agent sees it. */
  path?: string;
  /** The failed system call, e.g. "mknod" or "rename". */
  syscall?: string;
  /** The errno name, e.g. "ENOSPC". */
  errno?: string;
  /** The image reference involved, normalised (docker.io/library/busybox:latest). */
  reference?: string;
  /** A content digest involved (sha256:...). */
  digest?: string;
  /** A tar entry name involved (hostile or malformed layers). */
  entry?: string;
  /** An HTTP status from a registry. */
  status?: number;
  /** The platform that was asked for, e.g. "linux/arm64/v8". */
  platform?: string;
  /** A Dockerfile line (1-based) involved, for build errors (`data.path` is then the Dockerfile). */
  line?: number;
  /** The column (1-based) of `line`, for parse errors of configuration files (devcontainer.json). */
  column?: number;
}

/** Names for the codes, for messages and `--format json` output. */
export function errorCodeName(code: number): string {
  return (ErrorCode as unknown as Record<number, string>)[code] ?? `Error${code}`;
}
