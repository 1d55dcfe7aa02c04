// Shared by the browser scripts: Debian's Chromium, headless, through playwright-core, with
// the flags this closed network needs and the test host names mapped to 127.0.0.1.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(
  pathToFileURL(join(here, '../support/node/node_modules/playwright-core/index.mjs')).href
);

/// `hosts`: comma-separated names that resolve to 127.0.0.1.
export async function launch(hosts) {
  const rules = (hosts || '').split(',').filter(Boolean).map((h) => `MAP ${h} 127.0.0.1`).join(', ');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--ignore-certificate-errors',
      ...(rules ? [`--host-resolver-rules=${rules}`] : []),
    ],
  });
}

/// Fills oidc-provider's login form as `login` and passes its consent page if shown.
export async function signInAtProvider(page, login, fail) {
  await page.waitForSelector('input[name="login"]', { timeout: 15000 }).catch(() => fail(page, 'no login form'));
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any-password');
  await page.click('button[type="submit"]');
  await page.waitForLoadState('load');
  if (await page.$('input[name="prompt"][value="consent"]')) {
    await page.click('button[type="submit"]');
  }
}
