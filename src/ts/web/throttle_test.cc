#include "ts/web/throttle.h"

#include <gtest/gtest.h>

#include <memory>

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

TEST_P(ThrottleTest, UnknownKeyMayTry) {
  auto t = Make(3, 60);
  EXPECT_EQ(t->RetryAfter("user:a", kNow), 0);
}

TEST_P(ThrottleTest, FewerFailuresThanTheLimitDoNotLock) {
  auto t = Make(3, 60);
  t->RecordFailure("user:a", kNow);
  t->RecordFailure("user:a", kNow + 1);
  EXPECT_EQ(t->RetryAfter("user:a", kNow + 2), 0);
}

TEST_P(ThrottleTest, LimitReachedLocksUntilTheWindowEnds) {
  auto t = Make(3, 60);
  t->RecordFailure("user:a", kNow);
  t->RecordFailure("user:a", kNow + 10);
  t->RecordFailure("user:a", kNow + 20);
  // The window started with the first failure.
  EXPECT_EQ(t->RetryAfter("user:a", kNow + 20), 40);
  EXPECT_EQ(t->RetryAfter("user:a", kNow + 59), 1);
  EXPECT_EQ(t->RetryAfter("user:a", kNow + 60), 0);
  // The expired window is gone: one new failure does not lock again.
  t->RecordFailure("user:a", kNow + 61);
  EXPECT_EQ(t->RetryAfter("user:a", kNow + 61), 0);
}

TEST_P(ThrottleTest, KeysAreIndependent) {
  auto t = Make(1, 60);
  t->RecordFailure("user:a", kNow);
  EXPECT_EQ(t->RetryAfter("user:a", kNow), 60);
  EXPECT_EQ(t->RetryAfter("user:b", kNow), 0);
}

TEST_P(ThrottleTest, FailureAfterTheWindowStartsANewOne) {
  auto t = Make(2, 60);
  t->RecordFailure("k", kNow);
  t->RecordFailure("k", kNow + 100);  // the first window has ended
  EXPECT_EQ(t->RetryAfter("k", kNow + 100), 0);
  t->RecordFailure("k", kNow + 110);
  EXPECT_EQ(t->RetryAfter("k", kNow + 110), 50);
}

TEST_P(ThrottleTest, ResetClearsTheKey) {
  auto t = Make(1, 60);
  t->RecordFailure("k", kNow);
  ASSERT_GT(t->RetryAfter("k", kNow), 0);
  t->Reset("k");
  EXPECT_EQ(t->RetryAfter("k", kNow), 0);
}

// Two throttles on one store stand for two nodes: failures at either count toward one limit.
TEST(SharedThrottleTest, NodesShareOneLimit) {
  const auto dir = ::ts::testing::MakeTempDir("ts-throttle");
  {
    auto store = storage::SqliteStore::Open((dir / "t.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    Throttle node1(2, 60, *store);
    Throttle node2(2, 60, *store);
    node1.RecordFailure("user:a", kNow);
    EXPECT_EQ(node2.RetryAfter("user:a", kNow + 1), 0);
    node2.RecordFailure("user:a", kNow + 1);
    EXPECT_EQ(node1.RetryAfter("user:a", kNow + 2), 58);
    node1.Reset("user:a");
    EXPECT_EQ(node2.RetryAfter("user:a", kNow + 2), 0);
  }
  ::ts::testing::RemoveTempDir(dir);
}

}  // namespace
}  // namespace ts::web
