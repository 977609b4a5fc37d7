// File: session_store.cc
// PostgresStore's SessionStore methods: sign-in sessions and the login-failure windows.
#include <string>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"

namespace ts::storage {

using postgres_internal::Connection;
using postgres_internal::MakeParams;
using postgres_internal::ReadSession;
using postgres_internal::Result;

// --- sign-in sessions ---

Status PostgresStore::CreateSession(const SignInSession& session) {
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO sign_in_sessions (" TS_SESSION_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
        MakeParams(session.session_hash, session.user_id, session.csrf_secret, session.auth_time,
                   session.created_at, session.expires_at, session.revoked_at));
    if (!r.ok() && c.UniqueViolated()) return AlreadyExistsError("sign-in session already exists");
    return r.status();
  });
}

StatusOr<SignInSession> PostgresStore::GetSession(const std::string& session_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<SignInSession> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_SESSION_COLUMNS
                                         " FROM sign_in_sessions WHERE session_hash = $1",
                                         MakeParams(session_hash)));
    if (r.rows() == 0) return NotFoundError("no such sign-in session");
    return ReadSession(r, 0);
  });
}

namespace postgres_internal {

StatusOr<bool> RevokeSessionInTransaction(Connection& c, const std::string& session_hash,
                                          int64_t now) {
  // The session must exist: families from grants without a browser session carry an empty
  // session_hash and must not match. The access portal's credentials issued under the session
  // go with their keys (role_credentials cascades).
  TS_ASSIGN_OR_RETURN(
      Result r,
      c.Exec("WITH s AS (SELECT session_hash FROM sign_in_sessions WHERE session_hash = $1), "
             "r AS (UPDATE sign_in_sessions SET revoked_at = $2 WHERE session_hash = $1 "
             "AND revoked_at = 0), "
             "f AS (UPDATE token_families SET revoked_at = $2 WHERE session_hash = $1 "
             "AND revoked_at = 0 AND EXISTS (SELECT 1 FROM s)), "
             "c AS (DELETE FROM authorization_codes WHERE session_hash = $1 "
             "AND consumed_at = 0 AND EXISTS (SELECT 1 FROM s)), "
             "d AS (DELETE FROM device_authorizations WHERE session_hash = $1 "
             "AND consumed_at = 0 AND status = 'APPROVED' AND EXISTS (SELECT 1 FROM s)), "
             "k AS (DELETE FROM access_keys WHERE access_key_id IN (SELECT access_key_id "
             "FROM role_credentials WHERE session_hash = $1) AND EXISTS (SELECT 1 FROM s)) "
             "SELECT count(*) FROM s",
             MakeParams(session_hash, now)));
  return r.Int(0, 0) != 0;
}

}  // namespace postgres_internal

Status PostgresStore::RevokeSession(const std::string& session_hash, int64_t now) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists,
                        postgres_internal::RevokeSessionInTransaction(c, session_hash, now));
    if (!exists) return NotFoundError("no such sign-in session");
    return OkStatus();
  });
}

// --- sign-in attempts ---

