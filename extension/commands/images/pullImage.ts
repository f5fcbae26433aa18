/**
 * Pull Image...: asks for a reference, pulls it with per-layer progress in a cancellable
 * notification. Cancelling sends `$/cancelRequest`; the agent stops and leaves the store consistent.
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { familiarRef, humanSize } from '../../../client/format';
import { PullRequest } from '../../../protocol';
import { classify } from '../../../client/errors';
import type { Context } from '../../context';
import { PullProgressTracker } from './pullProgress';

export function pullImage(ctx: Context) {
  return async (reference?: unknown): Promise<void> => {
    const ref =
      typeof reference === 'string'
        ? reference
        : await vscode.window.showInputBox({
            title: vscode.l10n.t('Pull Image'),
            prompt: vscode.l10n.t('The image to pull: a name, name:tag, or registry/name@sha256:...'),
            placeHolder: vscode.l10n.t('e.g. busybox, alpine:3.20, 127.0.0.1:5000/team/app:v1'),
            ignoreFocusOut: true,
            validateInput: (v) => (/^\S+$/.test(v.trim()) ? undefined : vscode.l10n.t('Enter an image reference without spaces')),
          });
    if (!ref?.trim()) return;
    const name = ref.trim();
    const token = randomUUID();
    const tracker = new PullProgressTracker();
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Pulling {0}', name), cancellable: true },
        async (progress, cancel) => {
          const sub = ctx.agent.onPullProgress((p) => {
            if (p.token !== token) return;
            tracker.update(p.layer);
            const s = tracker.summary();
            const bytes = s.total > 0 ? vscode.l10n.t('{0} of {1}', humanSize(s.current), humanSize(s.total)) : '';
            const layers = vscode.l10n.t('{0}/{1} layers', s.doneLayers, s.layers);
            const retry = s.retrying ? vscode.l10n.t('retrying: {0}', s.retrying) : '';
            progress.report({ increment: tracker.increment(), message: [layers, bytes, retry].filter(Boolean).join(' · ') });
          });
          try {
            return await ctx.agent.request(PullRequest.type, { reference: name, progressToken: token }, cancel);
          } finally {
            sub.dispose();
          }
        },
      );
      const shown = familiarRef(result.image.RepoTags[0] ?? name);
      void vscode.window.showInformationMessage(
        result.upToDate ? vscode.l10n.t('{0} is up to date.', shown) : vscode.l10n.t('Pulled {0}.', shown),
      );
    } catch (err) {
      if (classify(err).kind === 'cancelled') {
        void vscode.window.showInformationMessage(vscode.l10n.t('Pull of {0} cancelled; nothing half-done was kept.', name));
        return;
      }
      ctx.reportError(err);
    }
  };
}
