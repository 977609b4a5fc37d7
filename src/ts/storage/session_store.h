// File: session_store.h
// SessionStore: the browser sign-in's state: sign-in sessions (kept as hashes of their ids) and
// the failed sign-in windows that throttle password guessing, shared by every node. The contract
// every storage interface shares is in store.h.
#pragma once

#include <cstdint>
#include <string>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::storage {

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // --- sign-in sessions ---
  virtual Status CreateSession(const SignInSession& session) = 0;
  virtual StatusOr<SignInSession> GetSession(const std::string& session_hash) = 0;
  // Marks the session revoked, revokes every family it started and deletes the access keys of the
  // role credentials issued under it (one transaction, across the grant and credential tables).
  virtual Status RevokeSession(const std::string& session_hash, int64_t now) = 0;

  // --- sign-in attempts per key (a user name, a client address) ---
  // A key's attempts count in a fixed window of `window_seconds` that starts at the first one
  // counted (a window that has ended starts afresh with the next). An attempt is reserved BEFORE
  // its password is checked and stays counted as a failure unless refunded: failures are simply
  // reservations not refunded. So N guesses in flight at once count N before any is checked,
  // and none can slip past a check made while the others were still being verified (no
  // separate in-flight counter: a crash between reserve and refund leaves a failure, the safe
  // side).
  //
  // Reserves one attempt for `key` at `now`, atomically (one write transaction on SQLite, one
  // statement holding the row lock on PostgreSQL, so nodes sharing the database count
  // together): when the window holds fewer than `limit` attempts, counts this one and returns
  // `reserved`; otherwise counts nothing and returns the full window, whose window_end says
  // until when. InvalidArgument unless window_seconds and limit are positive.
  virtual StatusOr<LoginAttempt> ReserveLoginAttempt(const std::string& key, int64_t now,
                                                     int64_t window_seconds, int limit) = 0;
  // Gives back one attempt reserved in the window that started at `window_start` (the sign-in
  // succeeded, or failed for a reason that is not the client's). Does nothing when that window
  // has since ended and another begun, or nothing is counted: idempotent in effect, never
  // below zero.
  virtual Status RefundLoginAttempt(const std::string& key, int64_t window_start) = 0;
  // Counts one failure for `key` without a reservation (a failure known only after the fact)
  // and returns the window after counting. Same windows as ReserveLoginAttempt.
  virtual StatusOr<LoginFailures> RecordLoginFailure(const std::string& key, int64_t now,
                                                     int64_t window_seconds) = 0;
  // The current window of `key`; NotFound when it has no failures recorded.
  virtual StatusOr<LoginFailures> GetLoginFailures(const std::string& key) = 0;
  virtual Status ClearLoginFailures(const std::string& key) = 0;  // idempotent
};

}  // namespace ts::storage
