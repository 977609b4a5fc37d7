// KeyStore (key_store.h) on SQLite: the token-signing keys.

#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using sqlite_internal::Connection;
using sqlite_internal::ReadSigningKey;
using sqlite_internal::Statement;

// --- signing keys ---

namespace {
Status UpsertSigningKey(Connection& c, const SigningKey& key) {
  TS_ASSIGN_OR_RETURN(
      Statement stmt,
      c.Prepare("INSERT INTO signing_keys (" TS_SIGNING_KEY_COLUMNS
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kid) DO UPDATE SET "
                "alg = excluded.alg, private_key_sealed = excluded.private_key_sealed, "
                "public_jwk_json = excluded.public_jwk_json, created_at = excluded.created_at, "
                "activated_at = excluded.activated_at, retired_at = excluded.retired_at, "
                "delete_after = excluded.delete_after"));
  stmt.Bind(key.kid)
      .Bind(key.alg)
      .BindBlob(key.private_key_sealed)
      .Bind(key.public_jwk_json)
      .Bind(key.created_at)
      .Bind(key.activated_at)
      .Bind(key.retired_at)
      .Bind(key.delete_after);
  return stmt.Exec();
}
}  // namespace

Status SqliteStore::PutSigningKey(const SigningKey& key) {
  return impl_->Write([&](Connection& c) -> Status { return UpsertSigningKey(c, key); });
}

StatusOr<std::vector<SigningKey>> SqliteStore::ListSigningKeys() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<SigningKey>> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_SIGNING_KEY_COLUMNS
                                                  " FROM signing_keys ORDER BY created_at, kid"));
    std::vector<SigningKey> keys;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      keys.push_back(ReadSigningKey(stmt));
    }
    return keys;
  });
}

Status SqliteStore::UpdateSigningKeys(const SigningKeyUpdate& update) {
  // BEGIN IMMEDIATE serialises this with every other writer, in this process and others.
  return impl_->Write([&](Connection& c) -> Status {
    std::vector<SigningKey> current;
    {
      TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_SIGNING_KEY_COLUMNS
                                                    " FROM signing_keys ORDER BY created_at, kid"));
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        current.push_back(ReadSigningKey(stmt));
      }
    }
    TS_ASSIGN_OR_RETURN(std::vector<SigningKey> changed, update(current));
    for (const SigningKey& key : changed) TS_RETURN_IF_ERROR(UpsertSigningKey(c, key));
    if (changed.empty()) c.audit = nullptr;  // nothing rotated: nothing to record
    return OkStatus();
  });
}

}  // namespace ts::storage
