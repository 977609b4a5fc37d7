-- V003: trusted token issuers and the JWT bearer grant (issue 4).
-- A trusted token issuer (sso-admin CreateTrustedTokenIssuer, OIDC_JWT): an external OIDC
-- identity provider whose JWTs CreateTokenWithIAM accepts as `assertion`.
CREATE TABLE trusted_token_issuers (
  arn TEXT PRIMARY KEY,
  instance_arn TEXT NOT NULL,
  name TEXT NOT NULL,
  issuer_type TEXT NOT NULL,
  issuer_url TEXT NOT NULL,
  claim_attribute_path TEXT NOT NULL,
  identity_store_attribute_path TEXT NOT NULL,
  jwks_retrieval_option TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- Assertions already redeemed (RFC 7523 §3 item 7: jti replay), keyed by a hash of issuer and
-- jti, kept until the assertion itself can no longer be accepted (then purged).
CREATE TABLE used_assertions (
  assertion_id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX used_assertions_by_expiry ON used_assertions (expires_at);
