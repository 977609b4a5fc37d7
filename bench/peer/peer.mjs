#!/usr/bin/env node
// Benchmark peer: npm `oidc-provider` (pinned in package.json) configured as a rotating
// refresh-token server with ES256 JWT access tokens (typ at+jwt) and ES256 ID tokens, in-memory
// store. See README.md for the reasons behind each setting.
//
//   node peer.mjs --port P --seed N --out seed.json [--host 127.0.0.1] [--store-size M]
//
// Prints "peer ready <port>" on stdout once it serves; exits cleanly on SIGTERM/SIGINT.
// --port 0 picks a free port (the printed port and seed.json's token_url carry the real one).

// oidc-provider reads nothing from NODE_ENV itself, but Koa (its base class) does: 'production'
// is what a deployment runs with. Set it before anything reads it unless the caller chose one.
process.env.NODE_ENV ??= 'production';

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
// The default in-memory adapter's own class and store, used with a bigger bound (see README.md,
// "Store"): the package default caps the store at 1,000 entries, which evicts live grants once a
// benchmark holds more than a few hundred chains.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

export const CLIENT_ID = 'tessera-bench';
export const REDIRECT_URI = 'http://127.0.0.1/callback';
export const SCOPE = 'openid offline_access';
// The one resource server: every access token is a JWT for this audience.
export const RESOURCE = 'urn:tessera:bench:api';

const DAY = 24 * 60 * 60;

function es256SigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    ...jwk, kid: `es256-${crypto.randomBytes(6).toString('hex')}`, alg: 'ES256', use: 'sig',
  };
}

function adapterFactory(storeSize) {
  const store = new LRU({ maxSize: storeSize });
  return (model) => new MemoryAdapter(model, store, 0);
}

function configuration({ clientSecret, storeSize }) {
  return {
    adapter: adapterFactory(storeSize),
    jwks: { keys: [es256SigningKey()] },
    clients: [{
      client_id: CLIENT_ID,
      client_secret: clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      id_token_signed_response_alg: 'ES256',
    }],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    // Only ES256 is offered for ID tokens, so nothing can fall back to RS256.
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    scopes: ['openid', 'offline_access'],
    claims: { openid: ['sub'] },
    // Every refresh consumes the presented token and issues a new one (Tessera rotates always).
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && code.scopes.has('offline_access'),
    // Stand-in account store: every subject exists, the ID token carries `sub` only.
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        // Refreshes use the resource the grant was issued for without a `resource` parameter;
        // without this, a grant with scope openid would get an opaque userinfo token instead.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => {
          if (resource !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: SCOPE,
            audience: RESOURCE,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    // Explicit lifetimes (the defaults print a notice the first time they are called).
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * DAY,
      Grant: 14 * DAY,
      Interaction: 3600,
      Session: 14 * DAY,
    },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    // No interactive login is served: grants are created by seedGrants below.
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
  };
}

// Creates `count` grants the way the authorization_code grant would leave them after a consent
// (Grant with the OIDC and resource scopes) and issues each one's first refresh token with the
// same fields issueTokens() in lib/helpers/grant_common.js gives it. Returns the token values.
async function seedGrants(provider, count) {
  const client = await provider.Client.find(CLIENT_ID);
  const authTime = Math.floor(Date.now() / 1000);
  const tokens = new Array(count);
  for (let i = 0; i < count; i += 1) {
    const accountId = `user-${i}`;
    const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
    grant.addOIDCScope(SCOPE);
    grant.addResourceScope(RESOURCE, SCOPE);
    const grantId = await grant.save();

    const rt = new provider.RefreshToken({
      accountId,
      authTime,
      client,
      expiresWithSession: false, // offline_access: the token outlives any session
      grantId,
      gty: 'authorization_code',
      resource: RESOURCE,
      rotations: 0,
      scope: SCOPE,
    });
    tokens[i] = await rt.save();
  }
  return tokens;
}

export async function startPeer({
  port = 0, host = '127.0.0.1', seed = 0, storeSize = 8_000_000, log = () => {},
} = {}) {
  let handler = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => handler(req, res));
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = server.address().port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const issuer = `http://${urlHost}:${actualPort}`;

  const clientSecret = crypto.randomBytes(24).toString('base64url');
  const provider = new Provider(issuer, configuration({ clientSecret, storeSize }));
  let serverErrors = 0;
  provider.on('server_error', (_ctx, err) => {
    serverErrors += 1;
    if (serverErrors <= 5) log(`server_error: ${err?.stack ?? err}`);
  });

  const started = performance.now();
  const refreshTokens = await seedGrants(provider, seed);
  const seedMs = performance.now() - started;
  handler = provider.callback();

  const seedDoc = {
    token_url: `${issuer}/token`,
    client_id: CLIENT_ID,
    client_secret: clientSecret,
    extra_params: '',
    refresh_tokens: refreshTokens,
  };

  const close = () => new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

  return {
    provider, server, port: actualPort, issuer, seedDoc, seedMs, close,
    get serverErrors() { return serverErrors; },
  };
}

const USAGE = 'usage: node peer.mjs --port P --seed N --out seed.json [--host 127.0.0.1] [--store-size M]';

class UsageError extends Error {}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        seed: { type: 'string', default: '0' },
        out: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        'store-size': { type: 'string', default: '8000000' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  const int = (name, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  if (values.port === undefined) throw new UsageError('--port is required (0 picks a free one)');
  if (!values.out) throw new UsageError('--out is required');
  const port = int('port', values.port, 0);
  const seed = int('seed', values.seed, 0);
  const storeSize = int('store-size', values['store-size'], 1);

  const log = (msg) => process.stderr.write(`peer: ${msg}\n`);
  const peer = await startPeer({
    port, host: values.host, seed, storeSize, log,
  });
  fs.writeFileSync(values.out, `${JSON.stringify(peer.seedDoc)}\n`);
  log(`seeded ${seed} grants in ${peer.seedMs.toFixed(0)} ms, wrote ${values.out}`);

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    await peer.close();
    if (peer.serverErrors) log(`${peer.serverErrors} server errors`);
    log(`stopped (${signal})`);
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  process.stdout.write(`peer ready ${peer.port}\n`);
}

const invokedDirectly = process.argv[1] !== undefined
  && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main().catch((err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`peer: ${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`peer: ${err.stack ?? err}\n`);
    process.exit(1);
  });
}
