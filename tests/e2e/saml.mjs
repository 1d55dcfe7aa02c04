// Invitation redemption through a SAML IdP (pysaml2) in real headless Chromium.
//
// Usage: node saml.mjs <redemption-link> <login> <expected-text> [screenshot.png] [host,...]
// Opens the link, clicks the SAML provider's button, signs in at the IdP's form, lets the
// IdP's page post the response to the gateway's ACS (the HTTP-POST binding, by script as
// IdPs do), accepts the consent page and waits for `expected-text`.
import { launch } from './browser.mjs';

const [link, login, expected, screenshot, hosts] = process.argv.slice(2);
const browser = await launch(hosts);
const fail = async (page, why) => {
  console.log(JSON.stringify({ ok: false, why, url: page.url(), body: (await page.content()).slice(0, 2000) }));
  await browser.close();
  process.exit(1);
};
try {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  await page.goto(link);
  await page.click('a.button[href*="/signin/saml"]');
  await page.waitForSelector('#login', { timeout: 15000 }).catch(() => fail(page, 'no IdP login form'));
  const idp = new URL(page.url()).origin;
  await page.fill('#login', login);
  await page.click('#signin');
  await page.waitForSelector('#accept', { timeout: 15000 }).catch(() => fail(page, 'no consent page'));
  await page.click('#accept');
  await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), expected, { timeout: 15000 })
    .catch(() => fail(page, `page never showed ${expected}`));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, idp, url: page.url(), title: await page.title() }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e) }));
  await browser.close();
  process.exit(1);
}
