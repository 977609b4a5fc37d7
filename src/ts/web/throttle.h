// File: throttle.h
// Counts failed sign-in attempts per key (a user name, a client address) in a fixed window and
// says when a key is locked out.
//
// With a store the windows live in the database (SessionStore::RecordLoginFailure), so every node
// sharing it enforces one limit: N nodes do not multiply an attacker's attempts by N. Keys are
// stored as SHA-256 hashes (a mistyped password in the user-name field stays out of the table).
// If the store fails, the throttle fails open and says so in the log: sign-in itself needs the
// same database, so it cannot proceed either. Without a store the windows are in memory, per
// process (tests, tools).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ts/storage/session_store.h"

namespace ts::web {

class Throttle {
 public:
  // At most `max_failures` failures per `window_seconds`; then locked until the window ends.
  Throttle(int max_failures, int64_t window_seconds,
           std::shared_ptr<storage::SessionStore> store = nullptr)
      : max_failures_(max_failures), window_seconds_(window_seconds), store_(std::move(store)) {}

  // Seconds until `key` may try again, or 0 when it may try now.
  int64_t RetryAfter(const std::string& key, int64_t now);
  void RecordFailure(const std::string& key, int64_t now);
  void Reset(const std::string& key);

 private:
  struct Window {
    int64_t start = 0;
    int failures = 0;
  };
  const int max_failures_;
  const int64_t window_seconds_;
  const std::shared_ptr<storage::SessionStore> store_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;  // guarded by mu_; without a store only
};

}  // namespace ts::web
