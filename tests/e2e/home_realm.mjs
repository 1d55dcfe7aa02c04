// Home-realm discovery in real headless Chromium with JavaScript turned off, by keyboard.
//
// Usage: node home_realm.mjs <app-url> <email> <login> <expected-text> [screenshot.png] [host,...]
// Opens the app, records which elements Tab reaches from the focused address field, types
// the address and presses Enter, signs in at the oidc-provider it was sent to, accepts the
// consent page if shown, and waits for `expected-text`. Prints {"ok":true,...} on success.
import { launch, signInAtProvider } from './browser.mjs';

const [start, email, login, expected, screenshot, hosts] = process.argv.slice(2);
const browser = await launch(hosts);
const fail = async (page, why) => {
  console.log(JSON.stringify({ ok: false, why, url: page.url(), body: (await page.content()).slice(0, 2000) }));
  await browser.close();
  process.exit(1);
};
const active = (page) => page.evaluate(() => {
  const e = document.activeElement;
  return e ? (e.id || e.className || e.tagName) : null;
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(start);
  await page.waitForSelector('#email', { timeout: 15000 }).catch(() => fail(page, 'no sign-in page'));
  // Whether the page's own scripts could run: a script element added now sets a flag only
  // if JavaScript is on.
  const javascript = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'document.documentElement.dataset.js = "on"';
    document.head.appendChild(s);
    return document.documentElement.dataset.js === 'on';
  });
  const focus = [await active(page)];
  await page.keyboard.press('Tab');
  focus.push(await active(page));
  await page.keyboard.press('Tab');
  focus.push(await active(page));
  await page.focus('#email');
  await page.keyboard.type(email);
  await page.keyboard.press('Enter');
  await signInAtProvider(page, login, fail);
  await page.waitForLoadState('load');
  if (await page.$('#accept')) await page.click('#accept');
  await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), expected, { timeout: 15000 })
    .catch(() => fail(page, `page never showed ${expected}`));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, javascript, focus, url: page.url(), title: await page.title() }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e) }));
  await browser.close();
  process.exit(1);
}
