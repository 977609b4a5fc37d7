// File: clock.h
// The single doorway to wall-clock time, injected wherever time matters (token expiry, SigV4
// skew, code lifetime) so tests run on a FakeClock. Implementations are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace ts {

class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  // Whole seconds since the Unix epoch.
  int64_t NowUnixSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
  }
  // Microseconds since the Unix epoch: what time-ordered ids and refresh-token stamps are made of.
  int64_t NowUnixMicros() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Now().time_since_epoch()).count();
  }
};
using ClockPtr = std::shared_ptr<const Clock>;

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_seconds) : micros_(unix_seconds * 1000000) {}
  TimePoint Now() const override {
    return TimePoint(std::chrono::microseconds(micros_.load(std::memory_order_relaxed)));
  }
  void Advance(std::chrono::microseconds delta) { micros_.fetch_add(delta.count()); }
  void SetUnixSeconds(int64_t unix_seconds) { micros_.store(unix_seconds * 1000000); }

 private:
  std::atomic<int64_t> micros_;
};

}  // namespace ts
