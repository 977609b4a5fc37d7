// File: credential_store.cc
// PostgresStore's CredentialStore methods: IAM principals and their access keys.
#include <string>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"

namespace ts::storage {

using postgres_internal::Connection;
using postgres_internal::MakeParams;
using postgres_internal::Params;
using postgres_internal::ReadAccessKey;
using postgres_internal::Result;

// --- IAM principals and access keys ---

namespace postgres_internal {

Status UpsertPrincipal(Connection& c, const IamPrincipal& p) {
  return c
      .Exec(
          "INSERT INTO iam_principals (arn, account_id, identity_policy_json, created_at, "
          "permissions_boundary_json) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (arn) DO UPDATE "
          "SET account_id = excluded.account_id, "
          "identity_policy_json = excluded.identity_policy_json, "
          "created_at = excluded.created_at, "
          "permissions_boundary_json = excluded.permissions_boundary_json",
          MakeParams(p.arn, p.account_id, p.identity_policy_json, p.created_at,
                     p.permissions_boundary_json))
      .status();
}

}  // namespace postgres_internal

Status PostgresStore::PutPrincipal(const IamPrincipal& principal) {
  return impl_->Single(
      [&](Connection& c) -> Status { return postgres_internal::UpsertPrincipal(c, principal); });
}

StatusOr<IamPrincipal> PostgresStore::GetPrincipal(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<IamPrincipal> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT arn, account_id, identity_policy_json, "
                                         "created_at, permissions_boundary_json "
                                         "FROM iam_principals WHERE arn = $1",
                                         MakeParams(arn)));
    if (r.rows() == 0) return NotFoundError("no such IAM principal: " + arn);
    IamPrincipal p;
    p.arn = r.Text(0, 0);
    p.account_id = r.Text(0, 1);
    p.identity_policy_json = r.Text(0, 2);
    p.created_at = r.Int(0, 3);
    p.permissions_boundary_json = r.Text(0, 4);
    return p;
  });
}

Status PostgresStore::CreateAccessKey(const AccessKey& key) {
  return impl_->Single([&](Connection& c) -> Status {
    Params p;
    p.Add(key.access_key_id)
        .Add(key.principal_arn)
        .AddBytes(key.secret_sealed)
        .Add(key.session_token_hash)
        .Add(key.expires_at)
        .Add(key.active)
        .Add(key.created_at);
    auto r = c.Exec("INSERT INTO access_keys (" TS_ACCESS_KEY_COLUMNS
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    p);
    if (!r.ok() && c.UniqueViolated()) {
      return AlreadyExistsError("access key already exists: " + key.access_key_id);
    }
    return r.status();
  });
}

StatusOr<AccessKey> PostgresStore::GetAccessKey(const std::string& access_key_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<AccessKey> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_ACCESS_KEY_COLUMNS
                                         " FROM access_keys WHERE access_key_id = $1",
                                         MakeParams(access_key_id)));
    if (r.rows() == 0) return NotFoundError("no such access key: " + access_key_id);
    return ReadAccessKey(r, 0);
  });
}

StatusOr<std::vector<AccessKey>> PostgresStore::ListAccessKeys(const std::string& principal_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<AccessKey>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_ACCESS_KEY_COLUMNS
                                         " FROM access_keys WHERE principal_arn = $1 "
                                         "ORDER BY created_at, access_key_id",
                                         MakeParams(principal_arn)));
    std::vector<AccessKey> keys;
    for (int i = 0; i < r.rows(); ++i) keys.push_back(ReadAccessKey(r, i));
    return keys;
  });
}

Status PostgresStore::DeleteAccessKey(const std::string& access_key_id) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("DELETE FROM access_keys WHERE access_key_id = $1",
                                         MakeParams(access_key_id)));
    if (r.affected() == 0) return NotFoundError("no such access key: " + access_key_id);
    return OkStatus();
  });
}

}  // namespace ts::storage
