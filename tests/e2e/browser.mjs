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

/// A script's way out on failure: prints {"ok":false,…} with where it was, closes the
/// browser, exits 1. `steps` are the script's progress so far.
export function failer(browser, steps) {
  return async (page, why) => {
    console.log(JSON.stringify({ ok: false, why, steps, url: page.url(), body: (await page.content()).slice(0, 3000) }));
    await browser.close();
    process.exit(1);
  };
}

/// Waits until the page shows `text`, else fails with `what`.
export function waitText(page, text, what, fail) {
  return page.waitForFunction((s) => document.body && document.body.innerText.includes(s), text, { timeout: 15000 })
    .catch(() => fail(page, what));
}

/// The npm `otpauth` package (as an authenticator app computes codes).
export async function otpauth() {
  return import(pathToFileURL(join(here, '../support/node/node_modules/otpauth/dist/otpauth.node.mjs')).href);
}
