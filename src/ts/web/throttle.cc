#include "ts/web/throttle.h"

#include <algorithm>

#include "ts/common/log.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"

namespace ts::web {
namespace {
std::string StoredKey(const std::string& key) { return crypto::HexEncode(crypto::Sha256(key)); }

void LogStoreError(const char* what, const Status& status) {
  log::Write(log::Level::kError, std::string("throttle: ") + what + ": " + status.ToString());
}
}  // namespace

Throttle::Reservation Throttle::Reserve(const std::string& key, int64_t now) {
  Reservation out;
  if (store_ != nullptr) {
    auto attempt = store_->ReserveLoginAttempt(StoredKey(key), now, window_seconds_, max_failures_);
    if (!attempt.ok()) {
      LogStoreError("reserve", attempt.status());
      return out;  // fail open, holding nothing
    }
    if (!attempt->reserved) {
      out.retry_after = std::max<int64_t>(attempt->window.window_end - now, 1);
      return out;
    }
    out.held = true;
    out.window_start = attempt->window.window_start;
    return out;
  }
  std::lock_guard lock(mu_);
  // Bound memory under a flood of distinct keys: drop ended windows when the map grows.
  if (windows_.size() > 100000) {
    std::erase_if(windows_,
                  [&](const auto& kv) { return now >= kv.second.start + window_seconds_; });
  }
  auto [it, added] = windows_.try_emplace(key, Window{now, 0});
  Window& w = it->second;
  if (!added && now >= w.start + window_seconds_) {
    w = Window{now, 0};  // the window has ended: this attempt opens the next
  } else if (w.failures >= max_failures_) {
    out.retry_after = w.start + window_seconds_ - now;
    return out;
  }
  ++w.failures;
  out.held = true;
  out.window_start = w.start;
  return out;
}

void Throttle::Refund(const std::string& key, const Reservation& reservation) {
  if (!reservation.held) return;
  if (store_ != nullptr) {
    Status status = store_->RefundLoginAttempt(StoredKey(key), reservation.window_start);
    if (!status.ok()) LogStoreError("refund", status);
    return;
  }
  std::lock_guard lock(mu_);
  auto it = windows_.find(key);
  if (it != windows_.end() && it->second.start == reservation.window_start &&
      it->second.failures > 0) {
    --it->second.failures;
  }
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

ThrottledAttempt ThrottledAttempt::Reserve(
    std::initializer_list<std::pair<Throttle*, std::string>> throttles, int64_t now) {
  ThrottledAttempt out;
  for (const auto& [throttle, key] : throttles) {
    Throttle::Reservation r = throttle->Reserve(key, now);
    if (r.retry_after > 0) {
      out.retry_after_ = r.retry_after;
      out.Refund();  // all or none
      return out;
    }
    out.held_.push_back({throttle, key, r});
  }
  return out;
}

void ThrottledAttempt::Refund() {
  for (Held& h : held_) h.throttle->Refund(h.key, h.reservation);
  held_.clear();
}

}  // namespace ts::web
