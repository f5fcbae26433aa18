/**
 * The `berth` CLI: Docker-like verbs, each one agent request. `main()` is the whole program as a
 * function (tests call it with their own IO); at the bottom, the process entry point.
 *
 * Exit status: 0 success; 1 the agent or the operation failed; 2 usage error; 130 interrupted.
 */
import { resolve } from 'node:path';
import { parseArgs, formatFlagHelp, UsageError, type ParsedArgs } from './args';
import { connectAgent, type AgentClient } from './client';
import { CliError, errorLine, type CliIO, type Command, type Context } from './context';
import { TemplateError } from '../client/format';
import { agent } from './commands/agent';
import { create } from './commands/create';
import { exec } from './commands/exec';
import { kill } from './commands/kill';
import { logs } from './commands/logs';
import { ps } from './commands/ps';
import { port } from './commands/port';
import { rm } from './commands/rm';
import { run } from './commands/run';
import { start } from './commands/start';
import { stop } from './commands/stop';
import { wait } from './commands/wait';
import { events } from './commands/events';
import { history } from './commands/history';
import { images } from './commands/images';
import { inspect } from './commands/inspect';
import { load } from './commands/load';
import { pull } from './commands/pull';
import { push } from './commands/push';
import { rmi } from './commands/rmi';
import { save } from './commands/save';
import { tag } from './commands/tag';
import { CLIENT_VERSION, version } from './commands/version';
import { info } from './commands/info';
import { commit } from './commands/commit';
import { check } from './commands/check';
import { diff } from './commands/diff';
import { cp } from './commands/cp';
import { containerPrune, imagePrune } from './commands/prune';
import { restart } from './commands/restart';
import { stats } from './commands/stats';
import { top } from './commands/top';
import { volumeCreate, volumeInspect, volumeLs, volumePrune, volumeRm } from './commands/volume';
import { build } from './commands/build';
import { up } from './commands/up';
import { down } from './commands/down';
import { dockerEnv } from './commands/dockerEnv';

export type { CliIO } from './context';

/** Every verb, in the order `berth --help` lists them. */
export const COMMANDS: readonly Command[] = [
  run,
  exec,
  create,
  start,
  stop,
  kill,
  rm,
  ps,
  port,
  logs,
  wait,
  pull,
  push,
  build,
  images,
  inspect,
  history,
  tag,
  rmi,
  save,
  load,
  events,
  version,
  info,
  agent,
  restart,
  top,
  stats,
  diff,
  cp,
  commit,
  containerPrune,
  imagePrune,
  volumeCreate,
  volumeLs,
  volumeInspect,
  volumeRm,
  volumePrune,
  check,
  up,
  down,
  dockerEnv,
];

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage:  berth [--help | --version] COMMAND [OPTIONS] [ARGS...]

Images and containers without a daemon. The CLI talks to the Berth agent over its Unix socket
($BERTH_SOCKET, else $BERTH_ROOT/agent.sock, else /run/berth/agent.sock); run as root, it starts
an agent in the background when none answers (log: <root>/agent.log).

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`).join('\n')}

Run 'berth COMMAND --help' for more information on a command.

Exit status:
  0     success
  1     the agent or the operation failed (one "Error: ..." line on stderr)
  2     usage error (unknown command or flag, wrong number of arguments)
  130   interrupted (Ctrl-C)

Environment:
  BERTH_ROOT, BERTH_SOCKET   where the agent keeps its state and listens
  BERTH_DOCKER_SOCKET        the agent's Docker-compatible API socket (empty: none); see docker-env
  BERTH_NO_AUTOSTART=1       never start an agent in the background
  BERTH_DEBUG=1              print stack traces of unexpected errors
`;
}

export function commandHelp(c: Command): string {
  return `Usage:  berth ${c.name}${c.flags.length ? ' [OPTIONS]' : ''}${c.operands ? ` ${c.operands}` : ''}

${c.summary}

Options:
${formatFlagHelp(c.flags)}
`;
}

