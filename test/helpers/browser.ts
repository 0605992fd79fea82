import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** Where the console tests write their screenshots (gitignored; the README names it). */
export const SCREENSHOTS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../artifacts/console-screenshots');

export const LAPTOP = { width: 1366, height: 900 };
export const PHONE = { width: 390, height: 844 };

/**
 * Debian's chromium, headless, with nothing of its own phoning home. Playwright gives each
 * launch a fresh profile of its own (a temporary --user-data-dir, removed on close).
 */
export async function launchBrowser(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { browser, close: () => browser.close() };
}

/**
 * A browser context that may reach 127.0.0.1 only: every other request is aborted and kept
 * in `blocked`, so a test can say the page asked for nothing outside this machine (no CDN,
 * no web font).
 */
export async function loopbackOnly(browser: Browser, viewport: { width: number; height: number }): Promise<{ context: BrowserContext; blocked: string[] }> {
  const context = await browser.newContext({ viewport });
  const blocked: string[] = [];
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' && (url.protocol === 'http:' || url.protocol === 'https:')) return route.continue();
    blocked.push(route.request().url());
    return route.abort();
  });
  return { context, blocked };
}

export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, `${name}.png`);
}
