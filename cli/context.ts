/**
 * What every command handler gets: where to write, what the terminal is, and a way to reach the
 * agent. `main()` builds it from the process, tests build it from buffers.
 */
import { isAgentError } from '../client/errors';
import type { FlagSpec, ParsedArgs } from './args';
import type { AgentClient, ConnectOptions } from './client';

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Terminal width, when stderr is a terminal. */
  columns?: number;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Registers a Ctrl-C handler; returns a function that removes it. */
  onInterrupt: (handler: () => void) => () => void;
  /** Current time in ms (ages are computed against it). */
  now: () => number;
}

export interface Context {
  io: CliIO;
  /** Connects to the agent (closed by main() when the command returns). */
  connect(opts?: Pick<ConnectOptions, 'autostart'>): Promise<AgentClient>;
}

export interface Command {
  name: string;
  /** One line for `berth --help`. */
  summary: string;
  /** Operands for the usage line: "REF [REF...]". */
  operands: string;
  flags: FlagSpec[];
  minArgs: number;
  /** Infinity for "any number". */
  maxArgs: number;
  run(ctx: Context, p: ParsedArgs): Promise<number>;
  /** Flags end at the first operand (the rest is the container's command). */
  stopAtOperand?: boolean;
}

/** `--format` as every listing accepts it. */
export const FORMAT_FLAG: FlagSpec = {
  name: 'format',
  type: 'string',
  value: 'FORMAT',
  help: "Output 'json', or a Go-like template ('{{.Id}}', '{{json .}}', 'table {{.Id}}\\t{{.Size}}')",
};

/** A failure found by the CLI itself, not the agent: printed as "Error: ..." with exit code 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The one line printed on stderr for a failure, without a stack. */
export function errorLine(err: unknown): string {
  if (err instanceof Error && err.name === 'AgentUnreachableError') return err.message;
  const msg = err instanceof Error ? err.message : String(err);
  return `Error: ${msg.split('\n')[0]}`;
}

/**
 * Docker's habit for verbs taking several operands (stop, rm, rmi ...): each one is tried in turn;
 * `fn` prints what succeeded, an agent error prints one line on stderr and the others still run;
 * the exit code is 1 when any failed. Errors that are not the agent's (a lost connection) end it.
 */
export async function eachOperand(io: CliIO, operands: string[], fn: (operand: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const operand of operands) {
    try {
      await fn(operand);
    } catch (err) {
      if (!isAgentError(err)) throw err;
      io.stderr(errorLine(err) + '\n');
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
