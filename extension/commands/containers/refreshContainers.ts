/** Refresh and grouping of the Containers view. */
import type { Context } from '../../context';

export function refreshContainers(ctx: Context) {
  return async (): Promise<void> => {
    await ctx.trees.containers.refresh();
  };
}

export function groupContainersByImage(ctx: Context) {
  return () => ctx.trees.setGroupBy('image');
}

export function groupContainersByState(ctx: Context) {
  return () => ctx.trees.setGroupBy('state');
}
