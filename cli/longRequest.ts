/**
 * The CLI's long requests with progress (pull, push, build, up), in one place: the request is
 * sent with a fresh progress token and a cancellation token; the notifications carrying that
 * token go to `onProgress`; Ctrl-C (io.onInterrupt) cancels the request, then waits, bounded by
 * `cancelWaitMs`, for the agent to answer (so what it was doing is left consistent), saying so on
 * stderr when the agent did not confirm in time. A second Ctrl-C stops that wait. The caller
 * prints the result, or returns 130 on `'interrupted'`.
 *
 * Errors of the request (the agent's typed errors, a lost connection) are thrown as they come.
 */
import { CancellationTokenSource, type NotificationType, type RequestType } from 'vscode-jsonrpc/node';
import type { AgentClient } from './client';
import type { CliIO } from './context';

export interface LongRequest<P, R, N extends { token: string }> {
  request: RequestType<P, R, unknown>;
  /** The params, given the progress token to send in them. */
  params: (progressToken: string) => P;
  progress: NotificationType<N>;
  /** Each notification carrying this request's token. */
  onProgress: (n: N) => void;
  /** Names the token ("berth-cli-NAME-PID-RANDOM"), for the agent's log. */
  name: string;
  /** How long to wait for the agent to confirm a cancellation, ms. */
  cancelWaitMs: number;
  /**
   * Called once the answer or the interrupt has come, before anything more is printed, and
   * again at the end whatever happened (so it must be idempotent): ends a progress display.
   */
  finish?: () => void;
}

/** Sends `r` (see the file comment); resolves with the result, or 'interrupted' after Ctrl-C. */
export async function longRequest<P, R, N extends { token: string }>(
  client: AgentClient,
  io: Pick<CliIO, 'onInterrupt' | 'stderr'>,
  r: LongRequest<P, R, N>,
): Promise<R | 'interrupted'> {
  const token = `berth-cli-${r.name}-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const sub = client.onNotification(r.progress, (n) => {
    if (n.token === token) r.onProgress(n);
  });
  const cts = new CancellationTokenSource();
  let wake = (): void => {};
  const interrupted = () => new Promise<'interrupted'>((res) => (wake = () => res('interrupted')));
  const off = io.onInterrupt(() => {
    cts.cancel();
    wake();
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const req = client.request(r.request, r.params(token), cts.token);
    const settled = req.then(
      () => 'settled' as const,
      () => 'settled' as const,
    );
    const first = await Promise.race([req, interrupted()]);
    r.finish?.();
    if (first !== 'interrupted') return first as R;
    const timeout = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), r.cancelWaitMs)));
    const how = await Promise.race([settled, timeout, interrupted()]);
    if (how === 'timeout') io.stderr(`berth: the agent did not confirm the cancellation within ${r.cancelWaitMs / 1000} s\n`);
    return 'interrupted';
  } finally {
    r.finish?.();
    if (timer) clearTimeout(timer);
    off();
    sub.dispose();
    cts.dispose();
  }
}
