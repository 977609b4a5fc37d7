// The AWS SDK for JavaScript v3 (@aws-sdk/client-sso-oidc) against Tessera: code redemption,
// refresh, modeled errors, and token verification with jose against the published JWKS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  AccessDeniedException,
  CreateTokenWithIAMCommand,
  InvalidClientException,
  InvalidGrantException,
  InvalidRequestException,
  InvalidScopeException,
  SSOOIDCClient,
  UnauthorizedClientException,
} from '@aws-sdk/client-sso-oidc';
import { SignatureV4 } from '@smithy/signature-v4';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

import {
  DEMO_APP,
  DEMO_REDIRECT,
  OTHER_ROLE,
  ROOT_KEY_ID,
  ROOT_SECRET,
  Server,
  WEBAPP_ROLE,
  hiddenInputs,
  pkcePair,
  signIn,
} from './harness.mjs';

let server;

function client(accessKeyId = ROOT_KEY_ID, secretAccessKey = ROOT_SECRET) {
  return new SSOOIDCClient({
    region: 'us-east-1',
    endpoint: server.url,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
}

async function redeem(sso = client()) {
  const { verifier, challenge } = pkcePair();
  const redirect = await signIn(server, challenge);
  return sso.send(
    new CreateTokenWithIAMCommand({
      clientId: DEMO_APP,
      grantType: 'authorization_code',
      code: redirect.code,
      redirectUri: DEMO_REDIRECT,
      codeVerifier: verifier,
    }),
  );
}

// Resolves to the error the promise rejects with; fails if it resolves.
async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('the request was expected to fail');
}

describe('CreateTokenWithIAM with the JavaScript SDK', () => {
  before(async () => {
    server = await Server.start();
  });
  after(async () => {
    await server?.stop();
  });

  test('redeems a code and refreshes', async () => {
    const sso = client();
    const first = await redeem(sso);
    assert.equal(first.$metadata.httpStatusCode, 200);
    assert.equal(first.tokenType, 'Bearer');
    assert.equal(first.expiresIn, 3600);
    assert.equal(first.issuedTokenType, 'urn:ietf:params:oauth:token-type:refresh_token');
    assert.deepEqual(first.scope, ['openid', 'aws', 'sts:identity_context']);
    assert.match(first.refreshToken, /^tsrt_/);
    assert.ok(first.awsAdditionalDetails.identityContext);

    const second = await sso.send(
      new CreateTokenWithIAMCommand({
        clientId: DEMO_APP,
        grantType: 'refresh_token',
        refreshToken: first.refreshToken,
        scope: ['openid'],
      }),
    );
    assert.deepEqual(second.scope, ['openid']);
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.ok(second.idToken);
    assert.equal(second.awsAdditionalDetails, undefined);
  });

  test('the ID token and access token verify with jose against the JWKS', async () => {
    const r = await redeem();
    const discovery = await (
      await fetch(server.issuer + '/.well-known/openid-configuration')
    ).json();
    assert.equal(discovery.issuer, server.issuer);
    const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));

    const id = await jwtVerify(r.idToken, jwks, {
      issuer: server.issuer,
      audience: DEMO_APP,
      algorithms: ['ES256'],
    });
    assert.equal(id.protectedHeader.alg, 'ES256');
    assert.equal(id.payload['aws:identity_store_id'], 'd-3333333333');
    assert.equal(id.payload['sts:identity_context'], r.awsAdditionalDetails.identityContext);
    assert.equal(id.payload.exp - id.payload.iat, 3600);

    const access = await jwtVerify(r.accessToken, jwks, {
      issuer: server.issuer,
      audience: DEMO_APP,
      algorithms: ['ES256'],
      typ: 'at+jwt',
    });
    assert.equal(access.payload.sub, id.payload.sub);
    assert.equal(access.payload.client_id, DEMO_APP);
    assert.equal(decodeProtectedHeader(r.accessToken).kid, id.protectedHeader.kid);

    // A wrong audience is refused: the check above is not vacuous.
    await assert.rejects(
      jwtVerify(r.idToken, jwks, { issuer: server.issuer, audience: 'someone-else' }),
      { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' },
    );
  });

  test('an unknown code is an InvalidGrantException', async () => {
    const { verifier } = pkcePair();
    const e = await rejection(
      client().send(
        new CreateTokenWithIAMCommand({
          clientId: DEMO_APP,
          grantType: 'authorization_code',
          code: 'tsac_bogus',
          redirectUri: DEMO_REDIRECT,
          codeVerifier: verifier,
        }),
      ),
    );
    assert.ok(e instanceof InvalidGrantException, `got ${e?.name}: ${e?.message}`);
    assert.equal(e.name, 'InvalidGrantException');
    assert.equal(e.error, 'invalid_grant');
    assert.equal(e.error_description, 'Invalid authorization code provided');
    assert.equal(e.message, 'Invalid authorization code provided');
    assert.equal(e.$fault, 'client');
    assert.equal(e.$metadata.httpStatusCode, 400);
  });

  test('a reused refresh token is an InvalidGrantException', async () => {
    const sso = client();
    const first = await redeem(sso);
    const refresh = () =>
      sso.send(
        new CreateTokenWithIAMCommand({
          clientId: DEMO_APP,
          grantType: 'refresh_token',
          refreshToken: first.refreshToken,
        }),
      );
    await refresh();
    const e = await rejection(refresh());
    assert.ok(e instanceof InvalidGrantException, `got ${e?.name}`);
    assert.equal(e.error, 'invalid_grant');
    assert.match(e.error_description, /already been used/);
  });

  test('an unknown application is an InvalidClientException (401)', async () => {
    const e = await rejection(
      client().send(
        new CreateTokenWithIAMCommand({
          clientId: 'arn:aws:sso::123456789012:application/ssoins-111111111111/apl-999999999999',
          grantType: 'refresh_token',
          refreshToken: 'tsrt_x',
        }),
      ),
    );
    assert.ok(e instanceof InvalidClientException, `got ${e?.name}`);
    assert.equal(e.error, 'invalid_client');
    assert.match(e.error_description, /no application with ARN/);
    assert.equal(e.$metadata.httpStatusCode, 401);
  });

  test('a scope outside the grant is an InvalidScopeException', async () => {
    const first = await redeem();
    const e = await rejection(
      client().send(
        new CreateTokenWithIAMCommand({
          clientId: DEMO_APP,
          grantType: 'refresh_token',
          refreshToken: first.refreshToken,
          scope: ['s3:access_grants:read_write'],
        }),
      ),
    );
    assert.ok(e instanceof InvalidScopeException, `got ${e?.name}`);
    assert.equal(e.error, 'invalid_scope');
  });

  test('a principal outside the actor policy is denied; webapp succeeds', async () => {
    const other = await server.newAccessKey(OTHER_ROLE);
    const e = await rejection(
      client(other.accessKeyId, other.secretAccessKey).send(
        new CreateTokenWithIAMCommand({
          clientId: DEMO_APP,
          grantType: 'refresh_token',
          refreshToken: 'tsrt_x',
        }),
      ),
    );
    assert.ok(e instanceof AccessDeniedException, `got ${e?.name}`);
    assert.equal(e.error, 'access_denied');
    assert.equal(
      e.error_description,
      `User: ${OTHER_ROLE} is not authorized to perform: sso-oauth:CreateTokenWithIAM on ` +
        `resource: ${DEMO_APP}`,
    );

    const webapp = await server.newAccessKey(WEBAPP_ROLE);
    const ok = await redeem(client(webapp.accessKeyId, webapp.secretAccessKey));
    assert.equal(ok.tokenType, 'Bearer');
  });

  test('a wrong secret is an InvalidSignatureException service error (403)', async () => {
    const e = await rejection(
      client(ROOT_KEY_ID, ROOT_SECRET + 'x').send(
        new CreateTokenWithIAMCommand({
          clientId: DEMO_APP,
          grantType: 'refresh_token',
          refreshToken: 'tsrt_x',
        }),
      ),
    );
    assert.equal(e.name, 'InvalidSignatureException');
    assert.match(e.message, /The request signature we calculated does not match/);
    assert.equal(e.$metadata.httpStatusCode, 403);
  });

  test('no request caused an internal error', () => {
    assert.doesNotMatch(server.serverLog(), /^error request_id/m);
  });
});

