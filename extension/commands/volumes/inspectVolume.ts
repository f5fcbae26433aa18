/** Inspect Volume: the `volume/inspect` JSON in a read-only editor. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { documentUri } from '../../documents/ReadonlyDocumentProvider';
import { openReadonly } from '../images/inspectImage';
import { targetVolumes } from './pickVolume';

export function inspectVolume(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [n] = (await targetVolumes(ctx, node, undefined, vscode.l10n.t('Volume to inspect'))) ?? [];
    if (!n) return;
    await openReadonly(ctx, documentUri('volume', n.name));
  };
}
