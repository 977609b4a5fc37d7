// The jwt-bearer grant with the AWS SDK for JavaScript v3: a real OpenID provider (npm
// oidc-provider, test/e2e/idp/oidc_idp.mjs) signs a user in, and its ID token is exchanged for
// Identity Center tokens; refusals minted with npm jose arrive as modeled exceptions.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPublicKey, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import {
  CreateTokenWithIAMCommand,
  InvalidGrantException,
  SSOOIDCClient,
} from '@aws-sdk/client-sso-oidc';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';

import { ROOT_KEY_ID, ROOT_SECRET, Server } from './harness.mjs';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const APP = 'arn:aws:sso::123456789012:application/ssoins-111111111111/apl-777777777777';
const TTI = 'arn:aws:sso::111111111111:trustedTokenIssuer/ssoins-111111111111/tti-js';
const IDP_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'idp', 'oidc_idp.mjs');

let server;
let idp;
let issuer;
let privateKey;
const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-js-idp-'));

const b64url = (b) => Buffer.from(b).toString('base64url');

async function startIdp() {
  const pair = await generateKeyPair('RS256', { extractable: true });
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.privateKey)), kid: 'js-1', alg: 'RS256', use: 'sig' };
  writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [jwk] }));
  writeFileSync(join(dir, 'accounts.json'), JSON.stringify({ alice: { email: 'alice@example.com' } }));
  idp = spawn('node', [IDP_SCRIPT, '--port', '0', '--keys', join(dir, 'keys.json'),
    '--accounts', join(dir, 'accounts.json')], { stdio: ['ignore', 'pipe', 'ignore'] });
  const first = await new Promise((resolve) => {
    createInterface({ input: idp.stdout }).once('line', resolve);
    idp.once('exit', () => resolve(''));
  });
  const m = /^IDP listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(first);
  if (!m) throw new Error(`the IdP did not start: ${first}`);
  issuer = m[1];
}

// The provider's authorization-code flow, cookies carried by hand across the redirects.
async function idpSignIn(account) {
  const cookies = new Map();
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  let url = `${issuer}/auth?` + new URLSearchParams({
    client_id: 'tessera-app', response_type: 'code', scope: 'openid email',
    redirect_uri: `${issuer}/cb`, login_hint: account,
    // A fresh nonce per sign-in, as a real relying party sends: without one, two sign-ins in the
    // same second yield byte-identical RS256 ID tokens, which the replay check rightly refuses.
    state: b64url(randomBytes(8)), nonce: b64url(randomBytes(8)),
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  for (let i = 0; i < 10; i++) {
    const r = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    if (r.status >= 300 && r.status < 400) {
      url = new URL(r.headers.get('location'), url).toString();
      continue;
    }
    const { code } = await r.json();
    const token = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: 'Basic ' + Buffer.from('tessera-app:idp-client-secret').toString('base64'),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code, redirect_uri: `${issuer}/cb`,
        code_verifier: verifier,
      }),
    });
    return (await token.json()).id_token;
  }
  throw new Error('too many redirects at the IdP');
}

function sso() {
  return new SSOOIDCClient({
    region: 'us-east-1',
    endpoint: server.url,
    credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
    maxAttempts: 1,
  });
}

const exchange = (assertion) =>
  sso().send(new CreateTokenWithIAMCommand({ clientId: APP, grantType: JWT_BEARER, assertion }));

async function refused(assertion, fragment) {
  await assert.rejects(exchange(assertion), (e) => {
    assert.ok(e instanceof InvalidGrantException, `${e.name}: ${e.message}`);
    assert.match(e.error_description, new RegExp(fragment));
    return true;
  });
}

describe('jwt-bearer with the JavaScript SDK and oidc-provider', () => {
  before(async () => {
    await startIdp();
    const bootstrap = join(dir, 'bootstrap.json');
    writeFileSync(bootstrap, JSON.stringify({
      TrustedTokenIssuers: [{
        TrustedTokenIssuerArn: TTI, Name: 'js-idp', TrustedTokenIssuerType: 'OIDC_JWT',
        TrustedTokenIssuerConfiguration: { OidcJwtConfiguration: {
          IssuerUrl: issuer, ClaimAttributePath: 'email',
          IdentityStoreAttributePath: 'emails.value', JwksRetrievalOption: 'OPEN_ID_DISCOVERY' } },
      }],
      Users: [{ UserName: 'alice', DisplayName: 'Alice', Emails: [{ Value: 'alice@example.com' }] }],
      Applications: [{
        ApplicationArn: APP, Name: 'jwt app', AssignmentRequired: true,
        Grants: [{ GrantType: JWT_BEARER, Grant: { JwtBearer: { AuthorizedTokenIssuers: [
          { TrustedTokenIssuerArn: TTI, AuthorizedAudiences: ['tessera-app'] }] } } }],
        Assignments: [{ PrincipalType: 'USER', UserName: 'alice' }],
      }],
    }));
    server = await Server.start(['--bootstrap', bootstrap, '--allow-insecure-loopback-issuers']);
  });

  after(async () => {
    await server?.stop();
    idp?.kill('SIGTERM');
  });

  test('an ID token from the IdP becomes Identity Center tokens', async () => {
    const r = await exchange(await idpSignIn('alice'));
    assert.equal(r.tokenType, 'Bearer');
    assert.equal(r.refreshToken, undefined); // the application has no RefreshToken grant
    assert.deepEqual(decodeJwt(r.idToken).act, { sub: TTI });
    assert.deepEqual(decodeJwt(r.accessToken).act, { sub: TTI });
    assert.equal(r.awsAdditionalDetails.identityContext, decodeJwt(r.idToken)['sts:identity_context']);
  });

  test('replay, expiry, audience and algorithm confusion are refused', async () => {
    const idToken = await idpSignIn('alice');
    await exchange(idToken);
    await refused(idToken, 'assertion has already been used');
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims, header = { alg: 'RS256', kid: 'js-1' }) =>
      new SignJWT({ email: 'alice@example.com', ...claims }).setProtectedHeader(header)
        .setIssuer(issuer).setAudience(claims.aud ?? 'tessera-app').setIssuedAt(claims.iat ?? now)
        .setExpirationTime(claims.exp ?? now + 300).sign(privateKey);
    await refused(await sign({ iat: now - 600, exp: now - 120 }), 'assertion has expired');
    await refused(await sign({ aud: 'someone-else' }), 'AuthorizedAudiences');
    const pem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' });
    const hs = await new SignJWT({ email: 'alice@example.com' })
      .setProtectedHeader({ alg: 'HS256', kid: 'js-1' }).setIssuer(issuer)
      .setAudience('tessera-app').setIssuedAt(now).setExpirationTime(now + 300)
      .sign(new TextEncoder().encode(pem));
    await refused(hs, "JWS alg 'HS256' is refused");
  });
});