// --- Token exchange, introspection and revocation (issue 5) ---
// The applications of test/e2e/tx_support.py: A signs users in and names B (and E) as targets of
// tx:read; B names C; D is named by nobody; E lacks the TokenExchange grant.
const PREFIX = 'arn:aws:sso::123456789012:application/ssoins-111111111111/';
const APP_A = PREFIX + 'apl-a00000000001';
const APP_B = PREFIX + 'apl-b00000000002';
const APP_C = PREFIX + 'apl-c00000000003';
const APP_D = PREFIX + 'apl-d00000000004';
const APP_E = PREFIX + 'apl-e00000000005';
const REDIRECT_A = 'https://a.example/callback';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const REFRESH_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token';

function txBootstrapFile() {
  const app = (arn, grants, scopes) => ({
    ApplicationArn: arn,
    Name: arn.slice(-16),
    AssignmentRequired: true,
    Grants: grants,
    AccessScopes: Object.entries(scopes).map(([Scope, AuthorizedTargets]) => ({
      Scope,
      AuthorizedTargets,
    })),
    Assignments: [{ PrincipalType: 'USER', UserName: 'demo' }],
  });
  const exchangeGrant = { GrantType: EXCHANGE, Grant: { TokenExchange: {} } };
  const refreshGrant = { GrantType: 'refresh_token', Grant: { RefreshToken: {} } };
  const codeGrant = {
    GrantType: 'authorization_code',
    Grant: { AuthorizationCode: { RedirectUris: [REDIRECT_A] } },
  };
  const doc = {
    Applications: [
      app(APP_A, [codeGrant, refreshGrant], { 'tx:read': [APP_B, APP_E] }),
      app(APP_B, [exchangeGrant, refreshGrant], { 'tx:read': [APP_C] }),
      app(APP_C, [exchangeGrant], { 'tx:read': [] }),
      app(APP_D, [exchangeGrant], { 'tx:read': [] }),
      app(APP_E, [refreshGrant], { 'tx:read': [] }),
    ],
  };
  const path = join(mkdtempSync(join(tmpdir(), 'tessera-tx-')), 'bootstrap.json');
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

// Signs the demo user in to A through the login page and redeems the code.
async function signInToA(srv) {
  const { verifier, challenge } = pkcePair();
  const page = await fetch(srv.authorizeUrl(challenge, { clientId: APP_A, redirectUri: REDIRECT_A }), {
    redirect: 'manual',
  });
  assert.equal(page.status, 200);
  const cookies = page.headers
    .getSetCookie()
    .map((c) => c.split(';', 1)[0])
    .join('; ');
  const form = new URLSearchParams({
    ...hiddenInputs(await page.text()),
    username: 'demo',
    password: 'correct horse battery staple',
  });
  const post = await fetch(srv.url + '/authorize', {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Cookie: cookies,
      Origin: srv.url,
    },
    body: form.toString(),
  });
  assert.equal(post.status, 303);
  const code = new URL(post.headers.get('location')).searchParams.get('code');
  const sso = new SSOOIDCClient({
    region: 'us-east-1',
    endpoint: srv.url,
    credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
    maxAttempts: 1,
  });
  return sso.send(
    new CreateTokenWithIAMCommand({
      clientId: APP_A,
      grantType: 'authorization_code',
      code,
      redirectUri: REDIRECT_A,
      codeVerifier: verifier,
    }),
  );
}

