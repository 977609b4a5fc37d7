-- V004: sso-oidc's public clients (issue 22, docs/design/public-clients.md); the SQLite V007 in
-- PostgreSQL. The clients RegisterClient registers and their RFC 8628 device authorizations
-- (storage/client_store.h), and the OpenID Connect nonce an authorization code carries into its
-- ID token. Times are BIGINT Unix seconds; keys compare byte-wise (COLLATE "C").
-- List columns (scopes, redirect_uris, grant_types) are space-joined like every list
-- (row_codec.h). Secrets are SHA-256 hashes (hex): the client secret, the device code and the
-- normalised user code.

-- secret_expires_at: clientSecretExpiresAt; the purge deletes the registration after it.
CREATE TABLE registered_clients (
  client_id TEXT COLLATE "C" PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  client_name TEXT NOT NULL,
  client_type TEXT NOT NULL,
  scopes TEXT NOT NULL,
  redirect_uris TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  issuer_url TEXT NOT NULL,
  entitled_application_arn TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  secret_expires_at BIGINT NOT NULL
);
CREATE INDEX registered_clients_by_expiry ON registered_clients (secret_expires_at);

-- One row per StartDeviceAuthorization. user_code_hash is unique: a user code names one
-- authorization on the verification page; an expired one's code is freed by deleting its row
-- when a new authorization draws the same code. status: PENDING, APPROVED or DENIED.
-- interval_seconds: RFC 8628's `interval` (not a bare `interval`, a type name in PostgreSQL).
-- No foreign key to registered_clients: the client's purge must not take a live authorization
-- with it mid-login, and every reader checks the client anyway.
CREATE TABLE device_authorizations (
  device_code_hash TEXT COLLATE "C" PRIMARY KEY,
  user_code_hash TEXT COLLATE "C" NOT NULL UNIQUE,
  client_id TEXT COLLATE "C" NOT NULL,
  scopes TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  interval_seconds BIGINT NOT NULL,
  status TEXT NOT NULL,
  user_id TEXT NOT NULL,
  session_hash TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  decided_at BIGINT NOT NULL,
  consumed_at BIGINT NOT NULL,
  family_id TEXT NOT NULL
);
CREATE INDEX device_authorizations_by_expiry ON device_authorizations (expires_at);
-- Deleting a user or signing a session out deletes what they approved and was not yet redeemed.
CREATE INDEX device_authorizations_by_user ON device_authorizations (user_id);
CREATE INDEX device_authorizations_by_session ON device_authorizations (session_hash);

-- OIDC Core §3.1.2.1: the ID token of the code's redemption echoes the request's nonce.
ALTER TABLE authorization_codes ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
