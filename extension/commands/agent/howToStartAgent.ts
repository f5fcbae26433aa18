/** How to Start the Agent: the command to run and the systemd unit shipped with Berth. */
import type { Context } from '../../context';

export function howToStartAgent(ctx: Context) {
  return (): Promise<void> => ctx.explainHowToStart();
}
