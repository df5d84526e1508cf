/**
 * Debian's Chromium driven by playwright-core, for the management UI tests. Never a browser
 * download: playwright-core has none, and the executable is the system's (CHROMIUM overrides).
 * Each launch gets a fresh user-data-dir (playwright makes a new temporary profile per launch
 * and deletes it on close), and the flags keep Chromium off the network and quiet on a
 * machine without a GPU or a sandbox.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

export type { Browser, BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  // No skipping: `npm test` installs Debian's chromium first (scripts/test-peers.sh).
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM)`);
  return chromium.launch({
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
}

/**
 * A page in a fresh context (its own cookies and sessionStorage) at `url`, with every
 * uncaught page error collected in `errors` for the test to check.
 */
export async function openPage(
  browser: Browser,
  url: string,
  context: BrowserContextOptions = {},
): Promise<{ page: Page; errors: string[] }> {
  const page = await (await browser.newContext(context)).newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  return { page, errors };
}
