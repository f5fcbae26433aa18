/** Reconnect to Agent: try now instead of waiting for the next attempt. */
import type { Context } from '../../context';

export function reconnectAgent(ctx: Context) {
  return (): void => ctx.agent.reconnect();
}
