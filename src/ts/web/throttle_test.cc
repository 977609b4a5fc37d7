#include "ts/web/throttle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "test/common/concurrently.h"
#include "test/common/temp_dir.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::web {
namespace {

constexpr int64_t kNow = 1'700'000'000;

// Every case runs twice: windows in memory, and windows in a store (what nodes share).
class ThrottleTest : public ::testing::TestWithParam<bool> {
 protected:
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) ::ts::testing::RemoveTempDir(dir_);
  }
  std::unique_ptr<Throttle> Make(int max_failures, int64_t window_seconds) {
    if (!GetParam()) return std::make_unique<Throttle>(max_failures, window_seconds);
    if (store_ == nullptr) {
      dir_ = ::ts::testing::MakeTempDir("ts-throttle");
      auto opened = storage::SqliteStore::Open((dir_ / "t.db").string());
      EXPECT_TRUE(opened.ok()) << opened.status();
      if (opened.ok()) store_ = *opened;
    }
    return std::make_unique<Throttle>(max_failures, window_seconds, store_);
  }
  std::filesystem::path dir_;
  storage::StorePtr store_;
};
INSTANTIATE_TEST_SUITE_P(MemoryAndStore, ThrottleTest, ::testing::Bool());

// Reserves an attempt for `key` that fails (is not refunded); returns its wait (0: reserved).
int64_t Fail(Throttle& t, const std::string& key, int64_t now) {
  return t.Reserve(key, now).retry_after;
}

TEST_P(ThrottleTest, UnknownKeyMayTry) {
  auto t = Make(3, 60);
  Throttle::Reservation r = t->Reserve("user:a", kNow);
  EXPECT_EQ(r.retry_after, 0);
  EXPECT_TRUE(r.held);
  EXPECT_EQ(r.window_start, kNow);
}

TEST_P(ThrottleTest, FewerFailuresThanTheLimitDoNotLock) {
  auto t = Make(3, 60);
  EXPECT_EQ(Fail(*t, "user:a", kNow), 0);
  EXPECT_EQ(Fail(*t, "user:a", kNow + 1), 0);
  EXPECT_EQ(Fail(*t, "user:a", kNow + 2), 0);  // the third is still allowed
}

TEST_P(ThrottleTest, LimitReachedLocksUntilTheWindowEnds) {
  auto t = Make(3, 60);
  EXPECT_EQ(Fail(*t, "user:a", kNow), 0);
  EXPECT_EQ(Fail(*t, "user:a", kNow + 10), 0);
  EXPECT_EQ(Fail(*t, "user:a", kNow + 20), 0);
  // The window started with the first attempt; a refused one holds nothing.
  Throttle::Reservation refused = t->Reserve("user:a", kNow + 20);
  EXPECT_EQ(refused.retry_after, 40);
  EXPECT_FALSE(refused.held);
  EXPECT_EQ(Fail(*t, "user:a", kNow + 59), 1);
  // At the window's end the next attempt opens a new one.
  EXPECT_EQ(Fail(*t, "user:a", kNow + 60), 0);
  EXPECT_EQ(Fail(*t, "user:a", kNow + 61), 0);
}

TEST_P(ThrottleTest, KeysAreIndependent) {
  auto t = Make(1, 60);
  EXPECT_EQ(Fail(*t, "user:a", kNow), 0);
  EXPECT_EQ(Fail(*t, "user:a", kNow), 60);
  EXPECT_EQ(Fail(*t, "user:b", kNow), 0);
}

TEST_P(ThrottleTest, RefundedAttemptsDoNotCount) {
  auto t = Make(2, 60);
  for (int i = 0; i < 10; ++i) {
    Throttle::Reservation r = t->Reserve("user:a", kNow + i);
    ASSERT_EQ(r.retry_after, 0) << "attempt " << i;
    t->Refund("user:a", r);  // signed in
  }
  EXPECT_EQ(Fail(*t, "user:a", kNow + 10), 0);
  EXPECT_EQ(Fail(*t, "user:a", kNow + 10), 0);
  Throttle::Reservation refused = t->Reserve("user:a", kNow + 10);
  EXPECT_EQ(refused.retry_after, 50);
  // Refunding a refusal gives nothing back: the two failures still hold the key.
  t->Refund("user:a", refused);
  EXPECT_EQ(Fail(*t, "user:a", kNow + 10), 50);
}

