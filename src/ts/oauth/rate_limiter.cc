#include "ts/oauth/rate_limiter.h"

#include <algorithm>

#include "ts/common/refusals.h"

namespace ts::oauth {
namespace {

constexpr int64_t kMicrosPerMinute = 60'000'000;
constexpr int64_t kSweepEveryMicros = 1'000'000;

}  // namespace

double RateLimiter::Refilled(const Bucket& bucket, int64_t now_micros) const {
  const double elapsed =
      static_cast<double>(std::max<int64_t>(0, now_micros - bucket.updated_micros));
  const double refill = elapsed * static_cast<double>(per_minute_) / kMicrosPerMinute;
  return std::min(static_cast<double>(per_minute_), bucket.tokens + refill);
}

bool RateLimiter::Allow(std::string_view key, int64_t now_micros) {
  if (per_minute_ <= 0) return true;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_ && now_micros - last_sweep_micros_ >= kSweepEveryMicros) {
      last_sweep_micros_ = now_micros;
      std::erase_if(buckets_, [&](const auto& entry) {
        return Refilled(entry.second, now_micros) >= static_cast<double>(per_minute_);
      });
    }
    if (buckets_.size() >= max_keys_) {
      CountRefusal(Refusal::kRateLimit);
      return false;
    }
    it = buckets_.emplace(std::string(key), Bucket{static_cast<double>(per_minute_), now_micros})
             .first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = Refilled(bucket, now_micros);
  bucket.updated_micros = std::max(bucket.updated_micros, now_micros);
  if (bucket.tokens < 1.0) {
    CountRefusal(Refusal::kRateLimit);
    return false;
  }
  bucket.tokens -= 1.0;
  return true;
}

size_t RateLimiter::SizeForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  return buckets_.size();
}

}  // namespace ts::oauth
