/**
 * Debian's Chromium driven by playwright-core (`npx playwright install` cannot download here),
 * with the flags that keep it off the closed network. Closed in cleanup.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { existsSync } from 'node:fs';
import { registerCleanup } from '../../support/tmp';

export const CHROMIUM = '/usr/bin/chromium';

export async function openBrowser(): Promise<{ browser: Browser; page: Page }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run "bash scripts/setup-e2e.sh" as root`);
  // playwright-core gives every launch a fresh profile directory (and removes it on close).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const unregister = registerCleanup(() => browser.close());
  browser.on('disconnected', unregister);
  const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
  // Clipboard access for Copy Image ID.
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  return { browser, page };
}
