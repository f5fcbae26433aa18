/**
 * `berth up [FOLDER]`: the folder's dev container (devcontainer.json) brought up by the agent
 * (`workspace/up`), reused when its configuration is unchanged. What happens is printed as it
 * happens: steps and pull/build progress on stderr, the lifecycle commands' output on stdout and
 * stderr as they write it; then a summary on stdout (or, with `--format json`, the answer alone).
 * The folder defaults to the current directory; it is sent as an absolute path and the agent reads
 * it as the caller may.
 */
import { resolve } from 'node:path';
import { WorkspaceProgressNotification, type WorkspaceEvent, type WorkspaceUpResult } from '../../protocol';
import { WorkspaceUpRequest } from '../../protocol';
import { flagBool, flagString, UsageError } from '../args';
import type { CliIO, Command } from '../context';
import { longRequest } from '../longRequest';
import { PullProgressRenderer } from '../progress';
import { BuildPrinter } from './build';

/** How long to wait for the agent to confirm a cancelled up. */
const CANCEL_WAIT_MS = 10_000;

/** Prints workspace events: steps on stderr, command output where the command wrote it. */
export class WorkspacePrinter {
  private readonly build: BuildPrinter;
  private pulls?: PullProgressRenderer;

  constructor(
    private readonly io: Pick<CliIO, 'stdout' | 'stderr' | 'stderrIsTTY' | 'columns'>,
    private readonly quiet: boolean,
  ) {
    // The build's own lines go to stderr too: stdout is for the result.
    this.build = new BuildPrinter({ stdout: io.stderr, stderr: io.stderr });
  }

  event(e: WorkspaceEvent): void {
    if (e.type !== 'pull') this.finishPull();
    switch (e.type) {
      case 'message':
        if (!this.quiet) this.io.stderr(`${e.message}\n`);
        break;
      case 'pull':
        if (this.quiet) return;
        this.pulls ??= new PullProgressRenderer({ write: this.io.stderr, isTTY: this.io.stderrIsTTY, columns: this.io.columns });
        this.pulls.update(e.layer);
        break;
      case 'build':
        if (!this.quiet || e.event.type === 'warning') this.build.event(e.event);
        break;
      case 'command':
        if (!this.quiet) this.io.stderr(`Running ${e.command}${e.part ? ` "${e.part}"` : ''}: ${shellWords(e.argv)}\n`);
        break;
      case 'output': {
        // Shown even with -q: a failing command's output is what explains the failure.
        const text = Buffer.from(e.data, 'base64').toString('utf8');
        (e.stream === 'stderr' ? this.io.stderr : this.io.stdout)(text);
        break;
      }
      case 'exit':
        if (e.exitCode !== 0) this.io.stderr(`${e.command}${e.part ? ` "${e.part}"` : ''} exited with code ${e.exitCode}\n`);
        break;
    }
  }

  finishPull(): void {
    this.pulls?.finish();
    this.pulls = undefined;
  }
}

/** argv as a person would type it ("/bin/sh -c 'echo hi'"). */
function shellWords(argv: readonly string[]): string {
  if (argv.length === 3 && argv[0] === '/bin/sh' && argv[1] === '-c') return argv[2];
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The summary lines of a successful up. */
export function upSummary(r: WorkspaceUpResult): string {
  const lines: string[] = [];
  if (r.ignored.length) lines.push(`Ignored devcontainer.json keys (not supported by Berth): ${r.ignored.join(', ')}`);
  for (const p of r.ports) {
    lines.push(
      `Forwarding ${p.hostIp}:${p.hostPort} -> ${p.containerPort}/tcp${p.hostPort !== p.containerPort ? ` (port ${p.containerPort} was in use on the host)` : ''}`,
    );
  }
  const how: Record<WorkspaceUpResult['action'], string> = {
    created: 'created',
    recreated: 'recreated',
    started: 'started',
    running: 'already running, reused',
  };
  lines.push(
    `Workspace container ${r.container.Name} (${r.container.Id.slice(0, 12)}) ${how[r.action]}: ${r.folder} is at ${r.workspaceFolder}`,
  );
  return lines.join('\n') + '\n';
}

export const up: Command = {
  name: 'up',
  summary: "Create or start a folder's dev container (devcontainer.json)",
  operands: '[FOLDER]',
  minArgs: 0,
  maxArgs: 1,
  flags: [
    { name: 'rebuild', type: 'boolean', help: 'Build or pull again and recreate the container even if the configuration is unchanged' },
    { name: 'no-cache', type: 'boolean', help: 'With a Dockerfile: run every build step, ignoring the build cache' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'Print only the container ID (and lifecycle command output)' },
    { name: 'format', type: 'string', value: 'json', help: "'json': print the agent's answer as JSON" },
  ],
  async run(ctx, p) {
    const { io } = ctx;
    const folder = resolve(io.cwd, p.args[0] ?? '.');
    const format = flagString(p, 'format');
    if (format !== undefined && format !== 'json') throw new UsageError(`--format takes only "json", got "${format}"`);
    const quiet = flagBool(p, 'quiet') || format === 'json';
    const client = await ctx.connect();
    const printer = new WorkspacePrinter(io, quiet);
    const localEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(io.env)) if (typeof v === 'string') localEnv[k] = v;
    const result = await longRequest(client, io, {
      name: 'up',
      request: WorkspaceUpRequest.type,
      params: (progressToken) => ({ folder, rebuild: flagBool(p, 'rebuild'), noCache: flagBool(p, 'no-cache'), localEnv, progressToken }),
      progress: WorkspaceProgressNotification.type,
      onProgress: (n) => printer.event(n.event),
      cancelWaitMs: CANCEL_WAIT_MS,
      finish: () => printer.finishPull(),
    });
    if (result === 'interrupted') return 130;
    if (format === 'json') io.stdout(JSON.stringify(result, null, 2) + '\n');
    else if (flagBool(p, 'quiet')) io.stdout(`${result.container.Id}\n`);
    else io.stdout(upSummary(result));
    return 0;
  },
};
