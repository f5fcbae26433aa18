/**
 * The packaged extension in a real VS Code: the .vsix from `vsce package` installed into
 * code-server (scripts/setup-e2e.sh), driven by Debian's Chromium through playwright-core, against a
 * real agent and a real registry holding a busybox image: images (pull, live tag, inspect,
 * remove, a lost agent), then containers (run from the Images tree, a live `berth run -d`,
 * grouping, stop inline, logs, inspect, a shell terminal in the container, its changes, commit,
 * remove). Screenshots of each step go to
 * test/e2e/screenshots/ (look at them: the assertions cannot judge the layout).
 *
 * The same scenarios run in VS Code desktop when BERTH_E2E_VSCODE names its executable
 * (`npm run test:electron`, test/electron/run.ts): the workbench then comes from
 * support/desktop.ts (Electron through playwright-core) instead of code-server and Chromium, and
 * the screenshots go to test/e2e/screenshots-desktop/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConsoleMessage, Locator, Page } from 'playwright-core';
import { ListContainersRequest, ListImagesRequest } from '../../protocol';
import { REPO, berth, startAgent, type TestAgent } from '../support/agent';
import { busyboxImage } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';
import { openBrowser } from './support/browser';
import { packageExtension, startCodeServer } from './support/codeServer';
import { startDesktop, type Workbench } from './support/desktop';

/** VS Code desktop's executable, for `npm run test:electron`; unset: code-server (npm test). */
const DESKTOP = process.env.BERTH_E2E_VSCODE;
const HOST = DESKTOP ? 'VS Code desktop' : 'code-server';
const SHOTS = join(__dirname, DESKTOP ? 'screenshots-desktop' : 'screenshots');
const UI_TIMEOUT = 20_000;

