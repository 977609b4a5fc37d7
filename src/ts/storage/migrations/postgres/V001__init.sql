-- V001: Tessera's PostgreSQL schema, the same records as the SQLite migrations V001..V003
-- (records.h). Times are Unix seconds in BIGINT, 0 = not set. Scope lists are stored
-- space-joined (RFC 6749 §3.3 scope tokens contain no spaces). Sealed secrets are BYTEA.
-- Upserts (INSERT ... ON CONFLICT DO UPDATE) keep child rows of a replaced parent.

CREATE TABLE instance (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  instance_arn TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  identity_store_id TEXT NOT NULL,
  owner_account_id TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- user_name is unique byte-for-byte: COLLATE "C" compares bytes, like SQLite's BINARY.
CREATE TABLE users (
  user_id TEXT COLLATE "C" PRIMARY KEY,
  identity_store_id TEXT NOT NULL,
  user_name TEXT COLLATE "C" NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  attributes_json TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE applications (
  application_arn TEXT COLLATE "C" PRIMARY KEY,
  instance_arn TEXT NOT NULL,
  application_provider_arn TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  status TEXT NOT NULL,
  assignment_required BOOLEAN NOT NULL,
  actor_policy_json TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE application_grants (
  application_arn TEXT COLLATE "C" NOT NULL
    REFERENCES applications (application_arn) ON DELETE CASCADE,
  grant_type TEXT NOT NULL,
  grant_json TEXT NOT NULL,
  PRIMARY KEY (application_arn, grant_type)
);

CREATE TABLE application_access_scopes (
  application_arn TEXT COLLATE "C" NOT NULL
    REFERENCES applications (application_arn) ON DELETE CASCADE,
  scope TEXT NOT NULL,
  authorized_targets TEXT NOT NULL,
  PRIMARY KEY (application_arn, scope)
);

CREATE TABLE assignments (
  application_arn TEXT COLLATE "C" NOT NULL
    REFERENCES applications (application_arn) ON DELETE CASCADE,
  principal_id TEXT COLLATE "C" NOT NULL,
  principal_type TEXT NOT NULL,
  PRIMARY KEY (application_arn, principal_id)
);
CREATE INDEX assignments_by_principal ON assignments (principal_id);

CREATE TABLE iam_principals (
  arn TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  identity_policy_json TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE access_keys (
  access_key_id TEXT COLLATE "C" PRIMARY KEY,
  principal_arn TEXT NOT NULL,
  secret_sealed BYTEA NOT NULL,
  session_token_hash TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  active BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX access_keys_by_principal ON access_keys (principal_arn);

CREATE TABLE signing_keys (
  kid TEXT COLLATE "C" PRIMARY KEY,
  alg TEXT NOT NULL,
  private_key_sealed BYTEA NOT NULL,
  public_jwk_json TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activated_at BIGINT NOT NULL,
  retired_at BIGINT NOT NULL,
  delete_after BIGINT NOT NULL
);

CREATE TABLE sign_in_sessions (
  session_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  csrf_secret TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL
);
CREATE INDEX sign_in_sessions_by_user ON sign_in_sessions (user_id);
CREATE INDEX sign_in_sessions_by_expiry ON sign_in_sessions (expires_at);

CREATE TABLE authorization_codes (
  code_hash TEXT PRIMARY KEY,
  application_arn TEXT NOT NULL,
  user_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  scopes TEXT NOT NULL,
  session_hash TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  consumed_at BIGINT NOT NULL,
  family_id TEXT NOT NULL
);
CREATE INDEX authorization_codes_by_user ON authorization_codes (user_id);
CREATE INDEX authorization_codes_by_application ON authorization_codes (application_arn);
CREATE INDEX authorization_codes_by_session ON authorization_codes (session_hash);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

CREATE TABLE token_families (
  family_id TEXT PRIMARY KEY,
  application_arn TEXT NOT NULL,
  user_id TEXT NOT NULL,
  scopes TEXT NOT NULL,
  grant_type TEXT NOT NULL,
  session_hash TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL,
  parent_family_id TEXT NOT NULL DEFAULT '',
  act_json TEXT NOT NULL DEFAULT ''
);
CREATE INDEX token_families_by_user ON token_families (user_id);
CREATE INDEX token_families_by_application ON token_families (application_arn);
CREATE INDEX token_families_by_session ON token_families (session_hash);
CREATE INDEX token_families_by_expiry ON token_families (expires_at);
CREATE INDEX token_families_by_parent ON token_families (parent_family_id);

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id TEXT NOT NULL REFERENCES token_families (family_id) ON DELETE CASCADE,
  scopes TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  rotated_at BIGINT NOT NULL,
  successor_hash TEXT NOT NULL
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
  jti TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_by_expiry ON revoked_access_tokens (expires_at);

CREATE TABLE trusted_token_issuers (
  arn TEXT COLLATE "C" PRIMARY KEY,
  instance_arn TEXT NOT NULL,
  name TEXT NOT NULL,
  issuer_type TEXT NOT NULL,
  issuer_url TEXT NOT NULL,
  claim_attribute_path TEXT NOT NULL,
  identity_store_attribute_path TEXT NOT NULL,
  jwks_retrieval_option TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE used_assertions (
  assertion_id TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX used_assertions_by_expiry ON used_assertions (expires_at);
