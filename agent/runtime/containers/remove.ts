import { BerthError, ErrorCode } from '../../errors';
import { type ContainerCore, killNow } from './core';
export async function removeContainer(svc: ContainerCore, ref: string, force = false, volumes = false): Promise<void> {
  const op = 'remove container';
  const rec = svc.find(ref, op);
  if (svc.held.has(rec.id))
    throw new BerthError(
      ErrorCode.Conflict,
      `${op}: files are being copied to or from container ${rec.name}; try again when the copy is done`,
      { operation: op },
    );
  const live = svc.live.get(rec.id);
  if (live || svc.starting.has(rec.id)) {
    if (!force || !live) {
      throw new BerthError(ErrorCode.Conflict, `${op}: container ${rec.name} is running; stop it first or use --force`, {
        operation: op,
      });
    }
    await killNow(svc, rec, live);
  }
  await svc.netTeardowns.get(rec.id);
  if (svc.records.has(rec.id)) svc.removeRecord(rec, volumes);
}