StatusOr<LoginAttempt> PostgresStore::ReserveLoginAttempt(const std::string& key, int64_t now,
                                                          int64_t window_seconds, int limit) {
  if (window_seconds <= 0) return InvalidArgumentError("window_seconds must be positive");
  if (limit <= 0) return InvalidArgumentError("limit must be positive");
  return impl_->Single([&](Connection& c) -> StatusOr<LoginAttempt> {
    // One statement decides, across nodes: the upsert takes the key's row lock, so concurrent
    // reservations queue on it and each re-checks the count its predecessor left (READ
    // COMMITTED re-evaluates the DO UPDATE's WHERE on the latest row version). A full window
    // updates nothing and returns no row.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("INSERT INTO login_failures AS l (key, window_start, window_end, failures) "
               "VALUES ($1, $2::bigint, $2::bigint + $3::bigint, 1) ON CONFLICT (key) DO UPDATE "
               "SET window_start = CASE WHEN l.window_end <= $2::bigint THEN $2::bigint "
               "ELSE l.window_start END, "
               "failures = CASE WHEN l.window_end <= $2::bigint THEN 1 ELSE l.failures + 1 END, "
               "window_end = CASE WHEN l.window_end <= $2::bigint THEN $2::bigint + $3::bigint "
               "ELSE l.window_end END "
               "WHERE l.window_end <= $2::bigint OR l.failures < $4::bigint "
               "RETURNING window_start, window_end, failures",
               MakeParams(key, now, window_seconds, limit)));
    LoginAttempt out;
    if (r.rows() == 1) {
      out.reserved = true;
      out.window = LoginFailures{r.Int(0, 0), r.Int(0, 1), static_cast<int>(r.Int(0, 2))};
      return out;
    }
    // Refused. Only the wait remains to be told: a second statement (a fresh snapshot: the row
    // may have been inserted by a transaction the first one's snapshot did not see) reads the
    // window. If a refund or clear came in between, the refusal stands: it was true when made.
    TS_ASSIGN_OR_RETURN(Result w, c.Exec("SELECT window_start, window_end, failures FROM "
                                         "login_failures WHERE key = $1",
                                         MakeParams(key)));
    if (w.rows() == 0) {
      out.window = LoginFailures{now, now + 1, limit};  // cleared meanwhile: try again soon
      return out;
    }
    out.window = LoginFailures{w.Int(0, 0), w.Int(0, 1), static_cast<int>(w.Int(0, 2))};
    if (out.window.window_end <= now) out.window.window_end = now + 1;
    return out;
  });
}

Status PostgresStore::RefundLoginAttempt(const std::string& key, int64_t window_start) {
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "UPDATE login_failures SET failures = failures - 1 "
            "WHERE key = $1 AND window_start = $2::bigint AND failures > 0",
            MakeParams(key, window_start))
        .status();
  });
}

// --- login failures ---

StatusOr<LoginFailures> PostgresStore::RecordLoginFailure(const std::string& key, int64_t now,
                                                          int64_t window_seconds) {
  if (window_seconds <= 0) return InvalidArgumentError("window_seconds must be positive");
  return impl_->Single([&](Connection& c) -> StatusOr<LoginFailures> {
    // One upsert: concurrent failures from several nodes each count (the row lock serialises
    // them); an ended window (window_end <= now) starts afresh with this failure.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("INSERT INTO login_failures AS l (key, window_start, window_end, failures) "
               "VALUES ($1, $2::bigint, $2::bigint + $3::bigint, 1) ON CONFLICT (key) DO UPDATE "
               "SET window_start = CASE WHEN l.window_end <= $2::bigint THEN $2::bigint "
               "ELSE l.window_start END, "
               "failures = CASE WHEN l.window_end <= $2::bigint THEN 1 ELSE l.failures + 1 END, "
               "window_end = CASE WHEN l.window_end <= $2::bigint THEN $2::bigint + $3::bigint "
               "ELSE l.window_end END RETURNING window_start, window_end, failures",
               MakeParams(key, now, window_seconds)));
    return LoginFailures{r.Int(0, 0), r.Int(0, 1), static_cast<int>(r.Int(0, 2))};
  });
}

StatusOr<LoginFailures> PostgresStore::GetLoginFailures(const std::string& key) {
  return impl_->Read([&](Connection& c) -> StatusOr<LoginFailures> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT window_start, window_end, failures FROM "
                                         "login_failures WHERE key = $1",
                                         MakeParams(key)));
    if (r.rows() == 0) return NotFoundError("no login failures recorded");
    return LoginFailures{r.Int(0, 0), r.Int(0, 1), static_cast<int>(r.Int(0, 2))};
  });
}

Status PostgresStore::ClearLoginFailures(const std::string& key) {
  return impl_->Single([&](Connection& c) -> Status {
    return c.Exec("DELETE FROM login_failures WHERE key = $1", MakeParams(key)).status();
  });
}

}  // namespace ts::storage
