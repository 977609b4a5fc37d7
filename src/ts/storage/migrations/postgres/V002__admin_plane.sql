-- V002: the sso-admin / identitystore admin plane (issue 3); the SQLite V004 in PostgreSQL.
-- Keys that listings page through compare byte-wise (COLLATE "C"), as SQLite's BINARY does.
ALTER TABLE applications ADD COLUMN portal_options_json TEXT NOT NULL DEFAULT '';

-- display_name is unique in the store (CreateGroup ConflictException).
CREATE TABLE groups (
  group_id TEXT COLLATE "C" PRIMARY KEY,
  identity_store_id TEXT NOT NULL,
  display_name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL,
  attributes_json TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE group_memberships (
  membership_id TEXT COLLATE "C" PRIMARY KEY,
  identity_store_id TEXT NOT NULL,
  group_id TEXT COLLATE "C" NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
  user_id TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  UNIQUE (group_id, user_id)
);
CREATE INDEX group_memberships_by_user ON group_memberships (user_id);

-- The attribute index (storage/attribute_index.h), rewritten with the row.
CREATE TABLE user_index (
  user_id TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (user_id, path, value)
);
CREATE INDEX user_index_by_value ON user_index (path, value);

CREATE TABLE group_index (
  group_id TEXT COLLATE "C" NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (group_id, path, value)
);
CREATE INDEX group_index_by_value ON group_index (path, value);

CREATE TABLE tags (
  resource_arn TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (resource_arn, tag_key)
);
