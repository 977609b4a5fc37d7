#include "ts/web/throttle.h"

#include <iostream>

#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"

namespace ts::web {
namespace {
std::string StoredKey(const std::string& key) { return crypto::HexEncode(crypto::Sha256(key)); }

void LogStoreError(const char* what, const Status& status) {
  std::cerr << "throttle: " << what << ": " << status.ToString() << "\n";
}
}  // namespace

int64_t Throttle::RetryAfter(const std::string& key, int64_t now) {
  if (store_ != nullptr) {
    auto window = store_->GetLoginFailures(StoredKey(key));
    if (!window.ok()) {
      if (window.status().code() != StatusCode::kNotFound) LogStoreError("read", window.status());
      return 0;
    }
    if (now >= window->window_end) return 0;
    return window->failures >= max_failures_ ? window->window_end - now : 0;
  }
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
  if (store_ != nullptr) {
    auto window = store_->RecordLoginFailure(StoredKey(key), now, window_seconds_);
    if (!window.ok()) LogStoreError("record", window.status());
    return;
  }
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
  if (store_ != nullptr) {
    Status status = store_->ClearLoginFailures(StoredKey(key));
    if (!status.ok()) LogStoreError("reset", status);
    return;
  }
  std::lock_guard lock(mu_);
  windows_.erase(key);
}

}  // namespace ts::web
