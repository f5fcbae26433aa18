/**
 * The built inspector page (dist/webview.js, dist/webview.css, the panel's HTML and CSP) in
 * headless Chromium, with a fake host (window.berthHost) serving layer data recorded from the
 * core's analysis of hand-made layers: pick a layer, filter, check rows, colours and virtualisation.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { analyze, page as filesPage, type LayerInput } from '../../agent/images/layers';
import { classify, type LayerIndexEntry } from '../../agent/oci/layerIndex';
import { inspectorHtml } from '../../extension/inspector/html';
import { openBrowser } from '../e2e/support/browser';

const root = join(__dirname, '..', '..');
const D = (c: string) => 'sha256:' + c.repeat(64);
const e = (path: string, type: LayerIndexEntry['type'], size = 0, digest?: string): LayerIndexEntry => ({
  path,
  type,
  size,
  mode: type === 'dir' ? 0o755 : 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  ...(digest ? { digest } : {}),
});

/** Three layers: a base of 3,000 files, one that changes and adds, one that deletes. */
function recorded() {
  const base: LayerIndexEntry[] = [e('etc', 'dir'), e('etc/os-release', 'file', 200, D('1')), e('usr', 'dir'), e('usr/share', 'dir')];
  for (let i = 0; i < 3000; i++) base.push(e(`usr/share/doc/pkg${i % 30}/file${i}.txt`, 'file', 1000 + i, D('2')));
  const mid = [
    e('etc/os-release', 'file', 210, D('3')),
    e('app', 'dir'),
    e('app/server.js', 'file', 40_000, D('4')),
    e('app/cache.bin', 'file', 900_000, D('5')),
  ];
  const top = [e('app/cache.bin', 'whiteout'), e('usr/share/doc', 'whiteout')];
  const done: LayerIndexEntry[][] = [];
  for (const l of [base, mid, top]) done.push(classify(l, [...done].reverse()));
  const layers: LayerInput[] = done.map((entries, i) => ({
    digest: D(String(i + 4)),
    diffId: D('d'),
    chainId: D(String.fromCharCode(97 + i)),
    size: entries.reduce((n, x) => n + (x.type === 'file' ? x.size : 0), 0),
    entries,
  }));
  const a = analyze(layers, [
    { created_by: '/bin/sh -c #(nop) ADD file:base in /' },
    { created_by: 'COPY app /app' },
    { created_by: 'RUN rm -rf /app/cache.bin /usr/share/doc' },
  ]);
  const all = (q: { layer?: number; merged?: boolean }) => filesPage(a, { ...q, limit: 1_000_000 }).entries;
  return { summary: a.summary, layers: [0, 1, 2].map((layer) => all({ layer })), merged: all({ merged: true }) };
}

