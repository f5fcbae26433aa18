/**
 * Builds: images from Dockerfiles.
 */
import { NotificationType } from 'vscode-jsonrpc';
import * as v from 'valibot';
import { params, anyText, absolutePath, bool, texts, stringMap, opt, request } from './schema';

// ---------------------------------------------------------------------------------------------
// Builds (client -> agent): images from Dockerfiles (agent/builder/). Steps run in order; each
// filesystem step (RUN, COPY, ADD, WORKDIR making its directory) adds one layer to the store,
// every other instruction one empty-layer history entry; a step whose inputs are unchanged is
// taken from the build cache instead of run.
// ---------------------------------------------------------------------------------------------

export const BuildParams = params({
  /**
   * The build context: an absolute path of a directory on the agent's machine. The agent reads it
   * on the caller's behalf: the caller must be able to read it and every file copied from it
   * (PermissionDenied otherwise), and nothing outside it is read (symlinks are followed inside it).
   */
  contextDir: absolutePath(),
  /**
   * The Dockerfile's path on the agent's machine (absolute, or relative to `contextDir`); default
   * `Dockerfile` in the context. Read on the caller's behalf, as the context is. With
   * `dockerfileContent`, only names the Dockerfile in messages.
   */
  dockerfile: opt(anyText()),
  /** The Dockerfile's text itself (at most 1 MiB), instead of reading `dockerfile`. */
  dockerfileContent: opt(v.pipe(v.string('must be a string of at most 1 MiB'), v.maxLength(1 << 20, 'must be a string of at most 1 MiB'))),
  /** Tags for the result ("name", "name:tag", "host:5000/name:tag"). */
  tags: opt(texts()),
  /** Values for ARG instructions; ones no ARG declares are reported as warnings. */
  buildArgs: opt(stringMap()),
  /** Build up to this stage (its `AS` name or index) and make it the result; default the last. */
  target: opt(anyText()),
  /** Run every step: the cache is not read (what the steps make is still stored in it for later builds). */
  noCache: opt(bool()),
  /** When set, the agent sends {@link BuildProgressNotification}s carrying this token. */
  progressToken: opt(anyText()),
});
export type BuildParams = v.InferOutput<typeof BuildParams>;

/** What happens during a build, in order (see {@link BuildProgressNotification}). */
export type BuildEvent =
  /** A step starts: "Step 2/7 : RUN make". `instruction` is as written (continuations joined). */
  | { type: 'step'; step: number; total: number; stage: number; line: number; instruction: string }
  /** The step's result was found in the build cache; nothing runs. */
  | { type: 'cached'; step: number }
  /** A RUN step's container was created (its 64-hex ID) and starts. */
  | { type: 'running'; step: number; container: string }
  /** Output of a RUN step's command, base64, in order, as written (not split at lines). */
  | { type: 'output'; step: number; stream: 'stdout' | 'stderr'; data: string }
  /** A RUN step's container was removed. */
  | { type: 'removed'; step: number; container: string }
  /** The step is done: `id` is the config digest of the image as it stands after the step. */
  | { type: 'result'; step: number; id: string }
  /** Something worth saying that is not a step's result (a base image pulled, a skipped file). */
  | { type: 'message'; step: number; message: string }
  /** A warning (an unused build argument, an ignored `# syntax=` directive). */
  | { type: 'warning'; message: string };

export interface BuildStepResult {
  /** The instruction as written. */
  instruction: string;
  /** Its first line in the Dockerfile. */
  line: number;
  /** Its stage's index. */
  stage: number;
  /**
   * True when the step's result came from the build cache and nothing ran. For FROM: true when
   * the base needed no pull (a stored image, a stage, or scratch).
   */
  cached: boolean;
}

export interface BuildResult {
  /** The image ID ("sha256:..."). */
  Id: string;
  /** The tags it was given, as Docker shows them ("name:tag"). */
  tags: string[];
  /** Every step run, in order (the stages up to the target). */
  steps: BuildStepResult[];
  warnings: string[];
}

/**
 * `image/build`. Sent by `berth build` and the extension to build an image from a Dockerfile and a
 * context directory (see {@link BuildParams}). Stages run in file order up to the target; FROM
 * takes a stored image, else pulls it (`scratch` is no layers). RUN runs in a container of the
 * runtime (the image so far, its Env with the build arguments, WorkingDir, User, SHELL), removed
 * afterwards. COPY/ADD read the context (with `.dockerignore`) or another stage/image
 * (`--from`). Progress: {@link BuildProgressNotification} when `progressToken` is given.
 * Cancellable: cancelling (or closing the connection) stops the build, kills and removes the
 * running step's container, and answers Cancelled; layers already made stay for the cache.
 * Emits the step containers' container events, and `tag` per tag. Errors: InvalidArgument (a
 * Dockerfile error, a missing COPY source, a bad parameter: "Dockerfile:LINE: INSTRUCTION: what",
 * `data.path` the Dockerfile, `data.line`), BuildFailed (a RUN exited non-zero: `data.line`),
 * PermissionDenied (the caller may not read the context or a file in it), NotFound and the pull
 * errors (a base image), InvalidReference (a tag), Cancelled, System.
 */
export const BuildImageRequest = request('image/build', BuildParams).answers<BuildResult>();

export interface BuildProgressParams {
  /** The `progressToken` of the build request this belongs to. */
  token: string;
  event: BuildEvent;
}

/**
 * `image/buildProgress`. Sent by the agent to the connection that asked for a build with a
 * progress token, for each {@link BuildEvent}, in order, before the build's answer.
 */
export namespace BuildProgressNotification {
  export const method = 'image/buildProgress';
  export const type = new NotificationType<BuildProgressParams>(method);
}
