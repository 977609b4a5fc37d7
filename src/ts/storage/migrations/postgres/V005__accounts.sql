-- V005: the account side of Identity Center (issue 19, storage/account_store.h,
-- docs/design/access-portal.md): declared accounts, permission sets, their provisioning to
-- accounts as roles, account assignments, the status objects of the asynchronous sso-admin
-- requests, and the links of the role credentials the access portal issues. The SQLite V008 in
-- PostgreSQL: times are BIGINT Unix seconds; keys that listings page or sort by compare
-- byte-wise (COLLATE "C").

-- A role's permissions boundary (an IAM policy document, JSON; '' none).
ALTER TABLE iam_principals ADD COLUMN permissions_boundary_json TEXT NOT NULL DEFAULT '';

CREATE TABLE accounts (
  account_id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

-- name is unique byte-for-byte (CreatePermissionSet ConflictException). managed_policy_arns is
-- space-joined (ARNs hold no whitespace).
CREATE TABLE permission_sets (
  arn TEXT COLLATE "C" PRIMARY KEY,
  instance_arn TEXT NOT NULL,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  description TEXT NOT NULL,
  session_duration TEXT NOT NULL,
  relay_state TEXT NOT NULL,
  inline_policy_json TEXT NOT NULL,
  managed_policy_arns TEXT NOT NULL,
  permissions_boundary_json TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

-- The role's IAM principal is iam_principals' arn:aws:iam::<account_id>:role/<role_name>,
-- written and deleted with the row.
CREATE TABLE provisioned_roles (
  account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  permission_set_arn TEXT COLLATE "C" NOT NULL REFERENCES permission_sets (arn),
  role_name TEXT NOT NULL,
  permission_set_version BIGINT NOT NULL,
  provisioned_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, permission_set_arn)
);
CREATE INDEX provisioned_roles_by_permission_set ON provisioned_roles (permission_set_arn);

-- principal_id names a users or groups row (by principal_type); no foreign key, as
-- application assignments: deleting the user or group deletes these in its transaction.
CREATE TABLE account_assignments (
  account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  permission_set_arn TEXT COLLATE "C" NOT NULL REFERENCES permission_sets (arn),
  principal_type TEXT COLLATE "C" NOT NULL,
  principal_id TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, permission_set_arn, principal_type, principal_id)
);
-- ListAccountAssignmentsForPrincipal, and ListUserRoles' two arms (the user's own assignments,
-- those of each group they are in), each a range of this index in (account, permission set)
-- order.
CREATE INDEX account_assignments_by_principal
  ON account_assignments (principal_type, principal_id, account_id, permission_set_arn);
CREATE INDEX account_assignments_by_permission_set ON account_assignments (permission_set_arn);

CREATE TABLE operation_statuses (
  request_id TEXT COLLATE "C" PRIMARY KEY,
  kind TEXT COLLATE "C" NOT NULL,
  status TEXT NOT NULL,
  failure_reason TEXT NOT NULL,
  body_json TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX operation_statuses_by_kind ON operation_statuses (kind, created_at);
-- The purge drops statuses older than 90 days.
CREATE INDEX operation_statuses_by_age ON operation_statuses (created_at);

-- The link of a portal-issued access key to what it was issued for. It goes with its key
-- (ON DELETE CASCADE): every revocation deletes keys, the links follow.
CREATE TABLE role_credentials (
  access_key_id TEXT COLLATE "C" PRIMARY KEY
    REFERENCES access_keys (access_key_id) ON DELETE CASCADE,
  user_id TEXT COLLATE "C" NOT NULL,
  account_id TEXT COLLATE "C" NOT NULL,
  permission_set_arn TEXT COLLATE "C" NOT NULL,
  family_id TEXT NOT NULL,
  session_hash TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
-- Deleting the user, losing an assignment (by user and role), Logout (family), sign-out
-- (session).
CREATE INDEX role_credentials_by_user
  ON role_credentials (user_id, account_id, permission_set_arn);
CREATE INDEX role_credentials_by_family ON role_credentials (family_id);
CREATE INDEX role_credentials_by_session ON role_credentials (session_hash);

-- The purge deletes expired temporary keys (long-term keys have expires_at 0 and no entry).
CREATE INDEX access_keys_by_expiry ON access_keys (expires_at) WHERE expires_at > 0;
