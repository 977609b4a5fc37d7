// SessionStore (session_store.h) on SQLite: sign-in sessions and login-failure windows.

#include <string>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using sqlite_internal::Change;
using sqlite_internal::Connection;
using sqlite_internal::ExecInsert;
using sqlite_internal::Exists;
using sqlite_internal::ReadSession;
using sqlite_internal::Statement;

// --- sign-in sessions ---

Status SqliteStore::CreateSession(const SignInSession& session) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT INTO sign_in_sessions (" TS_SESSION_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(session.session_hash)
        .Bind(session.user_id)
        .Bind(session.csrf_secret)
        .Bind(session.auth_time)
        .Bind(session.created_at)
        .Bind(session.expires_at)
        .Bind(session.revoked_at);
    return ExecInsert(stmt, "sign-in session already exists");
  });
}

StatusOr<SignInSession> SqliteStore::GetSession(const std::string& session_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<SignInSession> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_SESSION_COLUMNS
                                                  " FROM sign_in_sessions WHERE session_hash = ?"));
    stmt.Bind(session_hash);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such sign-in session");
    return ReadSession(stmt);
  });
}

namespace sqlite_internal {

StatusOr<bool> RevokeSessionInTransaction(Connection& c, const std::string& session_hash,
                                          int64_t now) {
  // The session must exist before anything else happens: families from grants without a
  // browser session carry an empty session_hash and must not match.
  TS_ASSIGN_OR_RETURN(int64_t changed, Change(c,
                                              "UPDATE sign_in_sessions SET revoked_at = ? "
                                              "WHERE session_hash = ? AND revoked_at = 0",
                                              now, session_hash));
  if (changed == 0) {
    TS_ASSIGN_OR_RETURN(
        bool exists,
        Exists(c, "SELECT 1 FROM sign_in_sessions WHERE session_hash = ?", session_hash));
    if (!exists) return false;
  }
  TS_RETURN_IF_ERROR(Change(c,
                            "UPDATE token_families SET revoked_at = ? "
                            "WHERE session_hash = ? AND revoked_at = 0",
                            now, session_hash)
                         .status());
  TS_RETURN_IF_ERROR(
      Change(c, "DELETE FROM authorization_codes WHERE session_hash = ? AND consumed_at = 0",
             session_hash)
          .status());
  // What the session approved on the device verification page and no device has redeemed.
  TS_RETURN_IF_ERROR(Change(c,
                            "DELETE FROM device_authorizations WHERE session_hash = ? AND "
                            "consumed_at = 0 AND status = 'APPROVED'",
                            session_hash)
                         .status());
  // The access portal's credentials issued under the session (their links go by cascade).
  TS_RETURN_IF_ERROR(Change(c,
                            "DELETE FROM access_keys WHERE access_key_id IN (SELECT "
                            "access_key_id FROM role_credentials WHERE session_hash = ?)",
                            session_hash)
                         .status());
  return true;
}

}  // namespace sqlite_internal

Status SqliteStore::RevokeSession(const std::string& session_hash, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists,
                        sqlite_internal::RevokeSessionInTransaction(c, session_hash, now));
    if (!exists) return NotFoundError("no such sign-in session");
    return OkStatus();
  });
}

// --- sign-in attempts ---