describe(`the extension in ${HOST} (end to end)`, { timeout: 240_000 }, () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  /** The workbench: code-server's (in Chromium) or VS Code desktop's window. */
  let server: Workbench;
  let page: Page;
  let ref: string;

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });
  /** The Images tree's row whose label is exactly `label`. */
  const row = (label: string): Locator =>
    page
      .locator('.sidebar .monaco-list-row[role="treeitem"]')
      .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) });
  const statusItem = () => page.locator('.statusbar-item', { hasText: 'Berth' }).first();

  async function runCommand(title: string): Promise<void> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: UI_TIMEOUT });
    await input.fill(`>${title}`);
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor({ timeout: UI_TIMEOUT });
    await page.keyboard.press('Enter');
  }

  async function contextMenu(label: string, action: string): Promise<void> {
    await row(label).click({ button: 'right' });
    const item = page.locator('.monaco-menu .action-item', { hasText: action });
    await item.hover({ timeout: UI_TIMEOUT });
    // The menu ignores a mouse-up that comes right after it opened (the right click's own release).
    await page.waitForTimeout(300);
    await item.click();
  }

  /** Answers the input box showing `title` (a step of a multi-step input). */
  async function answer(title: string, value: string): Promise<void> {
    await page.locator('.quick-input-widget', { hasText: title }).waitFor({ timeout: UI_TIMEOUT });
    const input = page.locator('.quick-input-widget input');
    await input.fill(value);
    await page.keyboard.press('Enter');
  }

  /** The row's description (the text after the label). */
  const description = async (label: string) => (await row(label).locator('.label-description').textContent()) ?? '';

  async function removeFromContextMenu(label: string): Promise<void> {
    await contextMenu(label, 'Remove Image');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: UI_TIMEOUT });
    await shot(`06-confirm-remove-${label}`);
    await dialog.locator('.monaco-button', { hasText: /^Remove$/ }).click();
  }

  before(async () => {
    requireTools(['docker-registry', 'htpasswd', 'openssl']);
    mkdirSync(SHOTS, { recursive: true });
    registry = await startRegistry();
    await pushImage(registry, 'e2e/box', 'v1', await busyboxImage());
    ref = `${registry.host}/e2e/box:v1`;
    agent = await startAgent();
    const options = {
      vsix: await packageExtension(),
      settings: {
        'berth.agentSocket': agent.socket,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'telemetry.telemetryLevel': 'off',
        // The DOM renderer, so the logs terminal's text can be read from the page.
        'terminal.integrated.gpuAcceleration': 'off',
        'update.mode': 'none',
      },
      // The test's agent is the one to use: never start another.
      env: { BERTH_NO_AUTOSTART: '1' },
    };
    if (DESKTOP) {
      server = await startDesktop({ ...options, executable: DESKTOP });
      page = server.page;
    } else {
      const codeServer = await startCodeServer(options);
      ({ page } = await openBrowser());
      await page.goto(`${codeServer.url}/?folder=${encodeURIComponent(codeServer.folder)}`);
      server = { page, folder: codeServer.folder, extensionsDir: codeServer.extensionsDir };
    }
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  });
  after(runCleanups);

  it('installs from the .vsix with the bundles, the native addon, the helper and the resources', () => {
    const [dir] = readdirSync(server.extensionsDir).filter((d) => d.startsWith('berth.berth-'));
    assert.ok(dir, `no berth extension in ${server.extensionsDir}: ${readdirSync(server.extensionsDir).join(', ')}`);
    const root = join(server.extensionsDir, dir);
    for (const f of [
      'package.json',
      'package.nls.json',
      'LICENSE.txt',
      'dist/extension.js',
      'dist/berth.js',
      'dist/agent.js',
      'native/build/Release/berth_native.node',
      'extension/resources/berth.svg',
      'extension/resources/berth-agent.service',
    ]) {
      assert.ok(existsSync(join(root, f)), `${f} is shipped`);
    }
    const helper = join(root, 'native/build/Release/berth-helper');
    if (existsSync(join(REPO, 'native/build/Release/berth-helper'))) assert.ok(statSync(helper).mode & 0o100, 'the helper is executable');
    assert.ok(!existsSync(join(root, 'node_modules')) && !existsSync(join(root, 'agent')), 'sources and node_modules stay out');
  });

  it('shows the Berth view container with an empty Images view, connected', async () => {
    await page.locator('.activitybar [aria-label^="Berth"]').first().click({ timeout: UI_TIMEOUT });
    // Containers first, then Images, as Docker's extension orders them.
    await page
      .locator('.sidebar .pane-header', { hasText: /Containers/i })
      .first()
      .waitFor({ timeout: UI_TIMEOUT });
    await page
      .locator('.sidebar .pane-header', { hasText: /Images/i })
      .first()
      .waitFor({ timeout: UI_TIMEOUT });
    await page.locator('.sidebar', { hasText: 'No images in the store yet.' }).waitFor({ timeout: UI_TIMEOUT });
    await page.locator('.sidebar', { hasText: 'No containers yet.' }).waitFor({ timeout: UI_TIMEOUT });
    await statusItem().waitFor({ timeout: UI_TIMEOUT });
    assert.doesNotMatch((await statusItem().textContent()) ?? '', /disconnected/);
    await shot('01-empty-images-view');
  });

  it('pulls through the Command Palette and shows the tag in the tree', async () => {
    await runCommand('Berth: Pull Image...');
    const input = page.locator('.quick-input-widget input');
    await page.locator('.quick-input-widget', { hasText: 'The image to pull' }).waitFor({ timeout: UI_TIMEOUT });
    await input.fill(ref);
    await shot('02-pull-input');
    await page.keyboard.press('Enter');
    await row('v1').waitFor({ timeout: 60_000 });
    await row(`${registry.host}/e2e/box`).waitFor({ timeout: UI_TIMEOUT });
    const description = (await row('v1').locator('.label-description').textContent()) ?? '';
    assert.match(description, /\d+(\.\d+)?[kM]B · 1 layer · /, description);
    await page.locator('.notifications-toasts', { hasText: `Pulled ${ref}` }).waitFor({ timeout: UI_TIMEOUT });
    await shot('03-pulled');
  });

  it('shows a tag made by `berth tag` in a terminal within a second, with no click', async () => {
    const r = await berth(['tag', ref, `${registry.host}/e2e/box:live`], { ...agent.env, BERTH_NO_AUTOSTART: '1' });
    assert.equal(r.code, 0, r.stderr);
    const started = Date.now();
    await row('live').waitFor({ timeout: 5000 });
    const ms = Date.now() - started;
    console.log(`# the tag appeared in the tree ${ms} ms after \`berth tag\` returned`);
    assert.ok(ms <= 1000, `the tree showed the new tag after ${ms} ms`);
    await shot('04-live-tag');
  });

  it('opens Inspect Image as a read-only JSON document', async () => {
    await contextMenu('v1', 'Inspect Image');
    await page.locator('.tab', { hasText: 'v1.json' }).waitFor({ timeout: UI_TIMEOUT });
    const editor = page.locator('.editor-instance .view-lines');
    await editor.filter({ hasText: '"RepoTags"' }).waitFor({ timeout: UI_TIMEOUT });
    assert.match((await editor.textContent()) ?? '', /"Id":\s*"sha256:[0-9a-f]{64}"/);
    await shot('05-inspect');
    // Read-only: typing changes nothing.
    await editor.click();
    await page.keyboard.type('xyz');
    assert.doesNotMatch((await editor.textContent()) ?? '', /xyz/);
    await page.keyboard.press('Control+w');
    await page.locator('.tab', { hasText: 'v1.json' }).waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('removes images from the context menu after a modal confirmation', async () => {
    await removeFromContextMenu('live');
    await row('live').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    assert.equal(await row('v1').count(), 1, 'the other tag stays');
    await removeFromContextMenu('v1');
    await page.locator('.sidebar', { hasText: 'No images in the store yet.' }).waitFor({ timeout: UI_TIMEOUT });
    const conn = await agent.connect();
    assert.deepEqual(await conn.sendRequest(ListImagesRequest.type, { all: true }), [], 'the agent has no image left');
    await shot('07-removed');
  });

  it('shows a lost agent in the status bar and reconnects by itself when it is back', async () => {
    // Something to keep while the agent is away.
    assert.equal((await berth(['pull', ref], { ...agent.env, BERTH_NO_AUTOSTART: '1' })).code, 0);
    await row('v1').waitFor({ timeout: UI_TIMEOUT });
    const root = agent.root;
    await agent.stop();
    await page.locator('.statusbar-item', { hasText: 'Berth: disconnected' }).waitFor({ timeout: UI_TIMEOUT });
    await page.locator('.sidebar', { hasText: 'Not connected to the Berth agent' }).waitFor({ timeout: UI_TIMEOUT });
    // The last images stay, marked.
    await row('v1').locator('.label-description', { hasText: 'disconnected' }).waitFor({ timeout: UI_TIMEOUT });
    await shot('08-disconnected');
    agent = await startAgent({ root });
    const started = Date.now();
    await page.locator('.statusbar-item', { hasText: 'Berth: disconnected' }).waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    await page
      .locator('.sidebar .label-description', { hasText: 'disconnected' })
      .first()
      .waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    await row('v1').waitFor({ timeout: UI_TIMEOUT });
    await page.getByText('Not connected to the Berth agent').waitFor({ state: 'hidden', timeout: UI_TIMEOUT });
    console.log(`# reconnected ${Date.now() - started} ms after the agent listened again`);
    assert.equal(
      await page.locator('.notifications-toasts', { hasText: 'No Berth agent answers' }).count(),
      0,
      'no how-to-start nagging after a lost connection',
    );
    await shot('09-reconnected');
  });

  it('opens the layer inspector from the Images tree: the layer, its history, a file it adds, the merged tree', async () => {
    // What the webview's frames report: errors and Content-Security-Policy refusals fail the step.
    const problems: string[] = [];
    const onConsole = (m: ConsoleMessage) => {
      if (/webview/i.test(m.location().url) && (m.type() === 'error' || /Content.Security.Policy/i.test(m.text()))) problems.push(m.text());
    };
    page.on('console', onConsole);
    await contextMenu('v1', 'Open Layer Inspector');
    const tab = page.locator('.tab', { hasText: `Layers: ${ref}` });
    await tab.waitFor({ timeout: UI_TIMEOUT });
    // A webview is an iframe (VS Code's host page) holding the page's own iframe.
    const view = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
    const layer = view.locator('.layer');
    await layer.filter({ hasText: 'COPY busybox-rootfs /' }).waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await layer.count(), 1, 'busybox has one layer');
    assert.equal(await layer.getAttribute('aria-selected'), 'true', 'the first layer is selected');
    await layer.click();
    await view.locator('.rows .row[data-path="bin"] .name').click({ timeout: UI_TIMEOUT });
    const busybox = view.locator('.rows .row[data-path="bin/busybox"]');
    await busybox.waitFor({ timeout: UI_TIMEOUT });
    assert.match((await busybox.getAttribute('class')) ?? '', /\bchange-added\b/, 'the layer adds bin/busybox');
    assert.match((await busybox.locator('.meta').first().textContent()) ?? '', /^-rwxr-xr-x 0:0$/);
    await shot('21-layer-inspector');
    await view.locator('.b-toggle', { hasText: 'Merged view' }).click();
    await view.locator('.app.merged').waitFor({ timeout: UI_TIMEOUT });
    // The merged tree says which layer each path comes from.
    await busybox.locator('.layer-col', { hasText: /^0$/ }).waitFor({ state: 'visible', timeout: UI_TIMEOUT });
    assert.equal(await layer.getAttribute('aria-selected'), 'false', 'no single layer is selected in the merged view');
    await shot('22-layer-inspector-merged');
    page.off('console', onConsole);
    assert.deepEqual(problems, []);
    await tab.locator('.codicon-close').click();
    await tab.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('runs an image from the Images tree, asking name, env, mount and command, and shows it running', async () => {
    await contextMenu('v1', 'Run Image...');
    await answer('(1/4)', 'e2e-web');
    await answer('(2/4)', 'GREETING=hello, OTHER=2');
    await answer('(3/4)', '');
    await page.locator('.quick-input-widget', { hasText: '(4/4)' }).waitFor({ timeout: UI_TIMEOUT });
    await page
      .locator('.quick-input-widget input')
      .fill(`sh -c 'echo "$GREETING from e2e"; echo oops >&2; trap "exit 0" TERM; while true; do sleep 1; done'`);
    await shot('10-run-command-input');
    await page.keyboard.press('Enter');
    await row('e2e-web').waitFor({ timeout: UI_TIMEOUT });
    await row('Running').waitFor({ timeout: UI_TIMEOUT });
    assert.match(await description('e2e-web'), /^Up .+ · 127\.0\.0\.1:\d+\/e2e\/box:v1$/);
    await shot('11-running');
  });

  it('shows a container started by `berth run -d` in a terminal, live', async () => {
    const r = await berth(
      ['run', '-d', '--name', 'cli-job', ref, 'sh', '-c', 'trap "exit 0" TERM; echo from-cli; while true; do sleep 1; done'],
      { ...agent.env, BERTH_NO_AUTOSTART: '1' },
    );
    assert.equal(r.code, 0, r.stderr);
    const started = Date.now();
    await row('cli-job').waitFor({ timeout: 5000 });
    console.log(`# the container appeared in the tree ${Date.now() - started} ms after \`berth run -d\` returned`);
    // The row may first show the `create` event's state; the `start` event follows at once.
    await row('cli-job').locator('.label-description', { hasText: /^Up / }).waitFor({ timeout: 5000 });
  });

  it('groups containers by image from the view title, and back by state', async () => {
    // View title actions show while the pointer is over the view.
    const header = page.locator('.sidebar .pane-header', { hasText: /Containers/i });
    await header.hover();
    await header.locator('.action-label[aria-label="Group Containers by Image"]').click({ timeout: UI_TIMEOUT });
    await row(`${registry.host}/e2e/box:v1`).waitFor({ timeout: UI_TIMEOUT });
    await shot('12-grouped-by-image');
    await header.hover();
    await header.locator('.action-label[aria-label="Group Containers by State"]').click({ timeout: UI_TIMEOUT });
    await row('Running').waitFor({ timeout: UI_TIMEOUT });
  });

  it('stops a container with its inline action and shows it exited', async () => {
    await row('cli-job').hover();
    await row('cli-job').locator('.action-label[aria-label="Stop Container"]').click({ timeout: UI_TIMEOUT });
    await row('Exited').waitFor({ timeout: UI_TIMEOUT });
    assert.match(await description('cli-job'), /^Exited \(0\) .+ ago · /);
    // Inline actions follow the state: an exited container offers Start instead.
    await row('cli-job').hover();
    await row('cli-job').locator('.action-label[aria-label="Start Container"]').waitFor({ timeout: UI_TIMEOUT });
    await shot('13-stopped');
  });

  it('shows the logs of a running container in a terminal, stderr included', async () => {
    await contextMenu('e2e-web', 'Show Container Logs');
    const terminal = page.locator('.terminal-wrapper .xterm-rows');
    await terminal.filter({ hasText: 'hello from e2e' }).waitFor({ timeout: UI_TIMEOUT });
    await terminal.filter({ hasText: 'oops' }).waitFor({ timeout: UI_TIMEOUT });
    await shot('14-logs');
  });

  it('opens Inspect Container as a read-only JSON document', async () => {
    await contextMenu('e2e-web', 'Inspect Container');
    await page.locator('.tab', { hasText: 'e2e-web.json' }).waitFor({ timeout: UI_TIMEOUT });
    const editor = page.locator('.editor-instance .view-lines');
    // Only the lines in view are in the page: the top of the document.
    await editor.filter({ hasText: '"/e2e-web"' }).waitFor({ timeout: UI_TIMEOUT });
    assert.match((await editor.textContent()) ?? '', /"Status":\s*"running"/);
    await shot('14b-inspect-container');
    await page.keyboard.press('Control+w');
    await page.locator('.tab', { hasText: 'e2e-web.json' }).waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('opens a shell in the running container: a command runs, `exit` closes the terminal', async () => {
    await contextMenu('e2e-web', 'Attach Shell');
    await page
      .locator('.terminal-tab, .tabs-container .monaco-list-row, .single-terminal-tab', { hasText: 'Shell: e2e-web' })
      .first()
      .waitFor({ timeout: UI_TIMEOUT });
    const shellRows = page.locator('.terminal-wrapper.active .xterm-rows');
    // busybox has no bash: /bin/sh's prompt.
    await shellRows.filter({ hasText: '#' }).waitFor({ timeout: UI_TIMEOUT });
    await page.keyboard.type('echo $((6*7)) > /tmp/berth-e2e.txt; cat /tmp/berth-e2e.txt');
    await page.keyboard.press('Enter');
    await shellRows.locator('> div', { hasText: /^42\s*$/ }).waitFor({ timeout: UI_TIMEOUT });
    await page.keyboard.type('stty size');
    await page.keyboard.press('Enter');
    // The pty has the terminal's size (rows cols), not a default 24x80 ... or at least a real size.
    await shellRows.locator('> div', { hasText: /^\d+ \d+\s*$/ }).waitFor({ timeout: UI_TIMEOUT });
    await shot('18-shell');
    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    await page
      .locator('.terminal-tab, .tabs-container .monaco-list-row, .single-terminal-tab', { hasText: 'Shell: e2e-web' })
      .first()
      .waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('shows what the container changed: the file the shell wrote is added', async () => {
    await contextMenu('e2e-web', 'Show Container Changes');
    await page.locator('.tab', { hasText: 'e2e-web.txt' }).waitFor({ timeout: UI_TIMEOUT });
    const editor = page.locator('.editor-instance .view-lines');
    await editor.filter({ hasText: 'A /tmp/berth-e2e.txt' }).waitFor({ timeout: UI_TIMEOUT });
    await shot('19-changes');
    await page.keyboard.press('Control+w');
    await page.locator('.tab', { hasText: 'e2e-web.txt' }).waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('browses the files of the running container without a shell and opens the file the shell wrote', async () => {
    await contextMenu('e2e-web', 'Browse Files');
    const picker = page.locator('.quick-input-widget', { hasText: 'Files of e2e-web: /' });
    await picker.waitFor({ timeout: UI_TIMEOUT });
    await shot('19b-browse-files');
    await page.locator('.quick-input-widget input').fill('tmp');
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget', { hasText: 'Files of e2e-web: /tmp' }).waitFor({ timeout: UI_TIMEOUT });
    await page.locator('.quick-input-widget input').fill('berth-e2e.txt');
    await page.keyboard.press('Enter');
    await page.locator('.tab', { hasText: 'berth-e2e.txt' }).waitFor({ timeout: UI_TIMEOUT });
    await page.locator('.editor-instance .view-lines').filter({ hasText: /^42$/ }).waitFor({ timeout: UI_TIMEOUT });
    await shot('19c-browse-files-opened');
    await page.keyboard.press('Control+w');
    await page.locator('.tab', { hasText: 'berth-e2e.txt' }).waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it("opens the layer inspector of the container's writable layer, live: a write shows without any event, keeping the view", async () => {
    await contextMenu('e2e-web', 'Open Container Layer Inspector');
    const tab = page.locator('.tab', { hasText: 'Changes: e2e-web' });
    await tab.waitFor({ timeout: UI_TIMEOUT });
    const view = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
    await view.locator('.layer', { hasText: 'Writable layer of e2e-web' }).waitFor({ timeout: UI_TIMEOUT });
    // /tmp is changed (it holds a change), the file the shell wrote is added.
    const tmp = view.locator('.rows .row[data-path="tmp"]');
    assert.match((await tmp.getAttribute('class', { timeout: UI_TIMEOUT })) ?? '', /\bchange-changed\b/);
    await tmp.locator('.name').click();
    const written = view.locator('.rows .row[data-path="tmp/berth-e2e.txt"]');
    assert.match((await written.getAttribute('class', { timeout: UI_TIMEOUT })) ?? '', /\bchange-added\b/);
    await shot('23-container-layer-inspector');
    // The container writes files (exec from a terminal: no event names a file): the agent's change
    // feed pushes them and the open panel shows them in place, the open directory still open.
    const env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    await written.click();
    const exec = await berth(['exec', 'e2e-web', 'sh', '-c', 'echo live > /tmp/live.txt && echo changed >> /etc/passwd'], env);
    assert.equal(exec.code, 0, exec.stderr);
    await view.locator('.rows .row.change-added[data-path="tmp/live.txt"]').waitFor({ timeout: 5000 });
    assert.equal(await written.count(), 1, 'the open directory stays open');
    assert.match((await written.getAttribute('class')) ?? '', /\bselected\b/, 'the selection stays');
    // A changed image file names the image layer it shadows, in its row and in the detail line.
    await view.locator('.rows .row[data-path="etc"] .name').click();
    const passwd = view.locator('.rows .row.change-changed[data-path="etc/passwd"]');
    await passwd.waitFor({ timeout: UI_TIMEOUT });
    assert.match((await passwd.locator('.shadow-col').textContent()) ?? '', /^0 · [0-9a-f]{12}$/);
    await passwd.locator('.name').click();
    await view
      .locator('.detail', { hasText: /etc\/passwd: changed, .*shadows the .* file of image layer 0/ })
      .waitFor({ timeout: UI_TIMEOUT });
    await view
      .locator('.image-layer', { hasText: /shadowed by \d+ changes?/ })
      .first()
      .waitFor({ timeout: UI_TIMEOUT });
    await shot('23b-container-layer-inspector-live');
    await tab.locator('.codicon-close').click();
    await tab.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('commits the container and shows the new image in the Images tree', async () => {
    await contextMenu('e2e-web', 'Commit Container...');
    await answer('(1/2)', 'e2e/snap:v2');
    await answer('(2/2)', 'from the e2e shell');
    await row('v2').waitFor({ timeout: 60_000 });
    await page.locator('.notifications-toasts', { hasText: 'Committed e2e-web as e2e/snap:v2' }).waitFor({ timeout: UI_TIMEOUT });
    await shot('20-committed');
  });

  it('removes containers after confirming, twice for a running one, and shows the empty view', async () => {
    await contextMenu('cli-job', 'Remove Container');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: UI_TIMEOUT });
    await shot('15-confirm-remove-container');
    await dialog.locator('.monaco-button', { hasText: /^Remove$/ }).click();
    await row('cli-job').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    await contextMenu('e2e-web', 'Remove Container');
    await dialog.locator('.monaco-button', { hasText: /^Remove$/ }).click();
    await page.locator('.monaco-dialog-box', { hasText: 'e2e-web is running' }).waitFor({ timeout: UI_TIMEOUT });
    await shot('16-confirm-kill-and-remove');
    await page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Kill and Remove$/ }).click();
    await page.locator('.sidebar', { hasText: 'No containers yet.' }).waitFor({ timeout: UI_TIMEOUT });
    // The logs terminal saw the end.
    await page.locator('.terminal-wrapper .xterm-rows', { hasText: 'end of its logs' }).waitFor({ timeout: UI_TIMEOUT });
    const conn = await agent.connect();
    assert.deepEqual(await conn.sendRequest(ListContainersRequest.type, { all: true }), [], 'the agent has no container left');
    await shot('17-containers-removed');
  });

  it('shows a volume made by `berth volume create` in the Volumes tree, live', async () => {
    const r = await berth(['volume', 'create', 'e2e-data'], { ...agent.env, BERTH_NO_AUTOSTART: '1' });
    assert.equal(r.code, 0, r.stderr);
    await row('e2e-data').waitFor({ timeout: 5000 });
    assert.equal(await description('e2e-data'), 'unused');
    await shot('24-volumes');
  });

  it('offers the last answers for the same image next time', async () => {
    await contextMenu('v1', 'Run Image...');
    await page.locator('.quick-input-widget', { hasText: '(1/4)' }).waitFor({ timeout: UI_TIMEOUT });
    assert.equal(await page.locator('.quick-input-widget input').inputValue(), 'e2e-web');
    await page.keyboard.press('Escape');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: UI_TIMEOUT });
  });

  it('opens the folder in a workspace container from the Command Palette, with a terminal inside it', async () => {
    // The opened folder gets a devcontainer.json (comments allowed) using the test image.
    mkdirSync(join(server.folder, '.devcontainer'), { recursive: true });
    writeFileSync(
      join(server.folder, '.devcontainer', 'devcontainer.json'),
      `{\n  // e2e workspace\n  "image": "${ref}",\n  "postCreateCommand": "echo made-in-container > from-container.txt",\n}\n`,
    );
    // The Berth view is open already after the earlier tests (a click on its icon would close it).
    const wsHeader = page.locator('.sidebar .pane-header', { hasText: /Workspace/i }).first();
    if (!(await wsHeader.isVisible())) await page.locator('.activitybar [aria-label^="Berth"]').first().click({ timeout: UI_TIMEOUT });
    await wsHeader.waitFor({ timeout: UI_TIMEOUT });
    await statusItem().waitFor({ timeout: UI_TIMEOUT });
    await runCommand('Berth: Open Workspace in Container');
    const done = page.locator('.notification-toast', { hasText: 'runs in container' });
    await done.waitFor({ timeout: 60_000 });
    assert.equal(
      readFileSync(join(server.folder, 'from-container.txt'), 'utf8'),
      'made-in-container\n',
      'postCreateCommand ran in the mounted folder',
    );
    // The Workspace view shows the folder's container running.
    const wsRow = page.locator('.sidebar .monaco-list-row[role="treeitem"]', { hasText: 'berth-ws-workspace-' });
    await wsRow.filter({ hasText: 'running' }).first().waitFor({ timeout: UI_TIMEOUT });
    await shot('25-workspace-up');
    await done.locator('.monaco-button', { hasText: 'Open Terminal' }).click();
    await page
      .locator('.terminal-tab, .tabs-container .monaco-list-row, .single-terminal-tab', { hasText: 'Berth: workspace' })
      .first()
      .waitFor({ timeout: UI_TIMEOUT });
    const rows = page.locator('.terminal-wrapper.active .xterm-rows');
    await rows.filter({ hasText: '#' }).waitFor({ timeout: UI_TIMEOUT });
    await page.keyboard.type('pwd; cat from-container.txt');
    await page.keyboard.press('Enter');
    await rows.locator('> div', { hasText: /^\/workspaces\/workspace\s*$/ }).waitFor({ timeout: UI_TIMEOUT });
    await rows.locator('> div', { hasText: /^made-in-container\s*$/ }).waitFor({ timeout: UI_TIMEOUT });
    await shot('26-workspace-terminal');
    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    // Containers outlive the agent: remove this one (and prove it went).
    const down = await berth(['down', '--rm', server.folder], { ...agent.env, BERTH_NO_AUTOSTART: '1' });
    assert.equal(down.code, 0, down.stderr);
    await wsRow.first().waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('builds an image from a Dockerfile in the Explorer, with the steps in the Berth Build output', async () => {
    writeFileSync(join(server.folder, 'Dockerfile'), `FROM ${ref}\nRUN echo built-by-berth > /built.txt\nCMD ["cat", "/built.txt"]\n`);
    await page.keyboard.press('Control+Shift+E');
    const file = page.locator('.explorer-folders-view .monaco-list-row', { hasText: /^Dockerfile$/ }).first();
    await file.waitFor({ timeout: UI_TIMEOUT });
    await file.click({ button: 'right' });
    const item = page.locator('.monaco-menu .action-item', { hasText: 'Build Image...' });
    await item.hover({ timeout: UI_TIMEOUT });
    await page.waitForTimeout(300);
    await item.click();
    await answer('Build Dockerfile', 'e2e/built:1');
    const done = page.locator('.notification-toast', { hasText: 'Built e2e/built:1.' });
    await done.waitFor({ timeout: 60_000 });
    await page
      .locator('.output-view, .monaco-editor', { hasText: 'Successfully tagged e2e/built:1' })
      .first()
      .waitFor({ timeout: UI_TIMEOUT });
    await shot('27-build-output');
    const run = await berth(['run', '--rm', 'e2e/built:1'], { ...agent.env, BERTH_NO_AUTOSTART: '1' });
    assert.equal(run.stdout, 'built-by-berth\n', run.stderr);
    await done
      .locator('.codicon-notifications-clear, .codicon-close')
      .first()
      .click()
      .catch(() => undefined);
  });
});
