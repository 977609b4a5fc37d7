// File: throttle.h
// Counts failed sign-in attempts per key (a user name, a client address) in a fixed window and
// says when a key is locked out. In memory, per process: multi-node sharing is issue 6.
// Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ts::web {

class Throttle {
 public:
  // At most `max_failures` failures per `window_seconds`; then locked until the window ends.
  Throttle(int max_failures, int64_t window_seconds)
      : max_failures_(max_failures), window_seconds_(window_seconds) {}

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
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;  // guarded by mu_
};

}  // namespace ts::web
