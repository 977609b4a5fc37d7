-- V006: refresh_tokens keeps only its primary key (docs/design/storage.md, "Refresh tokens
-- without secondary indexes"). refresh_tokens_by_family and refresh_tokens_by_expiry were keyed
-- by the family, so every rotation inserted into each at its family's place: a page of their own
-- per refresh under moderate load (BENCHMARKS.md: at 5,000 refreshes/s, 43% less written to
-- disk without them). The purge now sweeps the table in rowid order instead, and deletes
-- a gone family's tokens itself, so the foreign key (whose cascade needed the family index) goes
-- too; every read of a token joins its family, so a token without one is unusable anyway.
-- SQLite cannot drop a foreign key: the table is rebuilt, keeping rowids (the sweep's order).
CREATE TABLE refresh_tokens_v6 (
  token_hash TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  rotated_at INTEGER NOT NULL,
  successor_hash TEXT NOT NULL
);
INSERT INTO refresh_tokens_v6 (rowid, token_hash, family_id, scopes, created_at, expires_at,
                               rotated_at, successor_hash)
  SELECT rowid, token_hash, family_id, scopes, created_at, expires_at, rotated_at, successor_hash
  FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_v6 RENAME TO refresh_tokens;
