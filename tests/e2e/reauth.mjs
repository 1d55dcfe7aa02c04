// Sign-in frequency in real headless Chromium.
//
// Usage: node reauth.mjs <redemption-link> <login> <expected-text> <wait-ms> [screenshot.png] [host,...]
// Redeems the invitation and lands on the app (`expected-text`); waits past the policy's
// sign-in frequency and opens the app again: the identity provider must show its login form
// (asked for a fresh authentication, although it still has its own session); signs in and
// lands on the app again. Prints {"ok":true,...}.
import { failer, launch, signInAtProvider, waitText } from './browser.mjs';

const [link, login, expected, waitMs, screenshot, hosts] = process.argv.slice(2);
const browser = await launch(hosts);
const steps = [];
const fail = failer(browser, steps);
try {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  await page.goto(link);
  await page.click('a.button');
  await signInAtProvider(page, login, fail);
  await page.waitForSelector('#accept', { timeout: 15000 }).catch(() => fail(page, 'no consent page'));
  await page.click('#accept');
  await waitText(page, expected, `app never showed ${expected}`, fail);
  const app = page.url();
  steps.push({ page: 'app' });
  await new Promise((r) => setTimeout(r, Number(waitMs)));
  await page.goto(app);
  await page.waitForSelector('input[name="login"]', { timeout: 15000 })
    .catch(() => fail(page, 'the identity provider did not ask to sign in again'));
  steps.push({ page: 'idp login again', prompt: new URL(page.url()).host });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await signInAtProvider(page, login, fail);
  await waitText(page, expected, `app never showed ${expected} after signing in again`, fail);
  steps.push({ page: 'app again' });
  console.log(JSON.stringify({ ok: true, steps, url: page.url() }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e), steps }));
  await browser.close();
  process.exit(1);
}