function exchangeCommand(target, subjectToken, extra = {}) {
  return new CreateTokenWithIAMCommand({
    clientId: target,
    grantType: EXCHANGE,
    subjectToken,
    subjectTokenType: ACCESS_TYPE,
    ...extra,
  });
}

function payload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

// SHA-256 for the SigV4 signer, from node:crypto.
class NodeSha256 {
  constructor(secret) {
    this.hash = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data) {
    this.hash.update(typeof data === 'string' ? Buffer.from(data) : data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

// POST <path>?aws_iam=t with a JSON body, SigV4-signed for sso-oauth like the SDK signs.
async function signedPost(srv, path, body) {
  const url = new URL(srv.url + path + '?aws_iam=t');
  const signer = new SignatureV4({
    service: 'sso-oauth',
    region: 'us-east-1',
    credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
    sha256: NodeSha256,
  });
  const text = JSON.stringify(body);
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: { aws_iam: 't' },
    headers: { 'content-type': 'application/json', host: url.host },
    body: text,
  });
  const r = await fetch(url, { method: 'POST', headers: signed.headers, body: text });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

describe('token exchange, introspection and revocation with the JavaScript SDK', () => {
  let srv;
  let sso;
  before(async () => {
    srv = await Server.start(['--bootstrap', txBootstrapFile()]);
    sso = new SSOOIDCClient({
      region: 'us-east-1',
      endpoint: srv.url,
      credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
      maxAttempts: 1,
    });
  });
  after(async () => {
    await srv?.stop();
  });

  test('A -> B -> C keeps the chain of actors', async () => {
    const a = await signInToA(srv);
    const b = await sso.send(exchangeCommand(APP_B, a.accessToken));
    assert.equal(b.issuedTokenType, ACCESS_TYPE);
    assert.equal(b.refreshToken, undefined);
    assert.deepEqual(b.scope, ['openid', 'aws', 'sts:identity_context', 'tx:read']);
    assert.ok(b.idToken);
    assert.ok(b.awsAdditionalDetails.identityContext);
    assert.deepEqual(payload(b.accessToken).act, { sub: APP_A });
    assert.equal(payload(b.accessToken).client_id, APP_B);
    const c = await sso.send(exchangeCommand(APP_C, b.accessToken));
    assert.deepEqual(payload(c.accessToken).act, { sub: APP_B, act: { sub: APP_A } });
    assert.deepEqual(payload(c.idToken).act, { sub: APP_B, act: { sub: APP_A } });
  });

  test('a requested refresh token', async () => {
    const a = await signInToA(srv);
    const b = await sso.send(exchangeCommand(APP_B, a.accessToken, { requestedTokenType: REFRESH_TYPE }));
    assert.equal(b.issuedTokenType, REFRESH_TYPE);
    assert.match(b.refreshToken, /^tsrt_/);
    const refreshed = await sso.send(
      new CreateTokenWithIAMCommand({ clientId: APP_B, grantType: 'refresh_token', refreshToken: b.refreshToken }),
    );
    assert.deepEqual(payload(refreshed.accessToken).act, { sub: APP_A });
  });

  test('every refusal by its exception class', async () => {
    const a = await signInToA(srv);
    const b = await sso.send(exchangeCommand(APP_B, a.accessToken));
    const [h, p, s] = a.accessToken.split('.');
    const forged = { ...payload(a.accessToken), sub: '00000000-0000-0000-0000-000000000000' };
    const tampered = [h, Buffer.from(JSON.stringify(forged)).toString('base64url'), s].join('.');
    const revoked = await signInToA(srv);
    assert.equal((await signedPost(srv, '/revoke', { clientId: APP_A, token: revoked.refreshToken })).status, 200);
    const cases = [
      [APP_B, b.accessToken, {}, InvalidGrantException, 'issued to this same application'],
      [APP_D, a.accessToken, {}, InvalidGrantException, 'has not authorized this application'],
      [APP_B, revoked.accessToken, {}, InvalidGrantException, 'has been revoked'],
      [APP_B, tampered, {}, InvalidGrantException, 'Invalid subject token'],
      [APP_B, a.idToken, {}, InvalidRequestException, 'not an access token'],
      [APP_B, a.refreshToken, {}, InvalidRequestException, 'is a refresh token'],
      [APP_B, a.accessToken, { subjectTokenType: REFRESH_TYPE }, InvalidRequestException, 'subjectTokenType must be'],
      [APP_E, a.accessToken, {}, UnauthorizedClientException, 'not authorized for grant type'],
      [APP_C, a.accessToken, { requestedTokenType: REFRESH_TYPE }, UnauthorizedClientException, 'refresh_token'],
      [APP_B, a.accessToken, { scope: ['nope'] }, InvalidScopeException, 'nope'],
    ];
    for (const [target, token, extra, type, fragment] of cases) {
      const e = await rejection(sso.send(exchangeCommand(target, token, extra)));
      assert.ok(e instanceof type, `${fragment}: got ${e.name}`);
      assert.match(e.error_description, new RegExp(fragment));
    }
  });

  test('an expired subject token is InvalidGrantException', async () => {
    const short = await Server.start(['--bootstrap', txBootstrapFile(), '--access-token-ttl', '1']);
    try {
      const a = await signInToA(short);
      await new Promise((r) => setTimeout(r, 2200)); // past exp, whatever the rounding
      const shortSso = new SSOOIDCClient({
        region: 'us-east-1',
        endpoint: short.url,
        credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
        maxAttempts: 1,
      });
      const e = await rejection(shortSso.send(exchangeCommand(APP_B, a.accessToken)));
      assert.ok(e instanceof InvalidGrantException, e.name);
      assert.match(e.error_description, /Subject token has expired/);
    } finally {
      await short.stop();
    }
  });

  test('introspection and family revocation through signed requests', async () => {
    const a = await signInToA(srv);
    const b = await sso.send(exchangeCommand(APP_B, a.accessToken, { requestedTokenType: REFRESH_TYPE }));
    const active = await signedPost(srv, '/introspect', { clientId: APP_B, token: b.accessToken });
    assert.equal(active.status, 200);
    assert.equal(active.body.active, true);
    assert.equal(active.body.client_id, APP_B);
    assert.equal(active.body.sub, payload(a.accessToken).sub);
    assert.deepEqual(active.body.act, { sub: APP_A });
    assert.equal(active.body.scope, b.scope.join(' '));
    const other = await signedPost(srv, '/introspect', { clientId: APP_A, token: b.accessToken });
    assert.deepEqual(other.body, { active: false });

    const revoke = await signedPost(srv, '/revoke', { clientId: APP_A, token: a.refreshToken });
    assert.equal(revoke.status, 200);
    for (const [clientId, token] of [
      [APP_A, a.accessToken],
      [APP_B, b.accessToken],
      [APP_B, b.refreshToken],
    ]) {
      const r = await signedPost(srv, '/introspect', { clientId, token });
      assert.deepEqual(r.body, { active: false });
    }
  });

  test('revoking one access token makes only it inactive', async () => {
    const a = await signInToA(srv);
    await signedPost(srv, '/revoke', { clientId: APP_A, token: a.accessToken });
    const r = await signedPost(srv, '/introspect', { clientId: APP_A, token: a.accessToken });
    assert.deepEqual(r.body, { active: false });
    const refresh = await signedPost(srv, '/introspect', { clientId: APP_A, token: a.refreshToken });
    assert.equal(refresh.body.active, true);
  });

  test('exchanged access tokens verify offline with jose', async () => {
    const a = await signInToA(srv);
    const b = await sso.send(exchangeCommand(APP_B, a.accessToken));
    const issuer = srv.url + '/ssoins-111111111111';
    const keys = createRemoteJWKSet(new URL(issuer + '/.well-known/jwks.json'));
    const { payload: claims, protectedHeader } = await jwtVerify(b.accessToken, keys, {
      issuer,
      audience: APP_B,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.deepEqual(claims.act, { sub: APP_A });
    // An ID token is refused where an access token is expected.
    await assert.rejects(jwtVerify(b.idToken, keys, { issuer, typ: 'at+jwt', algorithms: ['ES256'] }));
  });

  test('no request caused an internal error', () => {
    assert.doesNotMatch(srv.serverLog(), /^error request_id/m);
  });
});
