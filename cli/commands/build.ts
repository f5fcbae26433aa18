/**
 * `berth build`: an image from a Dockerfile, printed the way `docker build` (the classic builder)
 * prints it: "Step N/M : INSTRUCTION", " ---> Using cache", " ---> Running in ID", the RUN step's
 * output, " ---> ID" after each step, then "Successfully built ID" and "Successfully tagged NAME".
 * With -q only the image ID is printed. The context directory is sent as an absolute path: the
 * agent reads it (as the caller may). `-f -` reads the Dockerfile from stdin.
 */
import { resolve } from 'node:path';
import { BuildImageRequest, BuildProgressNotification, type BuildEvent, type BuildResult } from '../../protocol';
import { flagBool, flagString, flagStrings, UsageError } from '../args';
import type { CliIO, Command } from '../context';
import { longRequest } from '../longRequest';

/** How long to wait for the agent to confirm a cancelled build. */
const CANCEL_WAIT_MS = 10_000;
/** Largest Dockerfile read from stdin. */
const MAX_STDIN_DOCKERFILE = 1024 * 1024;

/** `--build-arg K=V` (or `K`, taking the value from the environment, as Docker does). */
export function parseBuildArgs(list: string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list) {
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`invalid --build-arg "${a}": want NAME=VALUE`);
    if (eq >= 0) out[name] = a.slice(eq + 1);
    else if (env[name] !== undefined) out[name] = env[name]!;
  }
  return out;
}

/** Prints build events as the classic `docker build` does. */
export class BuildPrinter {
  private readonly containers = new Map<number, string>();
  private atLineStart = true;

  constructor(private readonly io: Pick<CliIO, 'stdout' | 'stderr'>) {}

  private line(s: string): void {
    if (!this.atLineStart) this.io.stdout('\n');
    this.io.stdout(`${s}\n`);
    this.atLineStart = true;
  }

  event(e: BuildEvent): void {
    switch (e.type) {
      case 'step':
        this.line(`Step ${e.step}/${e.total} : ${e.instruction}`);
        break;
      case 'cached':
        this.line(' ---> Using cache');
        break;
      case 'running':
        this.containers.set(e.step, e.container);
        this.line(` ---> Running in ${e.container.slice(0, 12)}`);
        break;
      case 'output': {
        const text = Buffer.from(e.data, 'base64').toString('utf8');
        if (text) {
          this.io.stdout(text);
          this.atLineStart = text.endsWith('\n');
        }
        break;
      }
      case 'removed':
        this.line(`Removing intermediate container ${e.container.slice(0, 12)}`);
        break;
      case 'result':
        this.line(` ---> ${e.id.replace(/^sha256:/, '').slice(0, 12)}`);
        break;
      case 'message':
        this.line(` ---> ${e.message}`);
        break;
      case 'warning':
        if (!this.atLineStart) this.io.stdout('\n');
        this.atLineStart = true;
        this.io.stderr(`[Warning] ${e.message}\n`);
        break;
    }
  }

  done(r: BuildResult): void {
    this.line(`Successfully built ${r.Id.replace(/^sha256:/, '').slice(0, 12)}`);
    for (const t of r.tags) this.line(`Successfully tagged ${t}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    size += (c as Buffer).length;
    if (size > MAX_STDIN_DOCKERFILE) throw new UsageError(`the Dockerfile on stdin is larger than ${MAX_STDIN_DOCKERFILE} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export const build: Command = {
  name: 'build',
  summary: 'Build an image from a Dockerfile',
  operands: 'CONTEXT',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'tag', short: 't', type: 'strings', value: 'NAME[:TAG]', help: 'Tag the image (repeatable)' },
    { name: 'file', short: 'f', type: 'string', value: 'FILE', help: "The Dockerfile (default CONTEXT/Dockerfile; '-' reads stdin)" },
    { name: 'build-arg', type: 'strings', value: 'NAME=VALUE', help: 'Set a build argument (repeatable)' },
    { name: 'target', type: 'string', value: 'STAGE', help: 'Build up to this stage' },
    { name: 'no-cache', type: 'boolean', help: 'Run every step, ignoring the build cache' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'Print only the image ID' },
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const contextDir = resolve(io.cwd, p.args[0]!);
    const file = flagString(p, 'file');
    const quiet = flagBool(p, 'quiet');
    const buildArgs = parseBuildArgs(flagStrings(p, 'build-arg'), io.env);
    let dockerfile: string | undefined;
    let dockerfileContent: string | undefined;
    if (file === '-') {
      dockerfileContent = await readStdin();
    } else if (file !== undefined) {
      if (file === '') throw new UsageError('-f needs a file name');
      dockerfile = resolve(io.cwd, file);
    }
    const client = await ctx.connect();
    const printer = new BuildPrinter(io);
    const result = await longRequest(client, io, {
      name: 'build',
      request: BuildImageRequest.type,
      params: (progressToken) => ({
        contextDir,
        ...(dockerfile !== undefined ? { dockerfile } : {}),
        ...(dockerfileContent !== undefined ? { dockerfileContent } : {}),
        tags: flagStrings(p, 'tag'),
        buildArgs,
        target: flagString(p, 'target'),
        noCache: flagBool(p, 'no-cache'),
        progressToken,
      }),
      progress: BuildProgressNotification.type,
      onProgress: (n) => {
        if (!quiet || n.event.type === 'warning') printer.event(n.event);
      },
      // Long enough for the agent to stop the step and remove its container.
      cancelWaitMs: CANCEL_WAIT_MS,
    });
    if (result === 'interrupted') return 130;
    if (quiet) io.stdout(`${result.Id}\n`);
    else printer.done(result);
    return 0;
  },
};
