/** `container/restart`: stop (with the stop timeout), then start; emits `restart` after `start`. */
import type { ContainerService } from './service';

export async function restartContainer(svc: ContainerService, ref: string, timeoutSeconds?: number): Promise<void> {
  const rec = svc.find(ref, 'restart container');
  await svc.stop(rec.id, timeoutSeconds);
  await svc.start(rec.id);
  svc.emitEvent('restart', rec);
}
