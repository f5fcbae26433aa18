/** Show Changes: what the container changed in its writable layer (`container/diff`), in a read-only document. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { documentUri } from '../../documents/ReadonlyDocumentProvider';
import { openReadonly } from '../images/inspectImage';
import { targetContainers } from './pickContainer';

export function showContainerChanges(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [n] = (await targetContainers(ctx, node, undefined, { placeHolder: vscode.l10n.t('Container whose changes to show') })) ?? [];
    if (!n) return;
    await openReadonly(ctx, documentUri('changes', n.name));
  };
}