function processIO(): CliIO {
  return {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    columns: process.stderr.isTTY ? process.stderr.columns : undefined,
    env: process.env,
    cwd: process.cwd(),
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => void process.off('SIGINT', handler);
    },
    now: () => Date.now(),
  };
}

function checkArity(c: Command, p: ParsedArgs): void {
  const n = p.args.length;
  const plural = (k: number) => `${k} argument${k === 1 ? '' : 's'}`;
  if (c.minArgs === c.maxArgs && n !== c.minArgs) {
    throw new UsageError(
      c.minArgs === 0 ? `"berth ${c.name}" accepts no arguments` : `"berth ${c.name}" requires exactly ${plural(c.minArgs)}`,
    );
  }
  if (n < c.minArgs) throw new UsageError(`"berth ${c.name}" requires at least ${plural(c.minArgs)}`);
  if (n > c.maxArgs) throw new UsageError(`"berth ${c.name}" requires at most ${plural(c.maxArgs)}`);
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit status. */
export async function main(argv: readonly string[], ioOverrides: Partial<CliIO> = {}): Promise<number> {
  const io: CliIO = { ...processIO(), ...ioOverrides };
  const verb = argv[0];
  if (verb === undefined || verb === '--help' || verb === '-h' || (verb === 'help' && argv.length === 1)) {
    io.stdout(usage());
    return EXIT_OK;
  }
  if (verb === '--version' || verb === '-v') {
    io.stdout(`berth version ${CLIENT_VERSION}\n`);
    return EXIT_OK;
  }
  if (verb === 'help') return main([argv[1]!, '--help'], io);
  if (verb.startsWith('-')) {
    io.stderr(`berth: unknown flag: ${verb}\nSee 'berth --help'.\n`);
    return EXIT_USAGE;
  }
  // Two-word verbs ("container prune") first, then one-word ones.
  const twoWord = argv.length > 1 ? COMMANDS.find((c) => c.name === `${verb} ${argv[1]}`) : undefined;
  const cmd = twoWord ?? COMMANDS.find((c) => c.name === verb);
  if (!cmd) {
    io.stderr(`berth: '${verb}' is not a berth command.\nSee 'berth --help'.\n`);
    return EXIT_USAGE;
  }

  const clients: AgentClient[] = [];
  const ctx: Context = {
    io,
    async connect(opts) {
      const c = await connectAgent({ autostart: opts?.autostart, env: io.env });
      clients.push(c);
      return c;
    },
  };
  try {
    const parsed = parseArgs(argv.slice(twoWord ? 2 : 1), cmd.flags, { stopAtOperand: cmd.stopAtOperand });
    if (parsed.flags.help) {
      io.stdout(commandHelp(cmd));
      return EXIT_OK;
    }
    checkArity(cmd, parsed);
    return await cmd.run(ctx, parsed);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`berth ${cmd.name}: ${err.message}\nSee 'berth ${cmd.name} --help'.\n`);
      return EXIT_USAGE;
    }
    if (err instanceof TemplateError) {
      io.stderr(`Error: template: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CliError) {
      io.stderr(`${err.message}\n`);
      return err.exitCode;
    }
    io.stderr(errorLine(err) + '\n');
    if (io.env.BERTH_DEBUG && err instanceof Error && err.stack) io.stderr(err.stack + '\n');
    return EXIT_FAILED;
  } finally {
    for (const c of clients) c.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Process entry: bin/berth loads the bundle (dist/berth.js); `node --import tsx cli/main.ts` runs
// the source. Imported by tests, it does nothing.
// ---------------------------------------------------------------------------------------------

declare const BERTH_VERSION: string;

function isEntryPoint(): boolean {
  if (typeof BERTH_VERSION !== 'undefined') return true; // the bundle only exists to be run
  if (require.main === module) return true;
  const script = process.argv[1];
  return script !== undefined && resolve(script) === __filename;
}

if (isEntryPoint()) {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT_OK); // `berth images | head`
  });
  void main(process.argv.slice(2)).then((code) => {
    // Exit once the output is flushed, whatever handles remain (a background agent is unref'd).
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}
