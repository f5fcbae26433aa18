/**
 * A launched container as the runtime holds it, whether the helper has just started it
 * (helper.ts) or the agent has re-attached to its monitor after a restart (monitor.ts): its pids,
 * its exit, its stdio. Types only, so both sides share them without importing each other.
 */
import type { Readable, Writable } from 'node:stream';

export interface ExitStatus {
  /** The exit code, or 128 + the signal's number when killed. */
  code: number;
  /** The signal that killed the container's init ("SIGKILL"), if one did. */
  signal?: string;
  /** Its monitor went away without reporting the exit: the code (255) is not the container's. */
  lost?: boolean;
}

export interface LaunchedContainer {
  /** The container's init, in the agent's pid namespace. */
  pid: number;
  /** The helper that monitors it (its parent). */
  helperPid: number;
  /** Settles when the container's init has exited and the helper has reported it. */
  exited: Promise<ExitStatus>;
  /** Sends a signal to the container's init (SIGKILL included; the helper survives and reports). */
  kill(signal?: NodeJS.Signals | number): void;
  /** Sets the pty's window size (plans with a tty, launched with `control`); ignored otherwise. */
  resize(rows: number, cols: number): void;
  /** The container's stdio, where 'pipe' was asked for (with a tty: the pty's input and output). */
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
}
