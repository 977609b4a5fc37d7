-- V002: token exchange and revocation (issue 5).
-- parent_family_id: the family whose access token was exchanged to start this one ('' if none);
-- revoking a family revokes its descendants. act_json: the RFC 8693 "act" claim its tokens carry.
ALTER TABLE token_families ADD COLUMN parent_family_id TEXT NOT NULL DEFAULT '';
ALTER TABLE token_families ADD COLUMN act_json TEXT NOT NULL DEFAULT '';
CREATE INDEX token_families_by_parent ON token_families (parent_family_id);

-- Access tokens are not stored; a revoked one is remembered by its jti until its own expiry.
CREATE TABLE revoked_access_tokens (
  jti TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_access_tokens_by_expiry ON revoked_access_tokens (expires_at);
