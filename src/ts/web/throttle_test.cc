#include "ts/web/throttle.h"

#include <gtest/gtest.h>

namespace ts::web {
namespace {

constexpr int64_t kNow = 1'700'000'000;

TEST(ThrottleTest, UnknownKeyMayTry) {
  Throttle t(3, 60);
  EXPECT_EQ(t.RetryAfter("user:a", kNow), 0);
}

TEST(ThrottleTest, FewerFailuresThanTheLimitDoNotLock) {
  Throttle t(3, 60);
  t.RecordFailure("user:a", kNow);
  t.RecordFailure("user:a", kNow + 1);
  EXPECT_EQ(t.RetryAfter("user:a", kNow + 2), 0);
}

TEST(ThrottleTest, LimitReachedLocksUntilTheWindowEnds) {
  Throttle t(3, 60);
  t.RecordFailure("user:a", kNow);
  t.RecordFailure("user:a", kNow + 10);
  t.RecordFailure("user:a", kNow + 20);
  // The window started with the first failure.
  EXPECT_EQ(t.RetryAfter("user:a", kNow + 20), 40);
  EXPECT_EQ(t.RetryAfter("user:a", kNow + 59), 1);
  EXPECT_EQ(t.RetryAfter("user:a", kNow + 60), 0);
  // The expired window is gone: one new failure does not lock again.
  t.RecordFailure("user:a", kNow + 61);
  EXPECT_EQ(t.RetryAfter("user:a", kNow + 61), 0);
}

TEST(ThrottleTest, KeysAreIndependent) {
  Throttle t(1, 60);
  t.RecordFailure("user:a", kNow);
  EXPECT_EQ(t.RetryAfter("user:a", kNow), 60);
  EXPECT_EQ(t.RetryAfter("user:b", kNow), 0);
}

TEST(ThrottleTest, FailureAfterTheWindowStartsANewOne) {
  Throttle t(2, 60);
  t.RecordFailure("k", kNow);
  t.RecordFailure("k", kNow + 100);  // the first window has ended
  EXPECT_EQ(t.RetryAfter("k", kNow + 100), 0);
  t.RecordFailure("k", kNow + 110);
  EXPECT_EQ(t.RetryAfter("k", kNow + 110), 50);
}

TEST(ThrottleTest, ResetClearsTheKey) {
  Throttle t(1, 60);
  t.RecordFailure("k", kNow);
  ASSERT_GT(t.RetryAfter("k", kNow), 0);
  t.Reset("k");
  EXPECT_EQ(t.RetryAfter("k", kNow), 0);
}

}  // namespace
}  // namespace ts::web
