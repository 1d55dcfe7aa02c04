// Browser sign-in in real headless Chromium (Debian's chromium, driven by playwright-core).
//
// Usage: node signin.mjs <start-url> <login> <expected-text> [screenshot.png] [host,host,...]
// Opens the start URL (an app behind the gateway), signs in at the oidc-provider login and
// consent pages, and checks that the app page shows `expected-text`. Listed hosts resolve to
// 127.0.0.1. Exit code 0 and a JSON line {"ok":true,...} on success.
import { launch, signInAtProvider } from './browser.mjs';

const [startUrl, login, expected, screenshot, hosts] = process.argv.slice(2);
const browser = await launch(hosts);
const fail = async (page, why) => {
  console.log(JSON.stringify({ ok: false, why, url: page.url(), body: (await page.content()).slice(0, 2000) }));
  await browser.close();
  process.exit(1);
};
try {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  await page.goto(startUrl);
  await signInAtProvider(page, login, fail);
  await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), expected, { timeout: 15000 })
    .catch(() => fail(page, `page never showed ${expected}`));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, url: page.url(), title: await page.title() }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e) }));
  await browser.close();
  process.exit(1);
}
