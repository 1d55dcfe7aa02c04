// Invitation redemption in real headless Chromium (Debian's chromium, driven by playwright-core).
//
// Usage: node redeem.mjs <redemption-link> <login> <expected-text> [screenshot.png] [host,host,...]
// Opens the link from the invitation email, checks the page names the organisation, clicks
// the identity provider button, signs in at the oidc-provider login and consent pages,
// accepts the gateway's consent page, and checks that the app page shows `expected-text`.
// Listed hosts resolve to 127.0.0.1. Prints {"ok":true,...} and exits 0 on success.
import { launch, signInAtProvider } from './browser.mjs';

const [link, login, expected, screenshot, hosts] = process.argv.slice(2);
const browser = await launch(hosts);
const steps = [];
const fail = async (page, why) => {
  console.log(JSON.stringify({ ok: false, why, steps, url: page.url(), body: (await page.content()).slice(0, 2000) }));
  await browser.close();
  process.exit(1);
};
const text = (page) => page.evaluate(() => document.body ? document.body.innerText : '');
try {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  await page.goto(link);
  const invitation = await text(page);
  steps.push({ page: 'invitation', title: await page.title() });
  if (!invitation.includes('invited you')) await fail(page, 'no invitation page');
  await page.click('a.button');
  await signInAtProvider(page, login, fail);
  await page.waitForSelector('#accept', { timeout: 15000 }).catch(() => fail(page, 'no consent page'));
  steps.push({ page: 'consent', title: await page.title(), text: (await text(page)).slice(0, 400) });
  await page.click('#accept');
  await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), expected, { timeout: 15000 })
    .catch(() => fail(page, `page never showed ${expected}`));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, steps, url: page.url(), title: await page.title(), text: (await text(page)).slice(0, 4000) }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e), steps }));
  await browser.close();
  process.exit(1);
}
