// Passkeys in real headless Chromium, with Chromium's virtual authenticator (CTAP2, user
// verification on) standing in for the device.
//
// Usage: node passkey.mjs <redemption-link> <login> <expected-text> <phishing-resistant-app-url> [screenshot.png] [host,...]
// Redeems the invitation and enrolls TOTP for the MFA app (codes from npm `otpauth`), which
// lands on `expected-text`; then opens the app that needs phishing resistance: the TOTP
// session is not enough, the page asks to create a passkey; creates it and lands there.
// Then signs in again from scratch and uses the passkey. Prints {"ok":true,...}.
import { failer, launch, otpauth, signInAtProvider, waitText } from './browser.mjs';
const OTPAuth = await otpauth();

const [link, login, expected, strictApp, screenshot, hosts] = process.argv.slice(2);
const browser = await launch(hosts);
const steps = [];
const fail = failer(browser, steps);
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  // Redeem, enroll TOTP for the MFA app.
  await page.goto(link);
  await page.click('a.button');
  await signInAtProvider(page, login, fail);
  await page.waitForSelector('#accept', { timeout: 15000 }).catch(() => fail(page, 'no consent page'));
  await page.click('#accept');
  await page.waitForSelector('#manual-key', { timeout: 15000 }).catch(() => fail(page, 'no TOTP enrollment'));
  const key = (await page.textContent('#manual-key')).replace(/\s+/g, '');
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key), digits: 6, period: 30 });
  await page.fill('#code', totp.generate());
  await page.click('#verify');
  await page.waitForSelector('#continue', { timeout: 15000 }).catch(() => fail(page, 'no recovery codes'));
  await page.click('#continue');
  await waitText(page, expected, `MFA app never showed ${expected}`, fail);
  steps.push({ page: 'totp app' });

  // The phishing-resistant app: TOTP is not enough, a passkey is created.
  await page.goto(strictApp);
  await page.waitForSelector('#passkey-go', { timeout: 15000 }).catch(() => fail(page, 'no passkey page'));
  if ((await page.getAttribute('#passkey-form', 'data-mode')) !== 'register') await fail(page, 'not a registration');
  steps.push({ page: 'create passkey' });
  await page.click('#passkey-go');
  await waitText(page, expected, `strict app never showed ${expected}`, fail);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  steps.push({ page: 'strict app', credentials: credentials.length, rpId: credentials[0] && credentials[0].rpId });

  // From scratch: sign in, then the passkey is used (no new registration).
  await context.clearCookies();
  await page.goto(strictApp);
  await signInAtProvider(page, login, fail);
  await page.waitForSelector('#passkey-go', { timeout: 15000 }).catch(() => fail(page, 'no passkey page again'));
  if ((await page.getAttribute('#passkey-form', 'data-mode')) !== 'authenticate') await fail(page, 'not an authentication');
  steps.push({ page: 'use passkey' });
  await page.click('#passkey-go');
  await waitText(page, expected, `strict app never showed ${expected} after the passkey`, fail);
  steps.push({ page: 'strict app again' });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, steps, url: page.url() }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, why: String(e), steps }));
  await browser.close();
  process.exit(1);
}
