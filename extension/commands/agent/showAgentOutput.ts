/** Show Output: the "Berth" output channel (connection log and error details). */
import type { Context } from '../../context';

export function showAgentOutput(ctx: Context) {
  return (): void => ctx.output.show(true);
}
