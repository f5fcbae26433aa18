/** How one row of the Volumes tree looks: name, who uses it, a tooltip with driver and mount point. */
import * as vscode from 'vscode';
import { escapeMarkdown } from '../markdown';
import { shortId } from '../../../client/format';
import type { VolumeNode } from './model';

export interface ItemOptions {
  /** The agent is gone: the tree shows the last volumes it knew, greyed. */
  stale: boolean;
}

const grey = new vscode.ThemeColor('disabledForeground');

export class VolumeTreeItem extends vscode.TreeItem {
  constructor(
    readonly node: VolumeNode,
    opts: ItemOptions,
  ) {
    super(node.anonymous ? shortId(node.name) : node.name, vscode.TreeItemCollapsibleState.None);
    this.id = node.id;
    const used = node.users.length > 0;
    this.contextValue = used ? 'volume.used' : 'volume.unused';
    this.iconPath = new vscode.ThemeIcon('database', opts.stale ? grey : used ? new vscode.ThemeColor('charts.green') : undefined);
    this.description = usersText(node);
    if (node.anonymous) this.description = vscode.l10n.t('{0} · anonymous', this.description);
    if (opts.stale) this.description = vscode.l10n.t('{0} (disconnected)', this.description);
    const v = node.volume;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${escapeMarkdown(node.name)}**\n\n`);
    md.appendMarkdown(`${vscode.l10n.t('Driver')}: ${escapeMarkdown(v.Driver)}  \n`);
    md.appendMarkdown(`${vscode.l10n.t('Mount point')}: \`${v.Mountpoint.replace(/`/g, "'")}\`  \n`);
    md.appendMarkdown(`${vscode.l10n.t('Created')}: ${escapeMarkdown(v.CreatedAt)}`);
    for (const [k, val] of Object.entries(v.Labels ?? {}))
      md.appendMarkdown(`  \n${vscode.l10n.t('Label')}: \`${`${k}=${val}`.replace(/`/g, "'")}\``);
    if (used) {
      md.appendMarkdown(`\n\n${vscode.l10n.t('Used by')}:`);
      for (const u of node.users) {
        const state = u.running ? vscode.l10n.t('running') : vscode.l10n.t('not running');
        md.appendMarkdown(
          `  \n- ${escapeMarkdown(u.name)} (${state}) ${vscode.l10n.t('at')} \`${u.destination.replace(/`/g, "'")}\`${u.readOnly ? ` ${vscode.l10n.t('(read-only)')}` : ''}`,
        );
      }
    }
    this.tooltip = md;
  }
}

/** "used by web, db" / "unused". */
export function usersText(node: VolumeNode): string {
  if (node.users.length === 0) return vscode.l10n.t('unused');
  const names = [...new Set(node.users.map((u) => u.name))];
  return vscode.l10n.t('used by {0}', names.join(', '));
}
