// File: rate_limiter.h
// A per-key rate limit in memory (a token bucket per key: `per_minute` requests at once, then one
// every 60/per_minute seconds), for the unauthenticated or cheaply authenticated operations
// (RegisterClient, StartDeviceAuthorization) keyed by the caller's address. Per process: N nodes
// allow N times the rate (docs/design/public-clients.md).
//
// The table is bounded: when it is full, keys whose bucket has refilled (as good as absent) are
// dropped, at most once a second; a new key that still finds it full is refused, so a flood from
// many addresses costs memory up to the bound and no more.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ts::oauth {

class RateLimiter {
 public:
  // `per_minute` 0: no limit. `max_keys`: the table's bound.
  RateLimiter(int64_t per_minute, size_t max_keys) : per_minute_(per_minute), max_keys_(max_keys) {}

  // True when `key` may make one more request at `now_micros` (and counts it); false when it is
  // over its rate or the table is full (counted in tessera_refusals_total{reason="rate_limit"}).
  bool Allow(std::string_view key, int64_t now_micros);

  size_t SizeForTest();

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_micros = 0;
  };
  // The bucket's tokens at `now_micros`, refilled since it was last updated (at most full).
  double Refilled(const Bucket& bucket, int64_t now_micros) const;

  const int64_t per_minute_;
  const size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
  int64_t last_sweep_micros_ = 0;                    // guarded by mu_
};

}  // namespace ts::oauth
