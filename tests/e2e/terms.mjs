// Terms of use in real headless Chromium.
//
// Usage: node terms.mjs <redemption-link> <login> <expected-text> [screenshot.png] [host,...]
// Redeems the invitation (IdP sign-in, consent), is shown the terms page, accepts it, lands
// on the app showing `expected-text`; opens the app again and must not see the terms again.
// Prints {"ok":true,...}.
import { failer, launch, signInAtProvider, waitText } from './browser.mjs';

const [link, login, expected, screenshot, hosts] = process.argv.slice(2);
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
  await page.waitForSelector('#accept-terms', { timeout: 15000 }).catch(() => fail(page, 'no terms page'));
  steps.push({ page: 'terms', title: await page.title(), text: (await page.textContent('#terms-text')).trim().slice(0, 200) });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await page.click('#accept-terms');
  await waitText(page, expected, `app never showed ${expected}`, fail);
  steps.push({ page: 'app' });
  const app = page.url();
  await page.goto(app);
  await waitText(page, expected, `app never showed ${expected} the second time`, fail);
  if (await page.$('#accept-terms')) await fail(page, 'terms asked again');
  steps.push({ page: 'app again' });
  console.log(JSON.stringify({ ok: true, steps, url: page.url() }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e), steps }));
  await browser.close();
  process.exit(1);
}
