// A real OpenID provider (npm oidc-provider, pinned in test/e2e/package.json) for Tessera's
// jwt-bearer end-to-end tests: it signs users in and issues ID tokens that Tessera accepts
// through a trusted token issuer.
//
//   node test/e2e/idp/oidc_idp.mjs --port 0 --keys keys.json --accounts accounts.json
//
// keys.json is a private JWK Set (the test generates it, so it can rotate keys by restarting
// the IdP with another set on the same port, and mint negative cases with the same key).
// accounts.json maps account ids to their claims ({"alice": {"email": "alice@example.com"}}).
// The first stdout line is "IDP listening on http://127.0.0.1:<port>" (the issuer).
//
// Sign-in is the provider's real authorization-code flow; the interaction step (normally a
// login form) signs in the account named by `login_hint` and grants the requested scopes, so a
// cookie-keeping HTTP client can run the whole flow. The client's redirect URI is served here
// too (/cb) and answers the code as JSON.
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const keys = JSON.parse(fs.readFileSync(args.keys, 'utf8'));
const accounts = JSON.parse(fs.readFileSync(args.accounts, 'utf8'));

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(args.port || 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

export const CLIENT_ID = 'tessera-app';
const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: 'idp-client-secret',
    redirect_uris: [`${issuer}/cb`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: keys,
  // ID tokens carry the scope claims (email) even though an access token is issued too.
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username'] },
  pkce: { required: () => false },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, id) => (accounts[id] ? {
    accountId: id,
    claims: () => ({ sub: id, preferred_username: id, email_verified: true, ...accounts[id] }),
  } : undefined),
  cookies: { keys: ['tessera-e2e-idp'] },
  ttl: { IdToken: 3600, AccessToken: 3600, Session: 3600, Interaction: 600, Grant: 3600 },
});
provider.proxy = false;

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    if (req.url.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(req, res);
      const accountId = details.params.login_hint;
      if (!accounts[accountId]) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown login_hint');
        return;
      }
      const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, {
        login: { accountId },
        consent: { grantId },
      }, { mergeWithLastSubmission: false });
      return;
    }
    if (req.url.startsWith('/cb')) {
      const url = new URL(req.url, issuer);
      res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(Object.fromEntries(url.searchParams)));
      return;
    }
    callback(req, res);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
  }
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdout.write(`IDP listening on ${issuer}\n`);
