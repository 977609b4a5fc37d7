// Headless Chromium loads Tessera's sign-in page over https. Chromium is given no way to skip
// verification: it trusts exactly the test leaf, pinned by the SHA-256 of its public key
// (--ignore-certificate-errors-spki-list, TS_SPKI_SHA256 in base64). TESSERA_URL is the page.
// Prints what it saw as JSON. Run by test/e2e/test_tls_proxies.py.
import { launchChromium } from './harness.mjs';

const pinned = process.env.TS_SPKI_SHA256 ?? '';
const context = await launchChromium({
  args: pinned ? [`--ignore-certificate-errors-spki-list=${pinned}`] : [],
});
const out = {};
try {
  const page = await context.newPage();
  try {
    const response = await page.goto(process.env.TESSERA_URL, { timeout: 15_000 });
    out.status = response.status();
    out.url = page.url();
    out.hasPassword = (await page.locator('input[type=password]').count()) > 0;
    out.secure = await page.evaluate(() => window.isSecureContext);
  } catch (e) {
    out.error = String(e.message).split('\n')[0];
  }
} finally {
  await context.close();
}
console.log(JSON.stringify(out));
