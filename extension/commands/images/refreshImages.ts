/** Refresh: lists the images again (events keep the tree current; this is for peace of mind). */
import type { Context } from '../../context';

export function refreshImages(ctx: Context) {
  return async (): Promise<void> => {
    await ctx.trees.images.refresh();
  };
}
