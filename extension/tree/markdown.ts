/** Text for the trees' Markdown tooltips (vscode.MarkdownString). */

/** `s` with every character Markdown gives a meaning to escaped, so names show as written. */
export function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!<>|]/g, '\\$&');
}
