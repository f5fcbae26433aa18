/** How one node of the Containers tree looks: state icons, image and status, tooltips, context values. */
import * as vscode from 'vscode';
import { escapeMarkdown } from '../markdown';
import { shortId } from '../../../client/format';
import type { ContainerStatus, ContainerSummary } from '../../../protocol';
import { imageLabel, status, type ContainersNode, type Duration } from './model';
import { allPortsText, publishedPortsText } from './ports';

export interface ItemOptions {
  /** The agent is gone: the tree shows the last containers it knew, greyed. */
  stale: boolean;
  now: number;
  /** Grouped by image, the rows leave the image out. */
  groupBy: 'state' | 'image';
}

const grey = new vscode.ThemeColor('disabledForeground');

export class ContainerTreeItem extends vscode.TreeItem {
  constructor(
    readonly node: ContainersNode,
    opts: ItemOptions,
  ) {
    super(
      node.kind === 'group' ? groupLabel(node.groupBy, node.key) : node.name,
      node.kind === 'group' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
    );
    this.id = node.id;
    if (node.kind === 'group') {
      const n = node.containers.length;
      this.contextValue = 'containerGroup';
      this.description = n === 1 ? vscode.l10n.t('1 container') : vscode.l10n.t('{0} containers', n);
      this.iconPath =
        node.groupBy === 'state'
          ? stateIcon(node.key as ContainerStatus, 0, opts.stale)
          : new vscode.ThemeIcon('package', opts.stale ? grey : undefined);
    } else {
      const c = node.container;
      this.contextValue = `container.${c.State}`;
      this.iconPath = stateIcon(c.State, c.ExitCode, opts.stale);
      // Status first: a narrow sidebar cuts the end of the description.
      this.description = opts.groupBy === 'image' ? statusText(c, opts.now) : `${statusText(c, opts.now)} · ${imageLabel(c)}`;
      const ports = publishedPortsText(c.Ports);
      if (ports) this.description = `${this.description} · ${ports}`;
      this.tooltip = tooltip(node.name, c, opts.now);
    }
    if (opts.stale) {
      this.description = this.description ? vscode.l10n.t('{0} (disconnected)', String(this.description)) : vscode.l10n.t('(disconnected)');
    }
  }
}

function groupLabel(groupBy: 'state' | 'image', key: string): string {
  if (groupBy === 'image') return key;
  switch (key as ContainerStatus) {
    case 'running':
      return vscode.l10n.t('Running');
    case 'exited':
      return vscode.l10n.t('Exited');
    case 'created':
      return vscode.l10n.t('Created');
  }
  return key;
}

/** Running green, exited red when it failed (grey-blue when it ended well), created yellow. */
function stateIcon(state: ContainerStatus, exitCode: number, stale: boolean): vscode.ThemeIcon {
  const color = (id: string) => (stale ? grey : new vscode.ThemeColor(id));
  switch (state) {
    case 'running':
      return new vscode.ThemeIcon('vm-running', color('charts.green'));
    case 'exited':
      return new vscode.ThemeIcon('vm-outline', color(exitCode === 0 ? 'charts.blue' : 'charts.red'));
    default:
      return new vscode.ThemeIcon('vm', color('charts.yellow'));
  }
}

/** `ps`'s STATUS column, through l10n: "Up 3 minutes", "Exited (3) 2 minutes ago", "Created". */
export function statusText(
  c: Pick<ContainerSummary, 'State' | 'ExitCode' | 'OOMKilled' | 'StartedAt' | 'FinishedAt'>,
  now: number,
): string {
  const s = status(c, now);
  switch (s.state) {
    case 'running':
      return vscode.l10n.t('Up {0}', durationText(s.up));
    case 'exited':
      return s.oomKilled
        ? vscode.l10n.t('Exited ({0}, out of memory) {1} ago', s.exitCode, durationText(s.ago))
        : vscode.l10n.t('Exited ({0}) {1} ago', s.exitCode, durationText(s.ago));
    case 'created':
      return vscode.l10n.t('Created');
  }
}

export function durationText(d: Duration): string {
  switch (d.unit) {
    case 'lessThanASecond':
      return vscode.l10n.t('Less than a second');
    case 'aboutAMinute':
      return vscode.l10n.t('About a minute');
    case 'aboutAnHour':
      return vscode.l10n.t('About an hour');
    case 'seconds':
      return d.count === 1 ? vscode.l10n.t('1 second') : vscode.l10n.t('{0} seconds', d.count);
    case 'minutes':
      return vscode.l10n.t('{0} minutes', d.count);
    case 'hours':
      return vscode.l10n.t('{0} hours', d.count);
    case 'days':
      return vscode.l10n.t('{0} days', d.count);
    case 'weeks':
      return vscode.l10n.t('{0} weeks', d.count);
    case 'months':
      return vscode.l10n.t('{0} months', d.count);
    case 'years':
      return vscode.l10n.t('{0} years', d.count);
  }
}

function tooltip(name: string, c: ContainerSummary, now: number): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escapeMarkdown(name)}** — ${escapeMarkdown(statusText(c, now))}\n\n`);
  md.appendMarkdown(`${vscode.l10n.t('ID')}: \`${c.Id}\`  \n`);
  md.appendMarkdown(`${vscode.l10n.t('Image')}: \`${c.Image}\` (${shortId(c.ImageID)})  \n`);
  md.appendMarkdown(`${vscode.l10n.t('Command')}: \`${c.Command.replace(/`/g, "'")}\`  \n`);
  md.appendMarkdown(`${vscode.l10n.t('Created')}: ${new Date(c.Created * 1000).toISOString()}`);
  const ports = allPortsText(c.Ports);
  if (ports) md.appendMarkdown(`  \n${vscode.l10n.t('Ports')}: ${escapeMarkdown(ports)}`);
  return md;
}
