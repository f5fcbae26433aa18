/**
 * Telling failures apart, for every client: whether an error is the agent's answer (and with which
 * code), and what a failure looks like to the user (one sentence) and in a log (the details: error
 * code, structured data). Plain TypeScript; each client words the few cases that are not the
 * agent's own sentences (the extension's messages, the CLI's one line).
 */
import { ResponseError } from 'vscode-jsonrpc';
import { ErrorCode, errorCodeName, type ErrorData } from '../protocol';
import { ConnectionLostError, IncompatibleAgentError, NotConnectedError } from './connection';

export type Failure =
  | { kind: 'agent'; message: string; code: number; codeName: string; data?: ErrorData }
  | { kind: 'cancelled'; message: string }
  | { kind: 'notConnected'; message: string }
  | { kind: 'connectionLost'; message: string }
  | { kind: 'incompatible'; message: string }
  | { kind: 'other'; message: string; stack?: string };

/**
 * Whether `err` is an error the agent answered with (a JSON-RPC error response), with one of
 * `codes` when any are given: what a client may report per operand and carry on after, unlike a
 * lost connection or its own bug.
 */
export function isAgentError(err: unknown, ...codes: number[]): err is ResponseError<ErrorData | undefined> {
  return err instanceof ResponseError && (codes.length === 0 || codes.includes(err.code));
}

export function classify(err: unknown): Failure {
  if (err instanceof ResponseError) {
    if (err.code === ErrorCode.Cancelled) return { kind: 'cancelled', message: err.message };
    return {
      kind: 'agent',
      message: sentence(err.message),
      code: err.code,
      codeName: errorCodeName(err.code),
      data: err.data as ErrorData | undefined,
    };
  }
  if (err instanceof NotConnectedError) return { kind: 'notConnected', message: err.message };
  if (err instanceof ConnectionLostError) return { kind: 'connectionLost', message: err.message };
  if (err instanceof IncompatibleAgentError) return { kind: 'incompatible', message: err.message };
  const e = err instanceof Error ? err : new Error(String(err));
  return { kind: 'other', message: sentence(e.message), stack: e.stack };
}

/** The details line for the output channel: code name and number, then the structured data. */
export function detailLine(f: Failure): string {
  if (f.kind === 'agent') return `${f.codeName} (${f.code})${f.data ? ` ${JSON.stringify(f.data)}` : ''}`;
  if (f.kind === 'other' && f.stack) return f.stack;
  return f.kind;
}

/** "pull x: registry answered 401" -> "Pull x: registry answered 401." */
export function sentence(s: string): string {
  const t = s.trim();
  if (!t) return t;
  const first = t[0]!.toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}
