#include "ts/web/throttle.h"

namespace ts::web {

int64_t Throttle::RetryAfter(const std::string& key, int64_t now) {
  std::lock_guard lock(mu_);
  auto it = windows_.find(key);
  if (it == windows_.end()) return 0;
  const int64_t end = it->second.start + window_seconds_;
  if (now >= end) {
    windows_.erase(it);
    return 0;
  }
  return it->second.failures >= max_failures_ ? end - now : 0;
}

void Throttle::RecordFailure(const std::string& key, int64_t now) {
  std::lock_guard lock(mu_);
  // Bound memory under a flood of distinct keys: drop expired windows when the map grows.
  if (windows_.size() > 100000) {
    std::erase_if(windows_,
                  [&](const auto& kv) { return now >= kv.second.start + window_seconds_; });
  }
  Window& w = windows_[key];
  if (w.failures == 0 || now >= w.start + window_seconds_) w = Window{now, 0};
  ++w.failures;
}

void Throttle::Reset(const std::string& key) {
  std::lock_guard lock(mu_);
  windows_.erase(key);
}

}  // namespace ts::web
