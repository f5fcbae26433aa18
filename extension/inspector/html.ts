/**
 * The inspector page's HTML, with its Content-Security-Policy: nothing loads unless allowed,
 * scripts only with this page's nonce, styles from the extension's files or with the nonce.
 * No `vscode` import, so browser tests build the same page.
 *
 * The toolkit's components (FAST elements) style themselves with constructed stylesheets
 * (adoptedStyleSheets), which the policy does not govern; the one <style> element they make (a
 * probe for :focus-visible support) takes its nonce from the `csp-nonce` meta tag, so the policy
 * stays as strict as it was.
 */
import { randomBytes } from 'node:crypto';

export interface PageSources {
  /** URIs (as strings) of dist/webview.js and dist/webview.css as the webview may load them. */
  script: string;
  style: string;
  /** The webview's `cspSource` (its resource origin). */
  cspSource: string;
  nonce: string;
  title: string;
}

export function newNonce(): string {
  return randomBytes(18).toString('base64');
}

export function inspectorHtml(s: PageSources): string {
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${s.nonce}'`,
    `style-src ${s.cspSource} 'nonce-${s.nonce}'`,
    `font-src ${s.cspSource}`,
    `img-src ${s.cspSource} data:`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta property="csp-nonce" content="${s.nonce}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" nonce="${s.nonce}" href="${escapeAttr(s.style)}">
<title>${escapeText(s.title)}</title>
</head>
<body>
<script nonce="${s.nonce}" src="${escapeAttr(s.script)}"></script>
</body>
</html>`;
}

function escapeText(t: string): string {
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(t: string): string {
  return escapeText(t).replace(/"/g, '&quot;');
}
