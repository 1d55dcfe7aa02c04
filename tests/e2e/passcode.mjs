// Redemption with an email passcode in real headless Chromium, by keyboard.
//
// Usage: node passcode.mjs <redemption-link> <email> <expected-text> [screenshot.png] [host,...]
// Opens the link, clicks the passcode provider's button, types the address into the field
// that has focus and presses Enter, then prints {"waiting":"code"} and reads the code from
// stdin (the test takes it from the mail), types it and presses Enter, accepts the consent
// page and waits for `expected-text`. Prints {"ok":true,...} on success.
import { createInterface } from 'node:readline';
import { launch } from './browser.mjs';

const [link, email, expected, screenshot, hosts] = process.argv.slice(2);
const browser = await launch(hosts);
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
const fail = async (page, why) => {
  console.log(JSON.stringify({ ok: false, why, url: page.url(), body: (await page.content()).slice(0, 2000) }));
  await browser.close();
  process.exit(1);
};
const text = (page) => page.evaluate(() => document.body ? document.body.innerText : '');
try {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  await page.goto(link);
  await page.click('a.button[href^="/.borderless/signin/email"]');
  await page.waitForSelector('#email', { timeout: 15000 }).catch(() => fail(page, 'no address page'));
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  const label = await page.evaluate(() => {
    const input = document.getElementById('email');
    return input && input.labels && input.labels[0] ? input.labels[0].innerText : '';
  });
  await page.keyboard.type(email);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#code', { timeout: 15000 }).catch(() => fail(page, 'no code page'));
  console.log(JSON.stringify({ waiting: 'code' }));
  const code = (await nextLine()).trim();
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#accept', { timeout: 15000 }).catch(() => fail(page, 'no consent page'));
  await page.click('#accept');
  await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), expected, { timeout: 15000 })
    .catch(() => fail(page, `page never showed ${expected}`));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, focused, label, url: page.url(), title: await page.title() }));
  await browser.close();
  process.exit(0);
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e) }));
  await browser.close();
  process.exit(1);
}
