/**
 * Run Image... on a saved image archive (`.tar` in the Explorer): the archive is loaded (as Load
 * Image does), then the usual Run Image questions follow for the image it held. Also the "Run"
 * that follows a build (runReference).
 */
import * as vscode from 'vscode';
import { familiarRef } from '../../../client/format';
import type { Context } from '../../context';
import type { ImageLeaf } from '../../tree/images/model';
import { loadArchive } from './loadImage';
import { runImage } from './runImage';

/** The Images view's leaf for a tag or an image ID, once the view has caught up. */
export async function leafFor(ctx: Context, ref: string): Promise<ImageLeaf | undefined> {
  await ctx.trees.images.refresh();
  const want = ref.startsWith('sha256:') ? ref : familiarRef(ref);
  return ctx.trees.images.images().find((l) => l.image.Id === want || (l.kind === 'tag' && familiarRef(l.reference) === want));
}

/** Runs the image `ref` (a tag or an image ID) with the Run Image questions. */
export async function runReference(ctx: Context, ref: string): Promise<void> {
  const leaf = await leafFor(ctx, ref);
  if (!leaf) {
    void vscode.window.showErrorMessage(vscode.l10n.t('{0} is not in the store any more.', ref));
    return;
  }
  await runImage(ctx)(leaf);
}

export function runArchive(ctx: Context) {
  return async (resource?: unknown): Promise<void> => {
    try {
      const loaded = await loadArchive(ctx, resource, vscode.l10n.t('Run Image from an Archive'));
      if (!loaded) return;
      const { path, result } = loaded;
      const refs = result.tags.length ? result.tags : result.images.map((i) => i.Id);
      if (refs.length === 0) {
        void vscode.window.showErrorMessage(vscode.l10n.t('{0} holds no image.', path));
        return;
      }
      const ref =
        refs.length === 1
          ? refs[0]
          : (
              await vscode.window.showQuickPick(
                refs.map((r) => ({ label: r.startsWith('sha256:') ? r.slice(7, 19) : familiarRef(r), ref: r })),
                { placeHolder: vscode.l10n.t('The archive holds several images: which to run?') },
              )
            )?.ref;
      if (ref) await runReference(ctx, ref);
    } catch (err) {
      ctx.reportError(err);
    }
  };
}
