// `aws sso login` against Tessera in headless Chromium, with the JavaScript SDK making the
// sso-oidc calls the AWS CLI v2 makes:
// - the browser flow: RegisterClient with the CLI's loopback redirect URI (no port), /authorize
//   with `scopes` and PKCE, a real callback server on an ephemeral port that the browser is
//   redirected to, CreateToken authorization_code;
// - the device flow: RegisterClient, StartDeviceAuthorization, the device verification page
//   (the code filled in from verificationUriComplete, sign-in, consent), CreateToken device_code;
//   a denial; wrong codes throttled.
// Screenshots of the device pages go to $TS_ARTIFACTS_DIR.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  CreateTokenCommand,
  RegisterClientCommand,
  SSOOIDCClient,
  StartDeviceAuthorizationCommand,
} from '@aws-sdk/client-sso-oidc';

import { DEMO_PASSWORD, Server, launchChromium, pkcePair } from './harness.mjs';

const ARTIFACTS = resolve(process.env.TS_ARTIFACTS_DIR ?? 'build/test-artifacts');
const ACTION_TIMEOUT_MS = 15_000;
const START_URL = 'https://d-3333333333.awsapps.com/start';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

// The CLI's local callback server: 127.0.0.1 on an ephemeral port, answering /oauth/callback.
async function callbackServer() {
  const received = [];
  const httpServer = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== '/oauth/callback') {
      res.writeHead(404).end();
      return;
    }
    received.push(Object.fromEntries(url.searchParams));
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!DOCTYPE html><title>aws sso login</title><p id="done">You may close this window.');
  });
  await new Promise((ok) => httpServer.listen(0, '127.0.0.1', ok));
  const { port } = httpServer.address();
  return {
    received,
    redirectUri: `http://127.0.0.1:${port}/oauth/callback`,
    close: () => new Promise((ok) => httpServer.close(ok)),
  };
}

let server;
let sso;
let context;

async function newPage() {
  const page = await context.newPage();
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  return page;
}

async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

async function startDevice(clientName) {
  const registration = await sso.send(
    new RegisterClientCommand({ clientName, clientType: 'public', scopes: ['sso:account:access'] }),
  );
  const device = await sso.send(
    new StartDeviceAuthorizationCommand({
      clientId: registration.clientId,
      clientSecret: registration.clientSecret,
      startUrl: START_URL,
    }),
  );
  // One CreateToken poll, `interval` seconds after the previous answer, as the CLI sleeps
  // between polls.
  let lastAnswer = 0;
  const poll = async () => {
    const wait = lastAnswer + device.interval * 1000 - Date.now();
    if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
    try {
      return await sso.send(
        new CreateTokenCommand({
          clientId: registration.clientId,
          clientSecret: registration.clientSecret,
          grantType: DEVICE_GRANT,
          deviceCode: device.deviceCode,
        }),
      );
    } finally {
      lastAnswer = Date.now();
    }
  };
  return { registration, device, poll };
}