describe('inspector page in Chromium', () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  /**
   * Polls an expression in the page until it is true (bounded: 5 s). Playwright's waitForFunction
   * builds its predicate with eval inside the page when it has to poll, which the page's own CSP
   * (no 'unsafe-eval') rightly refuses; page.evaluate goes through the DevTools protocol instead.
   */
  async function waitUntil(expression: string, timeoutMs = 5000): Promise<void> {
    for (let waited = 0; ; waited += 25) {
      if (await page.evaluate(expression)) return;
      if (waited >= timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${expression}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const problems: string[] = [];

  before(async () => {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'ignore' });
    const files: Record<string, [string, string]> = {
      '/webview.js': [readFileSync(join(root, 'dist', 'webview.js'), 'utf8'), 'text/javascript'],
      '/webview.css': [readFileSync(join(root, 'dist', 'webview.css'), 'utf8'), 'text/css'],
    };
    server = createServer((req, res) => {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      if (req.url === '/') {
        res.setHeader('content-type', 'text/html');
        res.end(
          inspectorHtml({
            script: `${origin}/webview.js`,
            style: `${origin}/webview.css`,
            cspSource: origin,
            nonce: 'dGVzdG5vbmNl',
            title: 'test',
          }),
        );
        return;
      }
      const f = files[req.url ?? ''];
      if (req.url === '/favicon.ico') return void res.writeHead(204).end();
      if (!f) return void res.writeHead(404).end();
      res.setHeader('content-type', f[1]);
      res.end(f[0]);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    ({ browser, page } = await openBrowser());
    await page.setViewportSize({ width: 1200, height: 700 });
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content.Security.Policy/i.test(m.text())) problems.push(`${m.text()} ${m.location().url}`);
    });
    page.on('pageerror', (err) => problems.push(err.message));
    // The fake host; theme variables are set after loading, the way VS Code sets them (on <html>'s style).
    // Written as plain JavaScript: a function would be serialised with the test runner's helpers.
    await page.addInitScript({
      content: `(() => {
        const data = ${JSON.stringify(recorded())};
        window.berthRequests = [];
        window.berthHost = {
          receive(m, reply) {
            window.berthRequests.push(m);
            if (m.kind === 'ready') return reply({ kind: 'open', reference: 'sha256:test', title: 'example:1' });
            if (m.method === 'layers') return reply({ kind: 'response', id: m.id, result: data.summary });
            const list = m.params.merged ? data.merged : data.layers[m.params.layer];
            const offset = m.params.offset || 0;
            const entries = list.slice(offset, offset + (m.params.limit || 5000));
            reply({ kind: 'response', id: m.id, result: { layer: m.params.layer ?? 2, merged: !!m.params.merged, total: list.length, offset, entries } });
          },
        };
      })();`,
    });
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.evaluate(`(() => {
      const html = document.documentElement;
      html.style.setProperty('--vscode-gitDecoration-addedResourceForeground', 'rgb(0, 128, 0)');
      html.style.setProperty('--vscode-gitDecoration-modifiedResourceForeground', 'rgb(200, 120, 0)');
      html.style.setProperty('--vscode-gitDecoration-deletedResourceForeground', 'rgb(190, 0, 0)');
    })()`);
  });

  after(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
  });

  /** The computed text colour of the first element `selector` matches (evaluated in the page). */
  const colour = (selector: string) => page.evaluate<string>(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).color`);
  const rowNames = () => page.$$eval('.rows .row .name', (els) => els.map((x) => (x.textContent ?? '').trim()));

  it('lists the layers with their history', async () => {
    await page.waitForSelector('.layer');
    const layers = await page.$$eval('.layer', (els) => els.map((x) => x.textContent ?? ''));
    assert.equal(layers.length, 3);
    assert.match(layers[0], /ADD file:base in \//);
    assert.match(layers[1], /COPY app \/app/);
    assert.match(layers[2], /-2/); // two deletions
    assert.match((await page.textContent('.efficiency')) ?? '', /Wasted/);
  });

  it('cuts long paths in the wasted table at their start, so the file name stays visible', async () => {
    const cells = await page.$$eval('.wasted td.path', (tds) =>
      tds.map((td) => {
        const text = td.querySelector('bdi')!;
        const c = td.getBoundingClientRect();
        const t = text.getBoundingClientRect();
        return {
          path: text.textContent ?? '',
          overflows: t.width > c.width,
          leftCut: t.left < c.left - 1,
          rightInside: t.right <= c.right + 1,
          title: td.title,
        };
      }),
    );
    const long = cells.filter((c) => c.overflows);
    assert.ok(long.length > 0, `some wasted path is longer than its cell: ${JSON.stringify(cells.slice(0, 3))}`);
    for (const c of long) assert.ok(c.leftCut && c.rightInside, `${c.path} is cut at its start: ${JSON.stringify(c)}`);
    // The characters keep their order (no right-to-left reordering of "/" or "."), and the whole path is in the tooltip.
    assert.ok(cells.every((c) => /^[\w./-]+$/.test(c.path) && c.title.startsWith(`${c.path}:`)));
  });

  it('renders only the visible rows of a large layer', async () => {
    await page.waitForSelector('.rows .row');
    // Open usr/share/doc: 30 directories of 100 files each, and one of them.
    for (const name of ['usr/', 'share/', 'doc/', 'pkg0/']) {
      await page.click(`.rows .row[data-path$="${name.slice(0, -1)}"] .name`);
    }
    const rendered = await page.$$eval('.rows .row', (els) => els.length);
    const total = Number((await page.textContent('.footer'))?.match(/^(\d+) rows/)?.[1]);
    assert.ok(total > 100, `footer says ${total} rows`);
    assert.ok(rendered < 60, `rendered ${rendered} rows`);
  });

  it('selects a layer, filters by path and kind, and colours rows by change', async () => {
    await page.click('.layer[data-index="1"]');
    await waitUntil(`document.querySelector('.footer')?.textContent?.includes('3 files')`);
    await page.fill('.b-input input', 'app'); // the toolkit's field: its <input> is in the shadow root
    await waitUntil(`document.querySelectorAll('.rows .row').length === 3`);
    assert.deepEqual(await rowNames(), ['app/', 'cache.bin', 'server.js']);
    const added = await colour('.rows .row[data-path="app/server.js"]');
    assert.equal(added, 'rgb(0, 128, 0)');
    await page.fill('.b-input input', '');
    // Only changed records: etc/os-release.
    await page.click('.b-checkbox.change-added');
    await waitUntil(`document.querySelectorAll('.rows .row').length === 2`);
    assert.deepEqual(await rowNames(), ['etc/', 'os-release']);
    const changed = await colour('.rows .row[data-path="etc/os-release"]');
    assert.equal(changed, 'rgb(200, 120, 0)');
    await page.click('.b-checkbox.change-added');
  });

  it('shows deletions in the top layer, and the merged tree', async () => {
    await page.click('.layer[data-index="2"]');
    await page.waitForSelector('.rows .row.change-deleted[data-path="usr/share/doc"]');
    const deleted = await colour('.rows .row.change-deleted');
    assert.equal(deleted, 'rgb(190, 0, 0)');
    await page.click('.b-toggle');
    // The class is set at the click, the rows when the merged listing arrives (layer 2's rows also
    // count 2 files): wait for a row only the merged tree has.
    await waitUntil(
      `document.querySelector('.app.merged') !== null && !!document.querySelector('.footer')?.textContent?.includes('2 files') && !!document.querySelector('.rows .row[data-path="etc"]')`,
    );
    assert.deepEqual((await rowNames()).sort(), ['app/', 'etc/', 'share/', 'usr/']); // usr stays open from before
    await page.click('.b-toggle');
  });

  it('navigates the tree with the keyboard', async () => {
    await page.click('.layer[data-index="1"]');
    await waitUntil(`!!document.querySelector('.footer')?.textContent?.includes('3 files')`);
    await page.focus('.viewport');
    await page.keyboard.press('ArrowDown'); // app
    await page.keyboard.press('ArrowRight'); // open
    await page.keyboard.press('ArrowRight'); // first child
    const sel = await page.$eval('.rows .row.selected', (x) => x.getAttribute('data-path'));
    assert.equal(sel, 'app/cache.bin');
    await page.keyboard.press('ArrowLeft'); // parent
    await page.keyboard.press('Enter'); // close
    assert.deepEqual(await rowNames(), ['app/', 'etc/']);
    await page.screenshot({ path: join(root, 'test', 'e2e', 'screenshots', 'inspector-page.png') });
  });

  it('runs under its Content-Security-Policy without errors', () => {
    assert.deepEqual(problems, []);
  });
});
