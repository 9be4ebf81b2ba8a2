/**
 * A real headless Chromium for report tests: Debian's /usr/bin/chromium when present, else the
 * binary shipped inside the npm package @sparticuz/chromium (pinned: another version's unpacked
 * files in the temp folder made it crash), driven by playwright-core.
 */
import { existsSync } from 'node:fs';
import chromium from '@sparticuz/chromium';
import { chromium as playwright, type Browser } from 'playwright-core';

/** Launches Chromium headless with no network-seeking background services. */
export async function launchBrowser(): Promise<Browser> {
  const debian = '/usr/bin/chromium';
  if (existsSync(debian)) {
    return playwright.launch({
      executablePath: debian,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }
  return playwright.launch({ executablePath: await chromium.executablePath(), args: [...chromium.args, '--disable-background-networking', '--disable-component-update'], headless: true });
}
