// A standard OpenID Connect relying party against Tessera, as a new user would write it with
// `openid-client` (v6, on oauth4webapi): discovery (OpenID's and RFC 8414's), a client
// registered through RegisterClient (a raw POST) and another through RFC 7591 dynamic
// registration, the authorization-code flow with PKCE S256,
// nonce and state driven through the login page by headless Chromium, the token exchange with
// client_secret_basic, the ID token validated by the library (signature, iss, aud, exp, nonce),
// UserInfo, a refresh, RFC 7662 introspection and RFC 7009 revocation; then `jose` verifies the
// access and ID tokens against the JWKS on its own.
//
// Usage: node openid_client_flow.mjs <Tessera URL> <instance id> <user> <password>
// Prints a JSON summary; any failed check throws (exit code 1). Run by
// test/e2e/test_openid_client.py.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import * as jose from 'jose';
import * as client from 'openid-client';

import { launchChromium } from './harness.mjs';

const [base, instanceId, user, password] = process.argv.slice(2);
const issuer = `${base}/${instanceId}`;
const insecure = { execute: [client.allowInsecureRequests] }; // http on loopback, tests only

// The relying party's callback: a loopback server on an ephemeral port (RFC 8252 §7.3).
const callbacks = [];
const callback = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/callback') callbacks.push(url); // not the browser's /favicon.ico
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!DOCTYPE html><title>RP</title><p id="done">back at the relying party</p>');
});
await new Promise((resolve) => callback.listen(0, '127.0.0.1', resolve));
const redirectUri = `http://127.0.0.1:${callback.address().port}/callback`;

const summary = {};
let context;
try {
  // RegisterClient (AWS's rest-json): the loopback redirect URI without a port matches any port.
  const registered = await fetch(`${base}/client/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      clientName: 'openid-client e2e',
      clientType: 'public',
      grantTypes: ['authorization_code', 'refresh_token'],
      redirectUris: ['http://127.0.0.1/callback'],
      scopes: ['openid', 'profile', 'email', 'offline_access'],
    }),
  });
  assert.equal(registered.status, 200, await registered.clone().text());
  const { clientId, clientSecret } = await registered.json();

  // Discovery, both ways the library knows.
  const config = await client.discovery(
    new URL(issuer),
    clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.ClientSecretBasic(clientSecret),
    insecure,
  );
  const rfc8414 = await client.discovery(
    new URL(issuer),
    clientId,
    undefined,
    client.ClientSecretBasic(clientSecret),
    { ...insecure, algorithm: 'oauth2' },
  );
  assert.deepEqual(rfc8414.serverMetadata(), config.serverMetadata());
  const metadata = config.serverMetadata();
  assert.equal(metadata.issuer, issuer);
  summary.discovery = metadata;

  // The authorization request, with PKCE, nonce and state.
  const codeVerifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  });

  context = await launchChromium();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const shown = await page.goto(authorizationUrl.href);
  assert.equal(shown.status(), 200);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL(`${redirectUri}**`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  assert.equal(await page.locator('#done').textContent(), 'back at the relying party');
  assert.equal(callbacks.length, 1);
  const landed = callbacks[0];
  summary.callback = Object.fromEntries(landed.searchParams);

  // Token exchange (client_secret_basic); the library validates the ID token.
  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(landed.pathname + landed.search, redirectUri),
    { pkceCodeVerifier: codeVerifier, expectedNonce: nonce, expectedState: state,
      idTokenExpected: true },
  );
  const claims = tokens.claims();
  assert.equal(claims.iss, issuer);
  assert.equal(claims.aud, clientId);
  assert.equal(claims.nonce, nonce);
  assert.equal(typeof claims.auth_time, 'number');
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  summary.idTokenClaims = claims;
  summary.scope = tokens.scope;

  // UserInfo, checked by the library against the ID token's subject.
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  summary.userinfo = userinfo;

  // jose on its own: the ID token and the access token against the JWKS.
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const id = await jose.jwtVerify(tokens.id_token, jwks, {
    issuer, audience: clientId, algorithms: ['ES256'], typ: 'JWT',
  });
  const access = await jose.jwtVerify(tokens.access_token, jwks, {
    issuer, algorithms: ['ES256'], typ: 'at+jwt',
  });
  assert.equal(access.payload.client_id, clientId);
  assert.equal(access.payload.sub, id.payload.sub);
  summary.accessTokenClaims = access.payload;

  // Refresh: new tokens; the refreshed ID token keeps the subject.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.access_token, tokens.access_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  if (refreshed.id_token) assert.equal(refreshed.claims().sub, claims.sub);
  summary.refreshed = { scope: refreshed.scope, idToken: Boolean(refreshed.id_token) };

  // RFC 7662 and RFC 7009 through the library (client_secret_basic again).
  const active = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, clientId);
  assert.equal(active.sub, claims.sub);
  // RFC 7591 through the library's own dynamic registration; the new client authenticates.
  const dynamic = await client.dynamicClientRegistration(
    new URL(issuer),
    {
      client_name: 'openid-client dynamic e2e',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile',
    },
    undefined,
    insecure,
  );
  const registeredMetadata = dynamic.clientMetadata();
  assert.match(registeredMetadata.client_secret, /^tscs_/);
  assert.equal(registeredMetadata.token_endpoint_auth_method, 'client_secret_basic');
  const foreign = await client.tokenIntrospection(dynamic, refreshed.access_token);
  assert.equal(foreign.active, false); // another client's token
  summary.dynamicRegistration = { client_id: dynamic.clientMetadata().client_id };

  // Another client's revocation changes nothing; the owner's ends the grant.
  await client.tokenRevocation(dynamic, refreshed.refresh_token);
  assert.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, true);
  await client.tokenRevocation(config, refreshed.refresh_token);
  const revoked = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(revoked.active, false);
  summary.introspection = { active, revoked };

  // prompt=none with the browser's live session: straight back with a code, no page.
  const silent = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid', prompt: 'none', state: 'silent',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  await page.goto(silent.href);
  const back = callbacks.at(-1);
  assert.equal(back.searchParams.get('state'), 'silent');
  assert.match(back.searchParams.get('code') ?? '', /^tsac_/);
  // Signed out, prompt=none answers login_required.
  await context.clearCookies();
  const signedOut = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid', prompt: 'none', state: 'out',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  await page.goto(signedOut.href);
  const refused = callbacks.at(-1);
  assert.equal(refused.searchParams.get('state'), 'out');
  assert.equal(refused.searchParams.get('error'), 'login_required');
  summary.promptNone = { live: 'code', signedOut: refused.searchParams.get('error') };

  console.log(JSON.stringify(summary));
} finally {
  await context?.close();
  callback.close();
}
