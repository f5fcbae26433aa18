/** Assertions about the agent's typed errors and the CLI's results, shared by the integration tests. */
import assert from 'node:assert/strict';
import type { CliResult } from './agent';

export type AgentError = Error & { code: number; data: Record<string, unknown> };

/**
 * Awaits `p`, which must reject with a JSON-RPC error carrying `code` (an ErrorCode, or one of
 * JSON-RPC's own codes) and, when given, a message matching `re`. Returns the error.
 */
export async function expectAgentError(p: Promise<unknown>, code: number, re?: RegExp): Promise<AgentError> {
  try {
    await p;
  } catch (err) {
    const e = err as AgentError;
    assert.equal(e.code, code, `expected error code ${code}, got ${e.code}: ${e.message}`);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected an error with code ${code}`);
}

/** `r` must be a success (exit 0); otherwise fails naming `what` with the CLI's output. Returns `r`. */
export function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}