StatusOr<LoginAttempt> SqliteStore::ReserveLoginAttempt(const std::string& key, int64_t now,
                                                        int64_t window_seconds, int limit) {
  if (window_seconds <= 0) return InvalidArgumentError("window_seconds must be positive");
  if (limit <= 0) return InvalidArgumentError("limit must be positive");
  return impl_->Write([&](Connection& c) -> StatusOr<LoginAttempt> {
    // One upsert decides, inside the writer's transaction: a new or ended window starts afresh
    // with this attempt; a live one counts it only while below the limit (DO UPDATE ... WHERE:
    // no row comes back when it is full).
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("INSERT INTO login_failures (key, window_start, window_end, failures) "
                  "VALUES (?1, ?2, ?2 + ?3, 1) ON CONFLICT (key) DO UPDATE SET "
                  "window_start = CASE WHEN window_end <= ?2 THEN ?2 ELSE window_start END, "
                  "failures = CASE WHEN window_end <= ?2 THEN 1 ELSE failures + 1 END, "
                  "window_end = CASE WHEN window_end <= ?2 THEN ?2 + ?3 ELSE window_end END "
                  "WHERE window_end <= ?2 OR failures < ?4 "
                  "RETURNING window_start, window_end, failures"));
    stmt.Bind(key).Bind(now).Bind(window_seconds).Bind(limit);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    LoginAttempt out;
    if (row) {
      out.reserved = true;
      out.window = LoginFailures{stmt.Int(0), stmt.Int(1), static_cast<int>(stmt.Int(2))};
      TS_ASSIGN_OR_RETURN(row, stmt.Step());  // finish the statement before COMMIT
      return out;
    }
    // Full: the same transaction reads the window that refused it.
    TS_ASSIGN_OR_RETURN(Statement read,
                        c.Prepare("SELECT window_start, window_end, failures FROM login_failures "
                                  "WHERE key = ?"));
    read.Bind(key);
    TS_ASSIGN_OR_RETURN(row, read.Step());
    if (!row) return InternalError("login attempt refused without a window");
    out.window = LoginFailures{read.Int(0), read.Int(1), static_cast<int>(read.Int(2))};
    return out;
  });
}

Status SqliteStore::RefundLoginAttempt(const std::string& key, int64_t window_start) {
  return impl_->Write([&](Connection& c) -> Status {
    return Change(c,
                  "UPDATE login_failures SET failures = failures - 1 "
                  "WHERE key = ? AND window_start = ? AND failures > 0",
                  key, window_start)
        .status();
  });
}

// --- login failures ---

StatusOr<LoginFailures> SqliteStore::RecordLoginFailure(const std::string& key, int64_t now,
                                                        int64_t window_seconds) {
  if (window_seconds <= 0) return InvalidArgumentError("window_seconds must be positive");
  return impl_->Write([&](Connection& c) -> StatusOr<LoginFailures> {
    // An ended window (window_end <= now) starts afresh with this failure.
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("INSERT INTO login_failures (key, window_start, window_end, failures) "
                  "VALUES (?1, ?2, ?2 + ?3, 1) ON CONFLICT (key) DO UPDATE SET "
                  "window_start = CASE WHEN window_end <= ?2 THEN ?2 ELSE window_start END, "
                  "failures = CASE WHEN window_end <= ?2 THEN 1 ELSE failures + 1 END, "
                  "window_end = CASE WHEN window_end <= ?2 THEN ?2 + ?3 ELSE window_end END "
                  "RETURNING window_start, window_end, failures"));
    stmt.Bind(key).Bind(now).Bind(window_seconds);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return InternalError("login failure upsert returned no row");
    LoginFailures out{stmt.Int(0), stmt.Int(1), static_cast<int>(stmt.Int(2))};
    TS_ASSIGN_OR_RETURN(row, stmt.Step());  // finish the statement before COMMIT
    return out;
  });
}

StatusOr<LoginFailures> SqliteStore::GetLoginFailures(const std::string& key) {
  return impl_->Read([&](Connection& c) -> StatusOr<LoginFailures> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT window_start, window_end, failures FROM login_failures "
                                  "WHERE key = ?"));
    stmt.Bind(key);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no login failures recorded");
    return LoginFailures{stmt.Int(0), stmt.Int(1), static_cast<int>(stmt.Int(2))};
  });
}

Status SqliteStore::ClearLoginFailures(const std::string& key) {
  return impl_->Write([&](Connection& c) -> Status {
    return Change(c, "DELETE FROM login_failures WHERE key = ?", key).status();
  });
}

}  // namespace ts::storage
