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
  // Marks the session revoked and revokes every family it started (one transaction, across the
  // grant tables).
  virtual Status RevokeSession(const std::string& session_hash, int64_t now) = 0;

  // --- failed sign-ins per key (a user name, a client address) ---
  // Counts one failure for `key` at `now` in a fixed window of `window_seconds` that starts at
  // the first failure (a window that has ended starts afresh) and returns the window after
  // counting.
  virtual StatusOr<LoginFailures> RecordLoginFailure(const std::string& key, int64_t now,
                                                     int64_t window_seconds) = 0;
  // The current window of `key`; NotFound when it has no failures recorded.
  virtual StatusOr<LoginFailures> GetLoginFailures(const std::string& key) = 0;
  virtual Status ClearLoginFailures(const std::string& key) = 0;  // idempotent
};

}  // namespace ts::storage
