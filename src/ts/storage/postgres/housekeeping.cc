// File: housekeeping.cc
// PostgresStore's housekeeping: PurgeExpired.
#include <string_view>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"

namespace ts::storage {

using postgres_internal::Connection;
using postgres_internal::MakeParams;
using postgres_internal::Result;

// --- housekeeping ---

StatusOr<PurgeResult> PostgresStore::PurgeExpired(int64_t now, int batch) {
  if (batch <= 0) return InvalidArgumentError("batch must be positive");
  // Refresh tokens before families so that their deletions are counted; a family's remaining
  // tokens go with it by cascade. expires_at = 0 means "never".
  // Each DELETE is its own short transaction (autocommit) and touches at most `batch` rows, so
  // no purge holds row locks for long; FOR UPDATE SKIP LOCKED lets two nodes purge at once
  // without waiting for each other.
  // Each statement deletes rows whose time is at or before now less its `age`.
  struct Purge {
    std::string_view sql;
    int64_t age = 0;
  };
  static constexpr Purge kDeletes[] = {
      {"DELETE FROM authorization_codes WHERE code_hash IN (SELECT code_hash FROM "
       "authorization_codes WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 "
       "FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM sign_in_sessions WHERE session_hash IN (SELECT session_hash FROM "
       "sign_in_sessions WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 "
       "FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM device_authorizations WHERE device_code_hash IN (SELECT device_code_hash "
       "FROM device_authorizations WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 "
       "FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM registered_clients WHERE client_id IN (SELECT client_id FROM "
       "registered_clients WHERE secret_expires_at > 0 AND secret_expires_at <= $1 LIMIT $2 "
       "FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens "
       "WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM token_families WHERE family_id IN (SELECT family_id FROM token_families "
       "WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM revoked_access_tokens WHERE jti IN (SELECT jti FROM revoked_access_tokens "
       "WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM used_assertions WHERE assertion_id IN (SELECT assertion_id FROM "
       "used_assertions WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures "
       "WHERE window_end <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"},
      // Temporary access keys (the access portal's); their role-credential links go by cascade.
      {"DELETE FROM access_keys WHERE access_key_id IN (SELECT access_key_id FROM access_keys "
       "WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"},
      {"DELETE FROM operation_statuses WHERE request_id IN (SELECT request_id FROM "
       "operation_statuses WHERE created_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
       internal::kOperationStatusRetentionSeconds},
  };
  return impl_->Single([&](Connection& c) -> StatusOr<PurgeResult> {
    PurgeResult result;
    for (const Purge& purge : kDeletes) {
      const int64_t remaining = batch - result.deleted;
      TS_ASSIGN_OR_RETURN(Result r, c.Exec(purge.sql, MakeParams(now - purge.age, remaining)));
      result.deleted += r.affected();
      if (r.affected() == remaining) {
        result.finished = false;  // this table may hold more; the next call goes on
        break;
      }
    }
    return result;
  });
}

}  // namespace ts::storage
