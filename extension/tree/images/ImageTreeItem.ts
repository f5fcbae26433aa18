/** How one node of the Images tree looks: labels, descriptions, icons, tooltips, context values. */
import * as vscode from 'vscode';
import { escapeMarkdown } from '../markdown';
import { humanSize, shortId } from '../../../client/format';
import { age, DANGLING_LABEL, type ImageNode } from './model';

export interface ItemOptions {
  /** The agent is gone: the tree shows the last images it knew, greyed. */
  stale: boolean;
  now: number;
}

const grey = new vscode.ThemeColor('disabledForeground');

export class ImageTreeItem extends vscode.TreeItem {
  constructor(
    readonly node: ImageNode,
    opts: ItemOptions,
  ) {
    super(labelOf(node), collapsible(node));
    this.id = node.id;
    const color = opts.stale ? grey : undefined;
    switch (node.kind) {
      case 'repository':
        this.iconPath = new vscode.ThemeIcon('repo', color);
        this.contextValue = 'repository';
        this.tooltip = node.repository;
        break;
      case 'danglingGroup':
        this.iconPath = new vscode.ThemeIcon('question', color);
        this.contextValue = 'danglingGroup';
        this.description = vscode.l10n.t('{0} untagged', node.images.length);
        this.tooltip = vscode.l10n.t('Images no tag points at');
        break;
      case 'tag':
      case 'dangling': {
        const img = node.image;
        this.iconPath = new vscode.ThemeIcon(node.kind === 'tag' ? 'tag' : 'package', color);
        this.contextValue = node.kind === 'tag' ? 'image.tagged' : 'image.dangling';
        this.description = [
          humanSize(img.Size),
          img.Layers === 1 ? vscode.l10n.t('1 layer') : vscode.l10n.t('{0} layers', img.Layers),
          ageText(img.Created, opts.now),
        ].join(' · ');
        const md = new vscode.MarkdownString(undefined, true);
        md.appendMarkdown(`**${escapeMarkdown(node.kind === 'tag' ? node.reference : shortId(img.Id))}**\n\n`);
        md.appendMarkdown(`${vscode.l10n.t('ID')}: \`${img.Id}\`  \n`);
        md.appendMarkdown(
          `${vscode.l10n.t('Created')}: ${img.Created ? new Date(img.Created * 1000).toISOString() : vscode.l10n.t('unknown')}  \n`,
        );
        md.appendMarkdown(`${vscode.l10n.t('Size')}: ${humanSize(img.Size)}  \n`);
        md.appendMarkdown(`${vscode.l10n.t('Layers')}: ${img.Layers}`);
        for (const d of img.RepoDigests) md.appendMarkdown(`  \n${vscode.l10n.t('Digest')}: \`${escapeMarkdown(d)}\``);
        this.tooltip = md;
        break;
      }
    }
    if (opts.stale) {
      this.description = this.description ? vscode.l10n.t('{0} (disconnected)', String(this.description)) : vscode.l10n.t('(disconnected)');
    }
  }
}

function labelOf(node: ImageNode): string {
  switch (node.kind) {
    case 'repository':
      return node.label;
    case 'danglingGroup':
      return DANGLING_LABEL;
    case 'tag':
      return node.tag;
    case 'dangling':
      return shortId(node.image.Id);
  }
}

function collapsible(node: ImageNode): vscode.TreeItemCollapsibleState {
  return node.kind === 'repository' || node.kind === 'danglingGroup'
    ? vscode.TreeItemCollapsibleState.Expanded
    : vscode.TreeItemCollapsibleState.None;
}

export function ageText(created: number, now: number): string {
  const a = age(created, now);
  if (!a) return vscode.l10n.t('created at an unknown time');
  const n = a.count;
  switch (a.unit) {
    case 'seconds':
      return vscode.l10n.t('just now');
    case 'minutes':
      return n === 1 ? vscode.l10n.t('a minute ago') : vscode.l10n.t('{0} minutes ago', n);
    case 'hours':
      return n === 1 ? vscode.l10n.t('an hour ago') : vscode.l10n.t('{0} hours ago', n);
    case 'days':
      return n === 1 ? vscode.l10n.t('a day ago') : vscode.l10n.t('{0} days ago', n);
    case 'weeks':
      return n === 1 ? vscode.l10n.t('a week ago') : vscode.l10n.t('{0} weeks ago', n);
    case 'months':
      return n === 1 ? vscode.l10n.t('a month ago') : vscode.l10n.t('{0} months ago', n);
    case 'years':
      return n === 1 ? vscode.l10n.t('a year ago') : vscode.l10n.t('{0} years ago', n);
  }
}
