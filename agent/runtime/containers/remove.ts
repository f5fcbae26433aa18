import { constants as osConstants } from 'node:os';
import { BerthError, ErrorCode } from '../../errors';
import type { ContainerCore } from './core';
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
    svc.emit('kill', rec, { signal: String(osConstants.signals.SIGKILL) });
    live.launched.kill('SIGKILL');
    // A failure to kill the rest of the group is said, not thrown: the init's exit (awaited next) is what counts.
    await live.cgroup
      .killAll('SIGKILL')
      .catch((e: Error) => svc.log(`killing the processes of container ${rec.id.slice(0, 12)}: ${e.message}`));
    await live.done;
  }
  await svc.netTeardowns.get(rec.id);
  if (svc.records.has(rec.id)) svc.removeRecord(rec, volumes);
}
