// A real browser (Debian's headless Chromium driven by playwright-core) signs in on the login
// page; the redirect to the application is intercepted to read the code, which the JavaScript
// SDK then redeems. A screenshot of the login page goes to $TS_ARTIFACTS_DIR/login-page.png.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CreateTokenWithIAMCommand, SSOOIDCClient } from '@aws-sdk/client-sso-oidc';

import {
  DEMO_APP,
  DEMO_PASSWORD,
  DEMO_REDIRECT,
  ROOT_KEY_ID,
  ROOT_SECRET,
  Server,
  launchChromium,
  pkcePair,
} from './harness.mjs';

const ARTIFACTS = resolve(process.env.TS_ARTIFACTS_DIR ?? 'build/test-artifacts');
const ACTION_TIMEOUT_MS = 15_000;

let server;
let context;

// What the server answered to the sign-in POST when it sent the browser to the application.
let serverRedirect = null;

// Opens a page whose navigations to the application's redirect URI are answered locally.
//
// Playwright does not route redirect hops (page.route docs; microsoft/playwright#33882), and
// https://mywebapp.example does not resolve, so the server's 303 is taken from the sign-in POST
// (fetched through the browser context, whose cookie jar it updates) and replayed as a
// navigation that the redirect-URI route does see.
async function newPage() {
  const page = await context.newPage();
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  await page.route(`${DEMO_REDIRECT}**`, (route) =>
    route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: '<!DOCTYPE html><title>My web app</title><p id="done">signed in</p>',
    }),
  );
  await page.route(`${server.url}/authorize`, async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const response = await route.fetch({ maxRedirects: 0 });
    const location = response.headers().location ?? '';
    if (response.status() !== 303 || !location.startsWith(DEMO_REDIRECT)) {
      return route.fulfill({ response });
    }
    serverRedirect = { status: response.status(), location, headers: response.headersArray() };
    const target = location.replaceAll('&', '&amp;').replaceAll('"', '&quot;');
    return route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: `<!DOCTYPE html><meta http-equiv="refresh" content="0;url=${target}">`,
    });
  });
  return page;
}

describe('sign-in in headless Chromium', () => {
  before(async () => {
    server = await Server.start();
    context = await launchChromium();
  });
  after(async () => {
    await context?.close();
    await server?.stop();
  });

  test('signs in, lands on the redirect URI with a code, and the SDK redeems it', async () => {
    const { verifier, challenge } = pkcePair();
    const page = await newPage();
    const response = await page.goto(server.authorizeUrl(challenge, { state: 'browser-1' }));
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'Sign in - Tessera');
    assert.equal(await page.locator('h1').textContent(), 'Sign in');
    assert.match(await page.locator('p.app').textContent(), /My web app/);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'login-page.png'), fullPage: true });

    await page.getByLabel('User name').fill('demo');
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await Promise.all([
      page.waitForURL(`${DEMO_REDIRECT}**`),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(await page.locator('#done').textContent(), 'signed in');
    assert.equal(serverRedirect?.status, 303);
    assert.equal(serverRedirect.location, page.url());
    const landed = new URL(page.url());
    assert.equal(landed.origin + landed.pathname, DEMO_REDIRECT);
    assert.equal(landed.searchParams.get('state'), 'browser-1');
    assert.equal(landed.searchParams.get('iss'), server.issuer);
    const code = landed.searchParams.get('code');
    assert.match(code, /^tsac_/);

    // The browser now holds a session cookie scoped to the server.
    const cookies = await context.cookies(server.url);
    const session = cookies.find((c) => c.name === 'tessera_session');
    assert.ok(session, 'no session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');

    const sso = new SSOOIDCClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
      maxAttempts: 1,
    });
    const tokens = await sso.send(
      new CreateTokenWithIAMCommand({
        clientId: DEMO_APP,
        grantType: 'authorization_code',
        code,
        redirectUri: DEMO_REDIRECT,
        codeVerifier: verifier,
      }),
    );
    assert.equal(tokens.tokenType, 'Bearer');
    assert.match(tokens.refreshToken, /^tsrt_/);
    await page.close();
  });

  test('a wrong password shows the alert and stays on the login page', async () => {
    // Start signed out: drop the session the previous test left.
    await context.clearCookies();
    const { challenge } = pkcePair();
    const page = await newPage();
    await page.goto(server.authorizeUrl(challenge));
    await page.getByLabel('User name').fill('demo');
    await page.getByLabel('Password').fill('not the password');
    const [response] = await Promise.all([
      page.waitForResponse(
        (r) => r.url() === `${server.url}/authorize` && r.request().method() === 'POST',
      ),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(response.status(), 401);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal((await alert.textContent()).trim(), 'Incorrect user name or password.');
    assert.equal(new URL(page.url()).pathname, '/authorize');
    assert.equal(await page.getByLabel('User name').inputValue(), 'demo');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'login-page-error.png'), fullPage: true });
    await page.close();
  });
});
