// The gateway's TOTP step-up in real headless Chromium.
//
// Usage: node mfa.mjs <redemption-link> <login> <expected-text> [screenshot.png] [host,...]
// Redeems the invitation (IdP sign-in, consent), lands on the authenticator enrollment,
// reads the manual key off the page, types the code an authenticator app (the npm
// `otpauth` package) would show, notes the recovery codes, continues to the app and checks
// it shows `expected-text`. Then, in a second browser of the same user: signs in again, is
// asked only for a code, types the code just used (must be refused as used) and then the
// next one (must let in). Prints {"ok":true,...} on success.
import { failer, launch, otpauth, signInAtProvider, waitText } from './browser.mjs';
const OTPAuth = await otpauth();

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
  await page.waitForSelector('#manual-key', { timeout: 15000 }).catch(() => fail(page, 'no enrollment page'));
  const qr = await page.$('.qr svg');
  if (!qr) await fail(page, 'no QR code');
  const key = (await page.textContent('#manual-key')).replace(/\s+/g, '');
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key), digits: 6, period: 30 });
  steps.push({ page: 'enroll', title: await page.title() });
  const first = totp.generate();
  await page.fill('#code', first);
  await page.click('#verify');
  await page.waitForSelector('#recovery-codes', { timeout: 15000 }).catch(() => fail(page, 'no recovery codes'));
  const codes = await page.$$eval('#recovery-codes code', (els) => els.map((e) => e.textContent));
  steps.push({ page: 'recovery', codes: codes.length });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await page.click('#continue');
  await waitText(page, expected, `app never showed ${expected}`, fail);
  steps.push({ page: 'app', url: page.url() });

  // A second browser: the IdP sign-in, then only the code.
  const other = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await other.goto(new URL('/', page.url()).href);
  await signInAtProvider(other, login, fail);
  await other.waitForSelector('#code', { timeout: 15000 }).catch(() => fail(other, 'no challenge page'));
  if (await other.$('#manual-key')) await fail(other, 'enrollment again instead of a challenge');
  await other.fill('#code', first);
  await other.click('#verify');
  await waitText(other, 'already used', 'the reused code was not refused', fail);
  steps.push({ page: 'replay refused' });
  const next = totp.generate({ timestamp: Date.now() + 30000 });
  await other.fill('#code', next);
  await other.click('#verify');
  await waitText(other, expected, `second browser never reached ${expected}`, fail);
  steps.push({ page: 'app again', url: other.url() });
  console.log(JSON.stringify({ ok: true, steps, recovery: codes.length, url: page.url() }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e), steps }));
  await browser.close();
  process.exit(1);
}
