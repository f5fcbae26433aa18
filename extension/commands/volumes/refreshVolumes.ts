/** Refresh Volumes: lists again (the tree follows the agent's events by itself; this is for the impatient). */
import type { Context } from '../../context';

export function refreshVolumes(ctx: Context) {
  return (): Promise<void> => ctx.trees.volumes.refresh();
}
