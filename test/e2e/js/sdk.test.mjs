// The AWS SDK for JavaScript v3 (@aws-sdk/client-sso-oidc) against Tessera: code redemption,
// refresh, modeled errors, and token verification with jose against the published JWKS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  AccessDeniedException,
  CreateTokenWithIAMCommand,
  InvalidClientException,
  InvalidGrantException,
  InvalidScopeException,
  SSOOIDCClient,
} from '@aws-sdk/client-sso-oidc';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

import {
  DEMO_APP,
  DEMO_REDIRECT,
  OTHER_ROLE,
  ROOT_KEY_ID,
  ROOT_SECRET,
  Server,
  WEBAPP_ROLE,
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
