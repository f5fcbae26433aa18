/** Inspect: the `container/inspect` JSON in a read-only editor. */
import * as vscode from 'vscode';
import type { Context } from '../../context';
import { documentUri } from '../../documents/ReadonlyDocumentProvider';
import { openReadonly } from '../images/inspectImage';
import { targetContainers } from './pickContainer';

export function inspectContainer(ctx: Context) {
  return async (node?: unknown): Promise<void> => {
    const [n] = (await targetContainers(ctx, node, undefined, { placeHolder: vscode.l10n.t('Container to inspect') })) ?? [];
    if (!n) return;
    await openReadonly(ctx, documentUri('container', n.name));
  };
}
