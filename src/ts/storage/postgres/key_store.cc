// File: key_store.cc
// PostgresStore's KeyStore methods: the signing keys, and their rotation under a lock shared by
// every node.
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"

namespace ts::storage {

using postgres_internal::Connection;
using postgres_internal::MakeParams;
using postgres_internal::Params;
using postgres_internal::ReadSigningKey;
using postgres_internal::Result;

// --- signing keys ---

namespace {
// Advisory-lock key of signing-key updates ("tsrotate" in ASCII).
constexpr int64_t kSigningKeyLockKey = 0x7473726f74617465;

Status UpsertSigningKey(Connection& c, const SigningKey& key) {
  Params p;
  p.Add(key.kid)
      .Add(key.alg)
      .AddBytes(key.private_key_sealed)
      .Add(key.public_jwk_json)
      .Add(key.created_at)
      .Add(key.activated_at)
      .Add(key.retired_at)
      .Add(key.delete_after);
  return c
      .Exec("INSERT INTO signing_keys (" TS_SIGNING_KEY_COLUMNS
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kid) DO UPDATE SET "
            "alg = excluded.alg, private_key_sealed = excluded.private_key_sealed, "
            "public_jwk_json = excluded.public_jwk_json, created_at = excluded.created_at, "
            "activated_at = excluded.activated_at, retired_at = excluded.retired_at, "
            "delete_after = excluded.delete_after",
            p)
      .status();
}
}  // namespace

Status PostgresStore::PutSigningKey(const SigningKey& key) {
  return impl_->Single([&](Connection& c) -> Status { return UpsertSigningKey(c, key); });
}

StatusOr<std::vector<SigningKey>> PostgresStore::ListSigningKeys() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<SigningKey>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_SIGNING_KEY_COLUMNS
                                         " FROM signing_keys ORDER BY created_at, kid"));
    std::vector<SigningKey> keys;
    for (int i = 0; i < r.rows(); ++i) keys.push_back(ReadSigningKey(r, i));
    return keys;
  });
}

Status PostgresStore::UpdateSigningKeys(const SigningKeyUpdate& update) {
  return impl_->Write([&](Connection& c) -> Status {
    // One rotator at a time across every node: the transaction-scoped advisory lock is released
    // by COMMIT or ROLLBACK, also when the node dies mid-way (its connection closes).
    TS_RETURN_IF_ERROR(
        c.Exec("SELECT pg_advisory_xact_lock($1)", MakeParams(kSigningKeyLockKey)).status());
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_SIGNING_KEY_COLUMNS
                                         " FROM signing_keys ORDER BY created_at, kid"));
    std::vector<SigningKey> current;
    for (int i = 0; i < r.rows(); ++i) current.push_back(ReadSigningKey(r, i));
    TS_ASSIGN_OR_RETURN(std::vector<SigningKey> changed, update(current));
    for (const SigningKey& key : changed) TS_RETURN_IF_ERROR(UpsertSigningKey(c, key));
    if (changed.empty()) c.audit = nullptr;  // nothing rotated: nothing to record
    return OkStatus();
  });
}

}  // namespace ts::storage
