#!/usr/bin/env node
// Self-check of the benchmark peer: starts `node peer.mjs` on a free port with 3 seeded grants,
// refreshes each chain twice with plain fetch, and checks every response (new refresh token,
// ES256 at+jwt access token that verifies against the peer's JWKS, ES256 ID token), then that a
// used refresh token is refused with invalid_grant. Exits 0 and prints "selfcheck passed" or
// exits 1 with the first failure.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SEEDS = 3;
const REFRESHES = 2;

class CheckFailed extends Error {}
function check(cond, msg) {
  if (!cond) throw new CheckFailed(msg);
}

function b64json(part, what) {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new CheckFailed(`${what}: not base64url JSON`);
  }
}

// Verifies a compact JWS signed with ES256 against a JWKS; returns { header, payload }.
function verifyJws(token, jwks, what) {
  check(typeof token === 'string', `${what}: missing`);
  const parts = token.split('.');
  check(parts.length === 3, `${what}: not a compact JWS (${parts.length} parts)`);
  const header = b64json(parts[0], `${what} header`);
  const payload = b64json(parts[1], `${what} payload`);
  check(header.alg === 'ES256', `${what}: header alg is ${header.alg}, want ES256`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  check(jwk, `${what}: kid ${header.kid} not in the peer's JWKS`);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const ok = crypto.verify(
    'sha256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(parts[2], 'base64url'),
  );
  check(ok, `${what}: signature does not verify against the peer's JWKS`);
  return { header, payload };
}

function startPeer(seedFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      path.join(here, 'peer.mjs'), '--port', '0', '--seed', String(SEEDS), '--out', seedFile,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new CheckFailed(`peer did not print "peer ready" within 15 s; stderr:\n${stderr}`));
    }, 15_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /^peer ready (\d+)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr: () => stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new CheckFailed(`peer exited early (code ${code}); stderr:\n${stderr}`));
    });
  });
}

async function refresh(seed, refreshToken) {
  const auth = Buffer.from(
    `${encodeURIComponent(seed.client_id)}:${encodeURIComponent(seed.client_secret)}`,
  ).toString('base64');
  const body = `grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}`
    + (seed.extra_params ? `&${seed.extra_params}` : '');
  const res = await fetch(seed.token_url, {
    method: 'POST',
    headers: {
      authorization: `Basic ${auth}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CheckFailed(`token endpoint answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, json };
}

async function run() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-selfcheck-'));
  const seedFile = path.join(dir, 'seed.json');
  const peer = await startPeer(seedFile);
  try {
    const seed = JSON.parse(fs.readFileSync(seedFile, 'utf8'));
    for (const k of ['token_url', 'client_id', 'client_secret', 'extra_params']) {
      check(typeof seed[k] === 'string', `seed.json: ${k} missing or not a string`);
    }
    check(seed.token_url === `http://127.0.0.1:${peer.port}/token`, `seed.json: token_url ${seed.token_url} does not match port ${peer.port}`);
    check(Array.isArray(seed.refresh_tokens) && seed.refresh_tokens.length === SEEDS, `seed.json: want ${SEEDS} refresh_tokens`);
    check(new Set(seed.refresh_tokens).size === SEEDS, 'seed.json: refresh tokens are not distinct');

    const issuer = new URL(seed.token_url).origin;
    const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    check(discovery.issuer === issuer, `discovery issuer ${discovery.issuer}, want ${issuer}`);
    const jwks = await (await fetch(discovery.jwks_uri)).json();
    check(Array.isArray(jwks.keys) && jwks.keys.length > 0, 'JWKS has no keys');
    check(jwks.keys.every((k) => k.kty === 'EC' && k.crv === 'P-256' && !k.d), 'JWKS must hold only public P-256 keys');

    const seen = new Set(seed.refresh_tokens);
    const used = [];
    const latest = [];
    let responses = 0;
    for (const [i, first] of seed.refresh_tokens.entries()) {
      let current = first;
      for (let n = 1; n <= REFRESHES; n += 1) {
        const what = `chain ${i} refresh ${n}`;
        const { status, json } = await refresh(seed, current);
        check(status === 200, `${what}: HTTP ${status} ${JSON.stringify(json)}`);
        check(json.token_type === 'Bearer', `${what}: token_type ${json.token_type}`);
        check(typeof json.refresh_token === 'string' && json.refresh_token.length > 0, `${what}: no refresh_token`);
        check(!seen.has(json.refresh_token), `${what}: refresh_token was not rotated (seen before)`);
        seen.add(json.refresh_token);

        const at = verifyJws(json.access_token, jwks, `${what} access_token`);
        check(at.header.typ === 'at+jwt', `${what} access_token: header typ ${at.header.typ}, want at+jwt`);
        check(at.payload.iss === issuer, `${what} access_token: iss ${at.payload.iss}`);
        check(at.payload.client_id === seed.client_id, `${what} access_token: client_id ${at.payload.client_id}`);
        check(at.payload.sub === `user-${i}`, `${what} access_token: sub ${at.payload.sub}`);
        check(at.payload.aud && at.payload.exp > at.payload.iat, `${what} access_token: aud/exp/iat`);

        const idt = verifyJws(json.id_token, jwks, `${what} id_token`);
        check(idt.payload.aud === seed.client_id, `${what} id_token: aud ${idt.payload.aud}`);
        check(idt.payload.sub === `user-${i}`, `${what} id_token: sub ${idt.payload.sub}`);

        used.push({ chain: i, token: current });
        current = json.refresh_token;
        responses += 1;
      }
      latest[i] = current;
    }

    // A used refresh token must be refused. oidc-provider then also revokes the whole grant
    // (reuse detection), so the chain's latest token dies too: check that as well.
    const reused = used.find((u) => u.chain === 0);
    const again = await refresh(seed, reused.token);
    check(again.status === 400 && again.json.error === 'invalid_grant', `reusing a used refresh token: want 400 invalid_grant, got ${again.status} ${JSON.stringify(again.json)}`);
    const revoked = await refresh(seed, latest[0]);
    check(revoked.status === 400 && revoked.json.error === 'invalid_grant', `after reuse, the chain's latest refresh token should be revoked too: got ${revoked.status} ${JSON.stringify(revoked.json)}`);
    const other = await refresh(seed, latest[1]);
    check(other.status === 200, `reuse in chain 0 must not affect chain 1: got ${other.status} ${JSON.stringify(other.json)}`);

    process.stdout.write(`selfcheck passed: ${SEEDS} chains x ${REFRESHES} refreshes = ${responses} responses verified`
      + ` (ES256 at+jwt access token + ES256 id_token against ${jwks.keys.length}-key JWKS, rotation on every`
      + ' refresh), reuse of a used refresh token -> invalid_grant and its grant revoked, other chains unaffected\n');
  } finally {
    peer.child.kill('SIGTERM');
    await new Promise((resolve) => {
      if (peer.child.exitCode !== null) resolve();
      else peer.child.once('exit', resolve);
    });
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (peer.child.exitCode !== 0) throw new CheckFailed(`peer did not exit cleanly on SIGTERM (code ${peer.child.exitCode}, signal ${peer.child.signalCode}); stderr:\n${peer.stderr()}`);
}

run().catch((err) => {
  process.stderr.write(`selfcheck FAILED: ${err instanceof CheckFailed ? err.message : err.stack}\n`);
  process.exit(1);
});
