import { BerthError, ErrorCode } from '../../errors';
import { type ContainerCore, type ExitResult, killNow, parseSignal, DEFAULT_STOP_TIMEOUT_S } from './core';
export async function stopContainer(svc: ContainerCore, ref: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_S): Promise<void> {
  const op = 'stop container';
  const rec = svc.find(ref, op);
  const live = svc.live.get(rec.id);
  if (!live) return;
  live.stopping = true;
  const [sig, num] = parseSignal(rec.process.stopSignal || 'SIGTERM', op);
  svc.emit('kill', rec, { signal: String(num) });
  live.launched.kill(sig);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    live.done.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, timeoutSeconds) * 1000))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    await killNow(svc, rec, live);
  }
}

export function killContainer(svc: ContainerCore, ref: string, signal = 'SIGKILL'): void {
  const op = 'kill container';
  const rec = svc.find(ref, op);
  const [sig, num] = parseSignal(signal, op);
  const live = svc.live.get(rec.id);
  if (!live) throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is not running`, { operation: op });
  svc.emit('kill', rec, { signal: String(num) });
  live.launched.kill(sig);
}

export function waitContainer(
  svc: ContainerCore,
  ref: string,
  condition: 'not-running' | 'next-exit' = 'not-running',
  signal?: AbortSignal,
): Promise<ExitResult> {
  const op = 'wait container';
  const rec = svc.find(ref, op);
  if (condition === 'not-running' && !svc.live.has(rec.id) && !svc.starting.has(rec.id)) {
    return Promise.resolve({
      exitCode: rec.state.exitCode,
      oomKilled: rec.state.oomKilled,
      ...(rec.state.error ? { error: rec.state.error } : {}),
    });
  }
  return new Promise((resolve, reject) => {
    let set = svc.waiters.get(rec.id);
    if (!set) svc.waiters.set(rec.id, (set = new Set()));
    const w = (r: ExitResult) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const onAbort = () => {
      set!.delete(w);
      reject(new BerthError(ErrorCode.Cancelled, `${op}: cancelled`, { operation: op }));
    };
    set.add(w);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