TEST_P(ThrottleTest, RefundAfterTheWindowEndedLeavesTheNextWindow) {
  auto t = Make(1, 60);
  Throttle::Reservation slow = t->Reserve("k", kNow);
  ASSERT_TRUE(slow.held);
  EXPECT_EQ(Fail(*t, "k", kNow + 60), 0);  // a new window, full now
  t->Refund("k", slow);                    // belongs to the old window
  EXPECT_EQ(Fail(*t, "k", kNow + 61), 59);
}

TEST_P(ThrottleTest, ResetClearsTheKey) {
  auto t = Make(1, 60);
  EXPECT_EQ(Fail(*t, "k", kNow), 0);
  ASSERT_GT(Fail(*t, "k", kNow), 0);
  t->Reset("k");
  EXPECT_EQ(Fail(*t, "k", kNow), 0);
}

// Issue 23's race: 32 guesses in flight at once, a limit of 5. Each attempt is reserved before
// it is checked, so exactly 5 get through.
TEST_P(ThrottleTest, ConcurrentAttemptsStopExactlyAtTheLimit) {
  auto t = Make(5, 900);
  std::atomic<int> reserved{0};
  ::ts::testing::RunConcurrently(32, [&](int) {
    if (t->Reserve("user:a", kNow).retry_after == 0) reserved.fetch_add(1);
  });
  EXPECT_EQ(reserved.load(), 5);
}

TEST_P(ThrottleTest, AttemptUnderSeveralThrottlesIsAllOrNone) {
  auto per_user = Make(5, 60);
  Throttle per_address(1, 60, store_);
  EXPECT_EQ(Fail(per_address, "addr:x", kNow), 0);  // the address is now full
  ThrottledAttempt refused =
      ThrottledAttempt::Reserve({{per_user.get(), "user:a"}, {&per_address, "addr:x"}}, kNow + 5);
  EXPECT_EQ(refused.retry_after(), 55);
  // The user's reservation was given back: five attempts remain to the user elsewhere (in the
  // window it opened at kNow + 5).
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Fail(*per_user, "user:a", kNow + 6), 0) << i;
  EXPECT_EQ(Fail(*per_user, "user:a", kNow + 6), 59);
}

TEST_P(ThrottleTest, RefundedAttemptGivesBackEveryReservation) {
  auto per_user = Make(1, 60);
  Throttle per_address(1, 60, store_);
  ThrottledAttempt ok =
      ThrottledAttempt::Reserve({{per_user.get(), "user:a"}, {&per_address, "addr:x"}}, kNow);
  ASSERT_EQ(ok.retry_after(), 0);
  ok.Refund();
  ok.Refund();  // idempotent
  EXPECT_EQ(Fail(*per_user, "user:a", kNow), 0);
  EXPECT_EQ(Fail(per_address, "addr:x", kNow), 0);
  // Not refunded, an attempt is a failure under both.
  ThrottledAttempt failed =
      ThrottledAttempt::Reserve({{per_user.get(), "user:b"}, {&per_address, "addr:y"}}, kNow);
  ASSERT_EQ(failed.retry_after(), 0);
  EXPECT_EQ(Fail(*per_user, "user:b", kNow), 60);
  EXPECT_EQ(Fail(per_address, "addr:y", kNow), 60);
}

// Two throttles on one store stand for two nodes: attempts at either count toward one limit.
TEST(SharedThrottleTest, NodesShareOneLimit) {
  const auto dir = ::ts::testing::MakeTempDir("ts-throttle");
  {
    auto store = storage::SqliteStore::Open((dir / "t.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    Throttle node1(2, 60, *store);
    Throttle node2(2, 60, *store);
    EXPECT_EQ(Fail(node1, "user:a", kNow), 0);
    EXPECT_EQ(Fail(node2, "user:a", kNow + 1), 0);
    EXPECT_EQ(Fail(node1, "user:a", kNow + 2), 58);
    node1.Reset("user:a");
    EXPECT_EQ(Fail(node2, "user:a", kNow + 2), 0);
  }
  ::ts::testing::RemoveTempDir(dir);
}

}  // namespace
}  // namespace ts::web
