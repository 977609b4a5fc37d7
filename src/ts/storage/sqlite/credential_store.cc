// CredentialStore (credential_store.h) on SQLite: IAM principals and their access keys.

#include <string>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using sqlite_internal::Change;
using sqlite_internal::Connection;
using sqlite_internal::ExecInsert;
using sqlite_internal::ReadAccessKey;
using sqlite_internal::Statement;

// --- IAM principals and access keys ---

namespace sqlite_internal {

Status UpsertPrincipal(Connection& c, const IamPrincipal& principal) {
  return Change(c,
                "INSERT INTO iam_principals (arn, account_id, identity_policy_json, created_at, "
                "permissions_boundary_json) VALUES (?, ?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET "
                "account_id = excluded.account_id, "
                "identity_policy_json = excluded.identity_policy_json, "
                "created_at = excluded.created_at, "
                "permissions_boundary_json = excluded.permissions_boundary_json",
                principal.arn, principal.account_id, principal.identity_policy_json,
                principal.created_at, principal.permissions_boundary_json)
      .status();
}

}  // namespace sqlite_internal

Status SqliteStore::PutPrincipal(const IamPrincipal& principal) {
  return impl_->Write(
      [&](Connection& c) -> Status { return sqlite_internal::UpsertPrincipal(c, principal); });
}

StatusOr<IamPrincipal> SqliteStore::GetPrincipal(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<IamPrincipal> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT arn, account_id, identity_policy_json, created_at, "
                                  "permissions_boundary_json FROM iam_principals WHERE arn = ?"));
    stmt.Bind(arn);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such IAM principal: " + arn);
    IamPrincipal p;
    p.arn = stmt.Text(0);
    p.account_id = stmt.Text(1);
    p.identity_policy_json = stmt.Text(2);
    p.created_at = stmt.Int(3);
    p.permissions_boundary_json = stmt.Text(4);
    return p;
  });
}

Status SqliteStore::CreateAccessKey(const AccessKey& key) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO access_keys (" TS_ACCESS_KEY_COLUMNS
                                                  ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(key.access_key_id)
        .Bind(key.principal_arn)
        .BindBlob(key.secret_sealed)
        .Bind(key.session_token_hash)
        .Bind(key.expires_at)
        .Bind(key.active)
        .Bind(key.created_at);
    return ExecInsert(stmt, "access key already exists: " + key.access_key_id);
  });
}

StatusOr<AccessKey> SqliteStore::GetAccessKey(const std::string& access_key_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<AccessKey> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_ACCESS_KEY_COLUMNS
                                                  " FROM access_keys WHERE access_key_id = ?"));
    stmt.Bind(access_key_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such access key: " + access_key_id);
    return ReadAccessKey(stmt);
  });
}

StatusOr<std::vector<AccessKey>> SqliteStore::ListAccessKeys(const std::string& principal_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<AccessKey>> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_ACCESS_KEY_COLUMNS
                                                  " FROM access_keys WHERE principal_arn = ? "
                                                  "ORDER BY created_at, access_key_id"));
    stmt.Bind(principal_arn);
    std::vector<AccessKey> keys;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      keys.push_back(ReadAccessKey(stmt));
    }
    return keys;
  });
}

Status SqliteStore::DeleteAccessKey(const std::string& access_key_id) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        int64_t deleted,
        Change(c, "DELETE FROM access_keys WHERE access_key_id = ?", access_key_id));
    if (deleted == 0) return NotFoundError("no such access key: " + access_key_id);
    return OkStatus();
  });
}

}  // namespace ts::storage
