// HousekeepingStore (housekeeping_store.h) on SQLite: PurgeExpired.

#include <string_view>
#include <utility>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using sqlite_internal::Change;
using sqlite_internal::Connection;
using sqlite_internal::Statement;

// --- housekeeping ---

namespace {

// One stretch of PurgeExpired's sweep of refresh_tokens (docs/design/storage.md): visits up to
// `rows` rows after rowid `*cursor` in rowid order and deletes those expired or whose family is
// gone. refresh_tokens keeps no index by expiry or by family (each would take a random page per
// rotation), so the purge walks the table instead. Moves `*cursor` on, back to 0 at the end of
// the table; returns how many rows went and whether the end was reached.
StatusOr<std::pair<int64_t, bool>> SweepRefreshTokens(Connection& c, int64_t now, int64_t rows,
                                                      int64_t* cursor) {
  TS_ASSIGN_OR_RETURN(Statement stretch,
                      c.Prepare("SELECT count(*), max(rowid) FROM (SELECT rowid FROM "
                                "refresh_tokens WHERE rowid > ? ORDER BY rowid LIMIT ?)"));
  stretch.Bind(*cursor).Bind(rows);
  TS_ASSIGN_OR_RETURN(bool row, stretch.Step());
  if (!row) return InternalError("the refresh-token sweep's count returned no row");
  const int64_t visited = stretch.Int(0);
  const int64_t last = stretch.Int(1);
  TS_ASSIGN_OR_RETURN(row, stretch.Step());  // finish the statement
  int64_t deleted = 0;
  if (visited > 0) {
    TS_ASSIGN_OR_RETURN(deleted,
                        Change(c,
                               "DELETE FROM refresh_tokens WHERE rowid > ? AND rowid <= ? AND "
                               "((expires_at > 0 AND expires_at <= ?) OR NOT EXISTS (SELECT 1 FROM "
                               "token_families f WHERE f.family_id = refresh_tokens.family_id))",
                               *cursor, last, now));
  }
  const bool reached_end = visited < rows;
  *cursor = reached_end ? 0 : last;
  return std::make_pair(deleted, reached_end);
}

}  // namespace

// How often PurgeExpired's sweep of refresh_tokens starts a pass: expired tokens may stay this
// long past their expiry (unusable: every read checks it), live ones are visited this often.
constexpr int64_t kRefreshSweepSeconds = 600;

StatusOr<PurgeResult> SqliteStore::PurgeExpired(int64_t now, int batch) {
  if (batch <= 0) return InvalidArgumentError("batch must be positive");
  // Families before the sweep, so that it can take the tokens of a family purged in this call.
  // expires_at = 0 means "never". Each statement deletes rows whose time is at or before now
  // less its `age`.
  struct Purge {
    std::string_view sql;
    int64_t age = 0;
  };
  static constexpr Purge kDeletes[] = {
      {"DELETE FROM authorization_codes WHERE rowid IN (SELECT rowid FROM authorization_codes "
       "WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)"},
      {"DELETE FROM sign_in_sessions WHERE rowid IN (SELECT rowid FROM sign_in_sessions "
       "WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)"},
      {"DELETE FROM device_authorizations WHERE rowid IN (SELECT rowid FROM "
       "device_authorizations WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)"},
      {"DELETE FROM registered_clients WHERE rowid IN (SELECT rowid FROM registered_clients "
       "WHERE secret_expires_at > 0 AND secret_expires_at <= ? LIMIT ?)"},
      {"DELETE FROM token_families WHERE rowid IN (SELECT rowid FROM token_families "
       "WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)"},
      {"DELETE FROM revoked_access_tokens WHERE rowid IN (SELECT rowid FROM "
       "revoked_access_tokens WHERE expires_at <= ? LIMIT ?)"},
      {"DELETE FROM used_assertions WHERE rowid IN (SELECT rowid FROM used_assertions "
       "WHERE expires_at <= ? LIMIT ?)"},
      {"DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM login_failures "
       "WHERE window_end <= ? LIMIT ?)"},
      // Temporary access keys (the access portal's); their role-credential links go by cascade.
      {"DELETE FROM access_keys WHERE rowid IN (SELECT rowid FROM access_keys "
       "WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)"},
      {"DELETE FROM operation_statuses WHERE rowid IN (SELECT rowid FROM operation_statuses "
       "WHERE created_at <= ? LIMIT ?)",
       internal::kOperationStatusRetentionSeconds},
  };
  return impl_->Write([&](Connection& c) -> StatusOr<PurgeResult> {
    PurgeResult result;
    for (const Purge& purge : kDeletes) {
      const int64_t remaining = batch - result.deleted;
      TS_ASSIGN_OR_RETURN(int64_t n, Change(c, purge.sql, now - purge.age, remaining));
      result.deleted += n;
      if (n == remaining) {
        result.finished = false;  // this table may hold more; the next call goes on
        return result;
      }
    }
    // The sweep visits as many rows as the batch has left, so one call's work stays bounded, and
    // starts a pass over the table at most every kRefreshSweepSeconds: live rows are visited
    // that often, not at every call of the housekeeper.
    const bool pass_due = impl_->refresh_sweep_rowid != 0 ||
                          now - impl_->refresh_sweep_ended_at >= kRefreshSweepSeconds;
    if (!pass_due) return result;
    TS_ASSIGN_OR_RETURN(auto swept, SweepRefreshTokens(c, now, batch - result.deleted,
                                                       &impl_->refresh_sweep_rowid));
    result.deleted += swept.first;
    result.finished = swept.second;
    if (result.finished) impl_->refresh_sweep_ended_at = now;
    return result;
  });
}

}  // namespace ts::storage