describe('aws sso login in headless Chromium', () => {
  before(async () => {
    server = await Server.start();
    // The sso-oidc operations the CLI calls are unsigned; the credentials are never used.
    sso = new SSOOIDCClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
      maxAttempts: 1,
    });
    context = await launchChromium({ viewport: { width: 800, height: 720 } });
  });
  after(async () => {
    await context?.close();
    await server?.stop();
  });

  test('browser flow: the loopback callback on an ephemeral port receives the code', async () => {
    const registration = await sso.send(
      new RegisterClientCommand({
        clientName: 'botocore-client-chromium',
        clientType: 'public',
        grantTypes: ['authorization_code', 'refresh_token'],
        redirectUris: ['http://127.0.0.1/oauth/callback'],
        issuerUrl: START_URL,
        scopes: ['sso:account:access'],
      }),
    );
    const callback = await callbackServer();
    try {
      const { verifier, challenge } = pkcePair();
      // The CLI's parameters, in its order.
      const q = new URLSearchParams({
        response_type: 'code',
        client_id: registration.clientId,
        redirect_uri: callback.redirectUri,
        state: 'cli-state-1',
        code_challenge_method: 'S256',
        scopes: 'sso:account:access',
        code_challenge: challenge,
      });
      const page = await newPage();
      const response = await page.goto(`${registration.authorizationEndpoint}?${q}`);
      assert.equal(response.status(), 200);
      assert.match(await page.locator('p.app').textContent(), /botocore-client-chromium/);
      await page.getByLabel('User name').fill('demo');
      await page.getByLabel('Password').fill(DEMO_PASSWORD);
      await Promise.all([
        page.waitForURL(`${callback.redirectUri}**`),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      assert.equal(await page.locator('#done').textContent(), 'You may close this window.');
      assert.equal(callback.received.length, 1);
      const { code, state } = callback.received[0];
      assert.equal(state, 'cli-state-1');
      assert.match(code, /^tsac_/);
      await page.close();

      const tokens = await sso.send(
        new CreateTokenCommand({
          clientId: registration.clientId,
          clientSecret: registration.clientSecret,
          grantType: 'authorization_code',
          code,
          redirectUri: callback.redirectUri,
          codeVerifier: verifier,
        }),
      );
      assert.equal(tokens.tokenType, 'Bearer');
      assert.ok(tokens.accessToken);
      assert.ok(tokens.refreshToken);
    } finally {
      await callback.close();
    }
  });

  test('device flow: enter the code, sign in, approve; the device then gets tokens', async () => {
    await context.clearCookies();
    const { device, poll } = await startDevice('device-approve');
    await assert.rejects(poll, { name: 'AuthorizationPendingException' });

    const page = await newPage();
    await page.goto(device.verificationUriComplete);
    assert.equal(await page.title(), 'Connect a device - Tessera');
    assert.equal(await page.getByLabel('Code').inputValue(), device.userCode);
    await screenshot(page, 'device-code.png');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel('User name').waitFor();
    assert.match(await page.locator('p.app').textContent(), /device-approve/);
    await page.getByLabel('User name').fill('demo');
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    assert.equal(await page.locator('#code').textContent(), device.userCode);
    assert.deepEqual(await page.locator('ul.scopes li').allTextContents(), ['sso:account:access']);
    await screenshot(page, 'device-consent.png');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Device approved' }).waitFor();
    assert.match(await page.getByRole('status').textContent(), /You may return to your device/);
    await page.close();

    const tokens = await poll();
    assert.equal(tokens.tokenType, 'Bearer');
    assert.ok(tokens.accessToken);
    await assert.rejects(poll, { name: 'InvalidGrantException' });
  });

  test('device flow: a signed-in user who denies stops the device', async () => {
    // Still signed in from the previous test: no password asked.
    const { device, poll } = await startDevice('device-deny');
    const page = await newPage();
    await page.goto(`${server.url}/device`);
    await page.getByLabel('Code').fill(device.userCode.toLowerCase().replace('-', ' '));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.getByRole('heading', { name: 'Request denied' }).waitFor();
    await page.close();
    await assert.rejects(poll, { name: 'AccessDeniedException' });
  });

  // Last: the limit is per client address, and every test here comes from 127.0.0.1.
  test('device flow: wrong codes are announced, then throttled', async () => {
    const { device, poll } = await startDevice('device-guessed');
    const page = await newPage();
    await page.goto(`${server.url}/device`);
    const submit = async (code) => {
      await page.getByLabel('Code').fill(code);
      const [response] = await Promise.all([
        page.waitForResponse(
          (r) => r.url() === `${server.url}/device` && r.request().method() === 'POST',
        ),
        page.getByRole('button', { name: 'Continue' }).click(),
      ]);
      await page.waitForLoadState();
      return response.status();
    };
    for (let i = 0; i < 10; i++) {
      assert.equal(await submit(`BCDF-GH${'JKLMNPQRST'[i]}Z`), 400);
      assert.match(await page.getByRole('alert').textContent(), /That code is not valid/);
    }
    assert.equal(await submit(device.userCode), 429);
    assert.match(await page.getByRole('alert').textContent(), /Too many incorrect codes/);
    await screenshot(page, 'device-throttled.png');
    await page.close();
    await assert.rejects(poll, { name: 'AuthorizationPendingException' });
  });
});
